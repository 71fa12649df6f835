#include "runtime/stop.h"

#include <algorithm>
#include <utility>

namespace dsrt {

Result<StopChecker> StopChecker::create(StopParams params) {
  if (params.max_tokens < 0)
    return Status::Error("stop: max_tokens must be >= 0 (0 = no limit), got " +
                         std::to_string(params.max_tokens));
  for (size_t i = 0; i < params.stop_strings.size(); ++i)
    if (params.stop_strings[i].empty())
      return Status::Error("stop: stop string " + std::to_string(i) + " is empty");
  return StopChecker(std::move(params));
}

StopChecker::StopChecker(StopParams params) : params_(std::move(params)) {}

void StopChecker::reset() {
  held_.clear();
  n_tokens_ = 0;
  stopped_ = false;
  reason_.clear();
}

size_t StopChecker::longest_partial() const {
  size_t best = 0;
  for (const std::string& s : params_.stop_strings) {
    // Only a proper prefix can be pending: a whole match was already handled by the caller.
    for (size_t len = std::min(s.size() - 1, held_.size()); len > best; --len) {
      if (held_.compare(held_.size() - len, len, s, 0, len) == 0) {
        best = len;
        break;
      }
    }
  }
  return best;
}

StopResult StopChecker::stop(std::string text, const char* reason) {
  held_.clear();
  stopped_ = true;
  reason_ = reason;
  return {std::move(text), true, reason_};
}

StopResult StopChecker::feed(int32_t token, std::string_view piece) {
  if (stopped_) return {"", true, reason_};
  ++n_tokens_;
  if (std::find(params_.eos_ids.begin(), params_.eos_ids.end(), token) != params_.eos_ids.end())
    return stop(std::move(held_), "eos");

  held_.append(piece);
  // Every stop string that starts in held_ is found here: text that could begin one is never
  // emitted (see longest_partial), so no match can start in text already emitted. The
  // earliest match wins, since the text before it is all that may be shown.
  size_t first = std::string::npos;
  for (const std::string& s : params_.stop_strings) first = std::min(first, held_.find(s));
  if (first != std::string::npos) return stop(held_.substr(0, first), "stop");

  if (params_.max_tokens > 0 && n_tokens_ >= params_.max_tokens)
    return stop(std::move(held_), "length");

  const size_t keep = longest_partial();
  StopResult r;
  r.text_to_emit = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return r;
}

StopResult StopChecker::finish() {
  StopResult r{std::move(held_), stopped_, reason_};
  held_.clear();
  return r;
}

}  // namespace dsrt
