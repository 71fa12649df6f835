// A persistent thread pool: workers are created once and reused by every parallel_for, so a
// decode step with hundreds of small matmuls does not pay thread creation each time.
//
// Hand-off is spin-then-sleep: after a job, a worker polls the job counter for a short while
// (spin_us, default 200 us) so the next parallel_for of a decode step reaches it in well under
// a microsecond, and only then blocks on the counter (C++20 atomic wait: a futex on Linux).
// The bounded spin keeps most of the speed of a purely spinning pool (llama.cpp's) while
// giving the cores back when the engine is idle or the host is oversubscribed, where an
// unbounded spin collapses (measured in docs/perf.md). DSRT_SPIN_US overrides the default.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace dsrt {

class ThreadPool {
 public:
  // n_threads <= 0: hardware concurrency. spin_us < 0: DSRT_SPIN_US or the default.
  explicit ThreadPool(int n_threads, int spin_us = -1);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Splits [0, n) into contiguous chunks (a few per thread) and runs fn(begin, end,
  // thread_index) on them; returns when all are done. Threads claim chunks as they arrive, so
  // a worker that is late (descheduled on a busy host) leaves its share to the others instead
  // of stalling the call. The calling thread takes part; one thread index may run several
  // chunks, one after the other. Not reentrant: fn must not call parallel_for on the same
  // pool, and one pool serves one calling thread at a time.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);

 private:
  void worker(int index);
  // Waits until v != old: spins for spin_us_, then sleeps on v (sleepers counts the sleepers
  // so the writer can skip the wake-up call when nobody sleeps).
  void await_change(const std::atomic<uint32_t>& v, uint32_t old, std::atomic<int>& sleepers) const;

  int n_threads_;
  int spin_us_;
  std::vector<std::thread> workers_;
  // Runs the chunks of job gen that this thread can still claim.
  void run_chunks(uint32_t gen, int thread_index);

  // The job of generation g lives in slot g & 1: a worker reads a slot only after claiming a
  // chunk of that generation, and the slot is rewritten two generations later, which cannot
  // begin before every claimed chunk of g has finished.
  struct Job {
    const std::function<void(int64_t, int64_t, int)>* fn = nullptr;
    int64_t n = 0;
  };
  Job jobs_[2];
  // claim_ = generation << 32 | total chunks << 16 | next chunk; a claim is a CAS that checks
  // the generation, so a late worker can never take a chunk of a newer job.
  std::atomic<uint64_t> claim_{0};
  std::atomic<uint32_t> generation_{0};  // bumped per job (and at stop)
  std::atomic<uint32_t> done_{0};        // chunks of the current job finished
  std::atomic<int> worker_sleepers_{0}, main_sleepers_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace dsrt
