// The CPU implementation of the `jaxbpe_encode` XLA FFI custom call.
#include <algorithm>
#include <thread>
#include <vector>

#include "encode_shape.h"
#include "ffi_cpu.h"
#include "jaxbpe/host.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace jaxbpe {

void encode_rows(const Encoder& enc, const uint8_t* in, const int32_t* len, const EncodeShape& shape,
                 int32_t pad_id, int32_t* out, int32_t* count_out, int32_t* status_out) {
  // Below this many input bytes, starting threads costs more than it saves.
  constexpr int64_t kParallelBytes = 1 << 20;
  const auto [rows, row_len, max_tokens] = shape;
  auto encode_range = [&](int64_t first, int64_t last) {
    HostWork& work = thread_work(enc.tables);
    for (int64_t r = first; r < last; ++r) {
      // Lengths outside [0, row_len] are clamped: data cannot raise inside jit.
      const int64_t n = clamped_length(len[r], row_len);
      int32_t* row = out + r * max_tokens;
      int64_t count = 0;
      auto emit = [&](int32_t id) {
        if (count < max_tokens) row[count] = id;
        ++count;
      };
      enc.encode(in + r * row_len, n, work, emit);
      std::fill(row + std::min(count, max_tokens), row + max_tokens, pad_id);
      count_out[r] = int32_t(count);  // count <= n < 2^31
      status_out[r] = row_status(len[r], row_len, count, max_tokens);
    }
    work.shrink_workspace();
  };

  const int64_t workers = std::min<int64_t>(
      rows, rows * row_len < kParallelBytes ? 1 : std::max(1u, std::thread::hardware_concurrency()));
  if (workers <= 1) return encode_range(0, rows);
  std::vector<std::thread> threads;
  for (int64_t w = 0; w < workers; ++w)
    threads.emplace_back(encode_range, rows * w / workers, rows * (w + 1) / workers);
  for (auto& t : threads) t.join();
}

namespace {

ffi::Error EncodeCpuImpl(ffi::Buffer<ffi::U8> tables, ffi::Buffer<ffi::U8> specials,
                         ffi::Buffer<ffi::U8> data, ffi::Buffer<ffi::S32> lengths,
                         ffi::ResultBuffer<ffi::S32> tokens, ffi::ResultBuffer<ffi::S32> counts,
                         ffi::ResultBuffer<ffi::S32> status, int32_t pattern, int32_t pad_id) {
  EncodeShape shape;
  if (ffi::Error err = encode_shape(data, lengths, *tokens, *counts, *status, pattern, &shape);
      err.failure())
    return err;
  Encoder enc;
  try {
    enc.tables = checked_tables(tables.typed_data(), int64_t(tables.element_count()));
    enc.specials = checked_specials(specials.typed_data(), int64_t(specials.element_count()));
  } catch (const std::invalid_argument& e) {
    return ffi::Error::InvalidArgument(e.what());
  }
  enc.classes = host_class_table();
  enc.pattern = Pattern(pattern);

  encode_rows(enc, data.typed_data(), lengths.typed_data(), shape, pad_id, tokens->typed_data(),
              counts->typed_data(), status->typed_data());
  return ffi::Error::Success();
}

}  // namespace
}  // namespace jaxbpe

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxbpeEncodeCpu, jaxbpe::EncodeCpuImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::U8>>()   // tables blob
                                  .Arg<ffi::Buffer<ffi::U8>>()   // allowed special tokens blob
                                  .Arg<ffi::Buffer<ffi::U8>>()   // data [..., row_len]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // lengths [...]
                                  .Ret<ffi::Buffer<ffi::S32>>()  // tokens [..., max_tokens]
                                  .Ret<ffi::Buffer<ffi::S32>>()  // counts [...]
                                  .Ret<ffi::Buffer<ffi::S32>>()  // status [...] (EncodeStatus bits)
                                  .Attr<int32_t>("pattern")
                                  .Attr<int32_t>("pad_id"));
