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

  // Encodes text between special tokens. `work` provides the long-piece workspace
  // (see encode_piece) and a cache of pieces' ids: emit_cached() and store(), which
  // may be no-ops.
  template <typename Work, typename Emit>
  JAXBPE_HD void encode_ordinary(const uint8_t* s, int64_t n, Work& work, Emit& emit) const {
    const Text text{s, n, classes};
    for (int64_t pos = 0; pos < n;) {
      const int64_t end = piece_end(pattern, text, pos);
      const uint8_t* piece = s + pos;
      const int64_t len = end - pos;
      pos = end;
      if (work.emit_cached(piece, len, emit)) continue;
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
  }

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
