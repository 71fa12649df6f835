// Small parsing helpers shared by subcommands.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace dsrt::cli {

// "1,2, 3" -> {1, 2, 3}; rejects empty lists, non-numbers and values outside int32.
Result<std::vector<int32_t>> parse_id_list(const std::string& s);

}  // namespace dsrt::cli
