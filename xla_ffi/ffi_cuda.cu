// The CUDA implementation of the `jaxbpe_encode` XLA FFI custom call: the staged
// parallel encoder of jaxbpe/pipeline.h, each stage one kernel launch, the scans CUB's,
// all on XLA's stream. This file holds launch code only; every line of tokenizer logic
// is in the shared core, which the CPU tests run through the host executor.
//
// Nothing here waits for the GPU or allocates: the workspace is a result buffer whose
// size the caller computes from the static shapes (pipeline_layout), grids are sized
// from static shapes too, and the tables are checked on the host against the header
// the caller passes as an attribute. So the handler can be captured in a CUDA graph.
#include <cuda_runtime.h>

#include <cstring>
#include <cub/device/device_scan.cuh>
#include <string>

#include "encode_shape.h"
#include "ffi_cuda.h"
#include "jaxbpe/pipeline.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace jaxbpe {
namespace {

#define JAXBPE_TABLE_STORAGE static __device__
#include "jaxbpe/unicode_classes.inc"
#undef JAXBPE_TABLE_STORAGE

constexpr int kThreadsPerBlock = 128;
constexpr int64_t kMaxBlocks = 1 << 16;

template <typename Stage>
__global__ void ForEach(int64_t n, Stage stage) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    stage(i);
}

// The pipeline's executor on a CUDA stream (see run_pipeline). Errors are kept, and
// nothing more is launched after one.
class CudaExecutor {
 public:
  CudaExecutor(cudaStream_t stream, size_t scan_temp_bytes)
      : stream_(stream), scan_temp_bytes_(scan_temp_bytes) {}

  template <typename Stage>
  void for_each(int64_t n, const Stage& stage) {
    if (n <= 0 || error_ != cudaSuccess) return;
    const int64_t blocks =
        std::min<int64_t>((n + kThreadsPerBlock - 1) / kThreadsPerBlock, kMaxBlocks);
    ForEach<<<unsigned(blocks), kThreadsPerBlock, 0, stream_>>>(n, stage);
    keep(cudaGetLastError());
  }

  void exclusive_sum(const int64_t* in, int64_t* out, int64_t n, void* temp) {
    size_t bytes = scan_temp_bytes_;
    if (error_ == cudaSuccess)
      keep(cub::DeviceScan::ExclusiveSum(temp, bytes, in, out, n, stream_));
  }

  template <typename Op>
  void inclusive_scan(const int64_t* in, int64_t* out, int64_t n, Op op, void* temp) {
    size_t bytes = scan_temp_bytes_;
    if (error_ == cudaSuccess)
      keep(cub::DeviceScan::InclusiveScan(temp, bytes, in, out, op, n, stream_));
  }

  cudaError_t error() const { return error_; }

 private:
  void keep(cudaError_t e) {
    if (error_ == cudaSuccess) error_ = e;
  }

  cudaStream_t stream_;
  size_t scan_temp_bytes_;
  cudaError_t error_ = cudaSuccess;
};

// The scratch memory CUB's scans over n elements ask for (computed on the host).
size_t cub_scan_bytes(int64_t n) {
  size_t sum = 0, min = 0;
  cub::DeviceScan::ExclusiveSum(nullptr, sum, static_cast<const int64_t*>(nullptr),
                                static_cast<int64_t*>(nullptr), n);
  cub::DeviceScan::InclusiveScan(nullptr, min, static_cast<const int64_t*>(nullptr),
                                 static_cast<int64_t*>(nullptr), Min{}, n);
  return std::max(sum, min);
}

