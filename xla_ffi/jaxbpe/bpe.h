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

// Parts stay where their first byte is: bit i of `starts` marks a part beginning at byte
// i, and ranks[i] is the rank of merging it with the next part (kNoRank at dead slots),
// so a merge moves nothing and the minimum is a branch-free scan of n ranks.
template <typename Emit>
JAXBPE_HD void merge_short_piece(const Tables& t, const uint8_t* p, int n, Emit& emit) {
  int32_t ids[kShortPiece], ranks[kShortPiece];
  uint64_t starts = n == 64 ? ~uint64_t(0) : (uint64_t(1) << n) - 1;
  for (int i = 0; i < n; ++i) ids[i] = t.byte_ids[p[i]];
  for (int i = 0; i + 1 < n; ++i) ranks[i] = lookup_pair(t, ids[i], ids[i + 1]);
  ranks[n - 1] = kNoRank;
  for (;;) {
    int32_t min_rank = kNoRank;
    for (int i = 0; i < n; ++i) min_rank = ranks[i] < min_rank ? ranks[i] : min_rank;
    if (min_rank == kNoRank) break;
    int best = 0;
    while (ranks[best] != min_rank) ++best;
    const uint64_t above = ~((uint64_t(2) << best) - 1);  // bits best+1..63
    const int absorbed = lowest_bit(starts & above);
    starts &= ~(uint64_t(1) << absorbed);
    ids[best] = min_rank;
    ranks[absorbed] = kNoRank;
    const uint64_t after = starts & above, before = starts & ((uint64_t(1) << best) - 1);
    ranks[best] = after ? lookup_pair(t, ids[best], ids[lowest_bit(after)]) : kNoRank;
    if (before) {
      const int prev = highest_bit(before);
      ranks[prev] = lookup_pair(t, ids[prev], ids[best]);
    }
  }
  for (; starts; starts &= starts - 1) emit(ids[lowest_bit(starts)]);
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
JAXBPE_HD void merge_long_piece(const Tables& t, const uint8_t* p, int64_t n, int32_t* work,
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
    rank[i] = i + 1 < n ? lookup_pair(t, ids[i], ids[i + 1]) : kNoRank;
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

// Tokenizes a long piece in linear time (the backtracking encoder of GitHub's `bpe`
// crate). BPE's output is the only tokenization in which every two neighbours are
// compatible, so: take the longest token that fits, fall back to shorter prefixes of it
// when it is not compatible with the previous token, and back up a token when nothing
// fits. A position from which nothing fits is marked dead, so none is explored twice.
template <typename Emit>
JAXBPE_HD void backtrack_long_piece(const Tables& t, const uint8_t* p, int64_t n, int32_t* work,
                                    Emit& emit) {
  int32_t* tokens = work;
  uint32_t* dead = reinterpret_cast<uint32_t*>(work + n);  // n + 1 bits
  for (int64_t i = 0; i <= n / 32; ++i) dead[i] = 0;
  int64_t count = 0, pos = 0;
  int32_t token = longest_token_at(t, p, n);
  while (pos < n) {
    const int64_t end = pos + token_length(t, token);
    if (!(dead[end / 32] >> (end % 32) & 1) &&
        (count == 0 || tokens_compatible(t, tokens[count - 1], token))) {
      tokens[count++] = token;
      pos = end;
      if (pos < n) token = longest_token_at(t, p + pos, n - pos);
      continue;
    }
    token = t.next_prefix[token];
    while (token < 0) {
      dead[pos / 32] |= 1u << (pos % 32);
      // Unreachable when the premise holds; should a vocabulary break it, fall back to
      // the general merge rather than read out of bounds.
      if (count == 0) return merge_long_piece(t, p, n, work, emit);
      token = tokens[--count];
      pos -= token_length(t, token);
      token = t.next_prefix[token];
    }
  }
  for (int64_t i = 0; i < count; ++i) emit(tokens[i]);
}

// Emits the token ids of one piece. `work` supplies long_piece_workspace(n) words for
// pieces longer than kShortPiece: work.get(n) returns them.
template <typename Work, typename Emit>
JAXBPE_HD void encode_piece(const Tables& t, const uint8_t* p, int64_t n, Work& work, Emit& emit) {
  const int32_t whole = lookup_piece(t, p, n);
  if (whole >= 0) {
    emit(whole);
  } else if (n <= kShortPiece) {
    merge_short_piece(t, p, int(n), emit);
  } else if (t.flags & kMergesInRankOrder) {
    backtrack_long_piece(t, p, n, work.get(n), emit);
  } else {
    merge_long_piece(t, p, n, work.get(n), emit);
  }
}

}  // namespace jaxbpe
