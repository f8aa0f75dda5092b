// Differential fuzz target (libFuzzer) for jaxbpe's native core: the pre-tokenizer of
// one pattern, special-token splitting, and every merge path (short in-place merge,
// linear backtracking, heap merge), each compared with a naive reference BPE that
// repeatedly merges the lowest-rank adjacent pair, as tiktoken does. Built with
// AddressSanitizer and UndefinedBehaviorSanitizer by scripts/fuzz.sh.
//
// JAXBPE_FUZZ_DIR names a directory written by fuzz/dump_tables.py: tables.bin (the
// tables blob), specials.bin (all special tokens) and pattern.txt (the pattern id).
//
// The first input byte picks a mode, the rest is the text:
//   0: a row without special tokens;  1: a row with all special tokens allowed;
//   2: the text as one piece;  3: the text repeated to a long piece (up to 1 KiB);
//   4, 5: the staged parallel encoder (pipeline.h, the GPU's logic, on the host
//         executor) without / with special tokens, on a batch of the text, a prefix
//         and an empty row; the next byte gives the chunk size (1..256), the one
//         after the truncation and the order (shuffled or not);
//   6: the text repeated to up to 1 KiB through the pipeline, long pieces across
//      many chunks;  7: the chunked host encoder (encode_chunked), 1..16 chunks.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <unordered_map>
#include <vector>

#include "jaxbpe/host.h"
#include "jaxbpe/host_executor.h"
#include "jaxbpe/pipeline.h"

namespace {

using jaxbpe::Pattern;
using Ids = std::vector<int32_t>;

struct Fixture {
  std::vector<uint8_t> tables_blob, specials_blob;
  jaxbpe::Encoder plain, with_specials;
  // The reference's own view of the vocabulary: bytes -> rank, and the special tokens.
  std::unordered_map<std::string, int32_t> ranks;
  std::vector<std::pair<std::string, int32_t>> specials;
};

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "fuzz_core: cannot read %s (set JAXBPE_FUZZ_DIR)\n", path.c_str());
    std::abort();
  }
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

Fixture* load_fixture() {
  const char* dir = std::getenv("JAXBPE_FUZZ_DIR");
  const std::string base = dir ? dir : ".";
  auto* fx = new Fixture;
  fx->tables_blob = read_file(base + "/tables.bin");
  fx->specials_blob = read_file(base + "/specials.bin");
  const std::vector<uint8_t> pattern = read_file(base + "/pattern.txt");
  const Pattern p = Pattern(std::atoi(std::string(pattern.begin(), pattern.end()).c_str()));

  fx->plain.tables =
      jaxbpe::checked_tables(fx->tables_blob.data(), int64_t(fx->tables_blob.size()));
  fx->plain.classes = jaxbpe::host_class_table();
  fx->plain.pattern = p;
  fx->plain.specials = jaxbpe::checked_specials(nullptr, 0);
  fx->with_specials = fx->plain;
  fx->with_specials.specials =
      jaxbpe::checked_specials(fx->specials_blob.data(), int64_t(fx->specials_blob.size()));

  const jaxbpe::Tables& t = fx->plain.tables;
  for (int32_t id = 0; id < t.n_tokens; ++id)
    if (jaxbpe::token_length(t, id) > 0)  // an empty id is a gap in the ranks, no token
      fx->ranks.emplace(
          std::string(reinterpret_cast<const char*>(t.token_bytes + t.token_offsets[id]),
                      size_t(jaxbpe::token_length(t, id))),
          id);
  const jaxbpe::Specials& sp = fx->with_specials.specials;
  for (int32_t i = 0; i < sp.count; ++i)
    fx->specials.emplace_back(std::string(reinterpret_cast<const char*>(sp.bytes + sp.offsets[i]),
                                          size_t(sp.offsets[i + 1] - sp.offsets[i])),
                              sp.ids[i]);
  return fx;
}

const Fixture& fixture() {
  static const Fixture* fx = load_fixture();
  return *fx;
}

[[noreturn]] void fail(const char* what, const uint8_t* p, size_t n) {
  std::fprintf(stderr, "fuzz_core: %s on a piece of %zu bytes\n", what, n);
  std::abort();
}

