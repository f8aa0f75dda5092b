// The special tokens a caller allows, packed into a byte blob like the tables. Allowed
// special tokens split the text: the pattern runs on the text between them, and each
// becomes its own id.
#pragma once

#include "common.h"

namespace jaxbpe {

constexpr uint32_t kSpecialsMagic = 0x4C505342;  // "BSPL"

// Layout: header, uint32 first_bytes[8] (bitmap of the tokens' first bytes),
// int32 ids[count], int32 offsets[count + 1], then the tokens' bytes, longest first.
struct SpecialsHeader {
  uint32_t magic;
  int32_t count;
};

struct Specials {
  int32_t count;
  int32_t max_len;  // bytes of the longest token
  const uint32_t* first_bytes;
  const int32_t* ids;
  const int32_t* offsets;
  const uint8_t* bytes;
};

struct SpecialMatch {
  int64_t start, len;
  int32_t id;
};

// Validates the blob (an empty blob means no special tokens); nullptr or the problem.
JAXBPE_HD const char* view_specials(const uint8_t* blob, int64_t size, const SpecialsHeader& h,
                                    Specials* out) {
  *out = Specials{0, 0, nullptr, nullptr, nullptr, nullptr};
  if (size == 0) return nullptr;
  if (size < int64_t(sizeof(SpecialsHeader)) || h.magic != kSpecialsMagic || h.count < 0)
    return "not a jaxbpe special-tokens blob";
  const int64_t fixed = sizeof(SpecialsHeader) + 32 + 4 * (2 * int64_t(h.count) + 1);
  if (size < fixed) return "jaxbpe special-tokens blob is truncated";
  out->count = h.count;
  out->first_bytes = reinterpret_cast<const uint32_t*>(blob + sizeof(SpecialsHeader));
  out->ids = reinterpret_cast<const int32_t*>(blob + sizeof(SpecialsHeader) + 32);
  out->offsets = out->ids + h.count;
  out->bytes = blob + fixed;
  for (int32_t i = 0; i < h.count; ++i) {
    if (out->offsets[i] < 0 || out->offsets[i] > out->offsets[i + 1])
      return "jaxbpe special-tokens blob has bad offsets";
    const int32_t len = out->offsets[i + 1] - out->offsets[i];
    out->max_len = len > out->max_len ? len : out->max_len;
  }
  if (fixed + out->offsets[h.count] > size) return "jaxbpe special-tokens blob is truncated";
  return nullptr;
}

// The longest special token that s[pos..n) starts with (pos < n), or len 0 and id -1.
// Tokens are stored longest first, so the first that matches is the longest.
JAXBPE_HD SpecialMatch special_at(const Specials& sp, const uint8_t* s, int64_t pos, int64_t n) {
  const uint8_t b = s[pos];
  if (sp.count > 0 && sp.first_bytes[b >> 5] >> (b & 31) & 1) {
    for (int32_t i = 0; i < sp.count; ++i) {
      const int64_t len = sp.offsets[i + 1] - sp.offsets[i];
      if (len <= n - pos && bytes_equal(sp.bytes + sp.offsets[i], s + pos, len))
        return {pos, len, sp.ids[i]};
    }
  }
  return {pos, 0, -1};
}

// The leftmost special token in s[pos..n); start == n when there is none. At one
// position the longest token wins.
JAXBPE_HD SpecialMatch find_special(const Specials& sp, const uint8_t* s, int64_t pos, int64_t n) {
  if (sp.count == 0) return {n, 0, -1};
  for (; pos < n; ++pos)
    if (const SpecialMatch m = special_at(sp, s, pos, n); m.len > 0) return m;
  return {n, 0, -1};
}

}  // namespace jaxbpe
