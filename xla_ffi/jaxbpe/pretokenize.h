// Exact pre-tokenizers for the regex patterns of byte-level BPE tokenizers (tiktoken's
// encodings and the open models' tokenizers), written as one scanner instead of a
// backtracking regex engine. Every one of these patterns is the same sequence of
// alternatives with a few variations (contractions, the shape of a letter run, digit
// groups, the class that may trail punctuation, the whitespace rules), so a pattern is a
// `PatternSpec`, a row of `kPatterns`, and `piece_end` returns where the regex match that
// the reference finds at `pos` ends. Every character is covered by some alternative, so
// the next match always starts where the last one ended, and the scanner follows the
// alternatives in the pattern's order, reproducing leftmost-first backtracking.
//
// The scanner reads characters only through `t.at(pos)` of a text view (`Text`, or the
// `BoundedText` of the parallel encoder, which stops a scan that reads too far ahead).
#pragma once

#include "unicode.h"

namespace jaxbpe {

// The contraction suffixes 's 't 're 've 'm 'll 'd.
enum class Contractions : uint8_t {
  kNone,
  kCaseSensitive,          // r50k: `'s|'t|...` ahead of every other alternative
  kCaseInsensitive,        // cl100k, Llama 3: `(?i:'s|'t|...)` ahead of everything
  kCaseInsensitiveSuffix,  // o200k: `(?i:'s|...)?` ending its letter runs
};

enum class Letters : uint8_t {
  kSpacePrefix,  // ` ?\p{L}+`
  kOtherPrefix,  // `[^\r\n\p{L}\p{N}]?\p{L}+`
  kCaseRuns,     // o200k's `[^\r\n\p{L}\p{N}]?` + upper-ish*lower-ish+ | upper-ish+lower-ish*
};

// One pre-tokenizer pattern. Its alternatives, in order: contractions (when their own
// alternative), letters, digits, punctuation (` ?[^\s\p{L}\p{N}]+` then a run of
// `punct_trailing`), then the whitespace rules: `\s++$` (if `space_run_at_end`),
// `\s*[\r\n]+` (if `newline_runs`; `\s*[\r\n]` ends at the same place), `\s+(?!\S)`
// (`\s+(?![^\s\p{N}])` if `digits_end_space_runs`), `\s+`.
struct PatternSpec {
  const char* name;  // jaxbpe.patterns holds the regex of each name
  Contractions contractions;
  Letters letters;
  int8_t max_digits;           // digit groups `\p{N}{1,max}`; 0: unbounded `\p{N}+`
  bool digits_take_space;      // ` ?\p{N}+`
  uint8_t punct_trailing;      // class bits of the run after punctuation (0: none)
  bool space_run_at_end;       // `\s++$` ahead of the newline rule
  bool newline_runs;           // `\s*[\r\n]+`
  bool digits_end_space_runs;  // a digit ends a text for `\s+(?!\S)`: digits split first
};

// The one table of known patterns: the extension exports their names and ids, and every
// handler checks a pattern id against its size.
inline constexpr PatternSpec kPatterns[] = {
    // r50k/p50k (GPT-2, GPT-NeoX): 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}++| ?\p{N}++
    //                               | ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s
    {"r50k", Contractions::kCaseSensitive, Letters::kSpacePrefix, 0, true, 0, true, false, false},
    // cl100k: '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+
    //         | ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s
    {"cl100k", Contractions::kCaseInsensitive, Letters::kOtherPrefix, 3, false, kNewline, true,
     true, false},
    // o200k: [^\r\n\p{L}\p{N}]?<upper-ish*lower-ish+ | upper-ish+lower-ish*>(?i:'s|...)?
    //        | \p{N}{1,3} | ?[^\s\p{L}\p{N}]+[\r\n/]* | \s*[\r\n]+ | \s+(?!\S) | \s+
    {"o200k", Contractions::kCaseInsensitiveSuffix, Letters::kCaseRuns, 3, false, kNewline | kSlash,
     false, true, false},
    // Llama 3 (and OLMo 2): cl100k's alternatives with \s*[\r\n]+ and no \s++$.
    {"llama3", Contractions::kCaseInsensitive, Letters::kOtherPrefix, 3, false, kNewline, false,
     true, false},
    // Qwen 2/2.5/3: Llama 3's with single digits \p{N}.
    {"qwen2", Contractions::kCaseInsensitive, Letters::kOtherPrefix, 1, false, kNewline, false,
     true, false},
    // Mistral Tekken: o200k's without the contraction suffixes, single digits.
    {"tekken", Contractions::kNone, Letters::kCaseRuns, 1, false, kNewline | kSlash, false, true,
     false},
    // StarCoder2: each digit split out first (Digits, individual), then GPT-2's pattern on
    // the text between digits, where a digit ends the text for `\s+(?!\S)`.
    {"starcoder2", Contractions::kCaseSensitive, Letters::kSpacePrefix, 1, false, 0, true, false,
     true},
};
inline constexpr int32_t kNumPatterns = int32_t(sizeof(kPatterns) / sizeof(kPatterns[0]));

// A pattern's id: its index in kPatterns.
enum class Pattern : int32_t {};

JAXBPE_HD constexpr bool is_known_pattern(int32_t pattern) {
  return pattern >= 0 && pattern < kNumPatterns;
}

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

// `\p{N}{1,max}` (`\p{N}+` for max 0): the end of the digit group from pos.
template <int kMax, typename View>
JAXBPE_HD int64_t digits_end(const View& t, int64_t pos) {
  if constexpr (kMax == 0) return run_end(t, pos, kNumber);
  for (int i = 0; i < kMax && pos < t.end; ++i) {
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

// A whitespace run starting at pos: its end, where its last character starts, and
// whether a digit follows it.
struct SpaceRun {
  int64_t end, last_start, last_newline_end;  // last_newline_end: 0 if no CR/LF
  bool several;                               // more than one character
  bool before_digit;
};

template <typename View>
JAXBPE_HD SpaceRun space_run(const View& t, int64_t pos) {
  SpaceRun r{pos, pos, 0, false, false};
  int64_t count = 0;
  while (r.end < t.end) {
    const Char c = t.at(r.end);
    if (!(c.kind & kSpace)) {
      r.before_digit = c.kind & kNumber;
      break;
    }
    r.last_start = r.end;
    r.end += c.len;
    if (c.kind & (kNewline)) r.last_newline_end = r.end;
    ++count;
  }
  r.several = count > 1;
  return r;
}

// o200k letters, alternative A (after the optional prefix, from s):
// [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+  then the contraction (if kSuffix).
// The greedy upper-ish run backs off to the last position where a lower-ish character
// can start the mandatory lower-ish run.
template <bool kSuffix, typename View>
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
  if constexpr (!kSuffix) return e;
  const int64_t c = contraction_end(t, e, true);
  return c ? c : e;
}

// o200k letters, alternative B: [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*
// then the contraction (if kSuffix).
template <bool kSuffix, typename View>
JAXBPE_HD int64_t o200k_upper_word_end(const View& t, int64_t s) {
  int64_t e = run_end(t, s, kUpperish);
  if (e == s) return 0;
  e = run_end(t, e, kLowerish);
  if constexpr (!kSuffix) return e;
  const int64_t c = contraction_end(t, e, true);
  return c ? c : e;
}

// o200k's letter alternatives at pos (c: the character there), the optional prefix
// [^\r\n\p{L}\p{N}] first, each followed by the contraction if kSuffix; 0 if none.
template <bool kSuffix, typename View>
JAXBPE_HD int64_t case_runs_end(const View& t, int64_t pos, const Char& c) {
  const bool prefixable = !(c.kind & (kNewline | kLetter | kNumber));
  const int64_t after = pos + c.len;
  if (prefixable && after < t.end)
    if (int64_t e = o200k_lower_word_end<kSuffix>(t, after)) return e;
  if (int64_t e = o200k_lower_word_end<kSuffix>(t, pos)) return e;
  if (prefixable && after < t.end)
    if (int64_t e = o200k_upper_word_end<kSuffix>(t, after)) return e;
  return o200k_upper_word_end<kSuffix>(t, pos);
}

// ` ?[^\s\p{L}\p{N}]+` from its first non-space character, then the trailing run.
template <uint8_t kTrailing, typename View>
JAXBPE_HD int64_t punct_end(const View& t, int64_t pos) {
  const int64_t e = other_run_end(t, pos);
  if constexpr (kTrailing != 0) return run_end(t, e, kTrailing);
  return e;
}

// The bytes of x (eight bytes, the first lowest) that are ASCII in [lo, hi], as a mask of
// their high bits. Each byte's sums stay below 0x100, so no carry crosses bytes.
JAXBPE_HD uint64_t ascii_bytes_in(uint64_t x, uint8_t lo, uint8_t hi) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
  const uint64_t low7 = x & ~kHigh;
  const uint64_t at_least_lo = low7 + (0x80 - lo) * kOnes, above_hi = low7 + (0x7F - hi) * kOnes;
  return at_least_lo & ~above_hi & ~x & kHigh;
}

// Runs of letters and of lower-ish letters, whose ASCII members are ranges
// (tests/test_unicode_classes.py checks the table against them), go eight bytes at a
// time: the bytes of x in the class kMask, as ascii_bytes_in. Other runs (upper case,
// digits, punctuation), mostly a byte or two, measured better a byte at a time.
template <uint8_t kMask>
constexpr bool kWordAtATime = kMask == kLetter || kMask == kLowerish;

template <uint8_t kMask>
JAXBPE_HD uint64_t ascii_class_bytes(uint64_t x) {
  static_assert(kWordAtATime<kMask>, "a class whose ASCII members are one range");
  if constexpr (kMask == kLetter) return ascii_bytes_in(x | 0x2020202020202020ULL, 'a', 'z');
  return ascii_bytes_in(x, 'a', 'z');
}

template <typename View>
struct AsciiScan {
  const View& t;
  const int64_t stop = t.scan_end();

