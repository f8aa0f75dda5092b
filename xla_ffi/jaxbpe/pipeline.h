// The staged parallel encoder of a batch ("Parallel encoding" in DESIGN.md): every
// stage is a function of one index (a chunk of a row, a row, an output slot) that an
// executor runs for all indices at once, with the collectives the stages need
// (exclusive sum, inclusive scan). The CUDA executor (ffi_cuda.cu) launches a kernel per
// stage; the host executor (host_executor.h) runs the same functions in loops, in any
// order, so that the CPU tests execute every line of the GPU's tokenizer logic.
//
// A row is cut into chunks of chunk_bytes bytes. The stages, in order:
//  1. FindSpecials, TakeSpecials (only with allowed special tokens): where each allowed
//     special token matches, then the leftmost-longest matches find_special takes,
//     resolved in parallel: a match that no earlier match overlaps is always taken.
//     FirstSpecials and a suffix min then give each chunk the next special token.
//  2. GuessBoundaries: each chunk runs the pre-tokenizer from its first character, a
//     guess, marking the piece boundaries it meets in its bytes, and records where the
//     chain leaves the chunk (its exit). The next boundary is a function of the position
//     alone, so two chains that share a position agree from there on.
//  3. JoinSeams: the previous chunk's exit is the row's boundary in this chunk if the
//     previous chunk was right; the chain from it continues until it meets a marked
//     boundary, and replaces the guess before that point.
//  4. FixRows: one pass per row, from chunk to chunk where JoinSeams could not settle
//     the seam (a min scan finds them), corrects the chunks whose entry was not the
//     previous guess's exit, and finishes pieces longer than a scan may look ahead.
//     Scans in stages 2 and 3 stop at chunk_bytes past their chunk (BoundedText), so a
//     megabyte-long piece costs O(n) in all, not O(n^2 / chunk_bytes).
//  5. MergePieces: each chunk merges the pieces that start in it (tiktoken's merge,
//     bpe.h), writing each token's id at the byte where it starts and -1 elsewhere.
//  6. CountTokens, an exclusive sum over chunks, WriteTokens, FinishRows, PadRows:
//     each row's ids in order, truncated to max_tokens, padded, counted, with status.
//
// Each stage writes only the bytes of its own index's chunk (or the bytes of pieces and
// special tokens that start there), and reads what earlier stages wrote; a stage that
// read what another index of the same stage writes would race on the GPU, which the
// host executor's shuffled orders would show.
#pragma once

#include "bpe.h"
#include "pretokenize.h"
#include "rows.h"
#include "specials.h"

