// `dsrt run` (one prompt, streamed), `dsrt chat` (interactive, multi-turn) and
// `dsrt make-demo` (write the embedded default model).
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/command.h"
#include "core/mmap_file.h"
#include "models/demo.h"
#include "runtime/generate.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/reasoning.h"

namespace dsrt::cli {
namespace {

struct Loaded {
  std::unique_ptr<Model> model;
  Tokenizer tok;
};

// An empty path means the embedded demo model, written on first use.
Result<Loaded> open_model(std::string path, int threads, const char* cmd) {
  if (path.empty()) {
    path = default_demo_dir();
    if (!std::filesystem::exists(path + "/config.json")) {
      std::fprintf(stderr, "dsrt %s: writing the demo model (random weights) to %s\n", cmd, path.c_str());
      DSRT_RETURN_IF_ERROR(write_demo_model(path, default_assets_dir()));
    }
  }
  DSRT_ASSIGN_OR_RETURN(auto be, make_backend("cpu", threads));
  Loaded l;
  DSRT_ASSIGN_OR_RETURN(l.model, load_model(path, std::shared_ptr<Backend>(std::move(be))));
  auto tok = Tokenizer::load(path);
  if (!tok.ok()) return tok.status().with_context("loading the tokenizer of " + path);
  l.tok = std::move(tok).value();
  return l;
}

struct GenOpts {
  std::string model;
  int n = 128, threads = 0, ctx = 4096, top_k = 0;
  float temp = 0.8f, top_p = 0.95f, min_p = 0.0f, repeat_penalty = 1.0f;
  uint64_t seed = 0;
  bool seed_set = false;
  std::string chat_template;
  std::string system;
  std::vector<std::string> stop;
  bool thinking = false;
};

void add_gen_options(CLI::App& app, GenOpts& o) {
  app.add_option("-m,--model", o.model, "Checkpoint folder (default: the embedded demo model)");
  app.add_option("-n,--n-predict", o.n, "Tokens to generate (0 = until EOS)")->check(CLI::Range(0, 1 << 24));
  app.add_option("--temp", o.temp, "Temperature (0 = greedy)")->check(CLI::Range(0.0f, 100.0f));
  app.add_option("--top-p", o.top_p, "Nucleus sampling")->check(CLI::Range(0.0f, 1.0f));
  app.add_option("--top-k", o.top_k, "Top-k sampling (0 = off)")->check(CLI::Range(0, 1 << 24));
  app.add_option("--min-p", o.min_p, "Min-p sampling")->check(CLI::Range(0.0f, 1.0f));
  app.add_option("--repeat-penalty", o.repeat_penalty, "Repetition penalty (1 = off)")->check(CLI::Range(0.01f, 100.0f));
  app.add_option("--seed", o.seed, "RNG seed (same seed, same output)");
  app.add_option("-t,--threads", o.threads, "Threads (0 = all cores)")->check(CLI::Range(0, 1024));
  app.add_option("-c,--ctx-size", o.ctx, "Context size in tokens")->check(CLI::Range(16, 1 << 22));
  app.add_option("--chat-template", o.chat_template,
                 "Force a template: deepseek-v2, deepseek-v2.5, deepseek-v3, deepseek-r1, "
                 "deepseek-r1-distill, deepseek-v3.1");
  app.add_option("--system", o.system, "System prompt (chat)");
  app.add_option("--stop", o.stop, "Stop string (repeatable)");
  app.add_flag("--think", o.thinking, "V3.1 thinking mode");
}

GenerateParams gen_params(const GenOpts& o) {
  GenerateParams p;
  p.sampling.temperature = o.temp;
  p.sampling.top_p = o.top_p <= 0 ? 1.0f : o.top_p;
  p.sampling.top_k = o.top_k;
  p.sampling.min_p = o.min_p;
  p.sampling.repetition_penalty = o.repeat_penalty;
  p.sampling.seed = o.seed;
  p.max_tokens = o.n;
  p.stop_strings = o.stop;
  return p;
}

Result<ChatTemplateKind> pick_template(const Tokenizer& tok, const std::string& forced) {
  if (!forced.empty()) return chat_template_from_name(forced);
  if (tok.chat_template().empty())
    return Status::Error("this model has no chat template; force one with --chat-template (" +
                         [] {
                           std::string s;
                           for (auto& n : chat_template_names()) s += (s.empty() ? "" : ", ") + n;
                           return s;
                         }() + ")");
  return detect_chat_template(tok.chat_template());
}

std::atomic<bool> g_interrupt{false};
void on_sigint(int) { g_interrupt = true; }

// Prints generated text, showing reasoning apart (dim, on a terminal) from the answer.
class Printer {
 public:
  Printer(bool starts_in_reasoning, bool split) : rp_(starts_in_reasoning), split_(split) {
    tty_ = isatty(fileno(stdout));
  }
  bool operator()(std::string_view s) {
    if (!split_) return out(s, false);
    ReasoningDelta d = rp_.push(s);
    out(d.reasoning, true);
    out(d.content, false);
    return true;
  }
  void finish() {
    if (split_) {
      ReasoningDelta d = rp_.finish();
      out(d.reasoning, true);
      out(d.content, false);
    }
    if (in_reason_) std::fputs(tty_ ? "\x1b[0m\n" : "\n", stdout);
    std::fflush(stdout);
  }

