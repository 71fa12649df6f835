#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "runtime/stop.h"

namespace dsrt {
namespace {

StopChecker make(std::vector<std::string> stops, int max_tokens = 0,
                 std::vector<int32_t> eos = {}) {
  auto r = StopChecker::create({std::move(eos), max_tokens, std::move(stops)});
  EXPECT_TRUE(r.ok()) << r.status().message();
  return std::move(r).value();
}

// Feeds pieces (token id 1 each) and returns everything emitted, including the final flush.
struct Feeds {
  std::string text;
  std::vector<std::string> emitted;  // per feed
  bool stopped = false;
  std::string reason;
};
Feeds run(StopChecker& sc, const std::vector<std::string>& pieces) {
  Feeds out;
  for (const std::string& p : pieces) {
    StopResult r = sc.feed(1, p);
    out.emitted.push_back(r.text_to_emit);
    out.text += r.text_to_emit;
    if (r.stopped) {
      out.stopped = true;
      out.reason = r.reason;
      break;
    }
  }
  StopResult f = sc.finish();
  out.text += f.text_to_emit;
  return out;
}

TEST(Stop, StopStringAcrossBoundaries) {
  StopChecker sc = make({"STOP"});
  Feeds r = run(sc, {"abc ST", "O", "P more"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.reason, "stop");
  EXPECT_EQ(r.text, "abc ");
  // "ST" and "O" were held back as a possible beginning of "STOP".
  ASSERT_EQ(r.emitted.size(), 3u);
  EXPECT_EQ(r.emitted[0], "abc ");
  EXPECT_EQ(r.emitted[1], "");
  EXPECT_EQ(r.emitted[2], "");
}

TEST(Stop, PartialMatchThatIsNotAStopIsEmitted) {
  StopChecker sc = make({"STOP"});
  StopResult a = sc.feed(1, "ab S");
  EXPECT_EQ(a.text_to_emit, "ab ");
  EXPECT_FALSE(a.stopped);
  StopResult b = sc.feed(1, "TO");
  EXPECT_EQ(b.text_to_emit, "");
  StopResult c = sc.feed(1, "x");  // "STOx" can no longer become "STOP"
  EXPECT_EQ(c.text_to_emit, "STOx");
  EXPECT_FALSE(c.stopped);
  // A held tail that is flushed at the end is emitted too.
  StopResult d = sc.feed(1, " ST");
  EXPECT_EQ(d.text_to_emit, " ");
  StopResult f = sc.finish();
  EXPECT_EQ(f.text_to_emit, "ST");
  EXPECT_FALSE(f.stopped);
  EXPECT_EQ(f.reason, "");
}

TEST(Stop, PartialRestartInsideHeldText) {
  // "aab": after "aa" the holdback must realign to the second 'a'.
  StopChecker sc = make({"aab"});
  Feeds r = run(sc, {"a", "a", "a", "b", "c"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "a");
}

TEST(Stop, MultipleStopStringsEarliestWins) {
  StopChecker sc = make({"world", "lo w"});
  Feeds r = run(sc, {"hel", "lo wor", "ld"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "hel");

  StopChecker sc2 = make({"</s>", "\n\nUser:"});
  Feeds r2 = run(sc2, {"Answer.", "\n", "\nUs", "er", ":", " next"});
  EXPECT_TRUE(r2.stopped);
  EXPECT_EQ(r2.text, "Answer.");
}

TEST(Stop, StopInsideOnePiece) {
  StopChecker sc = make({"##"});
  Feeds r = run(sc, {"x ## y"});
  EXPECT_EQ(r.text, "x ");
  EXPECT_EQ(r.reason, "stop");
}

TEST(Stop, EosFlushesHeldTextAndIsNotEmitted) {
  StopChecker sc = make({"STOP"}, 0, {7, 9});
  EXPECT_EQ(sc.feed(1, "hi ST").text_to_emit, "hi ");
  StopResult r = sc.feed(9, "<eos>");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.reason, "eos");
  EXPECT_EQ(r.text_to_emit, "ST");
  // Once stopped, nothing more comes out.
  StopResult again = sc.feed(1, "more");
  EXPECT_TRUE(again.stopped);
  EXPECT_EQ(again.text_to_emit, "");
  EXPECT_EQ(sc.finish().text_to_emit, "");
}

TEST(Stop, MaxTokens) {
  StopChecker sc = make({"STOP"}, 3);
  EXPECT_FALSE(sc.feed(1, "a").stopped);
  EXPECT_FALSE(sc.feed(1, "b").stopped);
  StopResult r = sc.feed(1, " ST");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.reason, "length");
  EXPECT_EQ(r.text_to_emit, " ST");  // the held partial is flushed at the limit
  EXPECT_EQ(sc.n_tokens(), 3);
  // A stop string completed by the last allowed token is a stop, not a length.
  StopChecker sc2 = make({"STOP"}, 2);
  EXPECT_FALSE(sc2.feed(1, "ST").stopped);
  StopResult r2 = sc2.feed(1, "OP");
  EXPECT_EQ(r2.reason, "stop");
  EXPECT_EQ(r2.text_to_emit, "");
}

TEST(Stop, ResetStartsOver) {
  StopChecker sc = make({"x"}, 1);
  EXPECT_TRUE(sc.feed(1, "x").stopped);
  sc.reset();
  StopResult r = sc.feed(1, "ab");
  EXPECT_EQ(r.reason, "length");
  EXPECT_EQ(r.text_to_emit, "ab");
}

TEST(Stop, BadParams) {
  EXPECT_FALSE(StopChecker::create({{}, -1, {}}).ok());
  auto r = StopChecker::create({{}, 0, {"ok", ""}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("empty"), std::string::npos);
}

// Randomised: over random texts from a small alphabet (so that partial matches are common),
// split at random points, the emitted text must be exactly the text before the first
// occurrence of any stop string, whatever the split.
TEST(Stop, RandomSplitsMatchReference) {
  std::mt19937_64 rng(42);
  const std::vector<std::string> stops = {"aba", "bb", "cab"};
  for (int trial = 0; trial < 2000; ++trial) {
    std::string text;
    const int len = static_cast<int>(rng() % 20);
    for (int i = 0; i < len; ++i) text.push_back("abc"[rng() % 3]);
    size_t first = std::string::npos;
    for (const std::string& s : stops) first = std::min(first, text.find(s));
    const std::string expected = first == std::string::npos ? text : text.substr(0, first);

    std::vector<std::string> pieces;
    for (size_t i = 0; i < text.size();) {
      const size_t n = std::min<size_t>(text.size() - i, rng() % 4);  // empty pieces too
      pieces.push_back(text.substr(i, n));
      i += n;
    }
    StopChecker sc = make(stops);
    Feeds r = run(sc, pieces);
    ASSERT_EQ(r.text, expected) << "text=" << text;
    ASSERT_EQ(r.stopped, first != std::string::npos) << "text=" << text;
  }
}

}  // namespace
}  // namespace dsrt
