// Host-only pieces: building the blobs from a vocabulary, and an encoder that owns them.
#pragma once

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "encoder.h"

namespace jaxbpe {

// The code point class table compiled into the host library.
ClassTable host_class_table();

// Builds the tables blob for tokens 0..n-1, token i being bytes[offsets[i]:offsets[i+1]].
// Throws std::invalid_argument on a vocabulary that is not byte-level BPE.
std::vector<uint8_t> build_tables(const uint8_t* bytes, const int32_t* offsets, int32_t n);

// Builds the special-tokens blob for the given (bytes, id) pairs.
std::vector<uint8_t> build_specials(std::vector<std::pair<std::string, int32_t>> tokens);

// Checked views of blobs owned elsewhere; throw std::invalid_argument when malformed.
Tables checked_tables(const uint8_t* blob, int64_t size);
Specials checked_specials(const uint8_t* blob, int64_t size);

// Long-piece workspace that grows as needed, one per thread.
struct VectorWork {
  std::vector<int32_t> words;
  int32_t* get(int64_t n) {
    words.resize(size_t(long_piece_workspace(n)));
    return words.data();
  }
};

}  // namespace jaxbpe
