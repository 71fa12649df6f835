#include "cli/common.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace dsrt::cli {

Result<std::vector<int32_t>> parse_id_list(const std::string& s) {
  std::vector<int32_t> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string item = s.substr(i, j - i);
    while (!item.empty() && std::isspace((unsigned char)item.back())) item.pop_back();
    size_t b = 0;
    while (b < item.size() && std::isspace((unsigned char)item[b])) ++b;
    item = item.substr(b);
    if (item.empty()) {
      if (s.find_first_not_of(" \t") == std::string::npos) return Status::Error("empty id list");
      return Status::Error("empty entry in id list '" + s + "'");
    }
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (*end != '\0' || errno == ERANGE || v < INT32_MIN || v > INT32_MAX)
      return Status::Error("'" + item + "' is not a valid token id");
    out.push_back(int32_t(v));
    i = j + 1;
  }
  return out;
}

}  // namespace dsrt::cli
