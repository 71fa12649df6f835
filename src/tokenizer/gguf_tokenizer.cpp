// Tokenizer::from_gguf: reads llama.cpp's tokenizer.ggml.* keys into TokenizerParts.
#include <filesystem>

#include "loaders/gguf.h"
#include "tokenizer/gguf_pre.h"
#include "tokenizer/tokenizer.h"

namespace dsrt {

Result<Tokenizer> Tokenizer::from_gguf(const std::string& path) {
  DSRT_ASSIGN_OR_RETURN(std::shared_ptr<GgufFile> f, GgufFile::open(path));
  auto err = [&](const Status& s) { return Status::Error(path + ": " + s.message()); };
  auto model = f->get_string_or("tokenizer.ggml.model", "");
  if (!model.ok()) return err(model.status());
  if (model.value() != "gpt2")
    return Status::Error(path + ": tokenizer.ggml.model \"" + model.value() +
                         "\" is not supported (only \"gpt2\", byte-level BPE)");
  TokenizerParts parts;
  auto tokens = f->get_string_array("tokenizer.ggml.tokens");
  if (!tokens.ok()) return err(tokens.status());
  parts.tokens = std::move(tokens.value());
  if (f->has("tokenizer.ggml.merges")) {
    auto merges = f->get_string_array("tokenizer.ggml.merges");
    if (!merges.ok()) return err(merges.status());
    parts.merges = std::move(merges.value());
  }
  if (f->has("tokenizer.ggml.token_type")) {
    auto types = f->get_int_array("tokenizer.ggml.token_type");
    if (!types.ok()) return err(types.status());
    parts.token_types.assign(types.value().begin(), types.value().end());
  }
  auto pre = f->get_string_or("tokenizer.ggml.pre", "default");
  if (!pre.ok()) return err(pre.status());
  auto regexes = gguf_pre_regexes(pre.value());
  if (!regexes.ok()) return err(regexes.status());
  parts.pre_regexes = std::move(regexes.value());
  auto id = [&](const char* key, int32_t* out) -> Status {
    auto v = f->get_int_or(key, -1);
    if (!v.ok()) return v.status();
    *out = static_cast<int32_t>(v.value());
    return Status::Ok();
  };
  Status st = id("tokenizer.ggml.bos_token_id", &parts.bos_id);
  if (st.ok()) st = id("tokenizer.ggml.eos_token_id", &parts.eos_id);
  for (const char* k : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    int32_t extra = -1;
    if (st.ok()) st = id(k, &extra);
    if (extra >= 0 && extra != parts.eos_id) parts.extra_eos_ids.push_back(extra);
  }
  if (!st.ok()) return err(st);
  auto add_bos = f->get_bool_or("tokenizer.ggml.add_bos_token", false);
  if (!add_bos.ok()) return err(add_bos.status());
  parts.add_bos = add_bos.value();
  auto tmpl = f->get_string_or("tokenizer.chat_template", "");
  if (!tmpl.ok()) return err(tmpl.status());
  parts.chat_template = std::move(tmpl.value());
  auto tok = from_parts(parts);
  if (!tok.ok()) return err(tok.status());
  return tok;
}

Result<Tokenizer> Tokenizer::load(const std::string& path) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) return from_gguf(path);
  return from_dir(path);
}

}  // namespace dsrt
