// Exact pre-tokenizers for the regex patterns of the tiktoken encodings, written as
// scanners instead of a backtracking regex engine. Each `*_piece_end(text, pos)` returns
// where the regex match that tiktoken finds at `pos` ends. Every character is covered
// by some alternative of these patterns, so the next match always starts where the last
// one ended, and each scanner follows the alternatives in the pattern's order,
// reproducing the backtracking choice of leftmost-first semantics.
//
// The scanners read characters only through `t.at(pos)` of a text view (`Text`, or the
// `BoundedText` of the parallel encoder, which stops a scan that reads too far ahead).
#pragma once

#include "unicode.h"

namespace jaxbpe {

enum class Pattern : int32_t { kR50k = 0, kCl100k = 1, kO200k = 2 };

constexpr uint8_t kOther = kLetter | kNumber | kSpace;  // [^\s\p{L}\p{N}] has none

JAXBPE_HD bool is_other(uint8_t kind) { return (kind & kOther) == 0; }

// End of the run of characters whose kind has any bit of `mask`, starting at pos.
template <typename View>
JAXBPE_HD int64_t run_end(const View& t, int64_t pos, uint8_t mask) {
  while (pos < t.end) {
    const Char c = t.at(pos);
    if (!(c.kind & mask)) break;
    pos += c.len;
  }
  return pos;
}

template <typename View>
JAXBPE_HD int64_t other_run_end(const View& t, int64_t pos) {
  while (pos < t.end) {
    const Char c = t.at(pos);
    if (!is_other(c.kind)) break;
    pos += c.len;
  }
  return pos;
}

// `\p{N}{1,3}`: the end of at most three number characters from pos.
template <typename View>
JAXBPE_HD int64_t digits_end(const View& t, int64_t pos) {
  for (int i = 0; i < 3 && pos < t.end; ++i) {
    const Char d = t.at(pos);
    if (!(d.kind & kNumber)) break;
    pos += d.len;
  }
  return pos;
}

// Whether the character at pos is `lower` (or its upper case, or U+017F LONG S, which
// case-folds to 's', when case_insensitive). Returns its end, or 0.
template <typename View>
JAXBPE_HD int64_t letter_end(const View& t, int64_t pos, char lower, bool case_insensitive) {
  if (pos >= t.end) return 0;
  const Char c = t.at(pos);
  if (c.cp == uint32_t(lower)) return pos + c.len;
  if (case_insensitive && (c.cp == uint32_t(lower - 'a' + 'A') || (lower == 's' && c.cp == 0x17F)))
    return pos + c.len;
  return 0;
}

// The contraction suffixes ('s 't 're 've 'm 'll 'd) after the apostrophe at `pos`.
// Returns the end of the contraction, or 0.
template <typename View>
JAXBPE_HD int64_t contraction_end(const View& t, int64_t pos, bool case_insensitive) {
  if (pos >= t.end || t.s[pos] != '\'') return 0;
  const int64_t p = pos + 1;
  for (char single : {'s', 'd', 'm', 't'})
    if (int64_t e = letter_end(t, p, single, case_insensitive)) return e;
  const char pairs[3][2] = {{'l', 'l'}, {'v', 'e'}, {'r', 'e'}};
  for (const auto& pair : pairs)
    if (int64_t e = letter_end(t, p, pair[0], case_insensitive))
      if (int64_t e2 = letter_end(t, e, pair[1], case_insensitive)) return e2;
  return 0;
}

// A whitespace run starting at pos: its end and where its last character starts.
struct SpaceRun {
  int64_t end, last_start, last_newline_end;  // last_newline_end: 0 if no CR/LF
  bool several;                               // more than one character
};

template <typename View>
JAXBPE_HD SpaceRun space_run(const View& t, int64_t pos) {
  SpaceRun r{pos, pos, 0, false};
  int64_t count = 0;
  while (r.end < t.end) {
    const Char c = t.at(r.end);
    if (!(c.kind & kSpace)) break;
    r.last_start = r.end;
    r.end += c.len;
    if (c.kind & (kNewline)) r.last_newline_end = r.end;
    ++count;
  }
  r.several = count > 1;
  return r;
}

// `\s+(?!\S)` falling back to a single `\s`, with the run ending the text taken whole
// (the `\s++$` alternative of r50k/cl100k and the lookahead at the end for o200k).
JAXBPE_HD int64_t space_piece_end(const SpaceRun& r, int64_t text_end) {
  if (r.end == text_end || !r.several) return r.end;
  return r.last_start;
}

// r50k/p50k: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s
template <typename View>
JAXBPE_HD int64_t r50k_piece_end(const View& t, int64_t pos) {
  if (int64_t e = contraction_end(t, pos, false)) return e;
  Char body = t.at(pos);
  int64_t start = pos;
  if (body.kind & kBlank && pos + 1 < t.end) {
    const Char next = t.at(pos + 1);
    if (!(next.kind & kSpace)) {
      body = next;
      start = pos + 1;
    }
  }
  if (body.kind & kLetter) return run_end(t, start, kLetter);
  if (body.kind & kNumber) return run_end(t, start, kNumber);
  if (is_other(body.kind)) return other_run_end(t, start);
  return space_piece_end(space_run(t, pos), t.end);
}

// cl100k: '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+
//         | ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s
template <typename View>
JAXBPE_HD int64_t cl100k_piece_end(const View& t, int64_t pos) {
  if (int64_t e = contraction_end(t, pos, true)) return e;
  const Char c = t.at(pos);
  if (c.kind & kLetter) return run_end(t, pos, kLetter);
  const bool prefixable = !(c.kind & (kNewline | kNumber));  // and not a letter
  if (prefixable && pos + c.len < t.end && (t.at(pos + c.len).kind & kLetter))
    return run_end(t, pos + c.len, kLetter);
  if (c.kind & kNumber) return digits_end(t, pos);
  int64_t start = pos;
  if (c.kind & kBlank && pos + 1 < t.end && is_other(t.at(pos + 1).kind)) start = pos + 1;
  if (start != pos || is_other(c.kind)) return run_end(t, other_run_end(t, start), kNewline);
  const SpaceRun r = space_run(t, pos);
  if (r.end != t.end && r.last_newline_end) return r.last_newline_end;
  return space_piece_end(r, t.end);
}

// o200k letters, alternative A (after the optional prefix, from s):
// [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+  then the contraction.
// The greedy upper-ish run backs off to the last position where a lower-ish character
// can start the mandatory lower-ish run.
template <typename View>
JAXBPE_HD int64_t o200k_lower_word_end(const View& t, int64_t s) {
  int64_t e = s, last_lower_end = 0;
  while (e < t.end) {
    const Char c = t.at(e);
    if (!(c.kind & kUpperish)) break;
    e += c.len;
    if (c.kind & kLowerish) last_lower_end = e;
  }
  if (e < t.end && (t.at(e).kind & kLowerish)) {
    e = run_end(t, e, kLowerish);
  } else if (last_lower_end) {
    e = last_lower_end;
  } else {
    return 0;
  }
  const int64_t c = contraction_end(t, e, true);
  return c ? c : e;
}

// o200k letters, alternative B: [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*
// then the contraction.
template <typename View>
JAXBPE_HD int64_t o200k_upper_word_end(const View& t, int64_t s) {
  int64_t e = run_end(t, s, kUpperish);
  if (e == s) return 0;
  e = run_end(t, e, kLowerish);
  const int64_t c = contraction_end(t, e, true);
  return c ? c : e;
}

// o200k: [^\r\n\p{L}\p{N}]?<A> | [^\r\n\p{L}\p{N}]?<B> | \p{N}{1,3} | ?[^\s\p{L}\p{N}]+[\r\n/]*
//        | \s*[\r\n]+ | \s+(?!\S) | \s+
template <typename View>
JAXBPE_HD int64_t o200k_piece_end(const View& t, int64_t pos) {
  const Char c = t.at(pos);
  const bool prefixable = !(c.kind & (kNewline | kLetter | kNumber));
  const int64_t after = pos + c.len;
  if (prefixable && after < t.end)
    if (int64_t e = o200k_lower_word_end(t, after)) return e;
  if (int64_t e = o200k_lower_word_end(t, pos)) return e;
  if (prefixable && after < t.end)
    if (int64_t e = o200k_upper_word_end(t, after)) return e;
  if (int64_t e = o200k_upper_word_end(t, pos)) return e;
  if (c.kind & kNumber) return digits_end(t, pos);
  int64_t start = pos;
  if (c.kind & kBlank && after < t.end && is_other(t.at(after).kind)) start = after;
  if (start != pos || is_other(c.kind))
    return run_end(t, other_run_end(t, start), kNewline | kSlash);
  const SpaceRun r = space_run(t, pos);
  if (r.last_newline_end) return r.last_newline_end;
  return space_piece_end(r, t.end);
}

template <typename View>
JAXBPE_HD int64_t piece_end(Pattern p, const View& t, int64_t pos) {
  switch (p) {
    case Pattern::kR50k: return r50k_piece_end(t, pos);
    case Pattern::kCl100k: return cl100k_piece_end(t, pos);
    default: return o200k_piece_end(t, pos);
  }
}

}  // namespace jaxbpe
