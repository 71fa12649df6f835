#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <deque>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/mmap_file.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"

namespace dsrt {

using nlohmann::json;

struct Tokenizer::Impl {
  BpeModel bpe;
  Normalizer normalizer;
  PreTokenizer pre;
  std::vector<AddedToken> added;
  AddedTokenMatcher match_raw;   // added tokens with normalized=false, found in the raw text
  AddedTokenMatcher match_norm;  // normalized=true, found after the normalizer
  std::vector<std::string> token_bytes;
  std::vector<uint8_t> special;  // per id
  bool byte_level = true;
  bool metaspace_decode = false;  // '▁' -> ' ', <0xXX> -> byte, strip one leading space
  std::string metaspace_replacement = "\xE2\x96\x81";
  int32_t bos = -1, eos = -1;
  std::vector<int32_t> eos_ids;
  bool add_bos = false;
  std::string chat_template;

  Status finish();
};

namespace {

const std::string kEmpty;

Result<std::pair<std::string, std::string>> split_merge(const std::string& m, size_t index) {
  const size_t sp = m.find(' ');
  if (sp == std::string::npos || m.find(' ', sp + 1) != std::string::npos)
    return Status::Error("merges[" + std::to_string(index) + "] \"" + m +
                         "\" is not of the form \"a b\"");
  return std::make_pair(m.substr(0, sp), m.substr(sp + 1));
}

// bos_token / eos_token in tokenizer_config.json: a string or {"content": ...}.
std::optional<std::string> config_token(const json& cfg, const char* key) {
  if (!cfg.contains(key)) return std::nullopt;
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return std::nullopt;
}

std::string decode_metaspace_token(const std::string& t, const std::string& repl) {
  // <0xXX> byte-fallback tokens stand for one raw byte.
  if (t.size() == 6 && t[0] == '<' && t[1] == '0' && t[2] == 'x' && t[5] == '>') {
    return std::string(1, static_cast<char>(std::stoi(t.substr(3, 2), nullptr, 16)));
  }
  std::string out;
  for (size_t i = 0; i < t.size();) {
    if (t.compare(i, repl.size(), repl) == 0) {
      out += ' ';
      i += repl.size();
    } else {
      out += t[i++];
    }
  }
  return out;
}

}  // namespace

Status Tokenizer::Impl::finish() {
  // Added tokens override the vocab text at their id and are matched before pre-tokenization.
  std::vector<const AddedToken*> raw, norm;
  for (const AddedToken& t : added) {
    if (t.id < 0) return Status::Error("added token \"" + t.content + "\" has a negative id");
    bpe.set_token(t.id, t.content);
    (t.normalized && normalizer.active() ? norm : raw).push_back(&t);
  }
  match_raw = AddedTokenMatcher(raw);
  match_norm = AddedTokenMatcher(norm);
  const int32_t n = bpe.n_vocab();
  token_bytes.assign(n, std::string());
  special.assign(n, 0);
  for (int32_t i = 0; i < n; ++i) {
    const std::string& t = bpe.token(i);
    token_bytes[i] = byte_level         ? byte_level::decode(t)
                     : metaspace_decode ? decode_metaspace_token(t, metaspace_replacement)
                                        : t;
  }
  for (const AddedToken& t : added) {
    special[t.id] = t.special;
    // Added tokens decode to their content (no byte alphabet involved) unless the content is
    // itself byte-alphabet text, which byte_level::decode already handled above.
    if (!byte_level) token_bytes[t.id] = t.content;
  }
  if (bos >= n || eos >= n) return Status::Error("bos/eos id out of range");
  if (eos >= 0 && std::find(eos_ids.begin(), eos_ids.end(), eos) == eos_ids.end())
    eos_ids.insert(eos_ids.begin(), eos);
  for (int32_t id : eos_ids)
    if (id < 0 || id >= n) return Status::Error("eos id " + std::to_string(id) + " out of range");
  return Status::Ok();
}

Result<Tokenizer> Tokenizer::from_json_text(std::string_view tokenizer_json,
                                            std::string_view config_json,
                                            const std::string& source) {
  auto impl = std::make_shared<Impl>();
  json j = json::parse(tokenizer_json.begin(), tokenizer_json.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status::Error(source + ": not a valid JSON object");
  auto err = [&](const std::string& m) { return Status::Error(source + ": " + m); };

  if (!j.contains("model") || !j["model"].is_object()) return err("missing \"model\"");
  const json& model = j["model"];
  const std::string type = model.value("type", std::string("BPE"));
  if (type != "BPE") return err("model type \"" + type + "\" is not supported (only BPE)");
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.contains(k) && !model[k].is_null() && model[k] != "")
      return err(std::string("BPE option \"") + k + "\" is not supported");
  if (model.contains("dropout") && model["dropout"].is_number() &&
      model["dropout"].get<double>() > 0)
    return err("BPE dropout is not supported");

  // Vocab: {"token": id}.
  if (!model.contains("vocab") || !model["vocab"].is_object()) return err("missing model.vocab");
  std::vector<std::string> vocab;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    if (!it.value().is_number_integer())
      return err("vocab entry \"" + it.key() + "\" has no integer id");
    const int64_t id = it.value().get<int64_t>();
    if (id < 0 || id > (1 << 24)) return err("vocab id " + std::to_string(id) + " out of range");
    if (static_cast<size_t>(id) >= vocab.size()) vocab.resize(id + 1);
    vocab[id] = it.key();
  }
  // Merges: "a b" strings or ["a", "b"] pairs.
  std::vector<std::pair<std::string, std::string>> merges;
  if (model.contains("merges")) {
    if (!model["merges"].is_array()) return err("model.merges is not an array");
    const json& ms = model["merges"];
    merges.reserve(ms.size());
    for (size_t i = 0; i < ms.size(); ++i) {
      const json& m = ms[i];
      if (m.is_string()) {
        auto p = split_merge(m.get<std::string>(), i);
        if (!p.ok()) return err(p.status().message());
        merges.push_back(std::move(p.value()));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        return err("merges[" + std::to_string(i) + "] is neither \"a b\" nor [\"a\", \"b\"]");
      }
    }
  }

