#include "core/mmap_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/log.h"

namespace dsrt {
namespace {

std::atomic<Residency> g_default{Residency::Auto};
constexpr size_t kHugePage = size_t(2) << 20;
size_t whole_huge_pages(size_t bytes) { return (std::max<size_t>(bytes, 1) + kHugePage - 1) / kHugePage * kHugePage; }

// MemAvailable from /proc/meminfo in bytes, 0 when unknown.
size_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  size_t kb = 0;
  while (in >> key >> kb) {
    if (key == "MemAvailable:") return kb * 1024;
    in.ignore(256, '\n');
  }
  return 0;
}

// Reads [0, size) of fd into p; false (errno set) on a read error or a file that shrank.
bool read_all(int fd, uint8_t* p, size_t size) {
  size_t done = 0;
  while (done < size) {
    const ssize_t r = pread(fd, p + done, std::min(size - done, size_t(64) << 20), off_t(done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r == 0) errno = EIO;
      return false;
    }
    done += size_t(r);
  }
  return true;
}

}  // namespace

void set_default_residency(Residency r) { g_default.store(r); }
Residency default_residency() { return g_default.load(); }

std::shared_ptr<uint8_t> alloc_huge(size_t bytes) {
  // Whole huge pages, so the tail page is huge too; 2 MiB alignment by asking for one page
  // more and trimming both ends.
  const size_t len = whole_huge_pages(bytes);
  void* raw = mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  auto* base = static_cast<uint8_t*>(raw);
  auto* p = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(base) + kHugePage - 1) & ~(kHugePage - 1));
  if (p > base) munmap(base, size_t(p - base));
  const size_t tail = size_t(base + len + kHugePage - (p + len));
  if (tail > 0) munmap(p + len, tail);
  madvise(p, len, MADV_HUGEPAGE);  // a hint: without THP the memory still works
  return std::shared_ptr<uint8_t>(p, [len](uint8_t* q) { munmap(q, len); });
}

Residency resolve_residency(size_t total, Residency mode) {
  if (mode == Residency::Auto) mode = g_default.load();
  if (mode != Residency::Auto) return mode;
  if (total < MappedFile::kCopyMinBytes || !transparent_huge_pages_available()) return Residency::Map;
  const size_t avail = mem_available();
  return avail > 0 && total <= avail / 2 ? Residency::Copy : Residency::Map;
}

bool transparent_huge_pages_available() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string s;
  std::getline(in, s);
  return s.find("[always]") != std::string::npos || s.find("[madvise]") != std::string::npos;
}

Result<std::shared_ptr<MappedFile>> MappedFile::open(const std::string& path, Residency mode) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Error("cannot open " + path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::Error(path + " is not a regular file");
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = size_t(st.st_size);
  if (f->size_ > 0 && resolve_residency(f->size_, mode) == Residency::Copy) {
    if (std::shared_ptr<uint8_t> copy = alloc_huge(f->size_)) {
      if (!read_all(fd, copy.get(), f->size_)) {
        const std::string err = std::strerror(errno);
        ::close(fd);
        return Status::Error("cannot read " + path + ": " + err);
      }
      mprotect(copy.get(), whole_huge_pages(f->size_), PROT_READ);
      ::close(fd);
      f->data_ = copy.get();
      f->copy_ = std::move(copy);
      log_info(path + ": " + std::to_string(f->size_ >> 20) + " MiB read into huge pages (--mmap maps it instead)");
      return f;
    }
    // No anonymous memory to spare: map the file instead.
  }
  if (f->size_ > 0) {
    void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      return Status::Error("cannot mmap " + path + ": " + std::strerror(errno));
    }
    f->data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (data_ && !copy_) munmap(const_cast<uint8_t*>(data_), size_);
}

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace dsrt
