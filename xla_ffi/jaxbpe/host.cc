#include "host.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <thread>

namespace jaxbpe {
namespace {
#define JAXBPE_TABLE_STORAGE static
#include "unicode_classes.inc"
#undef JAXBPE_TABLE_STORAGE

int32_t next_pow2(int64_t n) {
  int64_t c = 1;
  while (c < n) c <<= 1;
  return int32_t(c);
}

template <typename T>
T read_header(const uint8_t* blob, int64_t size) {
  T h{};
  if (size >= int64_t(sizeof(T))) std::memcpy(&h, blob, sizeof(T));
  return h;
}

int64_t align8(int64_t n) { return (n + 7) & ~int64_t(7); }

// The pair hash table of lookup_pair and its filter.
struct PairTable {
  std::vector<int32_t> slots;  // 3 per slot: (left id or -1, right id, merged id)
  std::vector<uint64_t> filter;

  // Points t's pair lookups at this table.
  void attach(Tables& t) const {
    t.pair_mask = uint32_t(slots.size() / 3 - 1);
    t.pair_slots = slots.data();
    t.pair_filter_mask = uint32_t(filter.size() * 64 - 1);
    t.pair_filter = filter.data();
  }
};

// The table of the given (left, right, merged) triples, at most half full, with about 8
// filter bits per pair: one lookup in eight of a pair that does not merge reaches the
// table.
PairTable build_pair_table(const std::vector<int32_t>& triples) {
  const int64_t count = int64_t(triples.size()) / 3;
  const int32_t capacity = next_pow2(std::max<int64_t>(16, 2 * count));
  const int32_t filter_bits = next_pow2(std::max<int64_t>(64, 8 * count));
  PairTable table{std::vector<int32_t>(3 * size_t(capacity), -1),
                  std::vector<uint64_t>(size_t(filter_bits) / 64, 0)};
  for (size_t i = 0; i < triples.size(); i += 3) {
    const uint64_t hash = hash_pair(triples[i], triples[i + 1]);
    uint32_t slot = uint32_t(hash) & uint32_t(capacity - 1);
    while (table.slots[3 * slot] >= 0) slot = (slot + 1) & uint32_t(capacity - 1);
    std::copy(&triples[i], &triples[i] + 3, &table.slots[3 * slot]);
    const uint32_t bit = uint32_t(hash >> 32) & uint32_t(filter_bits - 1);
    table.filter[bit / 64] |= uint64_t(1) << (bit % 64);
  }
  return table;
}

// Worker threads kept for the life of the process, so that their thread_work caches
// stay warm from call to call. One job runs at a time.
class HostThreads {
 public:
  explicit HostThreads(int64_t workers) : workers_(workers) {
    for (int64_t i = 0; i < workers; ++i) std::thread([this] { serve(); }).detach();
  }

  // Runs the job with up to threads - 1 workers; false if another job is running.
  bool run(int64_t tasks, int64_t threads, const std::function<void(int64_t)>& task) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    auto job = std::make_shared<TaskQueue>(task, tasks);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = job;
      wanted_ = std::min(threads - 1, workers_);
    }
    wake_.notify_all();
    job->run();
    job->wait();
    std::lock_guard<std::mutex> lock(mutex_);
    wanted_ = 0;
    job_.reset();
    return true;
  }

 private:
  void serve() {
    for (;;) {
      std::shared_ptr<TaskQueue> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return wanted_ > 0; });
        --wanted_;
        job = job_;
      }
      job->run();
    }
  }

  const int64_t workers_;
  std::mutex busy_, mutex_;
  std::condition_variable wake_;
  std::shared_ptr<TaskQueue> job_;
  int64_t wanted_ = 0;
};

HostThreads& host_pool() {
  // Made again in a forked child, which has none of its parent's threads; never
  // destroyed, since its detached threads use it until the process ends.
  static std::mutex mutex;
  static HostThreads* pool = nullptr;
  static pid_t owner = 0;
  std::lock_guard<std::mutex> lock(mutex);
  if (pool == nullptr || owner != getpid()) {
    pool = new HostThreads(int64_t(std::max(1u, std::thread::hardware_concurrency())) - 1);
    owner = getpid();
  }
  return *pool;
}

