// The `jaxbpe._native` extension: table building, the host encoder behind the
// tiktoken-compatible API, and the CPU XLA FFI handler's capsule.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <atomic>
#include <initializer_list>
#include <thread>

#include "ffi_cpu.h"
#include "jaxbpe/host.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace jaxbpe {
namespace {

template <typename T>
using Array1D = nb::ndarray<nb::numpy, T, nb::ndim<1>>;
template <typename T>
using Input1D = nb::ndarray<const T, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using InputRows = nb::ndarray<const uint8_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

// A text's bytes, refused with ValueError beyond what the core can count. `index` names
// it in the message (its place in a batch; -1 for a single text), which is only built
// when the text is refused.
std::pair<const uint8_t*, int64_t> checked_text(const nb::bytes& text, int64_t index = -1) {
  if (text.size() > size_t(kMaxTextBytes))
    throw std::invalid_argument((index < 0 ? std::string("the text") : "text " + std::to_string(index)) +
                                " has " + std::to_string(text.size()) +
                                " bytes; jaxbpe encodes at most 2^31-1 bytes at once");
  return {reinterpret_cast<const uint8_t*>(text.c_str()), int64_t(text.size())};
}

template <typename T>
Array1D<T> to_numpy(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return Array1D<T>(owned->data(), {owned->size()}, owner);
}

// A numpy array of the given shape that owns v's storage.
nb::ndarray<nb::numpy, int32_t> to_numpy(std::vector<int32_t>&& v, std::initializer_list<size_t> shape) {
  auto* owned = new std::vector<int32_t>(std::move(v));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<int32_t>*>(p); });
  return nb::ndarray<nb::numpy, int32_t>(owned->data(), shape.size(), shape.begin(), owner);
}

// The family names of the pre-tokenizers (jaxbpe.patterns holds their regexes).
const std::pair<const char*, Pattern> kPatternNames[] = {
    {"r50k", Pattern::kR50k}, {"cl100k", Pattern::kCl100k}, {"o200k", Pattern::kO200k}};

// Owns a copy of the tables blob, so the views in `Encoder` stay valid.
class HostEncoder {
 public:
  HostEncoder(Input1D<uint8_t> tables, int32_t pattern)
      : blob_(tables.data(), tables.data() + tables.size()) {
    if (pattern < 0 || pattern > int32_t(Pattern::kO200k))
      throw std::invalid_argument("unknown pattern " + std::to_string(pattern));
    enc_.tables = checked_tables(blob_.data(), int64_t(blob_.size()));
    enc_.classes = host_class_table();
    enc_.pattern = Pattern(pattern);
  }

  int32_t n_tokens() const { return enc_.tables.n_tokens; }

  std::vector<int32_t> encode_bytes(const uint8_t* s, int64_t n, const Specials& sp,
                                    HostWork& work) const {
    Encoder enc = enc_;
    enc.specials = sp;
    std::vector<int32_t> ids;
    ids.reserve(size_t(n / 4 + 8));
    auto emit = [&](int32_t id) { ids.push_back(id); };
    enc.encode(s, n, work, emit);
    return ids;
  }

  std::vector<int32_t> encode_ids(const nb::bytes& text, const Input1D<uint8_t>& specials) const {
    const Specials sp = checked_specials(specials.data(), int64_t(specials.size()));
    const auto [s, n] = checked_text(text);
    nb::gil_scoped_release release;
    HostWork& work = thread_work(enc_.tables);
    std::vector<int32_t> ids = encode_bytes(s, n, sp, work);
    work.shrink_workspace();
    return ids;
  }

  Array1D<int32_t> encode(nb::bytes text, Input1D<uint8_t> specials) const {
    return to_numpy(encode_ids(text, specials));
  }

  nb::list encode_list(nb::bytes text, Input1D<uint8_t> specials) {
    return to_list(encode_ids(text, specials));
  }

