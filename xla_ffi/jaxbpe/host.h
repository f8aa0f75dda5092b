// Host-only pieces: building the blobs from a vocabulary, and an encoder that owns them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "encoder.h"

namespace jaxbpe {

// The code point class table compiled into the host library.
ClassTable host_class_table();

// Builds the tables blob for ids 0..n-1, token i being bytes[offsets[i]:offsets[i+1]]; an
// id whose bytes are empty is no token (a gap in the ranks). Throws std::invalid_argument
// on a vocabulary that is not byte-level BPE.
std::vector<uint8_t> build_tables(const uint8_t* bytes, const int32_t* offsets, int32_t n);

// Builds the special-tokens blob for the given (bytes, id) pairs.
std::vector<uint8_t> build_specials(std::vector<std::pair<std::string, int32_t>> tokens);

// Checked views of blobs owned elsewhere; throw std::invalid_argument when malformed.
Tables checked_tables(const uint8_t* blob, int64_t size);
Specials checked_specials(const uint8_t* blob, int64_t size);

// Per-thread state of the host encoder: long-piece workspace that grows as needed, and
// a cache of the ids of recently seen short pieces. Text repeats its words, and the
// cache (a few hundred KiB, in L2) answers most pieces without touching the
// vocabulary's tables, whose lookups are cache misses.
class HostWork {
 public:
  int32_t* get(int64_t n) {
    const size_t words = size_t(long_piece_workspace(n));
    if (words > workspace_words_) {
      // Left uninitialized: only the part a merge touches becomes resident (the
      // backtracking merge touches a tenth of what the heap merge may need).
      workspace_.reset(new int32_t[words]);
      workspace_words_ = words;
    }
    return workspace_.get();
  }

  // Emits the cached ids of piece p[0..n) and returns true, or returns false.
  template <typename Emit>
  bool emit_cached(const uint8_t* p, int64_t n, Emit& emit) const {
    if (n > kMaxBytes) return false;
    const Entry& e = entries_[slot(p, n)];
    if (e.len != n) return false;
    for (int w = 0; w * 8 < n; ++w)
      if (e.key[w] != word(p, n, w)) return false;
    for (uint32_t i = 0; i < e.count; ++i) emit(e.ids[i]);
    return true;
  }

  // Remembers the ids of a piece, if it is short and has few.
  void store(const uint8_t* p, int64_t n, const int32_t* ids, int64_t count) {
    if (n > kMaxBytes || count > kMaxIds) return;
    Entry& e = entries_[slot(p, n)];
    for (int w = 0; w * 8 < n; ++w) e.key[w] = word(p, n, w);
    e.len = uint32_t(n);
    e.count = uint32_t(count);
    for (int64_t i = 0; i < count; ++i) e.ids[i] = ids[i];
  }

  // Ties the piece cache to the vocabulary of t: ids cached for another are forgotten.
  void use_vocabulary(const Tables& t) {
    if (vocabulary_ == t.vocabulary_hash) return;
    for (Entry& e : entries_) e.len = ~0u;
    vocabulary_ = t.vocabulary_hash;
  }

  // Frees a workspace grown for an unusually long piece, so that a HostWork kept between
  // calls does not keep that memory too.
  void shrink_workspace() {
    if (workspace_words_ > kKeptWorkspaceWords) {
      workspace_.reset();
      workspace_words_ = 0;
    }
  }

  static constexpr int64_t kMaxBytes = 32, kMaxIds = 8;

 private:
  struct Entry {
    uint64_t key[kMaxBytes / 8];
    uint32_t len = ~0u, count = 0;
    int32_t ids[kMaxIds];
  };
  static constexpr size_t kSlots = 1 << 13;
  static constexpr size_t kKeptWorkspaceWords = 1 << 16;
  // Bytes 8w.. of the piece, as one little-endian word.
  static uint64_t word(const uint8_t* p, int64_t n, int w) {
    const int64_t rest = n - 8 * w;
    return load_le(p + 8 * w, int(rest < 8 ? rest : 8));
  }
  static size_t slot(const uint8_t* p, int64_t n) {
    return size_t(
               mix64(word(p, n, 0) * 31 + (n > 8 ? word(p, n, n > 16 ? 2 : 1) : 0) + uint64_t(n))) &
           (kSlots - 1);
  }

  std::unique_ptr<int32_t[]> workspace_;
  size_t workspace_words_ = 0;
  std::vector<Entry> entries_ = std::vector<Entry>(kSlots);
  uint64_t vocabulary_ = 0;  // whose ids entries_ holds (any, while it holds none)
};

// The calling thread's HostWork, tied to the vocabulary of t. It is kept between calls,
// so that a stream of short documents finds the piece cache warm instead of filling a
// fresh one (half a megabyte) every time.
HostWork& thread_work(const Tables& t);

// Tasks 0..tasks-1, claimed one at a time by every thread that calls run(); wait()
// returns when all have run. A thread that calls run() after the last task was claimed
// claims nothing, so a helper thread that starts late cannot hold its caller up or use
// `task` after the caller has returned.
class TaskQueue {
 public:
  TaskQueue(const std::function<void(int64_t)>& task, int64_t tasks)
      : task_(&task), tasks_(tasks) {}

  void run() {
    for (int64_t i; (i = next_.fetch_add(1)) < tasks_;) {
      (*task_)(i);
      if (done_.fetch_add(1) + 1 == tasks_) {
        std::lock_guard<std::mutex> lock(mutex_);
        finished_.notify_all();
      }
    }
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [&] { return done_.load() == tasks_; });
  }

 private:
  const std::function<void(int64_t)>* task_;
  const int64_t tasks_;
  std::atomic<int64_t> next_{0}, done_{0};
  std::mutex mutex_;
  std::condition_variable finished_;
};

// Runs task(0) .. task(tasks - 1) on up to `threads` threads, the caller's among them,
// and returns when all have run.
using RunParallel =
    std::function<void(int64_t tasks, int64_t threads, const std::function<void(int64_t)>& task)>;

// RunParallel on threads that live across calls (and so keep their HostWork warm); a
// call that finds them busy runs its tasks in the calling thread.
void run_on_host_threads(int64_t tasks, int64_t threads, const std::function<void(int64_t)>& task);

// How many threads the host encoders use: all cores, or $JAXBPE_NUM_THREADS if smaller.
int64_t host_threads();

// Texts shorter than this are encoded by one thread: below it, handing chunks to other
// threads costs more than it saves.
constexpr int64_t kChunkedMinBytes = 1 << 18;

// Encodes the row s[0..n) as `parts` chunks on several threads, with exactly the ids of
// enc.encode. Each chunk is encoded from a guessed start (its first character); at each
// seam the previous chunk's last boundary continues until it reaches a boundary of the
// next chunk's guess, from where the guess is right (see encode_range).
std::vector<int32_t> encode_chunked(const Encoder& enc, const uint8_t* s, int64_t n, int64_t parts,
                                    int64_t threads, const RunParallel& run);

}  // namespace jaxbpe