// Where a chunk's guess starts and ends, what it emitted, and the boundaries it met
// near its start with how many ids came before each (where a seam can join it).
struct Chunk {
  int64_t begin, end, exit = 0;
  std::vector<int32_t> ids;
  std::vector<std::pair<int64_t, size_t>> marks;
};

// A seam almost always joins the next chunk's guess within a piece or two; the guess
// remembers its boundaries this far from its start (a seam that has not joined it by
// then encodes the rest of the chunk itself).
constexpr int64_t kSeamReach = 1 << 16;
}  // namespace

ClassTable host_class_table() { return ClassTable{kClassBlockIndex, kClassBlocks}; }

int64_t host_threads() {
  int64_t threads = std::max(1u, std::thread::hardware_concurrency());
  if (const char* cap = std::getenv("JAXBPE_NUM_THREADS"))
    if (const long v = std::strtol(cap, nullptr, 10); v >= 1)
      threads = std::min<int64_t>(threads, v);
  return threads;
}

void run_on_host_threads(int64_t tasks, int64_t threads, const std::function<void(int64_t)>& task) {
  if (threads > 1 && tasks > 1 && host_pool().run(tasks, threads, task)) return;
  for (int64_t i = 0; i < tasks; ++i) task(i);
}

std::vector<int32_t> encode_chunked(const Encoder& enc, const uint8_t* s, int64_t n, int64_t parts,
                                    int64_t threads, const RunParallel& run) {
  parts = std::max<int64_t>(1, std::min(parts, n));
  std::vector<Chunk> chunks(static_cast<size_t>(parts));
  for (int64_t k = 0; k < parts; ++k)
    chunks[size_t(k)].begin = k == 0 ? 0 : char_start_from(s, n * k / parts, n);
  for (int64_t k = 0; k < parts; ++k)
    chunks[size_t(k)].end = k + 1 < parts ? chunks[size_t(k) + 1].begin : n;

  run(parts, threads, [&](int64_t k) {
    Chunk& c = chunks[size_t(k)];
    HostWork& work = thread_work(enc.tables);
    c.ids.reserve(size_t(c.end - c.begin) / 3);
    auto emit = [&](int32_t id) { c.ids.push_back(id); };
    auto mark = [&](int64_t pos) {
      if (k > 0 && pos < c.begin + kSeamReach) c.marks.emplace_back(pos, c.ids.size());
      return true;
    };
    c.exit = enc.encode_range(s, n, c.begin, c.end, work, emit, mark);
    work.shrink_workspace();
  });

  // The seams, in order: `entry` is the row's first boundary at or after chunk k's begin.
  std::vector<int32_t> ids = std::move(chunks[0].ids);
  int64_t entry = chunks[0].exit;
  HostWork& work = thread_work(enc.tables);
  auto emit = [&](int32_t id) { ids.push_back(id); };
  for (size_t k = 1; k < chunks.size(); ++k) {
    const Chunk& c = chunks[k];
    if (entry >= c.end) continue;  // a piece reaches over the whole chunk
    size_t mark = 0;
    bool joined = false;
    auto join = [&](int64_t pos) {
      while (mark < c.marks.size() && c.marks[mark].first < pos) ++mark;
      joined = mark < c.marks.size() && c.marks[mark].first == pos;
      return !joined;
    };
    const int64_t stop = enc.encode_range(s, n, entry, c.end, work, emit, join);
    if (joined) {
      ids.insert(ids.end(), c.ids.begin() + ptrdiff_t(c.marks[mark].second), c.ids.end());
      entry = c.exit;
    } else {
      entry = stop;
    }
  }
  work.shrink_workspace();
  return ids;
}

