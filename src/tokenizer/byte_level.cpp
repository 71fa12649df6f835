#include "tokenizer/byte_level.h"

#include "tokenizer/utf8.h"

namespace dsrt::byte_level {
namespace {

struct Tables {
  std::array<uint32_t, 256> byte_to_cp{};
  std::array<std::string, 256> byte_to_str;
  std::array<int16_t, 512> cp_to_byte{};  // alphabet code points are all < 0x144
  Tables() {
    cp_to_byte.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      byte_to_cp[b] = printable ? static_cast<uint32_t>(b) : next++;
      utf8::append(byte_to_str[b], byte_to_cp[b]);
      cp_to_byte[byte_to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::string& byte_to_text(uint8_t b) {
  return tables().byte_to_str[b];
}

std::optional<uint8_t> char_to_byte(uint32_t cp) {
  if (cp >= 512) return std::nullopt;
  const int16_t b = tables().cp_to_byte[cp];
  if (b < 0) return std::nullopt;
  return static_cast<uint8_t>(b);
}

std::string encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += byte_to_text(static_cast<uint8_t>(c));
  return out;
}

std::string decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const uint32_t cp = utf8::decode_at(text, i);
    const auto b = char_to_byte(cp);
    if (!b) return std::string(text);
    out += static_cast<char>(*b);
  }
  return out;
}

}  // namespace dsrt::byte_level
