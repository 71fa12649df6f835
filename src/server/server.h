// The HTTP side of `dsrt serve`: routes, Bearer auth, SSE streaming, /metrics. It turns
// requests (parsed by api.h) into token ids through the tokenizer and chat template, hands
// them to the Scheduler and writes what comes back; it never touches the model itself.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "models/model.h"
#include "runtime/scheduler.h"
#include "server/api.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}

namespace dsrt::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;              // "" = no auth
  std::string model_name = "dsrt";  // what /v1/models lists and requests must name
  size_t max_body_bytes = 1 << 20;  // larger bodies get 413
  int http_threads = 0;             // 0 = enough for parallel + max_queue
  int default_max_tokens = 0;       // when a request gives none; 0 = to the end of the context
};

// What the server serves once loading is done.
struct Engine {
  std::unique_ptr<Model> model;
  Tokenizer tok;
  std::optional<ChatTemplateKind> chat_template;  // nullopt: chat completions are refused
  std::unique_ptr<Scheduler> scheduler;
};

class ApiServer {
 public:
  explicit ApiServer(ServerOptions opt);
  ~ApiServer();
  // Binds the port (0 = any free one); returns the port or an error.
  Result<int> bind();
  // Serves until stop(); /health answers "loading" until set_engine().
  void listen();
  void stop();
  void set_engine(std::unique_ptr<Engine> e);
  void set_load_error(const std::string& msg);

 private:
  void routes();
  void generate(Endpoint ep, const httplib::Request& req, httplib::Response& res);
  void count(const std::string& path, int status);
  std::string metrics_text();

  ServerOptions opt_;
  std::unique_ptr<httplib::Server> http_;
  int listen_fd_ = -1;  // the listening socket, once bound
  std::unique_ptr<Engine> engine_;
  std::atomic<bool> ready_{false};
  std::string load_error_;
  std::mutex mu_;  // guards counts_
  std::map<std::pair<std::string, int>, uint64_t> counts_;  // (path, status) -> requests
  std::atomic<uint64_t> next_id_{0};
};

}  // namespace dsrt::server
