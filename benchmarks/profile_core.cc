// Instruction profile of the native encoder's stages, for callgrind (which counts
// instructions, so a busy machine does not change the figures):
//
//   g++ -O3 -DNDEBUG -march=x86-64-v2 -std=c++17 -Ixla_ffi benchmarks/profile_core.cc \
//       xla_ffi/jaxbpe/host.cc -o /tmp/profile_core -lpthread
//   valgrind --tool=callgrind --toggle-collect=profiled_run /tmp/profile_core DIR TEXT MODE
//
// DIR is written by fuzz/dump_tables.py; TEXT is a file of UTF-8 text, encoded as one row
// without special tokens. Only profiled_run is counted; MODE says what it does:
//   pretokenize  the pattern's piece boundaries alone
//   uncached     boundaries and each piece's merges, no piece cache, ids into a vector
//   first        the whole encoder, as a first call on a new document: a fresh piece cache
//   repeated     the whole encoder on a document it has just encoded (cache as left)
//   repeated_count  as repeated, but ids are counted instead of stored
// and the differences are the stages: merges = uncached - pretokenize, and so on.
// `stats` (run without valgrind) prints the pieces' length distribution and the cache's
// hit rates; `rss` how far the thread's encoding state (piece cache, workspace) raised
// the process's peak resident memory, ids counted rather than stored.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "jaxbpe/host.h"

namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "profile_core: cannot read %s\n", path.c_str());
    std::exit(2);
  }
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

// The long-piece workspace without a piece cache.
struct Uncached {
  static constexpr int64_t kMaxIds = 1;
  std::vector<int32_t> words;
  int32_t* get(int64_t n) {
    if (words.size() < size_t(jaxbpe::long_piece_workspace(n)))
      words.resize(size_t(jaxbpe::long_piece_workspace(n)));
    return words.data();
  }
  template <typename Emit>
  bool emit_cached(const uint8_t*, int64_t, int64_t, Emit&) const {
    return false;
  }
  void store(const uint8_t*, int64_t, const int32_t*, int64_t) {}
};

struct Run {
  const jaxbpe::Encoder* enc;
  const uint8_t* s;
  int64_t n;
  const char* mode;
  jaxbpe::HostWork* work;
};

template <typename Work>
std::vector<int32_t> encode_into_vector(const Run& r, Work& work) {
  std::vector<int32_t> ids;
  ids.reserve(size_t(r.n / 4 + 8));  // as the host API does
  auto emit = [&](int32_t id) { ids.push_back(id); };
  r.enc->encode_ordinary(r.s, r.n, work, emit);
  return ids;
}

// A field of /proc/self/status, in KiB.
long status_kib(const char* field) {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field) + 1));
  return -1;
}

}  // namespace

extern "C" __attribute__((noinline)) int64_t profiled_run(const Run& r) {
  const std::string mode = r.mode;
  if (mode == "pretokenize") {
    const jaxbpe::Text text{r.s, r.n, r.enc->classes};
    int64_t pieces = 0;
    for (int64_t pos = 0; pos < r.n; ++pieces) pos = jaxbpe::piece_end(r.enc->pattern, text, pos);
    return pieces;
  }
  if (mode == "uncached") {
    Uncached work;
    return int64_t(encode_into_vector(r, work).size());
  }
  if (mode == "repeated_count") {
    int64_t count = 0;
    auto emit = [&](int32_t) { ++count; };
    r.enc->encode_ordinary(r.s, r.n, *r.work, emit);
    return count;
  }
  return int64_t(encode_into_vector(r, *r.work).size());  // first, repeated
}

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: profile_core TABLES_DIR TEXT MODE\n");
    return 2;
  }
  const std::string dir = argv[1];
  const std::vector<uint8_t> blob = read_file(dir + "/tables.bin"), text = read_file(argv[2]);
  const std::vector<uint8_t> pattern = read_file(dir + "/pattern.txt");
  jaxbpe::Encoder enc;
  enc.tables = jaxbpe::checked_tables(blob.data(), int64_t(blob.size()));
  enc.classes = jaxbpe::host_class_table();
  enc.pattern = jaxbpe::Pattern(std::atoi(std::string(pattern.begin(), pattern.end()).c_str()));
  enc.specials = jaxbpe::checked_specials(nullptr, 0);
  jaxbpe::HostWork& work = jaxbpe::thread_work(enc.tables);
  const Run run{&enc, text.data(), int64_t(text.size()), argv[3], &work};
  const std::string mode = argv[3];

  if (mode == "stats") {
    const jaxbpe::Text t{text.data(), int64_t(text.size()), enc.classes};
    int64_t bytes[4] = {}, pieces[4] = {};  // pieces of 1-8, 9-32, 33-64, >64 bytes
    std::unordered_set<std::string_view> distinct;
    int64_t distinct_bytes = 0;
    for (int64_t pos = 0; pos < run.n;) {
      const int64_t end = jaxbpe::piece_end(enc.pattern, t, pos), len = end - pos;
      if (distinct.emplace(reinterpret_cast<const char*>(text.data() + pos), size_t(len)).second)
        distinct_bytes += len;
      const int k = len <= 8 ? 0 : len <= 32 ? 1 : len <= 64 ? 2 : 3;
      bytes[k] += len;
      ++pieces[k];
      pos = end;
    }
    std::printf("distinct pieces: %zu, %lld bytes\n", distinct.size(), (long long)distinct_bytes);
    const char* names[4] = {"1-8", "9-32", "33-64", ">64"};
    for (int k = 0; k < 4; ++k)
      std::printf("pieces of %s bytes: %lld (%.1f%% of bytes)\n", names[k], (long long)pieces[k],
                  100.0 * double(bytes[k]) / double(run.n));
    for (const char* pass : {"first", "repeated"}) {
      int64_t hits = 0, hit_bytes = 0;
      for (int64_t pos = 0; pos < run.n;) {
        const int64_t end = jaxbpe::piece_end(enc.pattern, t, pos);
        int64_t emitted = 0;
        auto count = [&](int32_t) { ++emitted; };
        if (work.emit_cached(text.data() + pos, end - pos, run.n - pos, count)) {
          ++hits;
          hit_bytes += end - pos;
        } else {
          enc.encode_cached_piece(text.data() + pos, end - pos, run.n - pos, work, count);
        }
        pos = end;
      }
      std::printf("%s call: %lld pieces from the cache (%.1f%% of bytes)\n", pass, (long long)hits,
                  100.0 * double(hit_bytes) / double(run.n));
    }
    return 0;
  }
  if (mode == "rss") {
    std::ofstream("/proc/self/clear_refs") << "5";  // the peak back down to the current RSS
    const long before = status_kib("VmRSS");
    int64_t count = 0;
    auto emit = [&](int32_t) { ++count; };
    enc.encode_ordinary(run.s, run.n, work, emit);
    std::printf("%lld ids; peak RSS grew by %.2f MiB (RSS by %.2f)\n", (long long)count,
                double(status_kib("VmHWM") - before) / 1024.0,
                double(status_kib("VmRSS") - before) / 1024.0);
    return 0;
  }
  if (mode == "repeated" || mode == "repeated_count") (void)encode_into_vector(run, work);
  std::printf("%lld\n", (long long)profiled_run(run));
  return 0;
}
