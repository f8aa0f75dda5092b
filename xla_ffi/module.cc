// The `jaxbpe._native` extension: table building, the host encoder behind the
// tiktoken-compatible API, and the CPU XLA FFI handler's capsule.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <initializer_list>

#include "ffi_cpu.h"
#include "jaxbpe/host.h"
#include "jaxbpe/host_executor.h"
#include "jaxbpe/nfc.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace jaxbpe {
namespace {

template <typename T>
using Array1D = nb::ndarray<nb::numpy, T, nb::ndim<1>>;
template <typename T>
using View1D = nb::ndarray<nb::numpy, const T, nb::ndim<1>>;  // read-only, kept alive by its owner
template <typename T>
using Input1D = nb::ndarray<const T, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using InputRows = nb::ndarray<const uint8_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

// A text's bytes, refused with ValueError beyond what the core can count. `index` names
// it in the message (its place in a batch; -1 for a single text), which is only built
// when the text is refused.
std::pair<const uint8_t*, int64_t> checked_text(const nb::bytes& text, int64_t index = -1) {
  if (text.size() > size_t(kMaxTextBytes))
    throw std::invalid_argument(
        (index < 0 ? std::string("the text") : "text " + std::to_string(index)) + " has " +
        std::to_string(text.size()) + " bytes; jaxbpe encodes at most 2^31-1 bytes at once");
  return {reinterpret_cast<const uint8_t*>(text.c_str()), int64_t(text.size())};
}

template <typename T>
Array1D<T> to_numpy(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return Array1D<T>(owned->data(), {owned->size()}, owner);
}

// A numpy array of the given shape that owns v's storage.
nb::ndarray<nb::numpy, int32_t> to_numpy(std::vector<int32_t>&& v,
                                         std::initializer_list<size_t> shape) {
  auto* owned = new std::vector<int32_t>(std::move(v));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<int32_t>*>(p); });
  return nb::ndarray<nb::numpy, int32_t>(owned->data(), shape.size(), shape.begin(), owner);
}

// Builds and owns the tables blob of a vocabulary, so the views in `Encoder` stay valid.
// `pattern` is a native pre-tokenizer, or kNoPattern for an encoding whose text is split
// on the host (by a regex jaxbpe has no scanner for): it then encodes given pieces only.
class HostEncoder {
 public:
  static constexpr int32_t kNoPattern = -1;

  HostEncoder(Input1D<uint8_t> token_bytes, Input1D<int32_t> token_offsets, int32_t pattern) {
    if (pattern != kNoPattern && !is_known_pattern(pattern))
      throw std::invalid_argument("unknown pattern " + std::to_string(pattern));
    if (token_offsets.size() < 1 || token_offsets(0) != 0 ||
        size_t(token_offsets(token_offsets.size() - 1)) != token_bytes.size())
      throw std::invalid_argument("token offsets do not match the token bytes");
    blob_ =
        build_tables(token_bytes.data(), token_offsets.data(), int32_t(token_offsets.size() - 1));
    enc_.tables = checked_tables(blob_.data(), int64_t(blob_.size()));
    enc_.classes = host_class_table();
    enc_.pattern = Pattern(pattern < 0 ? 0 : pattern);
    has_pattern_ = pattern != kNoPattern;
  }

  int32_t n_tokens() const { return enc_.tables.n_tokens; }
  bool merges_in_rank_order() const { return enc_.tables.flags & kMergesInRankOrder; }

  // The tables' header as int64 words: the CUDA custom call takes it as an attribute and
  // checks the tables on the device against it without reading them.
  Array1D<int64_t> tables_header() const {
    std::vector<int64_t> words((sizeof(TablesHeader) + 7) / 8, 0);
    std::memcpy(words.data(), blob_.data(), sizeof(TablesHeader));
    return to_numpy(std::move(words));
  }

