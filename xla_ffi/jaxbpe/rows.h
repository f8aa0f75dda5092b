// The per-row contract of the `jaxbpe_encode` custom call, which every encoder of a
// batch (the CPU handler's row and chunked encoders, the staged parallel pipeline)
// keeps: a row's length is clamped to [0, row_len], its ids fill its first max_tokens
// slots and pad_id the rest, its count is the full token count, and its status says
// what was repaired or cut.
#pragma once

#include "common.h"

namespace jaxbpe {

// Bits of the status result, one int32 per row (jaxbpe.EncodeStatus in Python). Inside
// jit a bad length cannot raise, so the handlers repair it and say so here.
enum EncodeStatus : int32_t {
  kLengthClamped = 1,  // the row's length was outside [0, row_len] and was clamped
  kTruncated = 2,      // the row has more than max_tokens tokens; the rest were dropped
};

// The bytes of a row that are encoded: its length clamped to [0, row_len].
JAXBPE_HD int64_t clamped_length(int32_t length, int64_t row_len) {
  return length < 0 ? 0 : length > row_len ? row_len : length;
}

JAXBPE_HD int32_t row_status(int32_t length, int64_t row_len, int64_t count, int64_t max_tokens) {
  return (length < 0 || length > row_len ? kLengthClamped : 0) |
         (count > max_tokens ? kTruncated : 0);
}

// One row of the result as an encoder fills it, id by id.
struct RowOutput {
  int32_t* tokens;  // max_tokens slots
  int64_t max_tokens;
  int64_t count = 0;

  JAXBPE_HD void emit(int32_t id) {
    if (count < max_tokens) tokens[count] = id;
    ++count;
  }
  // Fills the slots past the ids with pad_id.
  JAXBPE_HD void pad(int32_t pad_id) {
    for (int64_t i = count; i < max_tokens; ++i) tokens[i] = pad_id;
  }
  // Reports the row's count and status, once it is padded.
  JAXBPE_HD void report(int32_t length, int64_t row_len, int32_t* count_out,
                        int32_t* status_out) const {
    *count_out = int32_t(count);  // count <= length < 2^31
    *status_out = row_status(length, row_len, count, max_tokens);
  }
};

}  // namespace jaxbpe
