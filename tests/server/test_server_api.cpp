// The request parser on its own (no sockets): defaults, every field, and the error object.
#include <gtest/gtest.h>

#include "server/api.h"

namespace dsrt::server {
namespace {

ParseLimits limits() {
  ParseLimits l;
  l.model_name = "m";
  l.max_tokens_limit = 1024;
  return l;
}

TEST(ServerApi, ChatFieldsAndDefaults) {
  auto r = parse_request(Endpoint::kChat,
                         R"({"model":"m","messages":[{"role":"developer","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
                             {"role":"user","content":"hi"}],"max_completion_tokens":7,"temperature":0.5,"top_p":0.9,"top_k":-1,
                             "min_p":0.1,"presence_penalty":0.5,"frequency_penalty":-0.5,"repetition_penalty":1.1,"seed":18446744073709551615,
                             "stop":"x","stream":true,"stream_options":{"include_usage":true},"logprobs":true,"top_logprobs":2,
                             "logit_bias":{"5":-100}})",
                         limits());
  ASSERT_TRUE(std::holds_alternative<ApiRequest>(r)) << std::get<ApiError>(r).message;
  const ApiRequest& q = std::get<ApiRequest>(r);
  ASSERT_EQ(q.messages.size(), 2u);
  EXPECT_EQ(q.messages[0].role, "system");
  EXPECT_EQ(*q.messages[0].content, "ab");
  EXPECT_EQ(q.max_tokens, 7);
  EXPECT_FLOAT_EQ(q.sampling.temperature, 0.5f);
  EXPECT_EQ(q.sampling.top_k, 0);
  EXPECT_EQ(q.sampling.seed, UINT64_MAX);
  EXPECT_EQ(q.stop, std::vector<std::string>{"x"});
  EXPECT_TRUE(q.stream && q.include_usage && q.logprobs);
  EXPECT_EQ(q.sampling.n_logprobs, 2);
  ASSERT_EQ(q.sampling.logit_bias.size(), 1u);
  EXPECT_EQ(q.sampling.penalty_last_n, -1);

  auto d = parse_request(Endpoint::kCompletion, R"({"prompt":"x"})", limits());
  const ApiRequest& p = std::get<ApiRequest>(d);
  EXPECT_EQ(p.max_tokens, 0);
  EXPECT_FLOAT_EQ(p.sampling.temperature, 1.0f);
  EXPECT_FALSE(p.stream);
}

TEST(ServerApi, ErrorsNameTheField) {
  struct C {
    Endpoint ep;
    const char* body;
    int status;
    const char* param;
  };
  for (const C& c : std::vector<C>{{Endpoint::kChat, "", 400, ""},
                                   {Endpoint::kChat, R"({"messages":[{"role":"user"}]})", 400, "messages"},
                                   {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"max_tokens":1025})", 400, "max_tokens"},
                                   {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"model":"z"})", 404, "model"},
                                   {Endpoint::kChat, R"({"messages":[{"role":"user","content":"x"}],"n":0})", 400, "n"},
                                   {Endpoint::kCompletion, R"({"prompt":["a","b"]})", 400, "prompt"},
                                   {Endpoint::kCompletion, R"({"prompt":"a","logit_bias":{"x":1}})", 400, "logit_bias"},
                                   {Endpoint::kCompletion, R"({"prompt":"a","response_format":{"type":"json_object"}})", 400, "response_format"}}) {
    auto r = parse_request(c.ep, c.body, limits());
    ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << c.body;
    const ApiError& e = std::get<ApiError>(r);
    EXPECT_EQ(e.status, c.status) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body;
    const auto j = error_json(e);
    EXPECT_TRUE(j["error"].contains("code"));
  }
}

}  // namespace
}  // namespace dsrt::server
