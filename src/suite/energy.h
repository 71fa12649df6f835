// Energy counters the platform exposes: Intel/AMD RAPL through /sys/class/powercap (package
// domains) and NVIDIA's NVML (total energy per GPU, loaded with dlopen so dsrt never links
// it). Nothing is estimated: where no counter exists the meter says so and why.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsrt::suite {

class EnergyMeter {
 public:
  EnergyMeter();  // probes the counters
  ~EnergyMeter();
  EnergyMeter(const EnergyMeter&) = delete;
  EnergyMeter& operator=(const EnergyMeter&) = delete;

  bool available() const { return !domains_.empty(); }
  // "rapl:package-0+package-1", "nvml:gpu0", ...
  std::string source() const;
  // Why no counter was found (empty when available()).
  const std::string& why_unavailable() const { return why_; }
  // Joules consumed since the last start() by every domain together (RAPL wraparound is
  // handled with max_energy_range_uj).
  void start();
  double joules() const;

 private:
  struct Domain {
    std::string name;
    std::string path;      // RAPL: energy_uj file; NVML: empty
    uint64_t range = 0;    // RAPL max_energy_range_uj
    int gpu = -1;          // NVML device index
    uint64_t start = 0;
  };
  uint64_t read(const Domain& d) const;  // micro-joules (RAPL) or milli-joules (NVML)
  std::vector<Domain> domains_;
  std::string why_;
  void* nvml_ = nullptr;  // dlopen handle
};

// NVIDIA driver version and GPU names from NVML when the library loads; empty otherwise.
struct NvmlInfo {
  std::string driver_version;
  std::vector<std::string> gpus;
  std::vector<uint64_t> gpu_memory_bytes;
};
NvmlInfo nvml_info();

}  // namespace dsrt::suite