  // The class of the byte at pos, or -1 if it is not ASCII or not readable.
  JAXBPE_HD int kind(int64_t pos) const {
    if (pos >= stop || t.s[pos] >= 0x80) return -1;
    return t.classes.blocks[t.s[pos]];
  }
  // End of the run of ASCII bytes from pos whose class has any bit of kMask (for kOther:
  // none of its bits), of at most `max` bytes (0: unbounded); -1 unless it is decided:
  // an ASCII byte or the end of the text ends it, or it is `max` long. Runs of the
  // classes that are ASCII ranges go eight bytes at a time (words are 4-5 letters long
  // on average, so mostly one step instead of a loop per letter).
  template <uint8_t kMask>
  JAXBPE_HD int64_t run_end(int64_t pos, int64_t max = 0) const {
    const bool capped = max > 0 && max < stop - pos;
    const int64_t last = capped ? pos + max : stop;
    if constexpr (kWordAtATime<kMask>) {
      for (; last - pos >= 8; pos += 8) {
        const uint64_t outside =
            ~ascii_class_bytes<kMask>(load_le(t.s + pos, 8)) & 0x8080808080808080ULL;
        if (outside) {
          pos += lowest_bit(outside) / 8;
          return t.s[pos] < 0x80 ? pos : -1;
        }
      }
    }
    for (; pos < last; ++pos) {
      const uint8_t b = t.s[pos];
      if (b >= 0x80) return -1;
      const uint8_t k = t.classes.blocks[b];
      if (kMask == kOther ? (k & kOther) != 0 : (k & kMask) == 0) return pos;
    }
    return capped || pos == t.end ? pos : -1;
  }
};

// The ASCII fast path of pattern_piece_end: the end of the match at pos when it is
// decided by ASCII bytes alone, or 0 to leave it to the full scanner. Most pieces of most
// text are an ASCII word with its optional prefix, a punctuation run or a digit group;
// here each is one loop over bytes whose class is one load from the table's first block,
// with none of the per-character decoding and alternative-by-alternative tries of the
// full scanner. A run is decided when it stops at an ASCII byte (which the full
// scanner's run would stop at too, as its class is the same) or at the end of the text;
// a run that reaches a non-ASCII byte, which might continue it, or the view's scan end
// is not, and neither is any case this does not handle (contractions, whitespace,
// prefixes before anything but letters). What it decides is what the full scanner
// returns: the fuzzers and the parity suites compare both with the reference.
template <int32_t kId, typename View>
JAXBPE_HD int64_t ascii_piece_end(const View& t, int64_t pos) {
  constexpr PatternSpec spec = kPatterns[kId];
  const AsciiScan<View> a{t};
  const int k = a.kind(pos);
  if (k < 0) return 0;
  int64_t letters = pos;  // where the letters of a letter piece start
  if (!(k & kLetter)) {
    if (k & kNumber) {
      const int64_t e = a.template run_end<kNumber>(pos, spec.max_digits);
      return e < 0 ? 0 : e;
    }
    if (spec.contractions == Contractions::kCaseSensitive ||
        spec.contractions == Contractions::kCaseInsensitive) {
      if (t.s[pos] == '\'') return 0;
    }
    const bool prefix =
        spec.letters == Letters::kSpacePrefix ? (k & kBlank) != 0 : !(k & (kNewline | kNumber));
    const int next = prefix ? a.kind(pos + 1) : 0;
    if (next < 0) return 0;
    if (next & kLetter) {
      letters = pos + 1;
    } else {
      if (!is_other(uint8_t(k))) return 0;  // whitespace: its rules are the full scanner's
      const int64_t e = a.template run_end<kOther>(pos);
      if (e < 0) return 0;
      if constexpr (spec.punct_trailing == 0) return e;
      const int64_t trailing = a.template run_end<spec.punct_trailing>(e);
      return trailing < 0 ? 0 : trailing;
    }
  }
  int64_t e;
  if constexpr (spec.letters == Letters::kCaseRuns) {
    // [A-Z]*[a-z]+ or else [A-Z]+[a-z]*: ASCII letters are upper-ish or lower-ish, never
    // both, so either is the upper case run followed by the lower case run.
    e = a.template run_end<kUpperish>(letters);
    if (e >= 0) e = a.template run_end<kLowerish>(e);
  } else {
    e = a.template run_end<kLetter>(letters);
  }
  if (e < 0) return 0;
  if constexpr (spec.contractions == Contractions::kCaseInsensitiveSuffix) {
    if (e < t.end && t.s[e] == '\'') {
      const int64_t c = contraction_end(t, e, true);
      return c ? c : e;
    }
  }
  return e;
}

// The end of the match at pos of the pattern kPatterns[kId] (see PatternSpec). The
// alternatives that can match at pos are told apart by the class of the character there
// (and of the next one, after an optional prefix), so each is tried only where it can.
template <int32_t kId, typename View>
JAXBPE_HD int64_t pattern_piece_end(const View& t, int64_t pos) {
  constexpr PatternSpec spec = kPatterns[kId];
  if (const int64_t e = ascii_piece_end<kId>(t, pos)) return e;
  if constexpr (spec.contractions == Contractions::kCaseSensitive ||
                spec.contractions == Contractions::kCaseInsensitive)
    if (int64_t e = contraction_end(t, pos, spec.contractions == Contractions::kCaseInsensitive))
      return e;
  const Char c = t.at(pos);
  if constexpr (spec.letters == Letters::kCaseRuns) {
    constexpr bool kSuffix = spec.contractions == Contractions::kCaseInsensitiveSuffix;
    if (int64_t e = case_runs_end<kSuffix>(t, pos, c)) return e;
  } else if (c.kind & kLetter) {
    return run_end(t, pos, kLetter);
  }
  if (c.kind & kNumber) return digits_end<spec.max_digits>(t, pos);
  // c is whitespace or other. It may be the optional prefix of what follows: ' ' of the
  // letters (kSpacePrefix), digits (digits_take_space) and punctuation, and for
  // kOtherPrefix any [^\r\n\p{L}\p{N}] of the letters.
  const int64_t after = pos + c.len;
  const bool prefix =
      spec.letters == Letters::kOtherPrefix ? !(c.kind & kNewline) : (c.kind & kBlank);
  if (prefix && after < t.end) {
    const Char next = t.at(after);
    if constexpr (spec.letters != Letters::kCaseRuns)
      if (next.kind & kLetter) return run_end(t, after, kLetter);
    if (c.kind & kBlank) {
      if constexpr (spec.digits_take_space)
        if (next.kind & kNumber) return digits_end<spec.max_digits>(t, after);
      if (is_other(next.kind)) return punct_end<spec.punct_trailing>(t, after);
    }
  }
  if (is_other(c.kind)) return punct_end<spec.punct_trailing>(t, pos);
  const SpaceRun r = space_run(t, pos);
  if constexpr (spec.space_run_at_end)
    if (r.end == t.end) return r.end;
  if constexpr (spec.newline_runs)
    if (r.last_newline_end) return r.last_newline_end;
  // \s+(?!\S) backs off one character before a non-space; \s+ takes a lone one whole.
  if (!r.several || r.end == t.end) return r.end;
  if constexpr (spec.digits_end_space_runs)
    if (r.before_digit) return r.end;
  return r.last_start;
}

template <int32_t kId>
struct PatternId {
  static constexpr int32_t value = kId;
};

// Calls f(PatternId<id>{}) for the id of p, a known pattern (is_known_pattern): code that
// scans many pieces dispatches once and runs the scanner of its row of kPatterns inlined
// (a dispatch per piece costs ~5% of the instructions of the whole encoder: callgrind).
template <typename F>
JAXBPE_HD decltype(auto) with_pattern(Pattern p, F&& f) {
  static_assert(kNumPatterns == 7, "give a new row of kPatterns its case here");
  switch (int32_t(p)) {
    case 0: return f(PatternId<0>{});
    case 1: return f(PatternId<1>{});
    case 2: return f(PatternId<2>{});
    case 3: return f(PatternId<3>{});
    case 4: return f(PatternId<4>{});
    case 5: return f(PatternId<5>{});
    default: return f(PatternId<6>{});
  }
}

// The end of the match at pos of the known pattern p.
template <typename View>
JAXBPE_HD int64_t piece_end(Pattern p, const View& t, int64_t pos) {
  return with_pattern(p, [&](auto id) { return pattern_piece_end<decltype(id)::value>(t, pos); });
}

}  // namespace jaxbpe