  auto norm = Normalizer::from_json(j.value("normalizer", json()));
  if (!norm.ok()) return err(norm.status().message());
  impl->normalizer = std::move(norm.value());
  auto pre = PreTokenizer::from_json(j.value("pre_tokenizer", json()));
  if (!pre.ok()) return err(pre.status().message());
  impl->pre = std::move(pre.value());

  // Decoder: ByteLevel, or the SentencePiece-style chain (Metaspace / Replace+ByteFallback).
  const json dec = j.value("decoder", json());
  std::string dec_types;
  std::function<void(const json&)> walk = [&](const json& d) {
    if (!d.is_object()) return;
    const std::string t = d.value("type", std::string());
    if (t == "Sequence" && d.contains("decoders") && d["decoders"].is_array())
      for (const auto& x : d["decoders"]) walk(x);
    else
      dec_types += t + ",";
  };
  walk(dec);
  const bool dec_byte_level = dec_types.find("ByteLevel,") != std::string::npos;
  impl->byte_level = impl->pre.byte_level() || dec_byte_level;
  impl->metaspace_decode =
      !impl->byte_level &&
      (impl->pre.has_metaspace() || dec_types.find("Metaspace,") != std::string::npos ||
       dec_types.find("ByteFallback,") != std::string::npos);
  if (impl->pre.has_metaspace()) impl->metaspace_replacement = impl->pre.metaspace_replacement();

  BpeOptions opts;
  opts.byte_level = impl->byte_level;
  opts.byte_fallback = model.value("byte_fallback", false);
  opts.ignore_merges = model.value("ignore_merges", false);
  std::string unk;
  if (model.contains("unk_token") && model["unk_token"].is_string())
    unk = model["unk_token"].get<std::string>();
  for (size_t i = 0; i < vocab.size() && !unk.empty(); ++i)
    if (vocab[i] == unk) opts.unk_id = static_cast<int32_t>(i);
  auto bpe = BpeModel::build(std::move(vocab), merges, opts);
  if (!bpe.ok()) return err(bpe.status().message());
  impl->bpe = std::move(bpe.value());

