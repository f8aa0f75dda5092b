// Byte pair merging of one pre-tokenized piece, exactly as tiktoken does it: while some
// adjacent pair of parts concatenates to a token, merge the pair whose token has the
// lowest rank, the leftmost one on ties. A piece that is itself a token is emitted whole
// (tiktoken checks that first, and merging does not always reach it).
#pragma once

#include "tables.h"

namespace jaxbpe {

// Pieces up to this many bytes merge in a small array with a linear scan for the
// minimum. Longer ones are tokenized in linear time by backtrack_long_piece where the
// vocabulary allows it (all of tiktoken's do), or else merged with a heap in O(n log n).
constexpr int kShortPiece = 64;

// Workspace (in int32 words) that a long piece of n bytes needs.
JAXBPE_HD int64_t long_piece_workspace(int64_t n) { return 10 * n; }

// BPE of the bytes p[0..n) (n <= kShortPiece) on their own: returns a mask with bit i set
// where a token starts, ids[i] being that token. Parts stay where their first byte is,
// and keys[i] ranks merging part i with the next, so a merge moves nothing. A key is the
// merge's rank times 64 plus i (kNoRank where the pair does not merge), so the smallest
// key over the parts names the lowest-rank merge, leftmost on ties.
JAXBPE_HD uint64_t merge_bytes(const Tables& t, const uint8_t* p, int n, int32_t* ids) {
  int32_t keys[kShortPiece];
  auto key = [](int i, int32_t rank) { return rank == kNoRank ? kNoRank : rank << 6 | i; };
  uint64_t starts = n == 64 ? ~uint64_t(0) : (uint64_t(1) << n) - 1;
  for (int i = 0; i < n; ++i) ids[i] = t.byte_ids[p[i]];
  for (int i = 0; i + 1 < n; ++i) keys[i] = key(i, t.byte_pairs[p[i] << 8 | p[i + 1]]);
  keys[n - 1] = kNoRank;
  for (;;) {
    // A part absorbed by a merge keeps kNoRank, so the minimum is taken over all n keys
    // in a loop without branches that the compiler vectorizes, not over the live parts
    // one at a time. Callgrind, first calls on 1 MiB (o200k): cjk -15% (its pieces are
    // long; the scan was a third of its instructions), english and code -1%; a hybrid
    // (live parts below 17 bytes) was worse than either everywhere.
    int32_t min_key = kNoRank;
    for (int i = 0; i < n; ++i) min_key = keys[i] < min_key ? keys[i] : min_key;
    if (min_key == kNoRank) return starts;
    const int best = min_key & 63;
    const int32_t merged = min_key >> 6;
    const uint64_t above = ~((uint64_t(2) << best) - 1);  // bits best+1..63
    const int absorbed = lowest_bit(starts & above);
    starts &= ~(uint64_t(1) << absorbed);
    keys[absorbed] = kNoRank;
    ids[best] = merged;
    const uint64_t after = starts & above, before = starts & ((uint64_t(1) << best) - 1);
    keys[best] = after ? key(best, lookup_pair(t, merged, ids[lowest_bit(after)])) : kNoRank;
    if (before) {
      const int prev = highest_bit(before);
      keys[prev] = key(prev, lookup_pair(t, ids[prev], merged));
    }
  }
}

template <typename Emit>
JAXBPE_HD void merge_short_piece(const Tables& t, const uint8_t* p, int n, Emit& emit) {
  int32_t ids[kShortPiece];
  for (uint64_t starts = merge_bytes(t, p, n, ids); starts; starts &= starts - 1)
    emit(ids[lowest_bit(starts)]);
}

// Binary min-heap of (rank << 32 | position) keys: pops lowest rank, leftmost first.
struct MergeHeap {
  uint64_t* keys;
  int64_t size;

