// Chat templates: the 4 Hugging Face renders of the V3 template (text and ids), detection,
// the other DeepSeek templates on hand-derived expectations, and the reasoning splitter.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tok_test_util.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/reasoning.h"

namespace dsrt::test {
namespace {

using nlohmann::json;

std::vector<ChatMessage> to_messages(const json& arr) {
  std::vector<ChatMessage> out;
  for (const json& m : arr) {
    ChatMessage cm;
    cm.role = m["role"];
    if (m.contains("content") && m["content"].is_string())
      cm.content = m["content"].get<std::string>();
    if (m.contains("tool_calls"))
      for (const json& t : m["tool_calls"])
        cm.tool_calls.push_back(
            {t.value("type", "function"), t["function"]["name"], t["function"]["arguments"]});
    out.push_back(std::move(cm));
  }
  return out;
}

TEST(ChatTemplate, DetectsV3FromTokenizerConfig) {
  auto k = detect_chat_template(v3_tokenizer().chat_template());
  ASSERT_TRUE(k.ok()) << k.status().message();
  EXPECT_EQ(k.value(), ChatTemplateKind::kDeepseekV3);
}

TEST(ChatTemplate, V3MatchesHuggingFaceRendersAndIds) {
  const json doc = json::parse(read_all(tok_data_dir() + "/deepseek_v3_chat_cases.json"));
  ASSERT_EQ(doc["cases"].size(), 4u);
  ChatOptions opts;
  opts.bos_token = doc["bos_token"];
  opts.eos_token = doc["eos_token"];
  for (const json& c : doc["cases"]) {
    opts.add_generation_prompt = c["add_generation_prompt"];
    auto r = render_chat(ChatTemplateKind::kDeepseekV3, to_messages(c["messages"]), opts);
    ASSERT_TRUE(r.ok()) << c["name"] << ": " << r.status().message();
    EXPECT_EQ(r.value(), c["rendered"].get<std::string>()) << c["name"];
    auto ids = v3_tokenizer().encode(r.value(), false);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(ids.value(), c["ids"].get<std::vector<int32_t>>()) << c["name"];
  }
}

TEST(ChatTemplate, DetectionOfOtherTemplatesAndUnknown) {
  const std::string v3 = v3_tokenizer().chat_template();
  // R1: the V3 template with reasoning cut from past turns and a <think>\n generation prompt.
  std::string r1 = v3;
  const std::string a = "{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}";
  const size_t p = r1.find(a);
  ASSERT_NE(p, std::string::npos);
  r1.replace(p, a.size(),
             "{% set content = message['content'] %}{% if '</think>' in content %}{% set content "
             "= content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + "
             "'<｜end▁of▁sentence｜>'}}");
  const std::string g = "{{'<｜Assistant｜>'}}{% endif %}";
  const size_t q = r1.rfind(g);
  ASSERT_NE(q, std::string::npos);
  r1.replace(q, g.size(), "{{'<｜Assistant｜><think>\\n'}}{% endif %}");
  EXPECT_EQ(detect_chat_template(r1).value(), ChatTemplateKind::kDeepseekR1);
  std::string distill = r1;
  const std::string sp = "is_first_sp";
  for (size_t k; (k = distill.find(sp)) != std::string::npos;) distill.replace(k, sp.size(), "x");
  EXPECT_EQ(detect_chat_template(distill).value(), ChatTemplateKind::kDeepseekR1Distill);
  EXPECT_EQ(detect_chat_template("{{ bos_token }}{% for message in messages %}{% if "
                                 "message['role'] == 'user' %}{{ 'User: ' + message['content'] "
                                 "+ '\\n\\n' }}{% elif message['role'] == 'assistant' %}{{ "
                                 "'Assistant: ' + message['content'] + eos_token }}{% endif %}"
                                 "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}"
                                 "{% endif %}")
                .value(),
            ChatTemplateKind::kDeepseekV2);
  auto unk = detect_chat_template("{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}");
  ASSERT_FALSE(unk.ok());
  EXPECT_NE(unk.status().message().find("deepseek-v3.1"), std::string::npos);
  EXPECT_FALSE(detect_chat_template("").ok());
  EXPECT_EQ(chat_template_from_name("deepseek-r1").value(), ChatTemplateKind::kDeepseekR1);
  EXPECT_FALSE(chat_template_from_name("chatml").ok());
  for (const auto& n : chat_template_names())
    EXPECT_EQ(chat_template_name(chat_template_from_name(n).value()), n);
}

const std::string kBos = "<｜begin▁of▁sentence｜>";
const std::string kEos = "<｜end▁of▁sentence｜>";

std::vector<ChatMessage> two_turns() {
  return {{"system", "S1"},
          {"system", "S2"},
          {"user", "Q1"},
          {"assistant", "<think>\nhmm\n</think>\n\nA1"},
          {"user", "Q2"}};
}

TEST(ChatTemplate, R1DropsPastReasoningAndOpensThink) {
  auto r = render_chat(ChatTemplateKind::kDeepseekR1, two_turns(), {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), kBos + "S1\n\nS2<｜User｜>Q1<｜Assistant｜>\n\nA1" + kEos +
                           "<｜User｜>Q2<｜Assistant｜><think>\n");
  auto d = render_chat(ChatTemplateKind::kDeepseekR1Distill, two_turns(), {});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.value(), kBos + "S2<｜User｜>Q1<｜Assistant｜>\n\nA1" + kEos +
                           "<｜User｜>Q2<｜Assistant｜><think>\n");
}

TEST(ChatTemplate, V25AndV2) {
  auto v25 = render_chat(ChatTemplateKind::kDeepseekV25, two_turns(), {});
  ASSERT_TRUE(v25.ok());
  EXPECT_EQ(v25.value(), kBos + "S2<｜User｜>Q1<｜Assistant｜><think>\nhmm\n</think>\n\nA1" + kEos +
                             "<｜User｜>Q2<｜Assistant｜>");
  auto v2 = render_chat(ChatTemplateKind::kDeepseekV2,
                        {{"system", "S"}, {"user", "Q"}, {"assistant", "A"}, {"user", "Q2"}}, {});
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2.value(), kBos + "S\n\nUser: Q\n\nAssistant: A" + kEos + "User: Q2\n\nAssistant:");
}

