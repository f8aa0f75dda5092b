#pragma once

#include "encode_shape.h"
#include "jaxbpe/host.h"
#include "xla/ffi/api/c_api.h"

// XLA FFI handler: (tables, specials, data, lengths) -> (tokens, counts, status).
extern "C" XLA_FFI_Error* JaxbpeEncodeCpu(XLA_FFI_CallFrame* call_frame);

namespace jaxbpe {

// What the handler computes, on host buffers: rows of row_len bytes and lengths in,
// max_tokens ids per row (padded with pad_id), counts and EncodeStatus bits out, on up
// to `threads` threads of `run`: a large batch's rows are shared among them, a row of a
// batch with fewer rows than threads is cut into chunks (encode_chunked). Also the
// host-callback fallback's encoder (module.cc).
void encode_rows(const Encoder& enc, const uint8_t* data, const int32_t* lengths,
                 const EncodeShape& shape, int32_t pad_id, int32_t* tokens, int32_t* counts,
                 int32_t* status, int64_t threads, const RunParallel& run);

}  // namespace jaxbpe
