// The hardware profile written into results.json: CPU model, cores, ISA features, caches,
// memory, accelerators reachable through the backends or visible as device nodes, driver and
// toolkit versions where found, and how this dsrt binary was built. Measured limits
// (bandwidth, peak FLOP/s) are added by the suite after its machine cases run.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace dsrt::suite {

nlohmann::json hardware_profile();
// git commit (build time, "-dirty" when the tree had changes), build type, flags, compiler.
nlohmann::json build_info();
// Host name, kernel, OS, time (UTC, ISO 8601).
nlohmann::json environment_info();

}  // namespace dsrt::suite