TEST(ChatTemplate, V31ThinkingAndNonThinking) {
  ChatOptions o;
  auto nt = render_chat(ChatTemplateKind::kDeepseekV31, two_turns(), o);
  ASSERT_TRUE(nt.ok());
  EXPECT_EQ(nt.value(), kBos + "S1\n\nS2<｜User｜>Q1<｜Assistant｜></think>\n\nA1" + kEos +
                            "<｜User｜>Q2<｜Assistant｜></think>");
  o.thinking = true;
  auto th = render_chat(ChatTemplateKind::kDeepseekV31, two_turns(), o);
  ASSERT_TRUE(th.ok());
  EXPECT_EQ(th.value(), kBos + "S1\n\nS2<｜User｜>Q1<｜Assistant｜></think>\n\nA1" + kEos +
                            "<｜User｜>Q2<｜Assistant｜><think>");
  // Tool call, tool output, then the answer.
  ChatMessage call{"assistant", std::nullopt};
  call.tool_calls = {{"function", "get_weather", "{\"city\": \"Hangzhou\"}"}};
  std::vector<ChatMessage> ms = {
      {"user", "W?"}, call, {"tool", "{\"t\": 21}"}, {"assistant", "21C"}};
  auto tc = render_chat(ChatTemplateKind::kDeepseekV31, ms, ChatOptions{});
  ASSERT_TRUE(tc.ok());
  EXPECT_EQ(tc.value(), kBos +
                            "<｜User｜>W?<｜Assistant｜></think><｜tool▁calls▁begin｜>"
                            "<｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": "
                            "\"Hangzhou\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>" +
                            kEos + "<｜tool▁output▁begin｜>{\"t\": 21}<｜tool▁output▁end｜>21C" +
                            kEos);
}