  if (j.contains("added_tokens")) {
    if (!j["added_tokens"].is_array()) return err("added_tokens is not an array");
    for (const json& a : j["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
          !a.contains("content") || !a["content"].is_string())
        return err("added_tokens entry without integer id and string content");
      AddedToken t;
      t.id = a["id"].get<int32_t>();
      t.content = a["content"].get<std::string>();
      t.special = a.value("special", false);
      t.single_word = a.value("single_word", false);
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      t.normalized = a.value("normalized", !t.special);
      if (t.id < 0 || t.id > (1 << 24)) return err("added token id out of range");
      impl->added.push_back(std::move(t));
    }
  }

  // BOS/EOS and add_bos_token from tokenizer_config.json; without one, a TemplateProcessing
  // post-processor that starts with a special token (Llama-3) implies BOS.
  std::optional<std::string> bos_text, eos_text;
  if (!config_json.empty()) {
    json cfg = json::parse(config_json.begin(), config_json.end(), nullptr, false);
    if (cfg.is_discarded() || !cfg.is_object())
      return Status::Error(source + ": tokenizer_config.json is not a valid JSON object");
    bos_text = config_token(cfg, "bos_token");
    eos_text = config_token(cfg, "eos_token");
    if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean())
      impl->add_bos = cfg["add_bos_token"].get<bool>();
    if (cfg.contains("chat_template")) {
      const json& ct = cfg["chat_template"];
      if (ct.is_string()) {
        impl->chat_template = ct.get<std::string>();
      } else if (ct.is_array()) {  // [{"name": "default", "template": ...}, ...]
        for (const json& e : ct)
          if (e.is_object() && e.value("name", std::string()) == "default" &&
              e.contains("template") && e["template"].is_string())
            impl->chat_template = e["template"].get<std::string>();
        if (impl->chat_template.empty() && !ct.empty() && ct[0].contains("template") &&
            ct[0]["template"].is_string())
          impl->chat_template = ct[0]["template"].get<std::string>();
      }
    }
  }
  const json pp = j.value("post_processor", json());
  if (!bos_text && pp.is_object() && pp.value("type", std::string()) == "TemplateProcessing" &&
      pp.contains("single") && pp["single"].is_array() && !pp["single"].empty()) {
    const json& first = pp["single"][0];
    if (first.contains("SpecialToken") && first["SpecialToken"].contains("id")) {
      bos_text = first["SpecialToken"]["id"].get<std::string>();
      if (config_json.empty()) impl->add_bos = true;
    }
  }
  auto lookup = [&](const std::string& s) -> int32_t {
    for (const AddedToken& t : impl->added)
      if (t.content == s) return t.id;
    return impl->bpe.find(s);
  };
  if (bos_text) {
    impl->bos = lookup(*bos_text);
    if (impl->bos < 0) return err("bos_token \"" + *bos_text + "\" is not in the vocab");
  }
  if (eos_text) {
    impl->eos = lookup(*eos_text);
    if (impl->eos < 0) return err("eos_token \"" + *eos_text + "\" is not in the vocab");
  }
  DSRT_RETURN_IF_ERROR(impl->finish().with_context(source));
  Tokenizer tok;
  tok.impl_ = std::move(impl);
  return tok;
}

Result<Tokenizer> Tokenizer::from_files(const std::string& json_path,
                                        const std::string& config_path) {
  auto text = read_text_file(json_path);
  if (!text.ok()) return Status::Error(json_path + ": " + text.status().message());
  std::string cfg;
  if (!config_path.empty()) {
    auto c = read_text_file(config_path);
    if (!c.ok()) return Status::Error(config_path + ": " + c.status().message());
    cfg = std::move(c.value());
  }
  return from_json_text(text.value(), cfg, json_path);
}

