#include "suite/hardware.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "backends/backend.h"
#include "build_info_git.h"
#include "suite/energy.h"

#ifndef DSRT_SUITE_BUILD_TYPE
#define DSRT_SUITE_BUILD_TYPE "unknown"
#define DSRT_SUITE_CXX_FLAGS ""
#define DSRT_SUITE_NATIVE "unknown"
#define DSRT_SUITE_COMPILER "unknown"
#endif

namespace dsrt::suite {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_file(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
std::string trim(std::string s) {
  while (!s.empty() && std::isspace((unsigned char)s.back())) s.pop_back();
  size_t b = 0;
  while (b < s.size() && std::isspace((unsigned char)s[b])) ++b;
  return s.substr(b);
}
std::string first_line(const std::string& p) {
  std::ifstream f(p);
  std::string s;
  std::getline(f, s);
  return trim(s);
}

// "key : value" fields of the first processor block of /proc/cpuinfo.
std::vector<std::pair<std::string, std::string>> cpuinfo_fields() {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(read_file("/proc/cpuinfo"));
  for (std::string line; std::getline(in, line);) {
    if (trim(line).empty()) {
      if (!out.empty()) break;
      continue;
    }
    const size_t c = line.find(':');
    if (c == std::string::npos) continue;
    out.emplace_back(trim(line.substr(0, c)), trim(line.substr(c + 1)));
  }
  return out;
}
std::string field(const std::vector<std::pair<std::string, std::string>>& f, const std::string& k) {
  for (const auto& [a, b] : f)
    if (a == k) return b;
  return "";
}

// Runs a command and returns its first output line ("" when it fails or is absent).
std::string command_line(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (!p) return "";
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  const int rc = pclose(p);
  if (rc != 0) return "";
  return trim(out);
}

json caches() {
  json out = json::array();
  const std::string base = "/sys/devices/system/cpu/cpu0/cache";
  for (int i = 0; i < 16; ++i) {
    const std::string d = base + "/index" + std::to_string(i);
    if (!fs::exists(d)) break;
    json c = {{"level", std::atoi(first_line(d + "/level").c_str())},
              {"type", first_line(d + "/type")},
              {"size", first_line(d + "/size")},
              {"line_bytes", std::atoi(first_line(d + "/coherency_line_size").c_str())},
              {"shared_cpu_list", first_line(d + "/shared_cpu_list")}};
    const std::string s = c["size"];
    int64_t bytes = std::atoll(s.c_str());
    if (!s.empty() && s.back() == 'K') bytes <<= 10;
    if (!s.empty() && s.back() == 'M') bytes <<= 20;
    c["bytes"] = bytes;
    out.push_back(c);
  }
  return out;
}

// Physical cores and sockets from sysfs topology (unique (package, core) pairs).
std::pair<int, int> cores_and_sockets() {
  std::set<std::pair<int, int>> cores;
  std::set<int> pkgs;
  for (int cpu = 0; cpu < 4096; ++cpu) {
    const std::string d = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology";
    if (!fs::exists(d)) break;
    const int pkg = std::atoi(first_line(d + "/physical_package_id").c_str());
    const int core = std::atoi(first_line(d + "/core_id").c_str());
    cores.insert({pkg, core});
    pkgs.insert(pkg);
  }
  return {int(cores.size()), int(pkgs.size())};
}

int64_t meminfo_kb(const std::string& key) {
  std::istringstream in(read_file("/proc/meminfo"));
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return std::atoll(line.c_str() + key.size() + 1);
  return 0;
}

// The ISA features that matter to dsrt's kernels, in the order a reader scans for them.
const std::array<const char*, 26> kIsaOfInterest = {
    "sse4_2",      "avx",       "avx2",        "fma",      "f16c",     "avx512f",   "avx512bw",
    "avx512vl",    "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_int8",
    "amx_bf16",    "asimd",     "asimddp",     "asimdhp",  "i8mm",     "bf16",      "sve",
    "sve2",        "sme",       "fphp",        "neon",     "hypervisor"};

}  // namespace

json hardware_profile() {
  json h;
  const auto f = cpuinfo_fields();
  std::string model = field(f, "model name");
  if (model.empty()) model = field(f, "Hardware");
  if (model.empty()) model = field(f, "cpu model");
  json cpu;
  cpu["model"] = model.empty() ? "unknown" : model;
  cpu["vendor"] = field(f, "vendor_id").empty() ? field(f, "CPU implementer") : field(f, "vendor_id");
  if (!field(f, "cpu family").empty()) cpu["family"] = std::atoi(field(f, "cpu family").c_str());
  if (!field(f, "model").empty()) cpu["model_id"] = std::atoi(field(f, "model").c_str());
  if (!field(f, "CPU part").empty()) cpu["arm_cpu_part"] = field(f, "CPU part");
  utsname u{};
  uname(&u);
  cpu["arch"] = u.machine;
  cpu["logical_cpus"] = int(std::thread::hardware_concurrency());
  auto [cores, sockets] = cores_and_sockets();
  cpu["physical_cores"] = cores;
  cpu["sockets"] = sockets;
  std::string flags = field(f, "flags");
  if (flags.empty()) flags = field(f, "Features");  // ARM
  std::set<std::string> fl;
  std::istringstream fs_(flags);
  for (std::string w; fs_ >> w;) fl.insert(w);
  json isa = json::array();
  for (const char* k : kIsaOfInterest)
    if (fl.count(k)) isa.push_back(k);
  cpu["isa"] = isa;
  cpu["n_flags"] = fl.size();
  cpu["flags_source"] = fl.empty() ? "none" : "/proc/cpuinfo";
  cpu["caches"] = caches();
  const std::string mhz = field(f, "cpu MHz");
  if (!mhz.empty()) cpu["mhz_now"] = std::atof(mhz.c_str());
  h["cpu"] = cpu;

  int numa = 0;
  for (int n = 0; n < 1024 && fs::exists("/sys/devices/system/node/node" + std::to_string(n)); ++n) ++numa;
  h["memory"] = {{"total_bytes", meminfo_kb("MemTotal") * 1024},
                 {"available_bytes", meminfo_kb("MemAvailable") * 1024},
                 {"numa_nodes", numa},
                 {"hugepages_total", meminfo_kb("HugePages_Total")}};

  // Accelerators: what dsrt's backends can reach, then devices visible to the OS.
  json acc;
  acc["dsrt_backends"] = backend_names();
  const NvmlInfo nv = nvml_info();
  json found = json::array();
  for (size_t i = 0; i < nv.gpus.size(); ++i)
    found.push_back({{"vendor", "NVIDIA"}, {"name", nv.gpus[i]}, {"memory_bytes", nv.gpu_memory_bytes[i]},
                     {"source", "NVML"}});
  if (nv.gpus.empty() && fs::exists("/dev/nvidia0"))
    found.push_back({{"vendor", "NVIDIA"}, {"name", "unknown (NVML not loadable)"}, {"source", "/dev/nvidia0"}});
  if (fs::exists("/dev/davinci0"))
    found.push_back({{"vendor", "Huawei Ascend"}, {"source", "/dev/davinci0"},
                     {"driver_version", first_line("/usr/local/Ascend/driver/version.info")}});
  if (fs::exists("/dev/cambricon_dev0"))
    found.push_back({{"vendor", "Cambricon"}, {"source", "/dev/cambricon_dev0"}});
  std::error_code ec;
  if (fs::exists("/sys/class/drm", ec))
    for (const auto& e : fs::directory_iterator("/sys/class/drm", ec)) {
      const std::string n = e.path().filename().string();
      if (n.rfind("renderD", 0) != 0) continue;
      const fs::path drv = e.path() / "device" / "driver";
      std::string driver = fs::exists(drv, ec) ? fs::read_symlink(drv, ec).filename().string() : "";
      found.push_back({{"vendor", "DRM render node"}, {"name", n}, {"driver", driver},
                       {"source", "/sys/class/drm"}});
    }
  acc["devices"] = found;
  json versions;
  if (!nv.driver_version.empty()) versions["nvidia_driver"] = nv.driver_version;
  else if (fs::exists("/proc/driver/nvidia/version"))
    versions["nvidia_driver"] = first_line("/proc/driver/nvidia/version");
  const std::string nvcc = command_line("nvcc --version | tail -n 2 | head -n 1");
  if (!nvcc.empty()) versions["cuda_toolkit"] = nvcc;
  else if (fs::exists("/usr/local/cuda/version.json")) versions["cuda_toolkit"] = "see /usr/local/cuda/version.json";
  acc["versions"] = versions;
  h["accelerators"] = acc;
  return h;
}

json build_info() {
  return {{"version", "0.1.0"},
          {"git_commit", DSRT_SUITE_GIT_COMMIT},
          {"build_type", DSRT_SUITE_BUILD_TYPE},
          {"cxx_flags", trim(DSRT_SUITE_CXX_FLAGS)},
          {"native", DSRT_SUITE_NATIVE},
          {"compiler", DSRT_SUITE_COMPILER},
#ifdef __AVX2__
          {"compiled_avx2", true},
#else
          {"compiled_avx2", false},
#endif
          {"cpp_standard", long(__cplusplus)}};
}

json environment_info() {
  json e;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  e["hostname"] = host;
  utsname u{};
  uname(&u);
  e["kernel"] = std::string(u.sysname) + " " + u.release;
  std::istringstream os(read_file("/etc/os-release"));
  for (std::string line; std::getline(os, line);)
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      std::string v = line.substr(12);
      v.erase(std::remove(v.begin(), v.end(), '"'), v.end());
      e["os"] = v;
    }
  const std::time_t now = std::time(nullptr);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  e["time_utc"] = ts;
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3) e["loadavg_1m"] = load[0];
  return e;
}

}  // namespace dsrt::suite
