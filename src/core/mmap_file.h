// A whole weight file in memory, read-only: mapped in place (mmap), or read into anonymous
// memory backed by transparent huge pages.
//
// Why the copy: this is a virtual machine, where a TLB miss costs a two-level page walk, and
// decode streams every weight byte per token. On this host a 2-thread read of 160 MiB runs at
// 27-34 GB/s on 4 KiB pages and 46-50 GB/s on 2 MiB pages; Q8_0 decode (whose GEMV prefetches
// in software, which hides much of it) gains a median 1.09x over 20 alternating pairs
// (docs/perf.md). Page-cache pages of a regular file cannot be huge here (MADV_COLLAPSE on the
// mapping returns EINVAL), so the bytes are read once into an anonymous region instead. The
// copy replaces the mapping, it is not a second resident copy: RSS stays about the file size.
// Mapping stays the choice for files too large for memory (they page in and out), for files
// several processes share, and (load_model) for MoE checkpoints, whose tokens read few experts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace dsrt {

enum class Residency {
  Auto,  // Copy for files of kCopyMinBytes up to half of MemAvailable when the kernel offers
         // transparent huge pages; Map otherwise
  Map,   // mmap in place (--mmap)
  Copy,  // read into huge-page-backed anonymous memory (--no-mmap)
};

class MappedFile {
 public:
  static constexpr size_t kCopyMinBytes = size_t(32) << 20;  // below, the TLB reach suffices

  // mode Auto: resolve_residency(file size, Auto).
  static Result<std::shared_ptr<MappedFile>> open(const std::string& path, Residency mode);
  ~MappedFile();
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  bool copied() const { return copy_ != nullptr; }  // read into anonymous memory (else mapped)

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::shared_ptr<uint8_t> copy_;  // the huge-page copy when there is one (else data_ is mapped)
  std::string path_;
};

// The process-wide choice for MappedFile::open(path, Auto): the dsrt binary sets it from
// --mmap / --no-mmap.
void set_default_residency(Residency r);
Residency default_residency();
// Map or Copy for weights of total_bytes (all the files of one model, so a sharded checkpoint is
// decided as a whole): mode if it is not Auto, else the process default if that is not Auto,
// else Copy for kCopyMinBytes up to half of MemAvailable with transparent huge pages on.
Residency resolve_residency(size_t total_bytes, Residency mode);
// Anonymous read-write zeroed memory of at least `bytes` (rounded up to whole 2 MiB pages),
// 2 MiB aligned, advised MADV_HUGEPAGE, unmapped when the last owner lets go; nullptr when
// mmap fails.
std::shared_ptr<uint8_t> alloc_huge(size_t bytes);
// Whether the kernel gives huge pages to memory that asks for them (THP "always" or
// "madvise").
bool transparent_huge_pages_available();

// Reads a whole (small) text file such as config.json.
Result<std::string> read_text_file(const std::string& path);

}  // namespace dsrt