  JAXBPE_HD void push(uint64_t k) {
    int64_t i = size++;
    while (i > 0 && keys[(i - 1) / 2] > k) {
      keys[i] = keys[(i - 1) / 2];
      i = (i - 1) / 2;
    }
    keys[i] = k;
  }
  JAXBPE_HD uint64_t pop() {
    const uint64_t top = keys[0], last = keys[--size];
    if (size > 0) sift_down(0, last);
    return top;
  }
  // Orders keys[0..size) into a heap in O(size).
  JAXBPE_HD void heapify() {
    for (int64_t i = size / 2 - 1; i >= 0; --i) sift_down(i, keys[i]);
  }
  // Places k at i or below, moving smaller children up.
  JAXBPE_HD void sift_down(int64_t i, uint64_t k) {
    for (;;) {
      int64_t c = 2 * i + 1;
      if (c >= size) break;
      if (c + 1 < size && keys[c + 1] < keys[c]) ++c;
      if (keys[c] >= k) break;
      keys[i] = keys[c];
      i = c;
    }
    keys[i] = k;
  }
};

// Parts are linked lists indexed by their first byte. A heap entry is stale when the
// pair it names has since changed rank (a neighbour merged) or its part was absorbed.
template <typename Emit>
JAXBPE_HD_COLD void merge_long_piece(const Tables& t, const uint8_t* p, int64_t n, int32_t* work,
                                     Emit& emit) {
  int32_t *ids = work, *next = work + n, *prev = work + 2 * n, *rank = work + 3 * n;
  MergeHeap heap{reinterpret_cast<uint64_t*>(work + 4 * n), 0};  // <= 3n entries
  auto push = [&](int64_t i) {
    if (rank[i] != kNoRank) heap.push(uint64_t(rank[i]) << 32 | uint64_t(i));
  };
  for (int64_t i = 0; i < n; ++i) {
    ids[i] = t.byte_ids[p[i]];
    next[i] = int32_t(i + 1);
    prev[i] = int32_t(i - 1);
  }
  for (int64_t i = 0; i < n; ++i) {
    rank[i] = i + 1 < n ? t.byte_pairs[p[i] << 8 | p[i + 1]] : kNoRank;
    if (rank[i] != kNoRank) heap.keys[heap.size++] = uint64_t(rank[i]) << 32 | uint64_t(i);
  }
  heap.heapify();
  while (heap.size > 0) {
    const uint64_t key = heap.pop();
    const int32_t i = int32_t(key & 0xFFFFFFFFu), r = int32_t(key >> 32);
    if (rank[i] != r) continue;
    const int32_t absorbed = next[i];
    ids[i] = r;
    rank[absorbed] = kNoRank;
    next[i] = next[absorbed];
    if (next[i] < n) prev[next[i]] = i;
    rank[i] = next[i] < n ? lookup_pair(t, ids[i], ids[next[i]]) : kNoRank;
    push(i);
    if (prev[i] >= 0) {
      rank[prev[i]] = lookup_pair(t, ids[prev[i]], ids[i]);
      push(prev[i]);
    }
  }
  for (int64_t i = 0; i < n; i = next[i]) emit(ids[i]);
}

// Whether BPE turns the bytes of tokens a and b, side by side, into exactly a, b.
// With kMergesInRankOrder each token forms at the time of its rank, single bytes at the
// start. Replaying the merges of both tokens backwards, latest first, walks the right
// spine of a's merge tree and the left spine of b's; each pair that straddles the
// boundary meanwhile would be merged iff its rank comes before the merge that ends it
// (on ties the left pair wins: a's merges beat the straddler, the straddler beats b's).
JAXBPE_HD bool tokens_compatible(const Tables& t, int32_t a, int32_t b) {
  int64_t ends_at = INT64_MAX;
  for (;;) {
    const int32_t r = lookup_pair(t, a, b);
    if (r != kNoRank && r < ends_at) return false;
    const int32_t a_time = t.splits[2 * a] < 0 ? -1 : a, b_time = t.splits[2 * b] < 0 ? -1 : b;
    if (a_time < 0 && b_time < 0) return true;
    if (a_time > b_time) {
      ends_at = a_time;
      a = t.splits[2 * a + 1];
    } else {
      ends_at = int64_t(b_time) + 1;
      b = t.splits[2 * b];
    }
  }
}

// The backtracking merge reads windows of this many bytes with merge_bytes, and trusts
// all of their tokens except those that end in the last kWindowTail bytes, which BPE
// might have merged differently had it seen what follows. (Measured on runs of random
// digits and mixed whitespace: windows of 16 to 32 bytes with tails of 2 or 3 are about
// equally fast, and with a tail almost no window proposes a wrong token.)
constexpr int kWindow = 24, kWindowTail = 3;

// Where a candidate token of the backtracking merge came from, in bits above its id.
constexpr int32_t kLongestFirst = 1 << 30;  // the longest token there, before windows are used
constexpr int32_t kFromWindow = 1 << 29;    // the token a window has there
constexpr int32_t kCandidateId = kFromWindow - 1;
static_assert(kMaxTokens <= kFromWindow, "candidate flags above the largest id");

// Tokenizes a long piece in linear time (after the backtracking encoder of GitHub's
// `bpe` crate). BPE's output is the only tokenization in which every two neighbours are
// compatible, and a search that only extends tokenizations whose neighbours are all
// compatible, backing up a token when nothing fits, finds it. A position from which
// nothing fits is marked dead, so none is explored twice.
//
// At each position the longest token that fits is tried first, and its prefixes that are
// tokens after it. That is right at once on most text (runs of one letter or of spaces)
// but wrong on most tokens of random digits or mixed whitespace, so after its first miss
// the search follows windows instead: BPE of the next kWindow bytes on their own. A
// window's neighbouring tokens are compatible by construction, so only its first token
// needs the check, and a window that proposes a wrong token is left for the longest-first
// search until the next window.
//
// Returns false, having emitted nothing, should a vocabulary break the premise.
template <typename Emit>
JAXBPE_HD_COLD bool backtrack_long_piece(const Tables& t, const uint8_t* p, int64_t n,
                                         int32_t* work, Emit& emit) {
  int32_t* tokens = work;  // the tokenization so far, as candidates (with their flags)
  uint32_t* dead = reinterpret_cast<uint32_t*>(work + n);  // n + 1 bits
  for (int64_t i = 0; i <= n / 32; ++i) dead[i] = 0;
  int64_t count = 0, pos = 0;

  bool windows = false;          // the search follows windows
  bool top_in_window = false;    // tokens[count - 1] is a token of the current window
  int64_t win = 0, win_end = 0;  // the trusted part of the current window
  uint64_t win_starts = 0;       // its token starts, bit i for byte win + i
  int32_t win_ids[kShortPiece];  // the token starting at byte win + i
  auto open_window = [&](int64_t at) {
    const int len = int(n - at < kWindow ? n - at : kWindow);
    win = at;
    win_starts = merge_bytes(t, p + at, len, win_ids);
    win_end = at + len;
    if (win_end < n) {  // drop the tokens that end in the tail, unless that is all of them
      if (const uint64_t kept = win_starts & ((uint64_t(2) << (len - kWindowTail)) - 2)) {
        win_end = at + highest_bit(kept);
        win_starts &= (uint64_t(1) << (win_end - at)) - 1;
      }
    }
    top_in_window = false;
  };
  // The longest token at `at`. The bytes its search read decide it, and along a run
  // (spaces, one letter) they are the same at every token: comparing them with the last
  // search's costs a fraction of searching again (callgrind, a megabyte of spaces: the
  // search was 70 of 88 instructions per byte).
  int64_t searched_at = 0, searched_bytes = 0;  // the last search: where, and its bytes
  int32_t searched_id = 0;
  auto longest_at = [&](int64_t at) -> int32_t {
    if (searched_bytes > 0 && n - at >= searched_bytes &&
        bytes_equal(p + at, p + searched_at, searched_bytes))
      return searched_id;
    searched_at = at;
    return searched_id = longest_token_at(t, p + at, n - at, &searched_bytes);
  };
  // tokens_compatible, which along a run is asked about the same two tokens every time.
  int32_t checked_a = -1, checked_b = -1;
  bool checked = false;
  auto compatible = [&](int32_t a, int32_t b) {
    if (a != checked_a || b != checked_b) {
      checked_a = a;
      checked_b = b;
      checked = tokens_compatible(t, a, b);
    }
    return checked;
  };
  // The first candidate at position `at`; `trusted` when it is known to be compatible.
  bool trusted = false;
  auto first_candidate = [&](int64_t at) -> int32_t {
    if (windows && at >= win_end) open_window(at);
    if (at >= win && at < win_end && (win_starts >> (at - win) & 1)) {
      trusted = top_in_window;
      return win_ids[at - win] | kFromWindow;
    }
    trusted = false;
    return longest_at(at) | (windows ? 0 : kLongestFirst);
  };
  // The candidate at pos after `failed`, or -1 when none is left there: the prefixes of
  // a longest token in turn, or all of them afresh after a window's token.
  auto next_candidate = [&](int32_t failed) -> int32_t {
    const int32_t id = failed & kCandidateId;
    if (failed & kFromWindow) return longest_at(pos);
    return t.next_prefix[id];
  };

  int32_t token = first_candidate(0);
  while (pos < n) {
    const int32_t id = token & kCandidateId;
    const int64_t end = pos + token_length(t, id);
    if (!(dead[end / 32] >> (end % 32) & 1) &&
        (count == 0 || trusted || compatible(tokens[count - 1] & kCandidateId, id))) {
      tokens[count++] = token;
      top_in_window = token & kFromWindow;
      pos = end;
      if (pos < n) token = first_candidate(pos);
      continue;
    }
    trusted = false;
    if (token & kLongestFirst) {  // the first miss: from here on, follow windows
      windows = true;
      open_window(pos);
      token = win_ids[0] == id ? t.next_prefix[id] : win_ids[0] | kFromWindow;
    } else {
      token = next_candidate(token);
    }
    while (token < 0) {
      dead[pos / 32] |= 1u << (pos % 32);
      if (count == 0) return false;  // unreachable when the premise holds
      token = tokens[--count];
      top_in_window = false;
      pos -= token_length(t, token & kCandidateId);
      token = next_candidate(token);
    }
  }
  for (int64_t i = 0; i < count; ++i) emit(tokens[i] & kCandidateId);
  return true;
}

// Emits the token ids of one piece. `work` supplies long_piece_workspace(n) words for
// pieces longer than kShortPiece: work.get(n) returns them.
//
// A piece that is itself a token is that token, as in tiktoken. Where every token is
// what BPE makes of its own bytes (kMergesInRankOrder), merging a short piece finds that
// token too, so the lookup is only a shortcut there, taken where it pays: most pieces of
// up to kWholeLookupBytes of natural text are tokens, and one lookup costs less than
// their merge (callgrind, first calls on 1 MiB, o200k and cl100k: english, code and
// markdown 8-10% fewer instructions, other kinds 0-6%, cjk unchanged; random base64,
// whose pieces are rarely tokens, 4-5% more). Longer pieces rarely are tokens: at a limit
// of 64 bytes cjk took 3% more instructions than at 16.
constexpr int kWholeLookupBytes = 16;

template <typename Work, typename Emit>
JAXBPE_HD void encode_piece(const Tables& t, const uint8_t* p, int64_t n, Work& work, Emit& emit) {
  const bool rank_order = t.flags & kMergesInRankOrder;
  if (n > kWholeLookupBytes && n <= kShortPiece && rank_order)
    return merge_short_piece(t, p, int(n), emit);
  const int32_t whole = lookup_piece(t, p, n);
  if (whole >= 0) {
    emit(whole);
  } else if (n <= kShortPiece) {
    merge_short_piece(t, p, int(n), emit);
  } else if (!rank_order || !backtrack_long_piece(t, p, n, work.get(n), emit)) {
    merge_long_piece(t, p, n, work.get(n), emit);
  }
}

}  // namespace jaxbpe