namespace jaxbpe {

// Bytes per chunk of the CUDA custom call (the tests run every size from 1 up). Not
// tuned on a GPU yet: with 256, an 8 MiB document makes 32k chunks, one GPU thread each.
constexpr int64_t kChunkBytes = 256;

// The static shape of one call: everything the workspace's layout depends on.
struct PipelineShape {
  int64_t rows, row_len, max_tokens, chunk_bytes;
  bool specials;    // an allowed special token can occur (the specials blob is not empty)
  bool heap_merge;  // the vocabulary's merges leave rank order: long pieces take the heap merge
};

// Byte offsets of the workspace's sections, and its size.
struct PipelineLayout {
  int64_t chunks_per_row, chunks;
  int64_t candidates, taken, boundaries, ids, long_work, chunk_exit, seam_exit, next_special,
      next_special_min, next_problem, next_problem_min, chunk_tokens, chunk_offsets, scan_temp,
      total;
};

// Workspace words a long piece of n bytes needs at the offset long_piece_offset(start)
// of its first byte: the backtracking merge keeps n candidates and n + 1 dead bits, the
// heap merge long_piece_workspace(n) words.
JAXBPE_HD int64_t long_piece_offset(int64_t start, bool heap_merge) {
  // For pieces of at least kShortPiece + 1 = 65 bytes that do not overlap, start +
  // start / 32 + start / 65 grows by at least n + n / 32 + 1 from one to the next.
  return heap_merge ? long_piece_workspace(start) : start + start / 32 + start / (kShortPiece + 1);
}

// Bytes of scratch memory the collectives (CUB's scans on the GPU) may need for scans
// over n elements. CUB cannot say how much on a machine without a GPU, and the size must
// be known when the program is traced, so this is a bound: its single-pass scans keep a
// few words per tile of at least 128 elements; the CUDA handler checks what CUB asks for
// against it.
JAXBPE_HD int64_t scan_temp_bound(int64_t n) { return 4096 + 64 * (n / 128 + 1); }

JAXBPE_HD int64_t align_up(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

JAXBPE_HD PipelineLayout pipeline_layout(const PipelineShape& s) {
  PipelineLayout l{};
  l.chunks_per_row = s.row_len > 0 ? (s.row_len + s.chunk_bytes - 1) / s.chunk_bytes : 1;
  l.chunks = s.rows * l.chunks_per_row;
  const int64_t bytes = s.rows * s.row_len, chunks = l.chunks;
  int64_t off = 0;
  auto section = [&](int64_t size) {  // 256-byte aligned, as GPUs like
    const int64_t at = off;
    off = align_up(off + size, 256);
    return at;
  };
  l.candidates = section(s.specials ? bytes : 0);
  l.taken = section(s.specials ? bytes : 0);
  l.boundaries = section(bytes);
  l.ids = section(4 * bytes);
  l.long_work = section(4 * (long_piece_offset(bytes, s.heap_merge) + 1));
  l.chunk_exit = section(8 * chunks);
  l.seam_exit = section(8 * chunks);
  l.next_special = section(s.specials ? 8 * chunks : 0);
  l.next_special_min = section(s.specials ? 8 * chunks : 0);
  l.next_problem = section(8 * chunks);
  l.next_problem_min = section(8 * chunks);
  l.chunk_tokens = section(8 * chunks);
  l.chunk_offsets = section(8 * chunks);
  l.scan_temp = section(scan_temp_bound(chunks));
  l.total = off;
  return l;
}

// A chunk's exit when the scan that was to find it stopped (BoundedText): it encodes the
// start of the piece it stopped in, whose end is found later.
JAXBPE_HD int64_t stopped_in(int64_t piece_start) { return -1 - piece_start; }
JAXBPE_HD bool is_stopped(int64_t exit) { return exit < 0; }
JAXBPE_HD int64_t stopped_piece(int64_t exit) { return -1 - exit; }

// Values of a boundaries byte.
constexpr uint8_t kNoBoundary = 0, kBoundary = 1, kSeamBoundary = 2;
constexpr int64_t kNoSpecial = INT64_MAX, kNoChunk = INT64_MAX;

// Everything the stages read and write, passed by value to each.
struct Pipeline {
  Tables tables;
  Specials specials;
  ClassTable classes;
  Pattern pattern;
  PipelineShape shape;
  PipelineLayout layout;
  int32_t pad_id;

  const uint8_t* data;     // [rows, row_len]
  const int32_t* lengths;  // [rows]
  int32_t* tokens;         // [rows, max_tokens]
  int32_t* counts;         // [rows]
  int32_t* status;         // [rows]

  // Workspace sections (see pipeline_layout), indexed by a byte's place in `data`
  // or by chunk (row * chunks_per_row + chunk).
  uint8_t* candidates;  // 1 where an allowed special token matches
  uint8_t* taken;       // 1 where a special token is taken (find_special's matches)
  uint8_t* boundaries;  // kBoundary where a piece or a special token starts
  int32_t* ids;         // the id of the token that starts at each byte, or -1
  int32_t* long_work;   // workspace of long pieces (long_piece_offset)
  int64_t* chunk_exit;  // where the chunk's guess leaves it (or stopped_in)
  int64_t* seam_exit;   // where the chain in the chunk's boundaries leaves it
  // Two "first at or after" indexes over chunks (see later_min): the first taken special
  // token of each chunk (a position in `data`), and chunks whose seam JoinSeams could not
  // settle (FixRows' work).
  int64_t* next_special;
  int64_t* next_special_min;
  int64_t* next_problem;
  int64_t* next_problem_min;
  int64_t* chunk_tokens;   // tokens that start in each chunk
  int64_t* chunk_offsets;  // their exclusive sum
  void* scan_temp;

  // -- geometry ------------------------------------------------------------------------

  JAXBPE_HD int64_t row_of(int64_t chunk) const { return chunk / layout.chunks_per_row; }

  // A value per chunk is stored in reverse order, so that an inclusive min scan of the
  // array gives, read back at a chunk, the least value stored at it or at any later chunk.
  JAXBPE_HD void store_for_later_min(int64_t* values, int64_t chunk, int64_t value) const {
    values[layout.chunks - 1 - chunk] = value;
  }
  JAXBPE_HD int64_t later_min(const int64_t* scanned, int64_t chunk) const {
    return scanned[layout.chunks - 1 - chunk];
  }
  JAXBPE_HD int64_t length(int64_t row) const {
    return clamped_length(lengths[row], shape.row_len);
  }
  JAXBPE_HD const uint8_t* row_data(int64_t row) const { return data + row * shape.row_len; }
  JAXBPE_HD int64_t at(int64_t row, int64_t pos) const { return row * shape.row_len + pos; }

  // The bytes [begin, end) of a chunk within its row; empty past the row's length.
  struct Range {
    int64_t row, begin, end, n;  // n: the row's length
  };
  JAXBPE_HD Range range(int64_t chunk) const {
    const int64_t row = row_of(chunk), n = length(row);
    int64_t begin = (chunk - row * layout.chunks_per_row) * shape.chunk_bytes;
    begin = begin < n ? begin : n;
    const int64_t end = begin + shape.chunk_bytes < n ? begin + shape.chunk_bytes : n;
    return {row, begin, end, n};
  }

  // -- special tokens ------------------------------------------------------------------

  // The longest allowed special token at pos of the row, or len 0.
  JAXBPE_HD SpecialMatch special_at(int64_t row, int64_t pos, int64_t n) const {
    return jaxbpe::special_at(specials, row_data(row), pos, n);
  }

  // Whether a match that starts before pos reaches over it. `marks` says where matches
  // start (candidates, or the taken ones).
  JAXBPE_HD int64_t covering_match_end(const uint8_t* marks, int64_t row, int64_t pos,
                                       int64_t n) const {
    const int64_t first = pos - specials.max_len + 1 > 0 ? pos - specials.max_len + 1 : 0;
    for (int64_t q = first; q < pos; ++q)
      if (marks[at(row, q)])
        if (const int64_t end = q + special_at(row, q, n).len; end > pos) return end;
    return -1;
  }

  // The first taken special token at or after pos in the row, or n.
  JAXBPE_HD int64_t next_taken(int64_t row, int64_t pos, int64_t n) const {
    if (!shape.specials) return n;
    const int64_t chunk = pos / shape.chunk_bytes;  // pos's chunk within the row
    const int64_t chunk_end =
        (chunk + 1) * shape.chunk_bytes < n ? (chunk + 1) * shape.chunk_bytes : n;
    for (int64_t q = pos; q < chunk_end; ++q)
      if (taken[at(row, q)]) return q;
    if (chunk + 1 >= layout.chunks_per_row) return n;
    const int64_t later = later_min(next_special_min, row * layout.chunks_per_row + chunk + 1);
    return later < at(row + 1, 0) ? later - at(row, 0) : n;
  }

  // -- the chain of boundaries ---------------------------------------------------------

  // The boundary after the one at pos: past the special token there, or the end of the
  // piece there within its segment (ending at `segment_end`, the next special token or
  // the row's end). A bounded scan (scan_limit < INT64_MAX) that would read past
  // scan_limit returns stopped_in(pos) instead.
  JAXBPE_HD int64_t next_boundary(int64_t row, int64_t pos, int64_t n, int64_t segment_end,
                                  int64_t scan_limit) const {
    if (pos == segment_end) return pos + special_at(row, pos, n).len;
    const Text text{row_data(row), segment_end, classes};
    if (scan_limit >= segment_end) return piece_end(pattern, text, pos);
    const BoundedText bounded(text, scan_limit);
    const int64_t end = piece_end(pattern, bounded, pos);
    return bounded.overrun ? stopped_in(pos) : end;
  }

  // Follows the chain from `entry` (a boundary at or after `replaced`, which is the
  // chunk's begin or later) through the chunk until it meets a kBoundary of the chain
  // already marked there, whose exit is `marked_exit`: the marks from `replaced` to that
  // point become the new chain's, and the chunk's exit is returned. Scans stop
  // chunk_bytes past the chunk when `bounded`.
  JAXBPE_HD int64_t join(const Range& c, int64_t entry, int64_t replaced, int64_t marked_exit,
                         bool bounded) const {
    uint8_t* marks = boundaries + at(c.row, 0);
    const int64_t limit = bounded ? c.end + shape.chunk_bytes : INT64_MAX;
    int64_t pos = entry, segment_end = next_taken(c.row, pos, c.n), stopped = 0;
    bool joined = false;
    while (pos < c.end) {
      if (marks[pos] == kBoundary) {  // joined: the marked chain is the row's from here
        joined = true;
        break;
      }
      marks[pos] = kSeamBoundary;
      const int64_t next = next_boundary(c.row, pos, c.n, segment_end, limit);
      if (is_stopped(next)) {  // no boundary after pos in the chunk; its piece's end is unknown
        stopped = next;
        break;
      }
      if (pos == segment_end) segment_end = next_taken(c.row, next, c.n);
      pos = next;
    }
    // The new chain's boundaries replace the marks up to where it joined, or all of them.
    for (int64_t q = replaced; q < (joined ? pos : c.end); ++q)
      marks[q] = marks[q] == kSeamBoundary ? kBoundary : kNoBoundary;
    return joined ? marked_exit : is_stopped(stopped) ? stopped : pos;
  }

  // The end of the piece at `start`, however far it reaches (FixRows' unbounded scan).
  JAXBPE_HD int64_t piece_end_from(int64_t row, int64_t start, int64_t n) const {
    return next_boundary(row, start, n, next_taken(row, start, n), INT64_MAX);
  }
};

// A pipeline over the given inputs, outputs and workspace (at least layout.total bytes;
// its pointers may be a GPU's). Tables and specials are views checked by the caller.
inline Pipeline make_pipeline(const Tables& tables, const Specials& specials, ClassTable classes,
                              Pattern pattern, const PipelineShape& shape, int32_t pad_id,
                              const uint8_t* data, const int32_t* lengths, int32_t* tokens,
                              int32_t* counts, int32_t* status, uint8_t* workspace) {
  Pipeline p{};
  p.tables = tables;
  p.specials = specials;
  p.classes = classes;
  p.pattern = pattern;
  p.shape = shape;
  p.layout = pipeline_layout(shape);
  p.pad_id = pad_id;
  p.data = data;
  p.lengths = lengths;
  p.tokens = tokens;
  p.counts = counts;
  p.status = status;
  const PipelineLayout& l = p.layout;
  p.candidates = workspace + l.candidates;
  p.taken = workspace + l.taken;
  p.boundaries = workspace + l.boundaries;
  p.ids = reinterpret_cast<int32_t*>(workspace + l.ids);
  p.long_work = reinterpret_cast<int32_t*>(workspace + l.long_work);
  p.chunk_exit = reinterpret_cast<int64_t*>(workspace + l.chunk_exit);
  p.seam_exit = reinterpret_cast<int64_t*>(workspace + l.seam_exit);
  p.next_special = reinterpret_cast<int64_t*>(workspace + l.next_special);
  p.next_special_min = reinterpret_cast<int64_t*>(workspace + l.next_special_min);
  p.next_problem = reinterpret_cast<int64_t*>(workspace + l.next_problem);
  p.next_problem_min = reinterpret_cast<int64_t*>(workspace + l.next_problem_min);
  p.chunk_tokens = reinterpret_cast<int64_t*>(workspace + l.chunk_tokens);
  p.chunk_offsets = reinterpret_cast<int64_t*>(workspace + l.chunk_offsets);
  p.scan_temp = workspace + l.scan_temp;
  return p;
}

// -- stage 1: special tokens ------------------------------------------------------------

struct FindSpecials {
  Pipeline p;
  JAXBPE_HD void operator()(int64_t chunk) const {
    const Pipeline::Range c = p.range(chunk);
    for (int64_t pos = c.begin; pos < c.end; ++pos) {
      p.candidates[p.at(c.row, pos)] = p.special_at(c.row, pos, c.n).len > 0;
      p.taken[p.at(c.row, pos)] = 0;
    }
  }
};

// find_special takes the leftmost match, then the leftmost after it, and so on. A match
// that no earlier match overlaps is taken whatever the others are; the thread of such a
// match follows the matches that overlap others after it (a cluster), which only
// special tokens whose end can be another's beginning make, and then rarely.
struct TakeSpecials {
  Pipeline p;
  JAXBPE_HD void operator()(int64_t chunk) const {
    const Pipeline::Range c = p.range(chunk);
    const int64_t row0 = p.at(c.row, 0);
    for (int64_t pos = c.begin; pos < c.end; ++pos) {
      if (!p.candidates[row0 + pos] || p.covering_match_end(p.candidates, c.row, pos, c.n) >= 0)
        continue;
      p.taken[row0 + pos] = 1;
      // The next match taken is the first at or after this one's end; if it overlaps an
      // earlier match it lies within max_len of that end, and it is this thread's to take.
      for (int64_t end = pos + p.special_at(c.row, pos, c.n).len;;) {
        int64_t next = end;
        while (next < c.n && next < end + p.specials.max_len && !p.candidates[row0 + next]) ++next;
        if (next >= c.n || !p.candidates[row0 + next] ||
            p.covering_match_end(p.candidates, c.row, next, c.n) < 0)
          break;
        p.taken[row0 + next] = 1;
        end = next + p.special_at(c.row, next, c.n).len;
      }
    }
  }
};

// The first taken special token in each chunk, as a position in `data`, stored in
// reverse chunk order so that an inclusive min scan gives the first at or after each.
struct FirstSpecials {
  Pipeline p;
  JAXBPE_HD void operator()(int64_t chunk) const {
    const Pipeline::Range c = p.range(chunk);
    int64_t first = kNoSpecial;
    for (int64_t pos = c.begin; pos < c.end && first == kNoSpecial; ++pos)
      if (p.taken[p.at(c.row, pos)]) first = p.at(c.row, pos);
    p.store_for_later_min(p.next_special, chunk, first);
  }
};

struct Min {
  JAXBPE_HD int64_t operator()(int64_t a, int64_t b) const { return a < b ? a : b; }
};

// -- stages 2-4: piece boundaries -------------------------------------------------------

struct GuessBoundaries {
  Pipeline p;
  JAXBPE_HD void operator()(int64_t chunk) const {
    const Pipeline::Range c = p.range(chunk);
    if (c.begin >= c.end) return;
    uint8_t* marks = p.boundaries + p.at(c.row, 0);
    for (int64_t pos = c.begin; pos < c.end; ++pos) marks[pos] = kNoBoundary;
    // The row's first boundary is its start; elsewhere guess the first character, or
    // the end of a special token that reaches over it.
    int64_t pos = c.begin > 0 ? char_start_from(p.row_data(c.row), c.begin, c.n) : 0;
    if (p.shape.specials && pos > 0)
      if (const int64_t end = p.covering_match_end(p.taken, c.row, pos, c.n); end >= 0) pos = end;
    const int64_t limit = c.end + p.shape.chunk_bytes;
    int64_t segment_end = p.next_taken(c.row, pos, c.n);
    while (pos < c.end) {
      marks[pos] = kBoundary;
      const int64_t next = p.next_boundary(c.row, pos, c.n, segment_end, limit);
      if (is_stopped(next)) {
        pos = next;
        break;
      }
      if (pos == segment_end) segment_end = p.next_taken(c.row, next, c.n);
      pos = next;
    }
    p.chunk_exit[chunk] = pos;
  }
};

// Every chunk but a row's first: continue the previous chunk's guess from its exit.
// Where that guess stopped in a long piece, the chunk's own guess is kept for FixRows.
// A chunk whose exit is not its guess's, or not known, is a problem for FixRows: the
// next chunk's seam assumed otherwise.
struct JoinSeams {
  Pipeline p;
  JAXBPE_HD void operator()(int64_t chunk) const {
    const Pipeline::Range c = p.range(chunk);
    int64_t problem = kNoChunk;
    if (c.begin < c.end) {
      const int64_t entry = c.begin > 0 ? p.chunk_exit[chunk - 1] : 0;
      const int64_t exit = c.begin > 0 && !is_stopped(entry)
                               ? p.join(c, entry, c.begin, p.chunk_exit[chunk], true)
                               : p.chunk_exit[chunk];
      p.seam_exit[chunk] = exit;
      if (is_stopped(exit) || exit != p.chunk_exit[chunk]) problem = chunk;
    }
    p.store_for_later_min(p.next_problem, chunk, problem);
  }
};

// One row, from its first problem chunk: the row's true entry into each chunk is the
// true exit of the one before; where it is not the exit JoinSeams assumed, the chunk is
// joined again from the true entry. A scan that stopped only knows that its piece
// reaches past where it may look: the piece is scanned to its end, and where that lies
// in the chunk the chain goes on from there (nothing after the stopped piece is
// marked). Once a chunk's true exit is its guess's, every chunk up to the next problem
// is right as JoinSeams left it.
struct FixRows {
  Pipeline p;
  JAXBPE_HD void operator()(int64_t row) const {
    const int64_t first = row * p.layout.chunks_per_row, last = first + p.layout.chunks_per_row;
    int64_t chunk = p.later_min(p.next_problem_min, first);
    int64_t entry =
        chunk > first && chunk < last ? p.chunk_exit[chunk - 1] : 0;  // the true entry of `chunk`
    while (chunk < last) {
      const Pipeline::Range c = p.range(chunk);
      if (c.begin >= c.end) break;
      int64_t exit = p.seam_exit[chunk];
      if (c.begin > 0 && entry != p.chunk_exit[chunk - 1])
        exit = p.join(c, entry, c.begin, exit, false);
      if (is_stopped(exit)) {
        const int64_t end = p.piece_end_from(c.row, stopped_piece(exit), c.n);
        exit = end < c.end ? p.join(c, end, end, exit, false) : end;
      }
      entry = p.seam_exit[chunk] = exit;
      if (exit == p.chunk_exit[chunk] && chunk + 1 < last) {
        chunk = p.later_min(p.next_problem_min, chunk + 1);
        if (chunk < last) entry = p.chunk_exit[chunk - 1];
      } else {
        ++chunk;
      }
    }
  }
};

// -- stage 5: merges --------------------------------------------------------------------

// Long-piece workspace for encode_piece: each piece has its own words (long_piece_offset).
struct PieceWork {
  int32_t* words;
  JAXBPE_HD int32_t* get(int64_t) { return words; }
};

struct MergePieces {
  Pipeline p;
  JAXBPE_HD void operator()(int64_t chunk) const {
    const Pipeline::Range c = p.range(chunk);
    const uint8_t* marks = p.boundaries + p.at(c.row, 0);
    int32_t* ids = p.ids + p.at(c.row, 0);
    for (int64_t pos = c.begin; pos < c.end; ++pos) {
      if (marks[pos] != kBoundary) continue;
      if (p.shape.specials && p.taken[p.at(c.row, pos)]) {
        const SpecialMatch m = p.special_at(c.row, pos, c.n);
        ids[pos] = m.id;
        for (int64_t q = pos + 1; q < pos + m.len; ++q) ids[q] = -1;
        continue;
      }
      int64_t end = pos + 1;
      while (end < c.n && marks[end] != kBoundary) ++end;
      const uint8_t* piece = p.row_data(c.row) + pos;
      PieceWork work{p.long_work + long_piece_offset(p.at(c.row, pos), p.shape.heap_merge)};
      int64_t at = pos;
      auto emit = [&](int32_t id) {
        const int32_t len = token_length(p.tables, id);
        ids[at] = id;
        for (int64_t q = at + 1; q < at + len; ++q) ids[q] = -1;
        at += len;
      };
      if (end - pos <= kShortPiece || p.shape.heap_merge) {
        encode_piece(p.tables, piece, end - pos, work, emit);
      } else if (!(p.tables.flags & kMergesInRankOrder) ||
                 !backtrack_long_piece(p.tables, piece, end - pos, work.words, emit)) {
        // Only tables whose header claims rank order falsely get here, and the workspace
        // has no room for the heap merge: the piece's bytes, one token each.
        for (int64_t q = 0; q < end - pos; ++q) emit(p.tables.byte_ids[piece[q]]);
      }
    }
  }
};

// -- stage 6: output --------------------------------------------------------------------

struct CountTokens {
  Pipeline p;
  JAXBPE_HD void operator()(int64_t chunk) const {
    const Pipeline::Range c = p.range(chunk);
    int64_t count = 0;
    for (int64_t pos = c.begin; pos < c.end; ++pos) count += p.ids[p.at(c.row, pos)] >= 0;
    p.chunk_tokens[chunk] = count;
  }
};

struct WriteTokens {
  Pipeline p;
  JAXBPE_HD void operator()(int64_t chunk) const {
    const Pipeline::Range c = p.range(chunk);
    int64_t slot = p.chunk_offsets[chunk] - p.chunk_offsets[c.row * p.layout.chunks_per_row];
    int32_t* row = p.tokens + c.row * p.shape.max_tokens;
    for (int64_t pos = c.begin; pos < c.end && slot < p.shape.max_tokens; ++pos)
      if (const int32_t id = p.ids[p.at(c.row, pos)]; id >= 0) row[slot++] = id;
  }
};

struct FinishRows {
  Pipeline p;
  JAXBPE_HD void operator()(int64_t row) const {
    const int64_t first = row * p.layout.chunks_per_row, last = first + p.layout.chunks_per_row - 1;
    const int64_t count = p.chunk_offsets[last] + p.chunk_tokens[last] - p.chunk_offsets[first];
    p.counts[row] = int32_t(count);  // count <= length < 2^31
    p.status[row] = row_status(p.lengths[row], p.shape.row_len, count, p.shape.max_tokens);
  }
};

struct PadRows {
  Pipeline p;
  JAXBPE_HD void operator()(int64_t slot) const {
    const int64_t row = slot / p.shape.max_tokens;
    if (slot - row * p.shape.max_tokens >= p.counts[row]) p.tokens[slot] = p.pad_id;
  }
};

// Runs the stages in order on an executor: ex.for_each(n, f) calls f(i) for every i in
// [0, n); ex.exclusive_sum(in, out, n, temp) and ex.inclusive_scan(in, out, n, op, temp)
// scan int64 arrays using the scratch memory at temp.
template <typename Executor>
void run_pipeline(Executor& ex, const Pipeline& p) {
  const int64_t chunks = p.layout.chunks, rows = p.shape.rows;
  if (rows == 0) return;
  if (p.shape.specials) {
    ex.for_each(chunks, FindSpecials{p});
    ex.for_each(chunks, TakeSpecials{p});
    ex.for_each(chunks, FirstSpecials{p});
    ex.inclusive_scan(p.next_special, p.next_special_min, chunks, Min{}, p.scan_temp);
  }
  ex.for_each(chunks, GuessBoundaries{p});
  ex.for_each(chunks, JoinSeams{p});
  ex.inclusive_scan(p.next_problem, p.next_problem_min, chunks, Min{}, p.scan_temp);
  ex.for_each(rows, FixRows{p});
  ex.for_each(chunks, MergePieces{p});
  ex.for_each(chunks, CountTokens{p});
  ex.exclusive_sum(p.chunk_tokens, p.chunk_offsets, chunks, p.scan_temp);
  ex.for_each(chunks, WriteTokens{p});
  ex.for_each(rows, FinishRows{p});
  ex.for_each(rows * p.shape.max_tokens, PadRows{p});
}

}  // namespace jaxbpe