  // Read-only views of the blob and of its token bytes and offsets (token i is
  // token_bytes[offsets[i]:offsets[i+1]], empty for an id that is no token).
  View1D<uint8_t> tables(nb::handle self) const { return view(blob_.data(), blob_.size(), self); }
  View1D<uint8_t> token_bytes(nb::handle self) const {
    const Tables& t = enc_.tables;
    return view(t.token_bytes, size_t(t.token_offsets[t.n_tokens]), self);
  }
  View1D<int32_t> token_offsets(nb::handle self) const {
    return view(enc_.tables.token_offsets, size_t(enc_.tables.n_tokens) + 1, self);
  }

  // The id of the token whose bytes are `piece`, or -1.
  int32_t token_id(const nb::bytes& piece) const {
    return int32_t(lookup_piece(enc_.tables, reinterpret_cast<const uint8_t*>(piece.c_str()),
                                int64_t(piece.size())));
  }

  // A long text is cut into chunks for `threads` threads (see encode_chunked).
  std::vector<int32_t> encode_bytes(const uint8_t* s, int64_t n, const Specials& sp,
                                    int64_t threads) const {
    Encoder enc = enc_;
    enc.specials = sp;
    if (threads > 1 && n >= kChunkedMinBytes)
      return encode_chunked(enc, s, n, chunked_parts(threads), threads, run_on_host_threads);
    std::vector<int32_t> ids;
    ids.reserve(size_t(n / 4 + 8));
    auto emit = [&](int32_t id) { ids.push_back(id); };
    HostWork& work = thread_work(enc.tables);
    enc.encode(s, n, work, emit);
    work.shrink_workspace();
    return ids;
  }

  std::vector<int32_t> encode_ids(const nb::bytes& text, const Input1D<uint8_t>& specials) const {
    require_pattern();
    const Specials sp = checked_specials(specials.data(), int64_t(specials.size()));
    const auto [s, n] = checked_text(text);
    nb::gil_scoped_release release;
    return encode_bytes(s, n, sp, host_threads());
  }

  Array1D<int32_t> encode(nb::bytes text, Input1D<uint8_t> specials) const {
    return to_numpy(encode_ids(text, specials));
  }

  nb::list encode_list(nb::bytes text, Input1D<uint8_t> specials) {
    return to_list(encode_ids(text, specials));
  }

  std::vector<nb::list> encode_batch(std::vector<nb::bytes> texts, Input1D<uint8_t> specials,
                                     int num_threads) {
    require_pattern();
    const Specials sp = checked_specials(specials.data(), int64_t(specials.size()));
    for (size_t i = 0; i < texts.size(); ++i) checked_text(texts[i], int64_t(i));
    std::vector<std::vector<int32_t>> results(texts.size());
    {
      nb::gil_scoped_release release;
      const int64_t threads = std::min<int64_t>(std::max(1, num_threads), host_threads());
      auto encode_text = [&](size_t i, int64_t text_threads) {
        results[i] = encode_bytes(reinterpret_cast<const uint8_t*>(texts[i].c_str()),
                                  int64_t(texts[i].size()), sp, text_threads);
      };
      if (int64_t(texts.size()) < threads) {  // each text in turn, in chunks on all threads
        for (size_t i = 0; i < texts.size(); ++i) encode_text(i, threads);
      } else {
        run_on_host_threads(int64_t(texts.size()), threads,
                            [&](int64_t i) { encode_text(size_t(i), 1); });
      }
    }
    std::vector<nb::list> out;
    out.reserve(results.size());
    for (const auto& r : results) out.push_back(to_list(r));
    return out;
  }