// AddressSanitizer checks the bounds of what malloc serves, not of mapped memory: under
// it, Pages come from calloc and realloc.
#if defined(__SANITIZE_ADDRESS__)
#define JAXBPE_PAGES_FROM_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JAXBPE_PAGES_FROM_MALLOC 1
#endif
#endif
#ifdef JAXBPE_PAGES_FROM_MALLOC
constexpr bool kPagesFromMalloc = true;
#else
constexpr bool kPagesFromMalloc = false;
#endif

Pages::Pages(size_t bytes) : bytes_(bytes) {
  void* p = kPagesFromMalloc
                ? std::calloc(bytes, 1)
                : mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == nullptr || p == MAP_FAILED) throw std::bad_alloc();
  data_ = static_cast<uint8_t*>(p);
}

Pages& Pages::operator=(Pages&& other) noexcept {
  if (this != &other) {
    this->~Pages();
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

Pages::~Pages() {
  if (!data_) return;
  if (kPagesFromMalloc) {
    std::free(data_);
  } else {
    munmap(data_, bytes_);
  }
}

void Pages::grow(size_t bytes) {
  void* p;
  if (kPagesFromMalloc) {
    p = std::realloc(data_, bytes);
    if (p == nullptr) throw std::bad_alloc();
  } else {
#if defined(__linux__)
    p = mremap(data_, bytes_, bytes, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) throw std::bad_alloc();
#else
    Pages grown(bytes);
    std::memcpy(grown.data_, data_, bytes_);
    *this = std::move(grown);
    return;
#endif
  }
  data_ = static_cast<uint8_t*>(p);
  bytes_ = bytes;
}

HostWork& thread_work(const Tables& t) {
  thread_local HostWork work;
  work.use_vocabulary(t);
  return work;
}

Tables checked_tables(const uint8_t* blob, int64_t size) {
  Tables t;
  if (const char* err = view_tables(blob, size, read_header<TablesHeader>(blob, size), &t))
    throw std::invalid_argument(err);
  return t;
}

Specials checked_specials(const uint8_t* blob, int64_t size) {
  Specials s;
  if (const char* err = view_specials(blob, size, read_header<SpecialsHeader>(blob, size), &s))
    throw std::invalid_argument(err);
  return s;
}

std::vector<uint8_t> build_tables(const uint8_t* bytes, const int32_t* offsets, int32_t n) {
  if (n < 256) throw std::invalid_argument("a byte-level vocabulary has at least 256 tokens");
  if (n > kMaxTokens)
    throw std::invalid_argument("jaxbpe takes at most " + std::to_string(kMaxTokens) + " tokens");
  // An id whose bytes are empty is a hole: no token has it (tiktoken's ranks may skip
  // ids, as p50k_base's skip 50256). It is in no table, so no lookup ever yields it.
  int32_t max_len = 0;
  for (int32_t i = 0; i < n; ++i) {
    if (offsets[i] < 0 || offsets[i + 1] < offsets[i])
      throw std::invalid_argument("token offsets decrease at token " + std::to_string(i));
    max_len = std::max(max_len, offsets[i + 1] - offsets[i]);
  }
  if (max_len > kPrefixLengthMask)
    throw std::invalid_argument("a token is longer than " + std::to_string(kPrefixLengthMask) +
                                " bytes");
  auto token = [&](int32_t id) { return bytes + offsets[id]; };
  auto token_len = [&](int32_t id) { return offsets[id + 1] - offsets[id]; };
  auto is_hole = [&](int32_t id) { return offsets[id + 1] == offsets[id]; };

  // The token tables and byte ids first: finding the pairs needs lookups.
  int64_t n_inline = 0;
  for (int32_t id = 0; id < n; ++id)
    n_inline += token_len(id) >= 2 && token_len(id) <= kInlineTokenBytes;
  const int32_t inline_capacity = next_pow2(std::max<int64_t>(2 * n_inline, 2));
  const int32_t piece_capacity = next_pow2(std::max<int64_t>(2 * (n - n_inline), 2));
  std::vector<uint64_t> inline_slots(2 * size_t(inline_capacity), 0);
  std::vector<int32_t> piece(2 * size_t(piece_capacity), -1), byte_ids(256, -1);
  Tables t{};
  t.n_tokens = n;
  t.max_token_len = max_len;
  t.inline_mask = uint32_t(inline_capacity - 1);
  t.inline_shift = 64 - lowest_bit(uint64_t(inline_capacity));
  t.piece_mask = uint32_t(piece_capacity - 1);
  t.token_offsets = offsets;
  t.token_bytes = bytes;
  t.inline_slots = inline_slots.data();
  t.piece_slots = piece.data();
  t.byte_ids = byte_ids.data();
  for (int32_t id = 0; id < n; ++id) {
    if (is_hole(id)) continue;
    const uint8_t* p = token(id);
    const int32_t len = token_len(id);
    if (const int32_t other = lookup_piece(t, p, len); other >= 0)
      throw std::invalid_argument("tokens " + std::to_string(other) + " and " + std::to_string(id) +
                                  " have the same bytes");
    if (len == 1) {
      byte_ids[p[0]] = id;
      continue;
    }
    if (len <= kInlineTokenBytes) {
      const InlineKey key = inline_key(p, len);
      uint32_t slot = uint32_t(inline_hash(key) >> t.inline_shift);
      while (inline_slots[2 * slot + 1] != 0) slot = (slot + 1) & t.inline_mask;
      inline_slots[2 * slot] = key.head;
      inline_slots[2 * slot + 1] = key.tail | uint64_t(id) << kInlineIdShift;
      continue;
    }
    const uint64_t hash = hash_bytes(p, len);
    uint32_t slot = uint32_t(hash) & t.piece_mask;
    while (piece[2 * slot] >= 0) slot = (slot + 1) & t.piece_mask;
    piece[2 * slot] = id;
    piece[2 * slot + 1] = int32_t(hash >> 32);
  }
  for (int byte = 0; byte < 256; ++byte)
    if (byte_ids[byte] < 0)
      throw std::invalid_argument("the vocabulary has no token for byte " + std::to_string(byte) +
                                  "; it is not a byte-level BPE vocabulary");

  // Every way of writing a token as two tokens side by side is a possible merge; BPE
  // run on each token's bytes tells which of them it really makes.
  std::vector<int32_t> splittings;
  for (int32_t id = 0; id < n; ++id) {
    const uint8_t* p = token(id);
    const int32_t len = token_len(id);
    for (int32_t split = 1; split < len; ++split) {
      const int32_t a = lookup_piece(t, p, split), b = lookup_piece(t, p + split, len - split);
      if (a >= 0 && b >= 0) splittings.insert(splittings.end(), {a, b, id});
    }
  }
  const PairTable candidates = build_pair_table(splittings);
  candidates.attach(t);

  // Each token's last merge when BPE encodes its bytes alone, and whether every token is
  // reached with merges of non-decreasing rank (the premise of the backtracking merge).
  std::vector<int32_t> splits(2 * size_t(n), -1), merges;
  bool in_rank_order = true;
  for (int32_t id = 0; id < n; ++id) {
    if (is_hole(id)) continue;
    const uint8_t* p = token(id);
    std::vector<int32_t> parts(p, p + token_len(id));
    for (int32_t& part : parts) part = byte_ids[part];
    int32_t last_rank = -1;
    while (parts.size() > 1) {
      size_t best = 0;
      int32_t best_rank = kNoRank;
      for (size_t i = 0; i + 1 < parts.size(); ++i)
        if (const int32_t r = lookup_pair(t, parts[i], parts[i + 1]); r < best_rank)
          best = i, best_rank = r;
      if (best_rank == kNoRank) break;
      in_rank_order &= best_rank >= last_rank;
      last_rank = best_rank;
      if (parts.size() == 2)
        splits[2 * size_t(id)] = parts[0], splits[2 * size_t(id) + 1] = parts[1];
      parts[best] = best_rank;
      parts.erase(parts.begin() + best + 1);
    }
    in_rank_order &= parts.size() == 1 && parts[0] == id;
    if (splits[2 * size_t(id)] >= 0)
      merges.insert(merges.end(), {splits[2 * size_t(id)], splits[2 * size_t(id) + 1], id});
  }
  // Only BPE's own merges go into the blob (see lookup_pair).
  const PairTable pair = build_pair_table(merges);
  pair.attach(t);

  std::vector<int32_t> byte_pairs(65536);
  for (int a = 0; a < 256; ++a)
    for (int b = 0; b < 256; ++b)
      byte_pairs[size_t(a << 8 | b)] = lookup_pair(t, byte_ids[a], byte_ids[b]);

  // The longest proper prefix of each token that is a token, and the prefix table.
  std::vector<int32_t> next_prefix(n, -1);
  for (int32_t id = 0; id < n; ++id)
    for (int32_t len = token_len(id) - 1; len > 0 && next_prefix[id] < 0; --len)
      next_prefix[id] = lookup_piece(t, token(id), len);
  // In sorted order, the prefixes a token adds to those of the tokens before it are the
  // ones longer than its common prefix with its predecessor, each seen exactly once.
  std::vector<std::string_view> sorted;
  for (int32_t id = 0; id < n; ++id)
    if (!is_hole(id))
      sorted.emplace_back(reinterpret_cast<const char*>(token(id)), size_t(token_len(id)));
  std::sort(sorted.begin(), sorted.end());
  auto common = [&](size_t i, size_t j) {  // length of the common prefix of sorted[i], sorted[j]
    const auto [a, b] =
        std::mismatch(sorted[i].begin(), sorted[i].end(), sorted[j].begin(), sorted[j].end());
    return int64_t(a - sorted[i].begin());
  };
  std::vector<int64_t> shared(sorted.size() + 1, 0);  // shared[i]: with sorted[i - 1]
  int64_t n_prefixes = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i > 0) shared[i] = common(i - 1, i);
    n_prefixes += int64_t(sorted[i].size()) - shared[i];
  }
  auto id_of = [&](std::string_view v) {
    return lookup_piece(t, reinterpret_cast<const uint8_t*>(v.data()), int64_t(v.size()));
  };
  const int32_t prefix_capacity = next_pow2(2 * n_prefixes);
  const uint32_t prefix_mask = uint32_t(prefix_capacity - 1);
  std::vector<int32_t> prefix(3 * size_t(prefix_capacity), -1);
  for (size_t i = 0; i < prefix.size(); i += 3) prefix[i] = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const std::string_view v = sorted[i];
    const bool extended = i + 1 < sorted.size() && common(i, i + 1) == int64_t(v.size());
    uint64_t hash = 0;
    for (int64_t len = 1; len <= int64_t(v.size()); ++len) {
      hash = extend_prefix_hash(hash, uint8_t(v[size_t(len - 1)]));
      if (len <= shared[i]) continue;
      uint32_t slot = uint32_t(mix64(hash)) & prefix_mask;
      while (prefix[3 * slot] != 0) slot = (slot + 1) & prefix_mask;
      const bool whole = len == int64_t(v.size());
      prefix[3 * slot] =
          int32_t(len) | (whole ? kPrefixIsToken : 0) | (!whole || extended ? kPrefixExtends : 0);
      prefix[3 * slot + 1] = id_of(v);
      prefix[3 * slot + 2] = int32_t(uint32_t(
          load_le(reinterpret_cast<const uint8_t*>(v.data()), int(std::min<int64_t>(len, 4)))));
    }
  }

  TablesHeader h{};
  h.magic = kTablesMagic;
  h.version = kTablesVersion;
  h.flags = in_rank_order ? kMergesInRankOrder : 0;
  h.n_tokens = n;
  h.vocabulary_hash =
      mix64(hash_bytes(reinterpret_cast<const uint8_t*>(offsets), 4 * (int64_t(n) + 1)) ^
            hash_bytes(bytes, offsets[n]));
  h.max_token_len = max_len;
  h.inline_capacity = inline_capacity;
  h.piece_capacity = piece_capacity;
  h.pair_capacity = int32_t(pair.slots.size() / 3);
  h.prefix_capacity = prefix_capacity;
  h.pair_filter_bits = int32_t(pair.filter.size() * 64);
  int64_t off = align8(sizeof(TablesHeader));
  auto section = [&](int64_t bytes) {
    const int64_t at = off;
    off = align8(off + bytes);
    return at;
  };
  h.token_offsets = section(4 * (int64_t(n) + 1));
  h.token_bytes = section(offsets[n]);
  h.inline_slots = section(8 * int64_t(inline_slots.size()));
  h.piece_slots = section(4 * int64_t(piece.size()));
  h.pair_slots = section(4 * int64_t(pair.slots.size()));
  h.pair_filter = section(8 * int64_t(pair.filter.size()));
  h.byte_ids = section(4 * 256);
  h.splits = section(4 * int64_t(splits.size()));
  h.next_prefix = section(4 * int64_t(next_prefix.size()));
  h.prefix_slots = section(4 * int64_t(prefix.size()));
  h.byte_pairs = section(4 * int64_t(byte_pairs.size()));
  h.total_size = off;

  std::vector<uint8_t> blob(size_t(h.total_size), 0);
  uint8_t* out = blob.data();
  std::memcpy(out, &h, sizeof h);
  std::memcpy(out + h.token_offsets, offsets, 4 * (size_t(n) + 1));
  std::memcpy(out + h.token_bytes, bytes, size_t(offsets[n]));
  auto put = [&](int64_t at, const std::vector<int32_t>& v) {
    std::memcpy(out + at, v.data(), 4 * v.size());
  };
  std::memcpy(out + h.inline_slots, inline_slots.data(), 8 * inline_slots.size());
  put(h.piece_slots, piece);
  put(h.pair_slots, pair.slots);
  std::memcpy(out + h.pair_filter, pair.filter.data(), 8 * pair.filter.size());
  put(h.byte_ids, byte_ids);
  put(h.splits, splits);
  put(h.next_prefix, next_prefix);
  put(h.prefix_slots, prefix);
  put(h.byte_pairs, byte_pairs);
  return blob;
}

