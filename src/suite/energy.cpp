#include "suite/energy.h"

#include <dlfcn.h>

#include <filesystem>
#include <fstream>

namespace dsrt::suite {
namespace {

namespace fs = std::filesystem;

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

// The NVML entry points we use, declared by hand (C ABI, stable since CUDA 8 / Volta for the
// energy counter). Return value 0 is NVML_SUCCESS.
using NvmlInit = int (*)();
using NvmlCount = int (*)(unsigned*);
using NvmlHandle = int (*)(unsigned, void**);
using NvmlEnergy = int (*)(void*, unsigned long long*);
using NvmlName = int (*)(void*, char*, unsigned);
using NvmlDriver = int (*)(char*, unsigned);
struct NvmlMemory {
  unsigned long long total, free, used;
};
using NvmlMem = int (*)(void*, NvmlMemory*);

void* open_nvml() {
  void* h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) return nullptr;
  auto init = reinterpret_cast<NvmlInit>(dlsym(h, "nvmlInit_v2"));
  if (!init || init() != 0) {
    dlclose(h);
    return nullptr;
  }
  return h;
}

template <class F>
F sym(void* h, const char* name) {
  return h ? reinterpret_cast<F>(dlsym(h, name)) : nullptr;
}

}  // namespace

EnergyMeter::EnergyMeter() {
  const fs::path root = "/sys/class/powercap";
  std::error_code ec;
  bool saw_rapl = false, unreadable = false;
  if (fs::exists(root, ec)) {
    for (const auto& e : fs::directory_iterator(root, ec)) {
      const std::string n = e.path().filename().string();
      // Top-level package domains only ("intel-rapl:0"), not sub-domains ("intel-rapl:0:0")
      // that the package already includes; AMD CPUs appear under the same driver name.
      if (n.rfind("intel-rapl:", 0) != 0 || n.find(':', 11) != std::string::npos) continue;
      saw_rapl = true;
      Domain d;
      d.name = read_line(e.path() / "name");
      d.path = (e.path() / "energy_uj").string();
      const std::string r = read_line(e.path() / "max_energy_range_uj");
      d.range = r.empty() ? 0 : std::stoull(r);
      if (read_line(d.path).empty()) {
        unreadable = true;
        continue;
      }
      domains_.push_back(d);
    }
  }
  nvml_ = open_nvml();
  if (nvml_) {
    auto count = sym<NvmlCount>(nvml_, "nvmlDeviceGetCount_v2");
    auto handle = sym<NvmlHandle>(nvml_, "nvmlDeviceGetHandleByIndex_v2");
    auto energy = sym<NvmlEnergy>(nvml_, "nvmlDeviceGetTotalEnergyConsumption");
    unsigned n = 0;
    if (count && handle && energy && count(&n) == 0)
      for (unsigned i = 0; i < n; ++i) {
        void* dev = nullptr;
        unsigned long long mj = 0;
        if (handle(i, &dev) == 0 && energy(dev, &mj) == 0) {
          Domain d;
          d.name = "gpu" + std::to_string(i);
          d.gpu = int(i);
          domains_.push_back(d);
        }
      }
  }
  if (domains_.empty()) {
    why_ = saw_rapl && unreadable
               ? "RAPL counters exist but energy_uj is not readable (needs root on kernels >= 5.10)"
               : "no RAPL package domain under /sys/class/powercap and no NVML "
                 "(libnvidia-ml.so.1) energy counter on this machine";
  }
}

EnergyMeter::~EnergyMeter() {
  if (nvml_) dlclose(nvml_);
}

std::string EnergyMeter::source() const {
  std::string rapl, gpu;
  for (const Domain& d : domains_) {
    std::string& s = d.gpu >= 0 ? gpu : rapl;
    s += (s.empty() ? "" : "+") + d.name;
  }
  std::string out;
  if (!rapl.empty()) out = "rapl:" + rapl;
  if (!gpu.empty()) out += (out.empty() ? "" : ",") + std::string("nvml:") + gpu;
  return out;
}

uint64_t EnergyMeter::read(const Domain& d) const {
  if (d.gpu >= 0) {
    auto handle = sym<NvmlHandle>(nvml_, "nvmlDeviceGetHandleByIndex_v2");
    auto energy = sym<NvmlEnergy>(nvml_, "nvmlDeviceGetTotalEnergyConsumption");
    void* dev = nullptr;
    unsigned long long mj = 0;
    if (handle && energy && handle(unsigned(d.gpu), &dev) == 0) energy(dev, &mj);
    return mj;
  }
  const std::string s = read_line(d.path);
  return s.empty() ? 0 : std::stoull(s);
}

void EnergyMeter::start() {
  for (Domain& d : domains_) d.start = read(d);
}

double EnergyMeter::joules() const {
  double j = 0;
  for (const Domain& d : domains_) {
    const uint64_t now = read(d);
    if (d.gpu >= 0) {
      j += double(now - d.start) / 1e3;
    } else {
      const uint64_t delta = now >= d.start ? now - d.start : now + d.range - d.start;
      j += double(delta) / 1e6;
    }
  }
  return j;
}

NvmlInfo nvml_info() {
  NvmlInfo info;
  void* h = open_nvml();
  if (!h) return info;
  char buf[96] = {};
  if (auto drv = sym<NvmlDriver>(h, "nvmlSystemGetDriverVersion"); drv && drv(buf, sizeof buf) == 0)
    info.driver_version = buf;
  auto count = sym<NvmlCount>(h, "nvmlDeviceGetCount_v2");
  auto handle = sym<NvmlHandle>(h, "nvmlDeviceGetHandleByIndex_v2");
  auto name = sym<NvmlName>(h, "nvmlDeviceGetName");
  auto mem = sym<NvmlMem>(h, "nvmlDeviceGetMemoryInfo");
  unsigned n = 0;
  if (count && handle && count(&n) == 0)
    for (unsigned i = 0; i < n; ++i) {
      void* dev = nullptr;
      if (handle(i, &dev) != 0) continue;
      char nm[96] = {};
      if (name) name(dev, nm, sizeof nm);
      info.gpus.push_back(nm);
      NvmlMemory m{};
      info.gpu_memory_bytes.push_back(mem && mem(dev, &m) == 0 ? m.total : 0);
    }
  dlclose(h);
  return info;
}

}  // namespace dsrt::suite
