// Encoding a whole row: special tokens, pre-tokenization and merging, emitting ids in
// order through a callback. Shared by the host API, the CPU handler and the CUDA kernels.
#pragma once

#include "bpe.h"
#include "pretokenize.h"
#include "specials.h"

namespace jaxbpe {

struct Encoder {
  Tables tables;
  Specials specials;  // the allowed ones
  ClassTable classes;
  Pattern pattern;

  // Emits the ids of one piece, of which `readable` >= len bytes may be read. `work`
  // provides the long-piece workspace (see encode_piece) and a cache of pieces' ids:
  // emit_cached() and store(), which may be no-ops.
  template <typename Work, typename Emit>
  JAXBPE_HD void encode_cached_piece(const uint8_t* piece, int64_t len, int64_t readable,
                                     Work& work, Emit& emit) const {
    if (work.emit_cached(piece, len, readable, emit)) return;
    int32_t ids[Work::kMaxIds];
    int64_t count = 0;
    auto record = [&](int32_t id) {
      if (count < Work::kMaxIds) ids[count] = id;
      ++count;
      emit(id);
    };
    encode_piece(tables, piece, len, work, record);
    work.store(piece, len, ids, count);
  }

  // Encodes text between special tokens.
  template <typename Work, typename Emit>
  JAXBPE_HD void encode_ordinary(const uint8_t* s, int64_t n, Work& work, Emit& emit) const {
    const Text text{s, n, classes};
    with_pattern(pattern, [&](auto id) {
      for (int64_t pos = 0; pos < n;) {
        const int64_t end = pattern_piece_end<decltype(id)::value>(text, pos);
        encode_cached_piece(s + pos, end - pos, n - pos, work, emit);
        pos = end;
      }
    });
  }

  // Encodes the pieces and special tokens of the row s[0..n) that start in [from, stop),
  // where `from` is a boundary of the row's pieces (the start of a piece or of a special
  // token), and returns the first boundary at or after `stop`. The next boundary is a
  // function of the position alone, so this also runs a guess: from any position, the
  // boundaries it finds are the row's own from the first one they share on.
  //
  // Before the piece or special token at each boundary pos, visit(pos) may return false
  // to stop there; pos is then returned and nothing of it is emitted.
  template <typename Work, typename Emit, typename Visit>
  JAXBPE_HD int64_t encode_range(const uint8_t* s, int64_t n, int64_t from, int64_t stop,
                                 Work& work, Emit& emit, Visit& visit) const {
    // The pattern is dispatched once, not at every piece: piece_end's switch made the
    // chunked encoder take 5-9% more instructions than encode (callgrind, o200k).
    return with_pattern(pattern, [&](auto id) {
      int64_t pos = from;
      while (pos < stop) {
        const SpecialMatch m = find_special(specials, s, pos, n);
        const Text text{s, m.start, classes};
        for (const int64_t last = m.start < stop ? m.start : stop; pos < last;) {
          if (!visit(pos)) return pos;
          const int64_t end = pattern_piece_end<decltype(id)::value>(text, pos);
          encode_cached_piece(s + pos, end - pos, n - pos, work, emit);
          pos = end;
        }
        if (pos >= stop || m.len == 0 || !visit(pos)) return pos;
        emit(m.id);
        pos += m.len;
      }
      return pos;
    });
  }

  // The whole row: encode_range(s, n, 0, n, ...) without its stops, which cost 2% of
  // the instructions on English text (callgrind), on the path that every row takes.
  template <typename Work, typename Emit>
  JAXBPE_HD void encode(const uint8_t* s, int64_t n, Work& work, Emit& emit) const {
    for (int64_t pos = 0; pos < n;) {
      const SpecialMatch m = find_special(specials, s, pos, n);
      encode_ordinary(s + pos, m.start - pos, work, emit);
      if (m.id >= 0) emit(m.id);
      pos = m.start + m.len;
    }
  }
};

}  // namespace jaxbpe
