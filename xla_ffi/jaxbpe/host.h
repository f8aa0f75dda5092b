// Host-only pieces: building the blobs from a vocabulary, and an encoder that owns them.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
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

// Memory mapped from the system and unmapped whole, for the piece cache's tables and
// arena: zero until written, resident only where touched, and given back to the system
// when a table outgrows it. With calloc and realloc, glibc kept outgrown tables (it
// raises its mmap threshold to the size of each mapping freed): peak RSS rose by 37 MiB
// on 39 MiB of all ten corpus kinds (o200k) under a cache bounded at 28 MiB; 22 with
// mapped pages. (Under AddressSanitizer they come from calloc and realloc after all,
// whose bounds it checks.)
class Pages {
 public:
  Pages() = default;
  explicit Pages(size_t bytes);  // zero-filled; throws std::bad_alloc
  Pages(Pages&& other) noexcept { *this = std::move(other); }
  Pages& operator=(Pages&& other) noexcept;
  ~Pages();
  uint8_t* data() const { return data_; }
  size_t size() const { return bytes_; }
  // Grows to `bytes`, keeping the contents (moving the mapping, not copying, on Linux).
  void grow(size_t bytes);

 private:
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
};

// Per-thread state of the host encoder: long-piece workspace that grows as needed, and
// a cache of the ids of the pieces seen so far. Text repeats its words, and the cache
// answers most pieces without merging them (160-210 instructions per byte, callgrind).
//
// The cache is sized for a whole document's vocabulary, an 8 MiB one of any corpus kind
// included (up to 177,000 distinct pieces and 8.5 MiB of arena, CJK and multilingual
// text), and a megabyte of random base64 (more than 65,536 distinct pieces of up to 7
// bytes: with room for only that many, the cache started afresh during every call, and
// repeated calls ran at 22-25 MB/s instead of 58-90, cl100k). Pieces of up to
// kShortBytes bytes, most of the pieces of any text, are keyed by their bytes and
// length packed in one word, and their slot holds up to two ids itself:
// a hit is one multiply, one compare and no second memory access. Longer pieces, up to
// kMaxBytes (CJK runs and code identifiers included), have slots keyed by a hash,
// holding where their ids and bytes are in an arena. Any piece with more ids than its
// slot holds keeps them in the arena too. Both tables are open-addressing and at most
// half full. Both tables and the arena start small and double as they fill, so that what
// is resident follows what a thread has seen; when one of them is full at its largest,
// the cache starts afresh at the first sizes. Its memory is bounded by
// (kMaxShortSlots + kMaxSlots) * 16 + kMaxArenaBytes (28 MiB; 32 for a moment while the
// long table doubles to its largest).
class HostWork {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
                "short_key packs a piece's bytes as a little-endian word");

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

  // Emits the cached ids of piece p[0..n) and returns true, or returns false. The
  // `readable` >= n bytes from p may be read (a short piece is then loaded as one word).
  template <typename Emit>
  bool emit_cached(const uint8_t* p, int64_t n, int64_t readable, Emit& emit) const {
    if (!long_.slots) return false;
    if (n <= kShortBytes) {
      const uint64_t key = short_key(p, n, readable);
      for (size_t i = short_.home(ShortSlot::hash_of(key));; i = short_.next(i)) {
        const ShortSlot& s = short_.slots[i];
        if (s.key == key) {
          if (s.ids[0] < 0) return emit_all(arena_ids(uint32_t(~s.ids[0])), s.ids[1], emit);
          emit(s.ids[0]);
          if (s.ids[1] >= 0) emit(s.ids[1]);
          return true;
        }
        if (s.key == 0) return false;
      }
    }
    if (n > kMaxBytes) return false;
    const uint64_t h = piece_hash(p, n);
    for (size_t i = long_.home(h);; i = long_.next(i)) {
      const Slot& s = long_.slots[i];
      if (s.len == 0) return false;
      if (s.key != h || s.len != n) continue;
      const int32_t* ids = arena_ids(s.offset);
      if (!long_bytes_equal(reinterpret_cast<const uint8_t*>(ids + s.count), p, n)) continue;
      return emit_all(ids, s.count, emit);
    }
  }

  // Remembers the ids of a piece of at most kMaxBytes bytes (which has at most as many
  // ids), after emit_cached did not find it.
  void store(const uint8_t* p, int64_t n, const int32_t* ids, int64_t count) {
    if (n > kMaxBytes || count > kMaxIds) return;
    const bool short_piece = n <= kShortBytes;
    const bool inline_ids = short_piece && count <= 2;
    // The arena holds the ids of a piece whose slot cannot, and a long piece's bytes.
    const size_t bytes =
        inline_ids ? 0 : size_t(4 * count + (short_piece ? 0 : (n + 3) & ~int64_t(3)));
    make_room(short_piece, bytes);
    const uint32_t offset = uint32_t(arena_used_);
    if (!inline_ids) {
      uint8_t* entry = arena_.data() + arena_used_;
      std::memcpy(entry, ids, size_t(4 * count));
      if (!short_piece) std::memcpy(entry + 4 * count, p, size_t(n));
      arena_used_ += bytes;
    }
    if (short_piece) {
      const uint64_t key = short_key(p, n, n);
      if (inline_ids) {
        short_.add(ShortSlot{key, {ids[0], count == 2 ? ids[1] : -1}});
      } else {
        short_.add(ShortSlot{key, {int32_t(~offset), int32_t(count)}});
      }
      return;
    }
    long_.add(Slot{piece_hash(p, n), offset, uint16_t(n), uint16_t(count)});
  }

  // Ties the piece cache to the vocabulary of t: ids cached for another are forgotten.
  void use_vocabulary(const Tables& t) {
    if (vocabulary_ == t.vocabulary_hash) return;
    clear();
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

  static constexpr int64_t kShortBytes = 7, kMaxBytes = 256, kMaxIds = kMaxBytes;
  // Both tables start at kFirstSlots: a thread's first call faults in what they touch,
  // and at the largest sizes a 4 KiB document touched most of 2.5 MiB.
  static constexpr size_t kFirstSlots = size_t(1) << 12;
  static constexpr size_t kMaxShortSlots = size_t(1) << 18, kMaxSlots = size_t(1) << 19;
  static constexpr size_t kFirstArenaBytes = size_t(1) << 20, kMaxArenaBytes = size_t(16) << 20;

 private:
  struct ShortSlot {
    uint64_t key;    // short_key of the piece; 0 in an empty slot
    int32_t ids[2];  // its one or two ids (ids[1] = -1 for one), or ~offset, count

    static uint64_t hash_of(uint64_t key) { return key * 0x9e3779b97f4a7c15ULL; }
    uint64_t hash() const { return hash_of(key); }
    bool empty() const { return key == 0; }
  };
  struct Slot {
    uint64_t key;     // piece_hash of the piece
    uint32_t offset;  // of the entry in the arena: its ids, then the piece's bytes
    uint16_t len;     // of the piece; 0 in an empty slot
    uint16_t count;   // of its ids

    uint64_t hash() const { return key; }
    bool empty() const { return len == 0; }
  };

  // An open-addressing table of slots S (ShortSlot or Slot) that the caller keeps at
  // most half full: a slot's probe starts at the top bits of its hash().
  template <typename S>
  struct SlotTable {
    Pages memory;
    S* slots = nullptr;  // mask + 1 of them in memory (all empty when mapped), if any
    size_t mask = 0, entries = 0;
    int shift = 64;
    size_t size() const { return slots ? mask + 1 : 0; }
    size_t home(uint64_t hash) const { return size_t(hash >> shift); }
    size_t next(size_t i) const { return (i + 1) & mask; }
    void add(const S& slot) {
      ++entries;
      place(slot);
    }
    // Moves the entries to a fresh table of n slots (a power of two).
    void resize(size_t n) {
      const Pages old = std::exchange(memory, Pages(n * sizeof(S)));
      const S* old_slots = slots;
      const size_t old_n = size();
      slots = reinterpret_cast<S*>(memory.data());
      mask = n - 1;
      shift = 64 - lowest_bit(n);
      for (size_t i = 0; i < old_n; ++i)
        if (!old_slots[i].empty()) place(old_slots[i]);
    }
    void clear() { *this = SlotTable(); }

   private:
    void place(const S& slot) {
      size_t i = home(slot.hash());
      while (!slots[i].empty()) i = next(i);
      slots[i] = slot;
    }
  };
  static constexpr size_t kKeptWorkspaceWords = 1 << 16;

  // A short piece's bytes (low bytes first) with its length in the top byte, so that no
  // two pieces share a key and no key is 0. One load where 8 bytes may be read.
  static uint64_t short_key(const uint8_t* p, int64_t n, int64_t readable) {
    uint64_t bytes;
    if (readable >= 8) {
      std::memcpy(&bytes, p, 8);
      bytes &= ~uint64_t(0) >> (64 - 8 * n);
    } else {
      bytes = load_le(p, int(n));
    }
    return bytes | uint64_t(n) << 56;
  }

  // Pieces of up to 16 bytes are hashed from two overlapping words (cheap, and they cover
  // the whole piece); longer ones, whose middles tell them apart, from all of their bytes.
  static uint64_t piece_hash(const uint8_t* p, int64_t n) {
    if (n > 16) return hash_bytes(p, n);
    const uint64_t head = load_le(p, int(n < 8 ? n : 8));
    const uint64_t tail = n > 8 ? load_le(p + n - 8, 8) : 0;
    return mix64(head * 31 + tail + uint64_t(n));
  }

  // Whether a[0..n) == b[0..n) for a piece of the long table (n > kShortBytes): two
  // overlapping words up to 16 bytes, where memcmp's call would cost more than the compare.
  static bool long_bytes_equal(const uint8_t* a, const uint8_t* b, int64_t n) {
    if (n < 8 || n > 16) return std::memcmp(a, b, size_t(n)) == 0;
    return load_le(a, 8) == load_le(b, 8) && load_le(a + n - 8, 8) == load_le(b + n - 8, 8);
  }

  const int32_t* arena_ids(uint32_t offset) const {
    return reinterpret_cast<const int32_t*>(arena_.data() + offset);
  }

  template <typename Emit>
  static bool emit_all(const int32_t* ids, int64_t count, Emit& emit) {
    for (int64_t k = 0; k < count; ++k) emit(ids[k]);
    return true;
  }

  // Ensures that the next piece's table has a free slot with which it stays at most half
  // full, and the arena `bytes` more: grows that table or the arena, or starts afresh
  // when the one that needs to grow is at its largest.
  void make_room(bool short_piece, size_t bytes) {
    const size_t entries = short_piece ? short_.entries : long_.entries;
    const size_t slots = short_piece ? short_.size() : long_.size();
    const bool table_full = slots && 2 * (entries + 1) > slots;
    const bool largest = slots == (short_piece ? kMaxShortSlots : kMaxSlots);
    if ((table_full && largest) || arena_used_ + bytes > kMaxArenaBytes) clear();
    if (!long_.slots) {
      short_.resize(kFirstSlots);
      long_.resize(kFirstSlots);
      resize_arena(kFirstArenaBytes);
    } else if (table_full && short_piece) {
      short_.resize(2 * slots);
    } else if (table_full) {
      long_.resize(2 * slots);
    }
    while (arena_used_ + bytes > arena_.size()) resize_arena(2 * arena_.size());
  }

  // Growing keeps the entries where their offsets say.
  void resize_arena(size_t bytes) {
    if (arena_.size() == 0) {
      arena_ = Pages(bytes);
    } else {
      arena_.grow(bytes);
    }
  }

  // Forgets every piece; both tables and the arena go back to their first sizes
  // (make_room allocates them again).
  void clear() {
    short_.clear();
    long_.clear();
    arena_ = Pages();
    arena_used_ = 0;
  }

  std::unique_ptr<int32_t[]> workspace_;
  size_t workspace_words_ = 0;
  // The two tables are made, and cleared, together.
  SlotTable<ShortSlot> short_;
  SlotTable<Slot> long_;
  Pages arena_;
  size_t arena_used_ = 0;    // bytes of the arena that hold entries
  uint64_t vocabulary_ = 0;  // whose ids the cache holds (any, while it holds none)
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

// How many chunks encode_chunked cuts a long text into for `threads` threads: one each.
// With more, a thread that drew easy text could take another chunk, but a chunk meets a
// different thread's piece cache from call to call. On 8 MiB documents (2 threads,
// median of 31 paired calls) one chunk per thread gave 1.8-2.0x one thread's speed on
// English, multilingual and code against 1.45-1.6x with 8 chunks; only a document of all
// kinds (40 MiB) did better with 4 (1.89x against 1.69x).
inline int64_t chunked_parts(int64_t threads) { return threads; }

// Encodes the row s[0..n) as `parts` chunks on several threads, with exactly the ids of
// enc.encode. Each chunk is encoded from a guessed start (its first character); at each
// seam the previous chunk's last boundary continues until it reaches a boundary of the
// next chunk's guess, from where the guess is right (see encode_range).
std::vector<int32_t> encode_chunked(const Encoder& enc, const uint8_t* s, int64_t n, int64_t parts,
                                    int64_t threads, const RunParallel& run);

}  // namespace jaxbpe