 private:
  bool out(std::string_view s, bool reasoning) {
    if (s.empty()) return true;
    if (reasoning && !in_reason_) {
      std::fputs(tty_ ? "\x1b[2m[thinking] " : "[thinking] ", stdout);
      in_reason_ = true;
    } else if (!reasoning && in_reason_) {
      std::fputs(tty_ ? "\x1b[0m\n" : "\n[answer] ", stdout);
      in_reason_ = false;
    }
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
    return true;
  }
  ReasoningParser rp_;
  bool split_, tty_ = false, in_reason_ = false;
};

// This process's peak resident set (VmHWM of its own address space). getrusage's ru_maxrss is
// not used: Linux carries the parent's high-water mark across a vfork/exec into it.
size_t peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return size_t(std::strtoull(line.c_str() + 6, nullptr, 10)) * 1024;
  return 0;
}

bool ends_with(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

int run_run(const GenOpts& o, std::string prompt, const std::string& prompt_file, bool chat, bool raw) {
  if (!prompt_file.empty()) {
    auto t = read_text_file(prompt_file);
    if (!t.ok()) return fail("run", t.status().message());
    prompt = t.value();
  }
  if (prompt.empty()) return fail("run", "the prompt is empty (give --prompt or --file)");
  auto l = open_model(o.model, o.threads, "run");
  if (!l.ok()) return fail("run", l.status().message());
  Loaded& m = l.value();
  std::string text = prompt;
  bool starts_in_reasoning = false;
  if (chat) {
    auto kind = pick_template(m.tok, o.chat_template);
    if (!kind.ok()) return fail("run", kind.status().message());
    std::vector<ChatMessage> msgs;
    if (!o.system.empty()) msgs.push_back({"system", o.system});
    msgs.push_back({"user", prompt});
    ChatOptions co;
    co.thinking = o.thinking;
    auto r = render_chat(kind.value(), msgs, co);
    if (!r.ok()) return fail("run", r.status().message());
    text = r.value();
    starts_in_reasoning = ends_with(text, "<think>\n") || ends_with(text, "<think>");
  }
  // A chat prompt carries its own BOS; a raw prompt gets the tokenizer's default.
  auto ids = m.tok.encode(text, !chat && !raw && m.tok.add_bos_default(), true);
  if (!ids.ok()) return fail("run", "prompt: " + ids.status().message());
  auto sess = new_session(*m.model, o.ctx);
  if (!sess.ok()) return fail("run", sess.status().message());
  std::signal(SIGINT, on_sigint);
  Printer pr(starts_in_reasoning, chat);
  auto st = generate(*m.model, m.tok, sess.value(), ids.value(), gen_params(o),
                     [&](std::string_view s) { return pr(s); }, &g_interrupt);
  pr.finish();
  if (!st.ok()) return fail("run", st.status().message());
  const GenerateStats& s = st.value();
  std::printf("\n");
  std::fprintf(stderr,
               "dsrt run: prompt %d tokens, generated %d tokens (%s); prefill %.1f tok/s, decode %.1f tok/s; "
               "peak RSS %.1f MiB\n",
               s.n_prompt, s.n_generated, s.finish_reason.c_str(), s.prefill_tps(), s.decode_tps(),
               double(peak_rss_bytes()) / 1048576.0);
  return 0;
}

int run_chat(const GenOpts& o) {
  auto l = open_model(o.model, o.threads, "chat");
  if (!l.ok()) return fail("chat", l.status().message());
  Loaded& m = l.value();
  auto kind = pick_template(m.tok, o.chat_template);
  if (!kind.ok()) return fail("chat", kind.status().message());
  auto sess = new_session(*m.model, o.ctx);
  if (!sess.ok()) return fail("chat", sess.status().message());
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, nullptr);  // no SA_RESTART: Ctrl-C at the prompt interrupts the read
  std::vector<ChatMessage> msgs;
  if (!o.system.empty()) msgs.push_back({"system", o.system});
  const bool tty = isatty(fileno(stdin));
  std::fprintf(stderr, "dsrt chat (%s template): /reset clears the conversation, /exit quits, "
               "Ctrl-C stops an answer.\n", chat_template_name(kind.value()).c_str());
  for (;;) {
    if (tty) std::fputs("> ", stdout);
    std::fflush(stdout);
    g_interrupt = false;
    std::string line;
    if (!std::getline(std::cin, line)) {
      if (g_interrupt && !std::cin.eof()) {
        std::cin.clear();
        std::fputs("\n(type /exit to quit)\n", stdout);
        continue;
      }
      break;
    }
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      msgs.erase(std::remove_if(msgs.begin(), msgs.end(), [](auto& x) { return x.role != "system"; }),
                 msgs.end());
      sess.value().cache->clear();
      sess.value().tokens.clear();
      std::fputs("(conversation cleared)\n", stdout);
      continue;
    }
    if (line.empty()) continue;
    msgs.push_back({"user", line});
    ChatOptions co;
    co.thinking = o.thinking;
    auto text = render_chat(kind.value(), msgs, co);
    if (!text.ok()) return fail("chat", text.status().message());
    auto ids = m.tok.encode(text.value(), false, true);
    if (!ids.ok()) {
      std::fprintf(stderr, "dsrt chat: %s\n", ids.status().message().c_str());
      msgs.pop_back();
      continue;
    }
    const bool sir = ends_with(text.value(), "<think>\n") || ends_with(text.value(), "<think>");
    Printer pr(sir, true);
    std::string answer;
    auto st = generate(*m.model, m.tok, sess.value(), ids.value(), gen_params(o),
                       [&](std::string_view s) {
                         answer += s;
                         return pr(s);
                       },
                       &g_interrupt);
    pr.finish();
    std::fputs("\n", stdout);
    if (!st.ok()) {
      std::fprintf(stderr, "dsrt chat: %s (use /reset)\n", st.status().message().c_str());
      msgs.pop_back();
      continue;
    }
    if (st.value().finish_reason == "cancelled") std::fputs("(stopped)\n", stdout);
    ReasoningSplit sp = split_reasoning(answer, sir);
    ChatMessage a{"assistant", sp.content};
    a.reasoning_content = sp.reasoning;
    msgs.push_back(a);
  }
  return 0;
}