  // The ids of the pieces text[starts[i]:ends[i]], one after another: each piece is
  // tokenized as tiktoken's encode_single_piece does (the token it is, or its merges).
  // This is the host regex path's merge; empty pieces have no ids.
  nb::list encode_pieces(nb::bytes text, Input1D<int64_t> starts, Input1D<int64_t> ends) {
    const auto [s, n] = checked_text(text);
    if (starts.size() != ends.size())
      throw std::invalid_argument("encode_pieces: " + std::to_string(starts.size()) +
                                  " starts but " + std::to_string(ends.size()) + " ends");
    for (size_t i = 0; i < starts.size(); ++i)
      if (starts(i) < 0 || starts(i) > ends(i) || ends(i) > n)
        throw std::invalid_argument("encode_pieces: piece " + std::to_string(i) + " [" +
                                    std::to_string(starts(i)) + ", " + std::to_string(ends(i)) +
                                    ") is outside the text's " + std::to_string(n) + " bytes");
    std::vector<int32_t> ids;
    {
      nb::gil_scoped_release release;
      HostWork& work = thread_work(enc_.tables);
      auto emit = [&](int32_t id) { ids.push_back(id); };
      for (size_t i = 0; i < starts.size(); ++i)
        if (ends(i) > starts(i))
          encode_piece(enc_.tables, s + starts(i), ends(i) - starts(i), work, emit);
      work.shrink_workspace();
    }
    return to_list(ids);
  }

  // BPE merges of `piece` from its single bytes, without first looking the whole piece
  // up (tiktoken's byte_pair_encode). Where every token is BPE's own result
  // (kMergesInRankOrder) that is encode_piece; otherwise only the plain merges are.
  nb::list byte_pair_encode(nb::bytes piece) {
    const auto [p, n] = checked_text(piece);
    if (n == 0) throw std::invalid_argument("byte_pair_encode of an empty piece");
    std::vector<int32_t> ids;
    {
      nb::gil_scoped_release release;
      HostWork& work = thread_work(enc_.tables);
      auto emit = [&](int32_t id) { ids.push_back(id); };
      const Tables& t = enc_.tables;
      if (t.flags & kMergesInRankOrder)
        encode_piece(t, p, n, work, emit);
      else if (n <= kShortPiece)
        merge_short_piece(t, p, int(n), emit);
      else
        merge_long_piece(t, p, n, work.get(n), emit);
      work.shrink_workspace();
    }
    return to_list(ids);
  }

  // The CPU custom call's computation (ffi_cpu.cc) on host arrays, for the host-callback
  // fallback on platforms without a native kernel: (tokens, counts, status).
  nb::tuple encode_rows(InputRows data, Input1D<int32_t> lengths, Input1D<uint8_t> specials,
                        int64_t max_tokens, int32_t pad_id) const {
    const int64_t rows = int64_t(data.shape(0)), row_len = int64_t(data.shape(1));
    if (int64_t(lengths.size()) != rows)
      throw std::invalid_argument("lengths must be int32[" + std::to_string(rows) + "], got " +
                                  std::to_string(lengths.size()) + " values");
    if (row_len > kMaxTextBytes)
      throw std::invalid_argument("rows of " + std::to_string(row_len) +
                                  " bytes exceed the int32 lengths jaxbpe uses");
    if (max_tokens < 0) throw std::invalid_argument("max_tokens must be non-negative");
    Encoder enc = enc_;
    enc.specials = checked_specials(specials.data(), int64_t(specials.size()));
    const size_t n = static_cast<size_t>(rows);
    std::vector<int32_t> tokens(n * static_cast<size_t>(max_tokens)), counts(n), status(n);
    {
      nb::gil_scoped_release release;
      jaxbpe::encode_rows(enc, data.data(), lengths.data(), EncodeShape{rows, row_len, max_tokens},
                          pad_id, tokens.data(), counts.data(), status.data(), host_threads(),
                          run_on_host_threads);
    }
    return nb::make_tuple(to_numpy(std::move(tokens), {n, static_cast<size_t>(max_tokens)}),
                          to_numpy(std::move(counts), {n}), to_numpy(std::move(status), {n}));
  }

