// The operand layout that both `jaxbpe_encode` handlers (CPU and CUDA) accept.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "jaxbpe/pretokenize.h"
#include "jaxbpe/rows.h"
#include "xla/ffi/api/ffi.h"

namespace jaxbpe {

// The operands both handlers take after their context, in the order jaxbpe/lowering.py
// passes them: the blobs, the batch, and the three results of every backend. A handler
// binds what is its own after them: further results (the CUDA workspace), then its
// attributes, `pattern` and `pad_id` first.
template <typename Binding>
auto bind_encode_operands(Binding binding) {
  namespace ffi = xla::ffi;
  return std::move(binding)
      .template Arg<ffi::Buffer<ffi::U8>>()    // tables blob
      .template Arg<ffi::Buffer<ffi::U8>>()    // allowed special tokens blob
      .template Arg<ffi::Buffer<ffi::U8>>()    // data [..., row_len]
      .template Arg<ffi::Buffer<ffi::S32>>()   // lengths [...]
      .template Ret<ffi::Buffer<ffi::S32>>()   // tokens [..., max_tokens]
      .template Ret<ffi::Buffer<ffi::S32>>()   // counts [...]
      .template Ret<ffi::Buffer<ffi::S32>>();  // status [...] (EncodeStatus bits)
}

struct EncodeShape {
  int64_t rows, row_len, max_tokens;
};

// Leading dimensions of `data` are rows (vmap adds more of them) and the last one is
// bytes per row; lengths, counts and status hold one value per row, tokens max_tokens
// per row.
inline xla::ffi::Error encode_shape(const xla::ffi::Buffer<xla::ffi::U8>& data,
                                    const xla::ffi::Buffer<xla::ffi::S32>& lengths,
                                    const xla::ffi::Buffer<xla::ffi::S32>& tokens,
                                    const xla::ffi::Buffer<xla::ffi::S32>& counts,
                                    const xla::ffi::Buffer<xla::ffi::S32>& status, int32_t pattern,
                                    EncodeShape* out) {
  using xla::ffi::Error;
  if (data.dimensions().size() < 1) return Error::InvalidArgument("data must have a row dimension");
  const int64_t row_len = data.dimensions().back();
  if (row_len > kMaxTextBytes)
    return Error::InvalidArgument("jaxbpe_encode: rows of " + std::to_string(row_len) +
                                  " bytes exceed the int32 lengths jaxbpe uses");
  const int64_t rows =
      row_len ? int64_t(data.element_count()) / row_len : int64_t(lengths.element_count());
  const int64_t max_tokens = rows ? int64_t(tokens.element_count()) / rows : 0;
  if (int64_t(lengths.element_count()) != rows || int64_t(counts.element_count()) != rows ||
      int64_t(status.element_count()) != rows ||
      int64_t(tokens.element_count()) != rows * max_tokens)
    return Error::InvalidArgument("jaxbpe_encode: operand shapes do not agree");
  if (!is_known_pattern(pattern)) return Error::InvalidArgument("jaxbpe_encode: unknown pattern");
  *out = EncodeShape{rows, row_len, max_tokens};
  return Error::Success();
}

}  // namespace jaxbpe
