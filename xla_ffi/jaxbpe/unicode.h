// UTF-8 decoding and the per-code-point character classes the pre-tokenizers use.
#pragma once

#include "common.h"

namespace jaxbpe {

// Class bits of a code point, as tools/gen_unicode_classes.py lays out the table.
enum : uint8_t {
  kLetter = 1 << 0,    // \p{L}
  kNumber = 1 << 1,    // \p{N}
  kSpace = 1 << 2,     // \s (White_Space)
  kUpperish = 1 << 3,  // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]  (o200k)
  kLowerish = 1 << 4,  // [\p{Ll}\p{Lm}\p{Lo}\p{M}]        (o200k)
  // Single characters the patterns name.
  kNewline = 1 << 5,  // [\r\n]
  kBlank = 1 << 6,    // U+0020, the optional ' ' prefix
  kSlash = 1 << 7,    // '/'
};

// Two-level table: kClassBlockIndex[cp >> 8] selects a 256-entry block of class bytes;
// the block of U+0000..U+00FF is the first (index 0).
struct ClassTable {
  const uint16_t* block_index;
  const uint8_t* blocks;
};

constexpr uint32_t kInvalidCodepoint = 0xFFFFFFFFu;

// One character of input: a code point (or one invalid byte), its byte length and class.
struct Char {
  uint32_t cp;
  uint8_t kind;
  int32_t len;  // 1 to 4, or more for the stop of a BoundedText
};

JAXBPE_HD bool is_continuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// Decodes the UTF-8 sequence at s[0..n) (n >= 1). Anything that is not a well-formed,
// shortest-form sequence of a scalar value is one invalid byte: it has no class bits,
// so every pattern treats it like punctuation, and its byte is kept as is.
JAXBPE_HD uint32_t decode_utf8(const uint8_t* s, int64_t n, int32_t* len) {
  const uint8_t b0 = s[0];
  *len = 1;
  if (b0 < 0x80) return b0;
  if (b0 < 0xC2) return kInvalidCodepoint;
  if (b0 < 0xE0) {
    if (n < 2 || !is_continuation(s[1])) return kInvalidCodepoint;
    *len = 2;
    return (uint32_t(b0 & 0x1F) << 6) | (s[1] & 0x3F);
  }
  if (b0 < 0xF0) {
    if (n < 3) return kInvalidCodepoint;
    const uint8_t lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
    if (s[1] < lo || s[1] > hi || !is_continuation(s[2])) return kInvalidCodepoint;
    *len = 3;
    return (uint32_t(b0 & 0x0F) << 12) | (uint32_t(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
  }
  if (b0 < 0xF5) {
    if (n < 4) return kInvalidCodepoint;
    const uint8_t lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
    if (s[1] < lo || s[1] > hi || !is_continuation(s[2]) || !is_continuation(s[3]))
      return kInvalidCodepoint;
    *len = 4;
    return (uint32_t(b0 & 0x07) << 18) | (uint32_t(s[1] & 0x3F) << 12) |
           (uint32_t(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
  }
  return kInvalidCodepoint;
}

// Whether s[pos] (pos < n) starts a character when s[0..n) is decoded from its start.
// Decided locally: only a lead byte up to three bytes back can own it.
JAXBPE_HD bool is_char_start(const uint8_t* s, int64_t pos, int64_t n) {
  for (int64_t back = 0; back <= 3 && back <= pos; ++back) {
    if (is_continuation(s[pos - back])) continue;
    if (back == 0) return true;
    int32_t len;
    decode_utf8(s + pos - back, n - (pos - back), &len);
    return len <= back;
  }
  return true;  // continuation bytes with no lead that reaches them: each is one invalid byte
}

// The first character start at or after pos (at most n).
JAXBPE_HD int64_t char_start_from(const uint8_t* s, int64_t pos, int64_t n) {
  while (pos < n && !is_char_start(s, pos, n)) ++pos;
  return pos;
}

JAXBPE_HD uint8_t codepoint_kind(const ClassTable& t, uint32_t cp) {
  if (cp >= 0x110000) return 0;
  return t.blocks[uint32_t(t.block_index[cp >> 8]) * 256 + (cp & 0xFF)];
}

// A view of one segment of text (a row, or the part of it between special tokens):
// the patterns' `$` and lookahead see `end` as the end of the text.
struct Text {
  const uint8_t* s;
  int64_t end;
  ClassTable classes;

  // Where a scan must stop reading: the text's end.
  JAXBPE_HD int64_t scan_end() const { return end; }

  JAXBPE_HD Char at(int64_t pos) const {
    // ASCII, most of the bytes of most text, skips the decoder and the block index: the
    // block of U+0000..U+00FF is the first of `blocks` (tools/gen_unicode_classes.py).
    // Measured (callgrind): o200k pre-tokenization of English 50.6 -> 39.6 instructions/byte.
    const uint8_t b = s[pos];
    if (b < 0x80) return Char{b, classes.blocks[b], 1};
    Char c;
    c.cp = decode_utf8(s + pos, end - pos, &c.len);
    c.kind = codepoint_kind(classes, c.cp);
    return c;
  }
};

// A Text whose scans may not read ahead past `limit`, so that a scan of a piece far
// longer than expected costs O(limit - pos), not O(piece). Reading a character at or past
// the limit sets `overrun` and returns a stop: a character that reaches the end of the
// text, so every loop of a scanner ends at once. A scan that did not overrun read
// nothing past the limit, and its result is exactly the unbounded scan's (the text's
// `end`, which `$` and lookaheads see, is the same); one that did returns nonsense.
struct BoundedText : Text {
  int64_t limit;
  mutable bool overrun = false;

  JAXBPE_HD BoundedText(const Text& text, int64_t limit_) : Text(text), limit(limit_) {}

  JAXBPE_HD int64_t scan_end() const { return limit < end ? limit : end; }

  JAXBPE_HD Char at(int64_t pos) const {
    if (pos < limit) return Text::at(pos);
    overrun = true;
    return Char{kInvalidCodepoint, 0, int32_t(end - pos)};
  }
};

}  // namespace jaxbpe
