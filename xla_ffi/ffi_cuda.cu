// The CUDA implementation of the `jaxbpe_encode` XLA FFI custom call.
//
// This first version runs the shared encoder (jaxbpe/encoder.h) with one thread per
// row: exact by construction, since it is the very code the CPU tests exercise, but it
// only fills the GPU for batches of many rows. The parallel pipeline of DESIGN.md
// (classify, boundaries, compaction, merges) replaces it for long documents.
#include <cuda_runtime.h>

#include <string>

#include "encode_shape.h"
#include "ffi_cuda.h"
#include "jaxbpe/encoder.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace jaxbpe {
namespace {

#define JAXBPE_TABLE_STORAGE static __device__
#include "jaxbpe/unicode_classes.inc"
#undef JAXBPE_TABLE_STORAGE

constexpr int kThreadsPerBlock = 128;

// Long-piece workspace of one row; no piece cache on the device.
struct SpanWork {
  int32_t* words;
  static constexpr int64_t kMaxIds = 1;
  __device__ int32_t* get(int64_t) { return words; }
  template <typename Emit>
  __device__ bool emit_cached(const uint8_t*, int64_t, Emit&) const { return false; }
  __device__ void store(const uint8_t*, int64_t, const int32_t*, int64_t) {}
};

struct EncodeArgs {
  const uint8_t* tables;
  int64_t tables_size;
  const uint8_t* specials;
  int64_t specials_size;
  const uint8_t* data;
  const int32_t* lengths;
  int64_t rows, row_len, max_tokens;
  int32_t* tokens;
  int32_t* counts;
  int32_t* status;
  int32_t* work;  // long_piece_workspace(row_len) words per row
  Pattern pattern;
  int32_t pad_id;
};

__global__ void EncodeRowsKernel(EncodeArgs a) {
  const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= a.rows) return;
  int32_t* row = a.tokens + r * a.max_tokens;
  Encoder enc;
  enc.classes = ClassTable{kClassBlockIndex, kClassBlocks};
  enc.pattern = a.pattern;
  const auto& th = *reinterpret_cast<const TablesHeader*>(a.tables);
  const auto& sh = *reinterpret_cast<const SpecialsHeader*>(a.specials);
  if (view_tables(a.tables, a.tables_size, th, &enc.tables) ||
      view_specials(a.specials, a.specials_size, sh, &enc.specials)) {
    // Malformed tables: an empty row and a count of -1 say so without a device trap.
    for (int64_t i = 0; i < a.max_tokens; ++i) row[i] = a.pad_id;
    a.counts[r] = -1;
    a.status[r] = 0;
    return;
  }
  const int64_t n = clamped_length(a.lengths[r], a.row_len);  // data cannot raise inside jit
  SpanWork work{a.work + r * long_piece_workspace(a.row_len)};
  int64_t count = 0;
  auto emit = [&](int32_t id) {
    if (count < a.max_tokens) row[count] = id;
    ++count;
  };
  enc.encode(a.data + r * a.row_len, n, work, emit);
  for (int64_t i = count; i < a.max_tokens; ++i) row[i] = a.pad_id;
  a.counts[r] = int32_t(count);
  a.status[r] = row_status(a.lengths[r], a.row_len, count, a.max_tokens);
}

ffi::Error EncodeCudaImpl(cudaStream_t stream, ffi::ScratchAllocator scratch,
                          ffi::Buffer<ffi::U8> tables, ffi::Buffer<ffi::U8> specials,
                          ffi::Buffer<ffi::U8> data, ffi::Buffer<ffi::S32> lengths,
                          ffi::ResultBuffer<ffi::S32> tokens, ffi::ResultBuffer<ffi::S32> counts,
                          ffi::ResultBuffer<ffi::S32> status, int32_t pattern, int32_t pad_id) {
  EncodeShape shape;
  if (ffi::Error err = encode_shape(data, lengths, *tokens, *counts, *status, pattern, &shape);
      err.failure())
    return err;
  EncodeArgs a;
  a.rows = shape.rows;
  a.row_len = shape.row_len;
  a.max_tokens = shape.max_tokens;
  if (a.rows == 0) return ffi::Error::Success();
  const size_t work_bytes = sizeof(int32_t) * size_t(a.rows) * size_t(long_piece_workspace(a.row_len));
  auto work = scratch.Allocate(work_bytes > 0 ? work_bytes : 4);
  if (!work.has_value())
    return ffi::Error(ffi::ErrorCode::kResourceExhausted, "jaxbpe_encode: no scratch memory");
  a.tables = tables.typed_data();
  a.tables_size = int64_t(tables.element_count());
  a.specials = specials.typed_data();
  a.specials_size = int64_t(specials.element_count());
  a.data = data.typed_data();
  a.lengths = lengths.typed_data();
  a.tokens = tokens->typed_data();
  a.counts = counts->typed_data();
  a.status = status->typed_data();
  a.work = static_cast<int32_t*>(*work);
  a.pattern = Pattern(pattern);
  a.pad_id = pad_id;
  const int64_t blocks = (a.rows + kThreadsPerBlock - 1) / kThreadsPerBlock;
  EncodeRowsKernel<<<unsigned(blocks), kThreadsPerBlock, 0, stream>>>(a);
  if (cudaError_t err = cudaGetLastError(); err != cudaSuccess)
    return ffi::Error::Internal(std::string("jaxbpe_encode: ") + cudaGetErrorString(err));
  return ffi::Error::Success();
}

}  // namespace
}  // namespace jaxbpe

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxbpeEncodeCuda, jaxbpe::EncodeCudaImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<cudaStream_t>>()
                                  .Ctx<ffi::ScratchAllocator>()
                                  .Arg<ffi::Buffer<ffi::U8>>()   // tables blob
                                  .Arg<ffi::Buffer<ffi::U8>>()   // allowed special tokens blob
                                  .Arg<ffi::Buffer<ffi::U8>>()   // data [..., row_len]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // lengths [...]
                                  .Ret<ffi::Buffer<ffi::S32>>()  // tokens [..., max_tokens]
                                  .Ret<ffi::Buffer<ffi::S32>>()  // counts [...]
                                  .Ret<ffi::Buffer<ffi::S32>>()  // status [...] (EncodeStatus bits)
                                  .Attr<int32_t>("pattern")
                                  .Attr<int32_t>("pad_id"));
