// The CPU implementation of the `jaxbpe_encode` XLA FFI custom call.
#include "ffi_cpu.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace jaxbpe {

// Below this many input bytes in all, rows are encoded by one thread: starting others
// costs more than it saves.
constexpr int64_t kParallelBytes = 1 << 20;

namespace {

// Writes a long row's ids and padding on all threads. max_tokens is often the row's
// length, 4 bytes of output per input byte in a buffer XLA has just allocated: an 8 MiB
// row's 32 MiB took 8193 page faults (16-24 ms of system time) to write. Written by one
// thread, the 2-thread call on o200k English took 72.8 ms; by both, 48 ms.
void fill_row(RowOutput& row, const std::vector<int32_t>& ids, int32_t pad_id, int64_t threads,
              const RunParallel& run) {
  row.count = int64_t(ids.size());
  const int64_t kept = std::min(row.count, row.max_tokens);
  run(threads, threads, [&](int64_t k) {
    const int64_t begin = row.max_tokens * k / threads, end = row.max_tokens * (k + 1) / threads;
    const int64_t copied = std::clamp(kept, begin, end);
    if (copied > begin) std::copy(ids.data() + begin, ids.data() + copied, row.tokens + begin);
    std::fill(row.tokens + copied, row.tokens + end, pad_id);
  });
}

}  // namespace

void encode_rows(const Encoder& enc, const uint8_t* in, const int32_t* len,
                 const EncodeShape& shape, int32_t pad_id, int32_t* tokens, int32_t* counts,
                 int32_t* status, int64_t threads, const RunParallel& run) {
  const auto [rows, row_len, max_tokens] = shape;
  auto encode_row = [&](int64_t r, int64_t row_threads) {
    // Lengths outside [0, row_len] are clamped: data cannot raise inside jit.
    const int64_t n = clamped_length(len[r], row_len);
    const uint8_t* s = in + r * row_len;
    RowOutput row{tokens + r * max_tokens, max_tokens};
    if (row_threads > 1 && n >= kChunkedMinBytes) {
      fill_row(row, encode_chunked(enc, s, n, chunked_parts(row_threads), row_threads, run), pad_id,
               row_threads, run);
    } else {
      HostWork& work = thread_work(enc.tables);
      auto emit = [&](int32_t id) { row.emit(id); };
      enc.encode(s, n, work, emit);
      work.shrink_workspace();
      row.pad(pad_id);
    }
    row.report(len[r], row_len, counts + r, status + r);
  };

  if (rows < threads) {  // few rows: each in turn, long ones in chunks on all threads
    for (int64_t r = 0; r < rows; ++r) encode_row(r, threads);
  } else if (rows * row_len < kParallelBytes) {
    for (int64_t r = 0; r < rows; ++r) encode_row(r, 1);
  } else {
    run(rows, threads, [&](int64_t r) { encode_row(r, 1); });
  }
}

namespace {

ffi::Error EncodeCpuImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::U8> tables,
                         ffi::Buffer<ffi::U8> specials, ffi::Buffer<ffi::U8> data,
                         ffi::Buffer<ffi::S32> lengths, ffi::ResultBuffer<ffi::S32> tokens,
                         ffi::ResultBuffer<ffi::S32> counts, ffi::ResultBuffer<ffi::S32> status,
                         int32_t pattern, int32_t pad_id) {
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

  // XLA's own threads, so that they and their piece caches live across calls. The
  // caller works too and waits only for tasks that were started, so a busy pool cannot
  // hold it up.
  const RunParallel run = [&pool](int64_t tasks, int64_t threads,
                                  const std::function<void(int64_t)>& task) {
    auto queue = std::make_shared<TaskQueue>(task, tasks);
    for (int64_t i = 1; i < std::min(threads, tasks); ++i) pool.Schedule([queue] { queue->run(); });
    queue->run();
    queue->wait();
  };
  const int64_t threads =
      std::min<int64_t>(host_threads(), std::max<int64_t>(1, pool.num_threads()));
  encode_rows(enc, data.typed_data(), lengths.typed_data(), shape, pad_id, tokens->typed_data(),
              counts->typed_data(), status->typed_data(), threads, run);
  return ffi::Error::Success();
}

}  // namespace
}  // namespace jaxbpe

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxbpeEncodeCpu, jaxbpe::EncodeCpuImpl,
                              jaxbpe::bind_encode_operands(ffi::Ffi::Bind().Ctx<ffi::ThreadPool>())
                                  .Attr<int32_t>("pattern")
                                  .Attr<int32_t>("pad_id"));