  std::vector<nb::list> encode_batch(std::vector<nb::bytes> texts, Input1D<uint8_t> specials,
                                     int num_threads) {
    const Specials sp = checked_specials(specials.data(), int64_t(specials.size()));
    for (size_t i = 0; i < texts.size(); ++i) checked_text(texts[i], int64_t(i));
    std::vector<std::vector<int32_t>> results(texts.size());
    {
      nb::gil_scoped_release release;
      std::atomic<size_t> next{0};
      auto worker = [&] {
        HostWork& work = thread_work(enc_.tables);
        for (size_t i; (i = next.fetch_add(1)) < texts.size();)
          results[i] = encode_bytes(reinterpret_cast<const uint8_t*>(texts[i].c_str()),
                                    int64_t(texts[i].size()), sp, work);
        work.shrink_workspace();
      };
      const size_t n = std::min(texts.size(), size_t(std::max(1, num_threads)));
      std::vector<std::thread> threads;
      for (size_t t = 1; t < n; ++t) threads.emplace_back(worker);
      worker();
      for (auto& t : threads) t.join();
    }
    std::vector<nb::list> out;
    out.reserve(results.size());
    for (const auto& r : results) out.push_back(to_list(r));
    return out;
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
      jaxbpe::encode_rows(enc, data.data(), lengths.data(), EncodeShape{rows, row_len, max_tokens}, pad_id,
                          tokens.data(), counts.data(), status.data());
    }
    return nb::make_tuple(to_numpy(std::move(tokens), {n, static_cast<size_t>(max_tokens)}),
                          to_numpy(std::move(counts), {n}), to_numpy(std::move(status), {n}));
  }

  // Token bytes for ids below n_tokens; others are looked up among `specials`.
  nb::bytes decode(Input1D<int64_t> ids, Input1D<uint8_t> specials) const {
    const Specials sp = checked_specials(specials.data(), int64_t(specials.size()));
    const Tables& t = enc_.tables;
    std::string out;
    for (size_t i = 0; i < ids.size(); ++i) {
      const int64_t id = ids(i);
      if (id >= 0 && id < t.n_tokens) {
        out.append(reinterpret_cast<const char*>(t.token_bytes + t.token_offsets[id]),
                   size_t(t.token_offsets[id + 1] - t.token_offsets[id]));
        continue;
      }
      int32_t k = 0;
      while (k < sp.count && sp.ids[k] != id) ++k;
      if (k == sp.count) throw nb::key_error(("invalid token id " + std::to_string(id)).c_str());
      out.append(reinterpret_cast<const char*>(sp.bytes + sp.offsets[k]),
                 size_t(sp.offsets[k + 1] - sp.offsets[k]));
    }
    return nb::bytes(out.data(), out.size());
  }

  // Start offsets of the pre-tokenized pieces of `text` (no special tokens), plus its
  // length: exposes the pre-tokenizer alone to the tests.
  Array1D<int64_t> piece_bounds(nb::bytes text) const {
    const auto* s = reinterpret_cast<const uint8_t*>(text.c_str());
    const int64_t n = int64_t(text.size());
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
      PyObject* item = id < enc_.tables.n_tokens ? Py_NewRef(ints_[size_t(id)].ptr()) : PyLong_FromLong(id);
      if (item == nullptr) throw nb::python_error();
      PyList_SET_ITEM(list.ptr(), Py_ssize_t(i), item);
    }
    return list;
  }

  std::vector<uint8_t> blob_;
  Encoder enc_{};
  std::vector<nb::int_> ints_;  // ints_[id] is the Python int id, for to_list
};

Array1D<uint8_t> codepoint_classes() {
  const ClassTable t = host_class_table();
  std::vector<uint8_t> out(0x110000);
  for (uint32_t cp = 0; cp < out.size(); ++cp)
    out[cp] = codepoint_kind(t, cp);
  return to_numpy(std::move(out));
}

}  // namespace
}  // namespace jaxbpe

using namespace jaxbpe;

NB_MODULE(_native, m) {
  m.doc() = "jaxbpe's native core: tables, host encoder and the CPU XLA FFI handler";

  m.def(
      "build_tables",
      [](Input1D<uint8_t> bytes, Input1D<int32_t> offsets) {
        if (offsets.size() < 1 || offsets(0) != 0 ||
            size_t(offsets(offsets.size() - 1)) != bytes.size())
          throw std::invalid_argument("token offsets do not match the token bytes");
        return to_numpy(build_tables(bytes.data(), offsets.data(), int32_t(offsets.size() - 1)));
      },
      "token_bytes"_a, "token_offsets"_a,
      "Packs a vocabulary (token i is token_bytes[offsets[i]:offsets[i+1]]) into a tables blob.");
  m.def(
      "build_specials",
      [](std::vector<std::pair<nb::bytes, int32_t>> tokens) {
        std::vector<std::pair<std::string, int32_t>> copy;
        for (auto& [text, id] : tokens) copy.emplace_back(std::string(text.c_str(), text.size()), id);
        return to_numpy(build_specials(std::move(copy)));
      },
      "tokens"_a, "Packs (bytes, id) special tokens into a special-tokens blob.");
  m.def("codepoint_classes", &codepoint_classes,
        "uint8[0x110000]: the class bits (unicode.h) the pre-tokenizers use for each code point.");
  // Constants the Python layer shares with the handlers (defined once, here in C++).
  nb::dict patterns;
  for (const auto& [name, id] : kPatternNames) patterns[name] = int32_t(id);
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
      .def(nb::init<Input1D<uint8_t>, int32_t>(), "tables"_a, "pattern"_a)
      .def_prop_ro("n_tokens", &HostEncoder::n_tokens)
      .def("encode", &HostEncoder::encode, "text"_a, "specials"_a)
      .def("encode_list", &HostEncoder::encode_list, "text"_a, "specials"_a)
      .def("encode_batch", &HostEncoder::encode_batch, "texts"_a, "specials"_a, "num_threads"_a)
      .def("encode_rows", &HostEncoder::encode_rows, "data"_a, "lengths"_a, "specials"_a, "max_tokens"_a,
           "pad_id"_a)
      .def("decode", &HostEncoder::decode, "ids"_a, "specials"_a)
      .def("piece_bounds", &HostEncoder::piece_bounds, "text"_a);
}
