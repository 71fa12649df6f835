// UTF-8 helpers shared by the tokenizer: validation, lossy conversion (the same replacement
// policy as Rust's String::from_utf8_lossy, which Hugging Face's decoders use), and the
// "how much of this buffer is a complete character sequence" question the streaming decoder
// asks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dsrt::utf8 {

// Returns the byte offset of the first invalid sequence, or npos when `s` is valid UTF-8.
size_t find_invalid(std::string_view s);

// Replaces every maximal invalid subpart with U+FFFD. When `keep_incomplete_tail` is set, a
// truncated-but-so-far-valid sequence at the very end is not replaced; instead its length is
// stored in *tail_len and it is left out of the result (the caller keeps those bytes).
std::string to_valid_lossy(std::string_view s, bool keep_incomplete_tail = false,
                           size_t* tail_len = nullptr);

// Decodes one code point at s[i] of valid UTF-8, advancing i.
uint32_t decode_at(std::string_view s, size_t& i);

// Number of bytes of the UTF-8 sequence that starts with lead byte `b` (1 for invalid leads).
inline size_t seq_len(uint8_t b) {
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0) return 2;
  if ((b & 0xF0) == 0xE0) return 3;
  if ((b & 0xF8) == 0xF0) return 4;
  return 1;
}

void append(std::string& out, uint32_t cp);

// Unicode White_Space, as Rust's char::is_whitespace (used for added-token lstrip/rstrip).
bool is_whitespace(uint32_t cp);

}  // namespace dsrt::utf8