ffi::Error EncodeCudaImpl(cudaStream_t stream, ffi::Buffer<ffi::U8> tables,
                          ffi::Buffer<ffi::U8> specials, ffi::Buffer<ffi::U8> data,
                          ffi::Buffer<ffi::S32> lengths, ffi::ResultBuffer<ffi::S32> tokens,
                          ffi::ResultBuffer<ffi::S32> counts, ffi::ResultBuffer<ffi::S32> status,
                          ffi::ResultBuffer<ffi::U8> workspace, int32_t pattern, int32_t pad_id,
                          int64_t chunk_bytes, bool heap_merge,
                          ffi::Span<const int64_t> tables_header,
                          ffi::Span<const int64_t> specials_header) {
  EncodeShape shape;
  if (ffi::Error err = encode_shape(data, lengths, *tokens, *counts, *status, pattern, &shape);
      err.failure())
    return err;
  if (chunk_bytes < 1)
    return ffi::Error::InvalidArgument("jaxbpe_encode: chunk_bytes must be at least 1");

  // The tables live on the GPU; their header comes from the caller, checked here
  // against the blob's size exactly as the CPU handler checks the blob's own.
  TablesHeader th{};
  if (tables_header.size() * sizeof(int64_t) < sizeof th)
    return ffi::Error::InvalidArgument("jaxbpe_encode: the tables header attribute is too short");
  std::memcpy(&th, tables_header.begin(), sizeof th);
  Tables t;
  if (const char* err = view_tables(tables.typed_data(), int64_t(tables.element_count()), th, &t))
    return ffi::Error::InvalidArgument(err);
  if (heap_merge != !(t.flags & kMergesInRankOrder))
    return ffi::Error::InvalidArgument(
        "jaxbpe_encode: heap_merge does not match the tables' flags");
  // The specials blob is built by jaxbpe for the allowed set; its count and longest
  // token come as an attribute, and its size bounds both.
  Specials sp{};
  if (specials_header.size() != 2 || specials_header[0] < 0 || specials_header[1] < 0 ||
      (specials.element_count() == 0) != (specials_header[0] == 0))
    return ffi::Error::InvalidArgument(
        "jaxbpe_encode: the specials header attribute does not match the blob");
  if (specials_header[0] > 0) {
    const int64_t count = specials_header[0];
    const int64_t fixed = sizeof(SpecialsHeader) + 32 + 4 * (2 * count + 1);
    if (fixed + specials_header[1] > int64_t(specials.element_count()))
      return ffi::Error::InvalidArgument(
          "jaxbpe_encode: the specials blob is smaller than its header says");
    const uint8_t* blob = specials.typed_data();
    sp.count = int32_t(count);
    sp.max_len = int32_t(specials_header[1]);
    sp.first_bytes = reinterpret_cast<const uint32_t*>(blob + sizeof(SpecialsHeader));
    sp.ids = reinterpret_cast<const int32_t*>(blob + sizeof(SpecialsHeader) + 32);
    sp.offsets = sp.ids + count;
    sp.bytes = blob + fixed;
  }

  const PipelineShape ps{shape.rows,  shape.row_len, shape.max_tokens,
                         chunk_bytes, sp.count > 0,  heap_merge};
  const PipelineLayout layout = pipeline_layout(ps);
  if (int64_t(workspace->element_count()) < layout.total)
    return ffi::Error(ffi::ErrorCode::kResourceExhausted,
                      "jaxbpe_encode: the workspace has " +
                          std::to_string(workspace->element_count()) +
                          " bytes; the pipeline needs " + std::to_string(layout.total));
  const size_t scan_bytes = cub_scan_bytes(layout.chunks);
  if (int64_t(scan_bytes) > scan_temp_bound(layout.chunks))
    return ffi::Error::Internal("jaxbpe_encode: CUB's scans need " + std::to_string(scan_bytes) +
                                " bytes of scratch memory, more than scan_temp_bound");

  const Pipeline p =
      make_pipeline(t, sp, ClassTable{kClassBlockIndex, kClassBlocks}, Pattern(pattern), ps, pad_id,
                    data.typed_data(), lengths.typed_data(), tokens->typed_data(),
                    counts->typed_data(), status->typed_data(), workspace->typed_data());
  CudaExecutor ex(stream, size_t(scan_temp_bound(layout.chunks)));
  run_pipeline(ex, p);
  if (ex.error() != cudaSuccess)
    return ffi::Error::Internal(std::string("jaxbpe_encode: ") + cudaGetErrorString(ex.error()));
  return ffi::Error::Success();
}

}  // namespace
}  // namespace jaxbpe

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    JaxbpeEncodeCuda, jaxbpe::EncodeCudaImpl,
    jaxbpe::bind_encode_operands(ffi::Ffi::Bind().Ctx<ffi::PlatformStream<cudaStream_t>>())
        .Ret<ffi::Buffer<ffi::U8>>()  // workspace (pipeline_layout)
        .Attr<int32_t>("pattern")
        .Attr<int32_t>("pad_id")
        .Attr<int64_t>("chunk_bytes")
        .Attr<bool>("heap_merge")
        .Attr<ffi::Span<const int64_t>>("tables_header")
        .Attr<ffi::Span<const int64_t>>("specials_header"),
    {ffi::Traits::kCmdBufferCompatible});