DSRT_COMMAND(run_cmd, "run", "Generate text from a prompt, streamed to stdout",
             [](CLI::App& app) -> std::function<int()> {
               auto o = std::make_shared<GenOpts>();
               auto prompt = std::make_shared<std::string>();
               auto file = std::make_shared<std::string>();
               auto chat = std::make_shared<bool>(false);
               auto raw = std::make_shared<bool>(false);
               add_gen_options(app, *o);
               app.add_option("-p,--prompt", *prompt, "Prompt text");
               app.add_option("-f,--file", *file, "Read the prompt from a file");
               app.add_flag("--chat", *chat, "Wrap the prompt in the model's chat template");
               app.add_flag("--no-bos", *raw, "Do not add BOS to a raw prompt");
               return [=] { return run_run(*o, *prompt, *file, *chat, *raw); };
             });

DSRT_COMMAND(chat_cmd, "chat", "Interactive multi-turn chat in the terminal",
             [](CLI::App& app) -> std::function<int()> {
               auto o = std::make_shared<GenOpts>();
               add_gen_options(app, *o);
               o->n = 512;
               return [=] { return run_chat(*o); };
             });

DSRT_COMMAND(make_demo_cmd, "make-demo",
             "Write the embedded demo model (DeepSeek-V3 architecture, random weights)",
             [](CLI::App& app) -> std::function<int()> {
               auto out = std::make_shared<std::string>(default_demo_dir());
               auto seed = std::make_shared<uint64_t>(DemoOptions{}.seed);
               auto preset = std::make_shared<std::string>("demo");
               auto dtype = std::make_shared<std::string>("bf16");
               app.add_option("-o,--out", *out, "Output folder");
               app.add_option("--seed", *seed, "Weight seed");
               app.add_option("--preset", *preset,
                              "demo | smollm2-135m | v2-lite-8l | v2-lite-2048-8l (random weights)");
               app.add_option("--dtype", *dtype, "bf16 | f16 | f32")->check(CLI::IsMember({"bf16", "f16", "f32"}));
               return [=] {
                 DemoOptions d;
                 d.seed = *seed;
                 d.preset = *preset;
                 d.dtype = *dtype;
                 Status s = write_demo_model(*out, default_assets_dir(), d);
                 if (!s.ok()) return fail("make-demo", s.message());
                 std::printf("wrote %s\n", out->c_str());
                 return 0;
               };
             });

}  // namespace
}  // namespace dsrt::cli
