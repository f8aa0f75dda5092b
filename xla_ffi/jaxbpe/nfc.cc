#include "nfc.h"

#include <algorithm>
#include <iterator>
#include <vector>

#include "unicode.h"

namespace jaxbpe {
namespace {
#include "nfc_tables.inc"

// The property word of tools/gen_nfc_tables.py.
constexpr uint16_t kCccMask = 0xFF, kDecomposes = 1 << 8, kKept = 1 << 10;

// Hangul syllables decompose and compose by arithmetic (Unicode 15.0, section 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kSCount = kLCount * kVCount * kTCount;

uint16_t properties(uint32_t cp) {
  if (cp >= 0x110000) return 0;  // an invalid byte: left as it is
  return kNfcBlocks[size_t(kNfcBlockIndex[cp >> 8]) * 256 + (cp & 0xFF)];
}

uint8_t combining_class(uint32_t cp) { return uint8_t(properties(cp) & kCccMask); }

// A starter that normalisation leaves as it is and that nothing before it composes or
// reorders with: the spans between such code points normalise independently.
bool is_boundary(uint16_t properties) {
  return properties == 0 || properties == (kDecomposes | kKept);
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp - kSBase < kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / (kVCount * kTCount));
    out.push_back(kVBase + s % (kVCount * kTCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (!(properties(cp) & kDecomposes)) {
    out.push_back(cp);
    return;
  }
  const size_t i = std::lower_bound(std::begin(kNfcDecomposable), std::end(kNfcDecomposable), cp) -
                   std::begin(kNfcDecomposable);
  out.insert(out.end(), kNfcDecomposed + kNfcDecompositionStart[i],
             kNfcDecomposed + kNfcDecompositionStart[i + 1]);
}

// The primary composite of first and second, or 0.
uint32_t compose(uint32_t first, uint32_t second) {
  if (first - kLBase < kLCount && second - kVBase < kVCount)
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  if (first - kSBase < kSCount && (first - kSBase) % kTCount == 0 &&
      second - kTBase - 1 < kTCount - 1)
    return first + (second - kTBase);
  const unsigned long long key = uint64_t(first) << 21 | second;
  const auto* it =
      std::lower_bound(std::begin(kNfcCompositionKeys), std::end(kNfcCompositionKeys), key);
  return it != std::end(kNfcCompositionKeys) && *it == key
             ? kNfcComposites[it - kNfcCompositionKeys]
             : 0;
}

void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | cp >> 6);
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | cp >> 12);
    out += char(0x80 | (cp >> 6 & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | cp >> 18);
    out += char(0x80 | (cp >> 12 & 0x3F));
    out += char(0x80 | (cp >> 6 & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// Appends the NFC form of the valid UTF-8 text s[0..n): full decomposition, canonical
// order, then canonical composition (UAX #15's algorithm).
void normalize_span(const uint8_t* s, int64_t n, std::vector<uint32_t>& cps, std::string& out) {
  cps.clear();
  for (int64_t i = 0; i < n;) {
    int32_t len;
    decompose(decode_utf8(s + i, n - i, &len), cps);
    i += len;
  }
  // Canonical order: a stable sort of each run of non-starters by class.
  for (size_t i = 0; i < cps.size();) {
    size_t j = i;
    while (j < cps.size() && combining_class(cps[j])) ++j;
    std::stable_sort(cps.begin() + i, cps.begin() + j, [](uint32_t a, uint32_t b) {
      return combining_class(a) < combining_class(b);
    });
    i = j + 1;
  }
  // Each code point composes with the last starter unless a code point between them
  // has a class as high as its own (or is a starter itself).
  size_t starter = 0, kept = 1;
  int last_class = combining_class(cps[0]) ? 256 : 0;  // a leading non-starter blocks all
  for (size_t i = 1; i < cps.size(); ++i) {
    const uint32_t cp = cps[i];
    const int cls = combining_class(cp);
    const uint32_t composite = compose(cps[starter], cp);
    if (composite && (last_class < cls || last_class == 0)) {
      cps[starter] = composite;
      continue;
    }
    if (cls == 0) starter = kept;
    last_class = cls;
    cps[kept++] = cp;
  }
  for (size_t i = 0; i < kept; ++i) append_utf8(cps[i], out);
}

}  // namespace

std::string nfc(const uint8_t* s, int64_t n) {
  std::string out;
  out.reserve(size_t(n));
  std::vector<uint32_t> cps;
  // Text is copied as it is up to `copied`; a span that normalisation may change starts
  // at the code point before its first changeable one (a boundary that may compose with
  // it) and ends before the next boundary.
  int64_t copied = 0, span = -1, previous = -1;  // previous: the last boundary's offset
  for (int64_t i = 0; i < n;) {
    int32_t len = 1;
    const uint32_t cp = s[i] < 0x80 ? s[i] : decode_utf8(s + i, n - i, &len);  // ASCII: boundaries
    const bool invalid = cp == kInvalidCodepoint;
    if (cp < 0x80 || invalid || is_boundary(properties(cp))) {
      if (span >= 0) {
        normalize_span(s + span, i - span, cps, out);
        copied = i;
        span = -1;
      }
      previous = invalid ? -1 : i;
    } else if (span < 0) {
      span = previous >= copied ? previous : i;
      out.append(reinterpret_cast<const char*>(s) + copied, size_t(span - copied));
    }
    i += len;
  }
  if (span >= 0) {
    normalize_span(s + span, n - span, cps, out);
  } else {
    out.append(reinterpret_cast<const char*>(s) + copied, size_t(n - copied));
  }
  return out;
}

}  // namespace jaxbpe