Result<Tokenizer> Tokenizer::from_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Status::Error(dir + ": no such file or folder");
  if (!fs::is_directory(dir, ec)) {
    if (dir.size() >= 5 && dir.compare(dir.size() - 5, 5, ".json") == 0) {
      const fs::path cfg = fs::path(dir).parent_path() / "tokenizer_config.json";
      return from_files(dir, fs::exists(cfg, ec) ? cfg.string() : std::string());
    }
    return Status::Error(dir + ": expected a folder holding tokenizer.json, or a tokenizer.json");
  }
  const fs::path d(dir);
  const fs::path tj = d / "tokenizer.json";
  if (!fs::exists(tj, ec))
    return Status::Error(dir +
                         ": no tokenizer.json in this folder (a byte-level BPE "
                         "tokenizer.json is required)");
  const fs::path tc = d / "tokenizer_config.json";
  auto tok = from_files(tj.string(), fs::exists(tc, ec) ? tc.string() : std::string());
  if (!tok.ok()) return tok;
  // generation_config.json may list more end-of-generation ids.
  const fs::path gc = d / "generation_config.json";
  if (fs::exists(gc, ec)) {
    auto text = read_text_file(gc.string());
    if (text.ok()) {
      json g = json::parse(text.value(), nullptr, false);
      if (g.is_object() && g.contains("eos_token_id")) {
        auto impl = std::make_shared<Impl>(std::move(const_cast<Impl&>(*tok.value().impl_)));
        const json& e = g["eos_token_id"];
        std::vector<int32_t> ids;
        if (e.is_number_integer()) ids.push_back(e.get<int32_t>());
        if (e.is_array())
          for (const json& x : e)
            if (x.is_number_integer()) ids.push_back(x.get<int32_t>());
        for (int32_t id : ids) {
          if (id < 0 || id >= impl->bpe.n_vocab())
            return Status::Error(gc.string() + ": eos_token_id " + std::to_string(id) +
                                 " out of range");
          if (std::find(impl->eos_ids.begin(), impl->eos_ids.end(), id) == impl->eos_ids.end())
            impl->eos_ids.push_back(id);
        }
        if (impl->eos < 0 && !impl->eos_ids.empty()) impl->eos = impl->eos_ids[0];
        Tokenizer t;
        t.impl_ = std::move(impl);
        return t;
      }
    }
  }
  return tok;
}

Result<Tokenizer> Tokenizer::from_parts(const TokenizerParts& parts) {
  auto impl = std::make_shared<Impl>();
  if (parts.tokens.empty()) return Status::Error("tokenizer parts: empty token list");
  if (!parts.token_types.empty() && parts.token_types.size() != parts.tokens.size())
    return Status::Error("tokenizer parts: " + std::to_string(parts.token_types.size()) +
                         " token types for " + std::to_string(parts.tokens.size()) + " tokens");
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(parts.merges.size());
  for (size_t i = 0; i < parts.merges.size(); ++i) {
    DSRT_ASSIGN_OR_RETURN(auto m, split_merge(parts.merges[i], i));
    merges.push_back(std::move(m));
  }
  std::vector<std::string> vocab = parts.tokens;
  for (size_t i = 0; i < parts.token_types.size(); ++i) {
    const auto t = static_cast<GgufTokenType>(parts.token_types[i]);
    if (t == GgufTokenType::kControl || t == GgufTokenType::kUserDefined) {
      AddedToken a;
      a.id = static_cast<int32_t>(i);
      a.content = parts.tokens[i];
      a.special = t == GgufTokenType::kControl;
      impl->added.push_back(std::move(a));
    }
  }
  BpeOptions opts;
  DSRT_ASSIGN_OR_RETURN(impl->bpe, BpeModel::build(std::move(vocab), merges, opts));
  std::vector<std::string> regexes = parts.pre_regexes;
  if (regexes.empty()) regexes.push_back(kGpt2Regex);
  DSRT_ASSIGN_OR_RETURN(impl->pre, PreTokenizer::from_regexes(regexes));
  impl->byte_level = true;
  const int32_t n = static_cast<int32_t>(parts.tokens.size());
  if (parts.bos_id >= n || parts.eos_id >= n)
    return Status::Error("tokenizer parts: bos/eos id out of range");
  impl->bos = parts.bos_id;
  impl->eos = parts.eos_id;
  impl->eos_ids = parts.extra_eos_ids;
  impl->add_bos = parts.add_bos && parts.bos_id >= 0;
  impl->chat_template = parts.chat_template;
  DSRT_RETURN_IF_ERROR(impl->finish().with_context("tokenizer parts"));
  Tokenizer tok;
  tok.impl_ = std::move(impl);
  return tok;
}