  // The bytes of the ids: a token's, else a special token's from `specials`, else
  // KeyError as tiktoken words it (ids in the gaps between tokens are no token).
  nb::bytes decode(Input1D<int64_t> ids, Input1D<uint8_t> specials) const {
    const Specials sp = checked_specials(specials.data(), int64_t(specials.size()));
    const Tables& t = enc_.tables;
    std::string out;
    for (size_t i = 0; i < ids.size(); ++i) {
      const int64_t id = ids(i);
      if (id >= 0 && id < t.n_tokens && token_length(t, int32_t(id)) > 0) {
        out.append(reinterpret_cast<const char*>(t.token_bytes + t.token_offsets[id]),
                   size_t(token_length(t, int32_t(id))));
        continue;
      }
      int32_t k = 0;
      while (k < sp.count && sp.ids[k] != id) ++k;
      if (k == sp.count)
        throw nb::key_error(("Invalid token for decoding: " + std::to_string(id)).c_str());
      out.append(reinterpret_cast<const char*>(sp.bytes + sp.offsets[k]),
                 size_t(sp.offsets[k + 1] - sp.offsets[k]));
    }
    return nb::bytes(out.data(), out.size());
  }

  // The ids of `text` encoded as `parts` chunks on up to `threads` threads: exposes the
  // seam resolution of encode_chunked to the tests at any chunk size.
  nb::list encode_in_chunks(nb::bytes text, Input1D<uint8_t> specials, int64_t parts,
                            int64_t threads) {
    Encoder enc = enc_;
    enc.specials = checked_specials(specials.data(), int64_t(specials.size()));
    const auto [s, n] = checked_text(text);
    if (parts < 1 || threads < 1)
      throw std::invalid_argument("parts and threads must be at least 1");
    std::vector<int32_t> ids;
    {
      nb::gil_scoped_release release;
      ids = encode_chunked(enc, s, n, parts, threads, run_on_host_threads);
    }
    return to_list(ids);
  }

  // Start offsets of the pre-tokenized pieces of `text` (no special tokens), plus its
  // length: the native pre-tokenizer alone.
  Array1D<int64_t> piece_bounds(nb::bytes text) const {
    require_pattern();
    const auto [s, n] = checked_text(text);
    const Text view{s, n, enc_.classes};
    std::vector<int64_t> bounds{0};
    for (int64_t pos = 0; pos < n;) bounds.push_back(pos = piece_end(enc_.pattern, view, pos));
    return to_numpy(std::move(bounds));
  }

 private:
  // The ids as a Python list. Its ints are this encoder's own, one object per token id
  // made on first use, so a list of a million ids costs a million reference counts
  // instead of a million allocations (the list's ints are immutable, so sharing them is
  // invisible). Runs with the GIL held.
  nb::list to_list(const std::vector<int32_t>& ids) {
    if (ints_.empty()) {
      ints_.reserve(size_t(enc_.tables.n_tokens));
      for (int32_t id = 0; id < enc_.tables.n_tokens; ++id) ints_.push_back(nb::int_(id));
    }
    nb::list list = nb::steal<nb::list>(PyList_New(Py_ssize_t(ids.size())));
    if (!list.is_valid()) throw nb::python_error();
    for (size_t i = 0; i < ids.size(); ++i) {
      const int32_t id = ids[i];
      // Special tokens' ids lie above the vocabulary's.
      PyObject* item =
          id < enc_.tables.n_tokens ? Py_NewRef(ints_[size_t(id)].ptr()) : PyLong_FromLong(id);
      if (item == nullptr) throw nb::python_error();
      PyList_SET_ITEM(list.ptr(), Py_ssize_t(i), item);
    }
    return list;
  }

  void require_pattern() const {
    if (!has_pattern_)
      throw std::invalid_argument(
          "this encoding's pattern has no native pre-tokenizer; "
          "split its text on the host and use encode_pieces");
  }

  template <typename T>
  static View1D<T> view(const T* data, size_t size, nb::handle owner) {
    return View1D<T>(data, {size}, owner);
  }

  std::vector<uint8_t> blob_;
  Encoder enc_{};
  bool has_pattern_ = false;
  std::vector<nb::int_> ints_;  // ints_[id] is the Python int id, for to_list
};

template <typename T>
using Input2D = nb::ndarray<const T, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
template <typename T>
using Array2D = nb::ndarray<nb::numpy, T, nb::ndim<2>>;