// tiktoken's merge, written for clarity: parts start as single bytes; while some
// adjacent pair concatenates to a token, merge the pair with the lowest rank (the
// leftmost on ties). `whole_first`: a piece that is itself a token is emitted whole.
// Not instrumented for coverage: its quadratic scans would dominate the run time, and
// the coverage that should guide the fuzzer is the core's.
__attribute__((no_sanitize("coverage"))) Ids reference_bpe(const Fixture& fx, const uint8_t* p,
                                                           size_t n, bool whole_first) {
  const std::string piece(reinterpret_cast<const char*>(p), n);
  if (whole_first)
    if (auto it = fx.ranks.find(piece); it != fx.ranks.end()) return {it->second};
  // Part i is piece[starts[i], starts[i + 1]); rank[i] is the rank of merging it with
  // part i + 1. Plain integer vectors, so that erasing one is a memmove.
  std::vector<size_t> starts;
  for (size_t i = 0; i <= n; ++i) starts.push_back(i);
  auto pair_rank = [&](size_t i) -> int64_t {
    if (i + 2 >= starts.size()) return INT64_MAX;
    auto it = fx.ranks.find(piece.substr(starts[i], starts[i + 2] - starts[i]));
    return it == fx.ranks.end() ? INT64_MAX : it->second;
  };
  std::vector<int64_t> rank(n);
  for (size_t i = 0; i < n; ++i) rank[i] = pair_rank(i);
  for (;;) {
    size_t best = 0;
    for (size_t i = 1; i < rank.size(); ++i)
      if (rank[i] < rank[best]) best = i;
    if (rank.empty() || rank[best] == INT64_MAX) break;
    starts.erase(starts.begin() + ptrdiff_t(best) + 1);
    rank.erase(rank.begin() + ptrdiff_t(best) + 1);
    rank[best] = pair_rank(best);
    if (best > 0) rank[best - 1] = pair_rank(best - 1);
  }
  Ids ids;
  for (size_t i = 0; i + 1 < starts.size(); ++i)
    ids.push_back(fx.ranks.at(piece.substr(starts[i], starts[i + 1] - starts[i])));
  return ids;
}

struct Collect {
  Ids* ids;
  void operator()(int32_t id) const { ids->push_back(id); }
};

// Every merge path of the core on one piece, each against the reference.
void check_piece(const Fixture& fx, jaxbpe::HostWork& work, const uint8_t* p, size_t n) {
  if (n == 0) return;
  const jaxbpe::Tables& t = fx.plain.tables;
  const Ids merged = reference_bpe(fx, p, n, false);
  Ids ids;
  Collect emit{&ids};
  if (n <= size_t(jaxbpe::kShortPiece)) {
    jaxbpe::merge_short_piece(t, p, int(n), emit);
    if (ids != merged) fail("merge_short_piece differs from the reference", p, n);
  }
  ids.clear();
  jaxbpe::merge_long_piece(t, p, int64_t(n), work.get(int64_t(n)), emit);
  if (ids != merged) fail("merge_long_piece (heap) differs from the reference", p, n);
  if (t.flags & jaxbpe::kMergesInRankOrder) {
    ids.clear();
    jaxbpe::backtrack_long_piece(t, p, int64_t(n), work.get(int64_t(n)), emit);
    if (ids != merged) fail("backtrack_long_piece differs from the reference", p, n);
  }
  ids.clear();
  jaxbpe::encode_piece(t, p, int64_t(n), work, emit);
  if (ids != reference_bpe(fx, p, n, true)) fail("encode_piece differs from the reference", p, n);
}

// Where each character the core's UTF-8 decoder sees starts.
std::vector<bool> char_starts(const uint8_t* s, size_t n) {
  std::vector<bool> starts(n + 1, false);
  for (size_t pos = 0; pos < n;) {
    starts[pos] = true;
    int32_t len;
    jaxbpe::decode_utf8(s + pos, int64_t(n - pos), &len);
    pos += len;
  }
  starts[n] = true;
  return starts;
}