std::vector<uint8_t> build_specials(std::vector<std::pair<std::string, int32_t>> tokens) {
  if (tokens.empty()) return {};
  std::stable_sort(tokens.begin(), tokens.end(),
                   [](const auto& x, const auto& y) { return x.first.size() > y.first.size(); });
  const int32_t count = int32_t(tokens.size());
  const int64_t fixed = sizeof(SpecialsHeader) + 32 + 4 * (2 * int64_t(count) + 1);
  int64_t total = fixed;
  for (const auto& [text, id] : tokens) {
    if (text.empty()) throw std::invalid_argument("a special token cannot be empty");
    total += int64_t(text.size());
  }
  std::vector<uint8_t> blob(size_t(total), 0);
  const SpecialsHeader h{kSpecialsMagic, count};
  std::memcpy(blob.data(), &h, sizeof h);
  auto* first_bytes = reinterpret_cast<uint32_t*>(blob.data() + sizeof h);
  auto* ids = reinterpret_cast<int32_t*>(blob.data() + sizeof h + 32);
  int32_t* offsets = ids + count;
  int32_t off = 0;
  for (int32_t i = 0; i < count; ++i) {
    const auto& [text, id] = tokens[size_t(i)];
    const uint8_t first = uint8_t(text[0]);
    first_bytes[first >> 5] |= 1u << (first & 31);
    ids[i] = id;
    offsets[i] = off;
    std::memcpy(blob.data() + fixed + off, text.data(), text.size());
    off += int32_t(text.size());
  }
  offsets[count] = off;
  return blob;
}

}  // namespace jaxbpe