// The staged parallel encoder (pipeline.h) on the host executor, as the CUDA handler
// runs it, for the tests: returns (tokens, counts, status, workspace). The workspace
// starts zeroed, so that runs in different orders can be compared byte for byte.
nb::tuple pipeline_encode(Input1D<uint8_t> tables, Input1D<uint8_t> specials, int32_t pattern,
                          Input2D<uint8_t> data, Input1D<int32_t> lengths, int64_t max_tokens,
                          int32_t pad_id, int64_t chunk_bytes, std::optional<uint64_t> order_seed) {
  const Tables t = checked_tables(tables.data(), int64_t(tables.size()));
  const Specials sp = checked_specials(specials.data(), int64_t(specials.size()));
  if (!is_known_pattern(pattern))
    throw std::invalid_argument("unknown pattern " + std::to_string(pattern));
  const int64_t rows = int64_t(data.shape(0)), row_len = int64_t(data.shape(1));
  if (int64_t(lengths.size()) != rows)
    throw std::invalid_argument("lengths must have one entry per row");
  if (chunk_bytes < 1 || max_tokens < 0)
    throw std::invalid_argument("chunk_bytes must be >= 1 and max_tokens >= 0");
  const PipelineShape shape{rows,        row_len,      max_tokens,
                            chunk_bytes, sp.count > 0, !(t.flags & kMergesInRankOrder)};
  std::vector<uint8_t> workspace(size_t(pipeline_layout(shape).total), 0);
  std::vector<int32_t> tokens(static_cast<size_t>(rows * max_tokens)),
      counts(static_cast<size_t>(rows)), status(static_cast<size_t>(rows));
  {
    nb::gil_scoped_release release;
    HostExecutor ex(order_seed);
    run_pipeline(ex, make_pipeline(t, sp, host_class_table(), Pattern(pattern), shape, pad_id,
                                   data.data(), lengths.data(), tokens.data(), counts.data(),
                                   status.data(), workspace.data()));
  }
  auto* owned = new std::vector<int32_t>(std::move(tokens));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<int32_t>*>(p); });
  Array2D<int32_t> token_array(owned->data(), {size_t(rows), size_t(max_tokens)}, owner);
  return nb::make_tuple(token_array, to_numpy(std::move(counts)), to_numpy(std::move(status)),
                        to_numpy(std::move(workspace)));
}

Array1D<uint8_t> codepoint_classes() {
  const ClassTable t = host_class_table();
  std::vector<uint8_t> out(0x110000);
  for (uint32_t cp = 0; cp < out.size(); ++cp) out[cp] = codepoint_kind(t, cp);
  return to_numpy(std::move(out));
}

}  // namespace
}  // namespace jaxbpe

using namespace jaxbpe;