// The ids of a segment without special tokens: the core's pre-tokenizer, whose pieces
// must tile the segment at character boundaries, and the reference merge per piece.
void reference_segment(const Fixture& fx, const uint8_t* s, size_t n, Ids& out) {
  const jaxbpe::Text text{s, int64_t(n), fx.plain.classes};
  const std::vector<bool> starts = char_starts(s, n);
  for (size_t pos = 0; pos < n;) {
    const int64_t end = jaxbpe::piece_end(fx.plain.pattern, text, int64_t(pos));
    if (end <= int64_t(pos) || end > int64_t(n))
      fail("piece_end did not advance within the text", s, n);
    if (!starts[size_t(end)]) fail("piece_end split a character", s, n);
    const Ids piece = reference_bpe(fx, s + pos, size_t(end) - pos, true);
    out.insert(out.end(), piece.begin(), piece.end());
    pos = size_t(end);
  }
}

// A row: split at the leftmost special token (the longest at one position), as
// tiktoken's special-token regex does.
Ids reference_row(const Fixture& fx, const uint8_t* s, size_t n, bool specials) {
  Ids out;
  size_t segment = 0;
  for (size_t pos = 0; pos < n && specials; ++pos) {
    const std::pair<std::string, int32_t>* best = nullptr;
    for (const auto& special : fx.specials)
      if (special.first.size() <= n - pos &&
          std::equal(special.first.begin(), special.first.end(), s + pos) &&
          (!best || special.first.size() > best->first.size()))
        best = &special;
    if (!best) continue;
    reference_segment(fx, s + segment, pos - segment, out);
    out.push_back(best->second);
    segment = pos + best->first.size();
    pos = segment - 1;
  }
  reference_segment(fx, s + segment, n - segment, out);
  return out;
}

void check_row(const Fixture& fx, jaxbpe::HostWork& work, const uint8_t* s, size_t n,
               bool specials) {
  const jaxbpe::Encoder& enc = specials ? fx.with_specials : fx.plain;
  const Ids expected = reference_row(fx, s, n, specials);
  // Twice with the same workspace: the second pass answers pieces from its cache.
  for (int pass = 0; pass < 2; ++pass) {
    Ids ids;
    Collect emit{&ids};
    enc.encode(s, int64_t(n), work, emit);
    if (ids != expected)
      fail(pass ? "Encoder::encode (cached) differs" : "Encoder::encode differs", s, n);
  }
  // Decoding gives back the very bytes, invalid UTF-8 included. An id that is no
  // ordinary token (one beyond them, or a gap in the ranks) is a special token's, and
  // where several names share it, one of them is the text there.
  const std::string text(reinterpret_cast<const char*>(s), n);
  const jaxbpe::Tables& t = enc.tables;
  size_t pos = 0;
  for (int32_t id : expected) {
    std::string piece;
    if (id < t.n_tokens && jaxbpe::token_length(t, id) > 0) {
      piece.assign(reinterpret_cast<const char*>(t.token_bytes + t.token_offsets[id]),
                   size_t(jaxbpe::token_length(t, id)));
    } else {
      for (const auto& special : fx.specials)
        if (special.second == id && text.compare(pos, special.first.size(), special.first) == 0)
          piece = special.first;
    }
    if (piece.empty() || text.compare(pos, piece.size(), piece) != 0)
      fail("ids do not decode to the text", s, n);
    pos += piece.size();
  }
  if (pos != n) fail("ids do not decode to the text", s, n);
}

