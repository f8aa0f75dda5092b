// Macros and small helpers shared by every header of the core.
#pragma once

#include <stdint.h>

#if defined(__CUDACC__)
#define JAXBPE_HD __host__ __device__ __forceinline__
#else
// Forced like the CUDA build's: left to itself gcc keeps per-character helpers such as
// Text::at out of line in the pre-tokenizers' loops, which costs up to a quarter of the
// encoder's time on English text.
#define JAXBPE_HD inline __attribute__((always_inline))
#endif

// For code that only long pieces take (a small part of most text): on the host out of
// line, so that the loops around its call keep their registers and code layout
// (callgrind: inlined, the long-piece merges made first calls on o200k English 4% dearer).
#if defined(__CUDACC__)
#define JAXBPE_HD_COLD __host__ __device__ inline
#else
#define JAXBPE_HD_COLD inline __attribute__((noinline))
#endif

namespace jaxbpe {

// The longest text (row) the core encodes: token counts and the merge code's indices
// into a piece are int32. Callers refuse longer ones.
constexpr int64_t kMaxTextBytes = INT32_MAX;

// Little-endian load of n <= 8 bytes. On the host, two overlapping 4-byte loads (or
// three single bytes) replace a loop whose exit mispredicts on every piece length; GPUs
// have no unaligned loads and take the bytes one at a time. Both give the same value.
JAXBPE_HD uint64_t load_le(const uint8_t* p, int n) {
#if defined(__CUDA_ARCH__)
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
#else
  if (n >= 4) {
    uint32_t head, tail;
    __builtin_memcpy(&head, p, 4);
    __builtin_memcpy(&tail, p + n - 4, 4);
    return uint64_t(head) | uint64_t(tail) << (8 * (n - 4));
  }
  if (n <= 0) return 0;
  return uint64_t(p[0]) | uint64_t(p[n / 2]) << (8 * (n / 2)) | uint64_t(p[n - 1]) << (8 * (n - 1));
#endif
}

JAXBPE_HD uint64_t mix64(uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

JAXBPE_HD uint64_t hash_bytes(const uint8_t* p, int64_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ uint64_t(n);
  for (; n >= 8; p += 8, n -= 8) h = mix64(h ^ load_le(p, 8));
  if (n > 0) h = mix64(h ^ load_le(p, int(n)));
  return h;
}

// The pair table's hash: its high half picks a filter bit, its low half a slot. One
// multiply spreads every bit of the pair into the product's high half; folding that into
// the low half gives the slot bits all of them too.
JAXBPE_HD uint64_t hash_pair(int32_t a, int32_t b) {
  const uint64_t h = ((uint64_t(uint32_t(a)) << 32) | uint32_t(b)) * 0x9e3779b97f4a7c15ULL;
  return h ^ (h >> 32);
}

// Index of the lowest / highest set bit of a non-zero word.
JAXBPE_HD int lowest_bit(uint64_t x) {
#if defined(__CUDA_ARCH__)
  return __ffsll(static_cast<long long>(x)) - 1;
#else
  return __builtin_ctzll(x);
#endif
}

JAXBPE_HD int highest_bit(uint64_t x) {
#if defined(__CUDA_ARCH__)
  return 63 - __clzll(static_cast<long long>(x));
#else
  return 63 - __builtin_clzll(x);
#endif
}

JAXBPE_HD bool bytes_equal(const uint8_t* a, const uint8_t* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return false;
  return true;
}

}  // namespace jaxbpe