TEST(ChatTemplate, V3TwoToolCallsAndTwoOutputs) {
  ChatMessage call{"assistant", std::nullopt};
  call.tool_calls = {{"function", "f", "{}"}, {"function", "g", "{\"x\": 1}"}};
  std::vector<ChatMessage> ms = {
      {"user", "U"}, call, {"tool", "o1"}, {"tool", "o2"}, {"assistant", "done"}};
  ChatOptions o;
  o.add_generation_prompt = false;
  auto r = render_chat(ChatTemplateKind::kDeepseekV3, ms, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(),
            kBos +
                "<｜User｜>U<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function"
                "<｜tool▁sep｜>f\n```json\n{}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>"
                "function<｜tool▁sep｜>g\n```json\n{\"x\": 1}\n```<｜tool▁call▁end｜>"
                "<｜tool▁calls▁end｜>" +
                kEos +
                "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>o1<｜tool▁output▁end｜>\n"
                "<｜tool▁output▁begin｜>o2<｜tool▁output▁end｜><｜tool▁outputs▁end｜>done" +
                kEos);
}

TEST(ChatTemplate, BadMessages) {
  auto r = render_chat(ChatTemplateKind::kDeepseekV3, {{"robot", "x"}}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("robot"), std::string::npos);
  auto n = render_chat(ChatTemplateKind::kDeepseekV3, {{"user", std::nullopt}}, {});
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.status().message().find("messages[0]"), std::string::npos);
}

TEST(Reasoning, SplitsWholeText) {
  auto s = split_reasoning("Let me think.\nOK.\n</think>\n\nThe answer is 42.", true);
  EXPECT_EQ(s.reasoning, "Let me think.\nOK.");
  EXPECT_EQ(s.content, "The answer is 42.");
  EXPECT_TRUE(s.reasoning_done);
  auto open = split_reasoning("<think>\nabc</think>xyz", false);
  EXPECT_EQ(open.reasoning, "abc");
  EXPECT_EQ(open.content, "xyz");
  auto none = split_reasoning("plain answer", false);
  EXPECT_EQ(none.reasoning, "");
  EXPECT_EQ(none.content, "plain answer");
  auto unfinished = split_reasoning("still thinking ", true);
  EXPECT_EQ(unfinished.reasoning, "still thinking");
  EXPECT_EQ(unfinished.content, "");
  EXPECT_FALSE(unfinished.reasoning_done);
}

TEST(Reasoning, StreamingMatchesWholeTextAtEverySplit) {
  const std::vector<std::pair<std::string, bool>> texts = {
      {"Let me think.\n</think>\n\nThe answer is 42.", true},
      {"<think>\nr1 </thi r2\n\n</think>\n\n  ans </think> tail", false},
      {"  <think>x</think>", false},
      {"<thin", false},
      {"no tags at all", true},
  };
  for (const auto& [text, starts] : texts) {
    const ReasoningSplit whole = split_reasoning(text, starts);
    // Every 2-way split and the one-byte-at-a-time stream give the same result.
    for (size_t cut = 0; cut <= text.size(); ++cut) {
      ReasoningParser p(starts);
      std::string r, c;
      for (auto part : {text.substr(0, cut), text.substr(cut)}) {
        auto d = p.push(part);
        r += d.reasoning;
        c += d.content;
      }
      auto d = p.finish();
      r += d.reasoning;
      c += d.content;
      EXPECT_EQ(r, whole.reasoning) << text << " cut " << cut;
      EXPECT_EQ(c, whole.content) << text << " cut " << cut;
    }
    ReasoningParser p(starts);
    std::string r, c;
    for (char ch : text) {
      auto d = p.push(std::string(1, ch));
      r += d.reasoning;
      c += d.content;
    }
    auto d = p.finish();
    EXPECT_EQ(r + d.reasoning, whole.reasoning) << text;
    EXPECT_EQ(c + d.content, whole.content) << text;
  }
}

}  // namespace
}  // namespace dsrt::test