// A batch of three rows (the text, a prefix of it, an empty row) through the staged
// parallel encoder, against the row encoder's ids: chunk size, truncation and index
// order from the two parameter bytes.
void check_pipeline(const Fixture& fx, jaxbpe::HostWork& work, const uint8_t* s, size_t n,
                    bool specials, uint8_t chunk_param, uint8_t options) {
  const jaxbpe::Encoder& enc = specials ? fx.with_specials : fx.plain;
  const int64_t row_len = int64_t(n) + 1, rows = 3;
  const int32_t lengths[3] = {int32_t(n), int32_t(n * (options >> 4) / 16), 0};
  std::vector<uint8_t> data(size_t(rows * row_len), 0xAA);  // bytes past a row's length
  for (int64_t r = 0; r < rows; ++r) std::copy(s, s + lengths[r], data.begin() + r * row_len);
  // Every row's full ids; max_tokens cuts them to a prefix or leaves them whole.
  std::vector<Ids> expected(rows);
  for (int64_t r = 0; r < rows; ++r) {
    Collect emit{&expected[size_t(r)]};
    enc.encode(s, lengths[r], work, emit);
  }
  const int64_t max_tokens = (options & 1) ? int64_t(expected[0].size()) / 2 : int64_t(n) + 1;
  const jaxbpe::PipelineShape shape{rows,       row_len,
                                    max_tokens, chunk_param + int64_t(1),
                                    specials,   !(enc.tables.flags & jaxbpe::kMergesInRankOrder)};
  std::vector<uint8_t> workspace(size_t(jaxbpe::pipeline_layout(shape).total));
  std::vector<int32_t> tokens(size_t(rows * max_tokens)), counts(rows), status(rows);
  jaxbpe::HostExecutor ex((options & 2) ? std::optional<uint64_t>(options) : std::nullopt);
  jaxbpe::run_pipeline(ex, jaxbpe::make_pipeline(enc.tables, enc.specials, enc.classes, enc.pattern,
                                                 shape, -1, data.data(), lengths, tokens.data(),
                                                 counts.data(), status.data(), workspace.data()));
  for (int64_t r = 0; r < rows; ++r) {
    const Ids& want = expected[size_t(r)];
    const int64_t kept = std::min<int64_t>(int64_t(want.size()), max_tokens);
    const int32_t* row = tokens.data() + r * max_tokens;
    if (counts[size_t(r)] != int32_t(want.size()) ||
        !std::equal(want.begin(), want.begin() + kept, row))
      fail("the pipeline's ids differ from the row encoder's", s, n);
    if (std::any_of(row + kept, row + max_tokens, [](int32_t id) { return id != -1; }))
      fail("the pipeline did not pad a row", s, n);
    if (status[size_t(r)] != (int64_t(want.size()) > max_tokens ? jaxbpe::kTruncated : 0))
      fail("the pipeline's status differs", s, n);
  }
}

// The chunked host encoder (a long document on several CPU threads), run in one thread.
void check_chunked(const Fixture& fx, jaxbpe::HostWork& work, const uint8_t* s, size_t n,
                   bool specials, int64_t parts) {
  const jaxbpe::Encoder& enc = specials ? fx.with_specials : fx.plain;
  Ids expected;
  Collect emit{&expected};
  enc.encode(s, int64_t(n), work, emit);
  const jaxbpe::RunParallel in_order = [](int64_t tasks, int64_t, const auto& task) {
    for (int64_t i = 0; i < tasks; ++i) task(i);
  };
  if (jaxbpe::encode_chunked(enc, s, int64_t(n), parts, 1, in_order) != expected)
    fail("encode_chunked differs from the row encoder", s, n);
}

std::vector<uint8_t> repeat_to_1kib(const uint8_t* s, size_t n) {
  std::vector<uint8_t> repeated;
  while (n > 0 && repeated.size() + n <= 1024) repeated.insert(repeated.end(), s, s + n);
  return repeated;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Fixture& fx = fixture();
  static jaxbpe::HostWork work;  // shared across inputs, as a thread's is across rows
  const uint8_t mode = data[0] & 7, flag = data[0] >> 7;
  const uint8_t* s = data + 1;
  const size_t n = size - 1;
  // The pipeline's modes take two parameter bytes off the text.
  const uint8_t chunk_param = n > 0 ? s[0] : 0, options = n > 1 ? s[1] : 0;
  const uint8_t* text = s + std::min<size_t>(n, 2);
  const size_t text_len = n - std::min<size_t>(n, 2);
  switch (mode) {
    case 0:
    case 1: check_row(fx, work, s, n, mode == 1); break;
    case 2: check_piece(fx, work, s, n); break;
    case 3: {
      const std::vector<uint8_t> repeated = repeat_to_1kib(s, n);
      check_piece(fx, work, repeated.data(), repeated.size());
      break;
    }
    case 4:
    case 5: check_pipeline(fx, work, text, text_len, mode == 5, chunk_param, options); break;
    case 6: {
      const std::vector<uint8_t> repeated = repeat_to_1kib(text, text_len);
      check_pipeline(fx, work, repeated.data(), repeated.size(), flag, chunk_param % 32, options);
      break;
    }
    default: check_chunked(fx, work, text, text_len, flag, 1 + chunk_param % 16);
  }
  return 0;
}