namespace {

// Runs everything up to (not including) BPE; pieces with id >= 0 are added tokens.
Status split_text(const Tokenizer::Impl& m, std::string_view text, bool parse_special,
                  std::vector<Piece>& pieces, std::deque<std::string>& arena) {
  const size_t bad = utf8::find_invalid(text);
  if (bad != std::string_view::npos)
    return Status::Error("input is not valid UTF-8 (first bad byte at offset " +
                         std::to_string(bad) + ")");
  pieces.clear();
  if (text.empty()) return Status::Ok();
  pieces.push_back({text, -1, true});
  m.match_raw.split(pieces, !parse_special);
  if (m.normalizer.active()) {
    for (Piece& p : pieces) {
      if (p.id >= 0) continue;
      DSRT_ASSIGN_OR_RETURN(std::string n, m.normalizer.apply(p.text));
      arena.push_back(std::move(n));
      p.text = arena.back();
    }
    m.match_norm.split(pieces, !parse_special);
  }
  return m.pre.apply(pieces, arena);
}

}  // namespace

Result<std::vector<int32_t>> Tokenizer::encode(std::string_view text, bool add_bos,
                                               bool parse_special) const {
  const Impl& m = *impl_;
  std::vector<Piece> pieces;
  std::deque<std::string> arena;
  DSRT_RETURN_IF_ERROR(split_text(m, text, parse_special, pieces, arena));
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 2);
  if (add_bos && m.bos >= 0) ids.push_back(m.bos);
  for (const Piece& p : pieces) {
    if (p.id >= 0)
      ids.push_back(p.id);
    else
      DSRT_RETURN_IF_ERROR(m.bpe.encode_word(p.text, &ids));
  }
  return ids;
}

Result<std::vector<std::string>> Tokenizer::pre_tokenize(std::string_view text) const {
  std::vector<Piece> pieces;
  std::deque<std::string> arena;
  DSRT_RETURN_IF_ERROR(split_text(*impl_, text, true, pieces, arena));
  std::vector<std::string> out;
  for (const Piece& p : pieces) out.emplace_back(p.text);
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  const Impl& m = *impl_;
  std::string bytes;
  for (int32_t id : ids) {
    if (!valid_id(id) || (skip_special && m.special[id])) continue;
    bytes += m.token_bytes[id];
  }
  if (m.metaspace_decode && !bytes.empty() && bytes[0] == ' ') bytes.erase(0, 1);
  return utf8::to_valid_lossy(bytes);
}

const std::string& Tokenizer::token_bytes(int32_t id) const {
  return valid_id(id) ? impl_->token_bytes[id] : kEmpty;
}
std::string Tokenizer::token_text(int32_t id) const {
  return valid_id(id) ? impl_->bpe.token(id) : std::string();
}
std::optional<int32_t> Tokenizer::token_id(std::string_view text) const {
  const int32_t id = impl_->bpe.find(text);
  if (id < 0) return std::nullopt;
  return id;
}
int32_t Tokenizer::n_vocab() const {
  return impl_->bpe.n_vocab();
}
bool Tokenizer::is_special(int32_t id) const {
  return valid_id(id) && impl_->special[id];
}
int32_t Tokenizer::bos_id() const {
  return impl_->bos;
}
int32_t Tokenizer::eos_id() const {
  return impl_->eos;
}
const std::vector<int32_t>& Tokenizer::eos_ids() const {
  return impl_->eos_ids;
}
bool Tokenizer::is_eos(int32_t id) const {
  return std::find(impl_->eos_ids.begin(), impl_->eos_ids.end(), id) != impl_->eos_ids.end();
}
bool Tokenizer::add_bos_default() const {
  return impl_->add_bos;
}
const std::string& Tokenizer::chat_template() const {
  return impl_->chat_template;
}

std::string StreamDecoder::push(int32_t id) {
  if (!tok_->valid_id(id) || (skip_special_ && tok_->is_special(id))) return std::string();
  pending_ += tok_->token_bytes(id);
  size_t tail = 0;
  std::string out = utf8::to_valid_lossy(pending_, /*keep_incomplete_tail=*/true, &tail);
  pending_.erase(0, pending_.size() - tail);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8::to_valid_lossy(pending_);
  pending_.clear();
  return out;
}

}  // namespace dsrt
