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

  // Encodes text between special tokens.
  template <typename Work, typename Emit>
  JAXBPE_HD void encode_ordinary(const uint8_t* s, int64_t n, Work& work, Emit& emit) const {
    const Text text{s, n, classes};
    for (int64_t pos = 0; pos < n;) {
      const int64_t end = piece_end(pattern, text, pos);
      encode_piece(tables, s + pos, end - pos, work, emit);
      pos = end;
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