NB_MODULE(_native, m) {
  m.doc() = "jaxbpe's native core: tables, host encoder and the CPU XLA FFI handler";

  m.def(
      "build_specials",
      [](std::vector<std::pair<nb::bytes, int32_t>> tokens) {
        std::vector<std::pair<std::string, int32_t>> copy;
        for (auto& [text, id] : tokens)
          copy.emplace_back(std::string(text.c_str(), text.size()), id);
        return to_numpy(build_specials(std::move(copy)));
      },
      "tokens"_a, "Packs (bytes, id) special tokens into a special-tokens blob.");
  m.attr("PIPELINE_CHUNK_BYTES") = kChunkBytes;
  m.def("pipeline_encode", &pipeline_encode, "tables"_a, "specials"_a, "pattern"_a, "data"_a,
        "lengths"_a, "max_tokens"_a, "pad_id"_a, "chunk_bytes"_a, "order_seed"_a.none(),
        "The staged parallel encoder on the host executor: (tokens, counts, status, workspace).");
  m.def(
      "pipeline_workspace_bytes",
      [](int64_t rows, int64_t row_len, int64_t max_tokens, int64_t chunk_bytes, bool specials,
         bool heap_merge) {
        return pipeline_layout(
                   PipelineShape{rows, row_len, max_tokens, chunk_bytes, specials, heap_merge})
            .total;
      },
      "rows"_a, "row_len"_a, "max_tokens"_a, "chunk_bytes"_a, "specials"_a, "heap_merge"_a,
      "Bytes of workspace the staged parallel encoder needs for these static shapes.");
  m.def(
      "specials_header",
      [](Input1D<uint8_t> blob) {
        const Specials sp = checked_specials(blob.data(), int64_t(blob.size()));
        return to_numpy(std::vector<int64_t>{sp.count, sp.max_len});
      },
      "blob"_a, "int64[2]: the count and the longest token's bytes of a special-tokens blob.");
  m.def(
      "nfc",
      [](nb::bytes text) {
        std::string out;
        {
          nb::gil_scoped_release release;
          out = nfc(reinterpret_cast<const uint8_t*>(text.c_str()), int64_t(text.size()));
        }
        return nb::bytes(out.data(), out.size());
      },
      "text"_a, "The NFC form of UTF-8 text, as Hugging Face tokenizers' NFC normalizer gives it.");
  m.def("codepoint_classes", &codepoint_classes,
        "uint8[0x110000]: the class bits (unicode.h) the pre-tokenizers use for each code point.");
  // Constants the Python layer shares with the handlers (defined once, here in C++).
  nb::dict patterns;
  for (int32_t id = 0; id < kNumPatterns; ++id) patterns[kPatterns[id].name] = id;
  m.attr("PATTERN_IDS") = patterns;
  m.attr("STATUS_LENGTH_CLAMPED") = int32_t(kLengthClamped);
  m.attr("STATUS_TRUNCATED") = int32_t(kTruncated);
  m.attr("MAX_ROW_BYTES") = kMaxTextBytes;

  m.def("registrations", [] {
    nb::dict d;
    d["jaxbpe_encode"] = nb::capsule(reinterpret_cast<void*>(&JaxbpeEncodeCpu));
    return d;
  });

  nb::class_<HostEncoder>(m, "HostEncoder")
      .def(nb::init<Input1D<uint8_t>, Input1D<int32_t>, int32_t>(), "token_bytes"_a,
           "token_offsets"_a, "pattern"_a,
           "Builds the tables of a vocabulary (token i is token_bytes[offsets[i]:offsets[i+1]], "
           "empty for an id that is no token); pattern -1: no native pre-tokenizer.")
      .def_ro_static("NO_PATTERN", &HostEncoder::kNoPattern)
      .def_prop_ro("n_tokens", &HostEncoder::n_tokens)
      .def_prop_ro("merges_in_rank_order", &HostEncoder::merges_in_rank_order)
      .def_prop_ro("tables_header", &HostEncoder::tables_header, nb::rv_policy::move)
      .def_prop_ro(
          "tables",
          [](nb::handle_t<HostEncoder> self) { return nb::cast<HostEncoder&>(self).tables(self); })
      .def_prop_ro("token_bytes",
                   [](nb::handle_t<HostEncoder> self) {
                     return nb::cast<HostEncoder&>(self).token_bytes(self);
                   })
      .def_prop_ro("token_offsets",
                   [](nb::handle_t<HostEncoder> self) {
                     return nb::cast<HostEncoder&>(self).token_offsets(self);
                   })
      .def("token_id", &HostEncoder::token_id, "piece"_a)
      .def("encode", &HostEncoder::encode, "text"_a, "specials"_a)
      .def("encode_list", &HostEncoder::encode_list, "text"_a, "specials"_a)
      .def("encode_batch", &HostEncoder::encode_batch, "texts"_a, "specials"_a, "num_threads"_a)
      .def("encode_pieces", &HostEncoder::encode_pieces, "text"_a, "starts"_a, "ends"_a)
      .def("byte_pair_encode", &HostEncoder::byte_pair_encode, "piece"_a)
      .def("encode_rows", &HostEncoder::encode_rows, "data"_a, "lengths"_a, "specials"_a,
           "max_tokens"_a, "pad_id"_a)
      .def("decode", &HostEncoder::decode, "ids"_a, "specials"_a)
      .def("encode_in_chunks", &HostEncoder::encode_in_chunks, "text"_a, "specials"_a, "parts"_a,
           "threads"_a)
      .def("piece_bounds", &HostEncoder::piece_bounds, "text"_a);
}
