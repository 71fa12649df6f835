// GPT-2's byte-level alphabet: every byte maps to one printable code point, so that BPE
// vocabularies can be stored as text. Printable Latin-1 bytes map to themselves; the other 68
// bytes map to U+0100.. in byte order (space becomes 'Ġ' U+0120, '\n' becomes 'Ċ' U+010A).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dsrt::byte_level {

// UTF-8 text of the code point that stands for byte `b`.
const std::string& byte_to_text(uint8_t b);

// The byte a code point stands for, if it is one of the 256 alphabet code points.
std::optional<uint8_t> char_to_byte(uint32_t cp);

// Maps raw bytes to their alphabet text ("a b" -> "aĠb").
std::string encode(std::string_view bytes);

// Maps alphabet text back to bytes. When some code point is not in the alphabet (as in added
// tokens like "<｜User｜>"), returns the text's own bytes, as Hugging Face's ByteLevel decoder
// does.
std::string decode(std::string_view text);

}  // namespace dsrt::byte_level
