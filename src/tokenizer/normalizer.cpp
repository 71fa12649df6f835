#include "tokenizer/normalizer.h"

#include "tokenizer/utf8.h"

#if DSRT_HAVE_ICU
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#endif

namespace dsrt {

bool have_icu() {
  return DSRT_HAVE_ICU != 0;
}

Status Normalizer::add(const nlohmann::json& j, std::vector<Step>* steps) {
  if (j.is_null()) return Status::Ok();
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    return Status::Error("normalizer: expected an object with a \"type\"");
  const std::string type = j["type"].get<std::string>();
  if (type == "Sequence") {
    if (!j.contains("normalizers") || !j["normalizers"].is_array())
      return Status::Error("normalizer Sequence: missing \"normalizers\" array");
    for (const auto& n : j["normalizers"]) DSRT_RETURN_IF_ERROR(add(n, steps));
    return Status::Ok();
  }
  Step s;
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD" || type == "Lowercase") {
    if (!have_icu())
      return Status::Error("normalizer " + type +
                           " needs ICU, and this dsrt was built without it (install libicu-dev "
                           "and rebuild)");
    s.kind = type == "NFC"    ? Kind::NFC
             : type == "NFD"  ? Kind::NFD
             : type == "NFKC" ? Kind::NFKC
             : type == "NFKD" ? Kind::NFKD
                              : Kind::Lowercase;
  } else if (type == "Strip") {
    s.kind = Kind::Strip;
    s.strip_left = j.value("strip_left", true);
    s.strip_right = j.value("strip_right", true);
  } else if (type == "Prepend") {
    s.kind = Kind::Prepend;
    if (!j.contains("prepend") || !j["prepend"].is_string())
      return Status::Error("normalizer Prepend: missing \"prepend\" string");
    s.text = j["prepend"].get<std::string>();
  } else if (type == "Replace") {
    s.kind = Kind::Replace;
    if (!j.contains("pattern") || !j.contains("content") || !j["content"].is_string())
      return Status::Error("normalizer Replace: needs \"pattern\" and \"content\"");
    const auto& p = j["pattern"];
    bool literal = false;
    std::string pat;
    if (p.contains("String") && p["String"].is_string()) {
      pat = p["String"].get<std::string>();
      literal = true;
    } else if (p.contains("Regex") && p["Regex"].is_string()) {
      pat = p["Regex"].get<std::string>();
    } else {
      return Status::Error("normalizer Replace: pattern must be {String} or {Regex}");
    }
    DSRT_ASSIGN_OR_RETURN(Regex re, Regex::compile(pat, literal));
    s.pattern = std::make_shared<Regex>(std::move(re));
    s.text = j["content"].get<std::string>();
  } else {
    return Status::Error("normalizer \"" + type +
                         "\" is not supported (supported: Sequence, NFC, NFD, NFKC, NFKD, "
                         "Lowercase, Strip, Prepend, Replace)");
  }
  steps->push_back(std::move(s));
  return Status::Ok();
}

Result<Normalizer> Normalizer::from_json(const nlohmann::json& j) {
  Normalizer n;
  DSRT_RETURN_IF_ERROR(add(j, &n.steps_));
  return n;
}

namespace {

#if DSRT_HAVE_ICU
Result<std::string> icu_apply(std::string_view text, int form) {
  UErrorCode err = U_ZERO_ERROR;
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), text.size()));
  icu::UnicodeString r;
  if (form == 4) {
    r = u.toLower(icu::Locale::getRoot());
  } else {
    const icu::Normalizer2* n = form == 0   ? icu::Normalizer2::getNFCInstance(err)
                                : form == 1 ? icu::Normalizer2::getNFDInstance(err)
                                : form == 2 ? icu::Normalizer2::getNFKCInstance(err)
                                            : icu::Normalizer2::getNFKDInstance(err);
    if (U_FAILURE(err)) return Status::Error(std::string("ICU: ") + u_errorName(err));
    r = n->normalize(u, err);
    if (U_FAILURE(err)) return Status::Error(std::string("ICU: ") + u_errorName(err));
  }
  std::string out;
  r.toUTF8String(out);
  return out;
}
#endif

}  // namespace

Result<std::string> Normalizer::apply(std::string_view text) const {
  std::string cur(text);
  for (const Step& s : steps_) {
    switch (s.kind) {
      case Kind::NFC:
      case Kind::NFD:
      case Kind::NFKC:
      case Kind::NFKD:
      case Kind::Lowercase: {
#if DSRT_HAVE_ICU
        const int form = static_cast<int>(s.kind) - static_cast<int>(Kind::NFC);
        DSRT_ASSIGN_OR_RETURN(cur, icu_apply(cur, form));
#else
        return Status::Error("normalizer needs ICU");
#endif
        break;
      }
      case Kind::Strip: {
        size_t b = 0, e = cur.size();
        if (s.strip_left) {
          while (b < e) {
            size_t i = b;
            if (!utf8::is_whitespace(utf8::decode_at(cur, i))) break;
            b = i;
          }
        }
        if (s.strip_right) {
          while (e > b) {
            size_t start = e - 1;
            while (start > b && (static_cast<uint8_t>(cur[start]) & 0xC0) == 0x80) --start;
            size_t i = start;
            if (!utf8::is_whitespace(utf8::decode_at(cur, i))) break;
            e = start;
          }
        }
        cur = cur.substr(b, e - b);
        break;
      }
      case Kind::Prepend:
        if (!cur.empty()) cur = s.text + cur;
        break;
      case Kind::Replace: {
        std::vector<std::pair<size_t, size_t>> m;
        DSRT_RETURN_IF_ERROR(s.pattern->find_all(cur, &m));
        std::string out;
        size_t prev = 0;
        for (auto [b, e] : m) {
          out.append(cur, prev, b - prev);
          out += s.text;
          prev = e;
        }
        out.append(cur, prev, std::string::npos);
        cur = std::move(out);
        break;
      }
    }
  }
  return cur;
}

}  // namespace dsrt
