// The lookup tables of one vocabulary, packed into a single byte blob. The blob is an
// ordinary array operand of the custom calls, so the same layout is read by the host
// encoder, the CPU handler and the CUDA kernels.
#pragma once

#include "common.h"

namespace jaxbpe {

constexpr uint32_t kTablesMagic = 0x4550424A;  // "JBPE"
constexpr uint32_t kTablesVersion = 6;
constexpr int32_t kNoRank = 0x7FFFFFFF;
// The most tokens a vocabulary may have: the short merge packs a rank and a byte
// position (6 bits) into one int32 below kNoRank.
constexpr int32_t kMaxTokens = 1 << 24;

// TablesHeader::flags. Set when every multi-byte token is what BPE makes of its own
// bytes and BPE builds it with merges of non-decreasing rank: then merge order is rank
// order, long pieces can use the linear backtracking merge and short ones need no
// whole-piece lookup (see bpe.h).
constexpr uint32_t kMergesInRankOrder = 1;

struct TablesHeader {
  uint32_t magic, version, flags;
  int32_t n_tokens;          // ids are the ranks 0..n_tokens-1
  int32_t max_token_len;     // longest token in bytes
  int32_t inline_capacity;   // slots of the short tokens' table (see lookup_inline_token)
  int32_t piece_capacity;    // slots of the bytes -> id hash table of longer ones (power of two)
  int32_t pair_capacity;     // slots of the (id, id) -> merged id hash table (power of two)
  int32_t prefix_capacity;   // slots of the token-prefix hash table (power of two)
  int32_t pair_filter_bits;  // size of the pair table's filter (power of two, >= 64)
  // A hash of the tokens' bytes and boundaries: blobs of one vocabulary share it, and
  // caches of pieces' ids are told apart by it.
  uint64_t vocabulary_hash;
  // Byte offsets of the sections from the start of the blob, and its total size.
  int64_t token_offsets, token_bytes, inline_slots, piece_slots, pair_slots, pair_filter, byte_ids,
      splits, next_prefix, prefix_slots, byte_pairs, total_size;
};

// Pointers into a blob whose header has been checked.
struct Tables {
  uint32_t flags;
  int32_t n_tokens, max_token_len;
  uint64_t vocabulary_hash;
  uint32_t inline_mask, piece_mask, pair_mask, prefix_mask, pair_filter_mask;
  int32_t inline_shift;  // 64 - log2(inline capacity): a slot's home is the top bits of its hash
  const int32_t* token_offsets;  // [n_tokens + 1]: token i is token_bytes[off[i]:off[i+1]]
  const uint8_t* token_bytes;
  // [2 * capacity]: the tokens of 2..kInlineTokenBytes bytes, a slot holding a token's
  // InlineKey with its id in the top bits of the second word (which is 0 in an empty slot).
  const uint64_t* inline_slots;
  const int32_t* piece_slots;  // [2 * capacity]: (id or -1, high half of the hash)
  // [3 * capacity]: (left id or -1, right id, merged id) for the merges BPE can make:
  // the last merge of each token that BPE builds from its own bytes (see lookup_pair).
  const int32_t* pair_slots;
  // One bit per hash_pair value (high half) that some pair in pair_slots has: most
  // pairs looked up do not merge, and this small bitmap says so from cache.
  const uint64_t* pair_filter;
  const int32_t* byte_ids;  // [256]: the id of each single byte
  // [2 * n_tokens]: the two tokens BPE merges last when it encodes token i's bytes
  // alone ((-1, -1) for single bytes and for tokens BPE does not reach).
  const int32_t* splits;
  const int32_t* next_prefix;  // [n_tokens]: longest token that is a proper prefix, or -1
  // [3 * capacity]: every prefix of every token, keyed by extend_prefix_hash: (its length
  // | kPrefix* flags, or 0 in an empty slot; a token that starts with it, the prefix
  // itself where kPrefixIsToken; its first 4 bytes, little-endian, zero-padded). The
  // inline bytes confirm prefixes of up to 4 bytes without reading the token's bytes.
  const int32_t* prefix_slots;
  // [256 * 256]: lookup_pair of the single bytes a, b at a << 8 | b. Every piece's merge
  // starts with the pairs of its bytes; this answers them with one load instead of a
  // hash, a filter bit and a probe.
  const int32_t* byte_pairs;
};

// Bits of a prefix slot's first word above the prefix's length.
constexpr int32_t kPrefixLengthMask = 0xFFFF;
constexpr int32_t kPrefixIsToken = 1 << 16;  // the prefix is itself a token
constexpr int32_t kPrefixExtends = 1 << 17;  // some longer token starts with it

// Validates the header against the blob's size; returns nullptr or what is wrong.
JAXBPE_HD const char* view_tables(const uint8_t* blob, int64_t size, const TablesHeader& h,
                                  Tables* out) {
  if (size < int64_t(sizeof(TablesHeader)) || h.magic != kTablesMagic)
    return "not a jaxbpe tables blob (bad magic)";
  if (h.version != kTablesVersion) return "jaxbpe tables blob of another version";
  if (h.total_size != size) return "jaxbpe tables blob has the wrong size (truncated?)";
  auto pow2 = [](int32_t c) { return c > 0 && (c & (c - 1)) == 0; };
  if (h.n_tokens < 256 || h.n_tokens > kMaxTokens || h.max_token_len < 1 ||
      h.max_token_len > kPrefixLengthMask || !pow2(h.inline_capacity) || h.inline_capacity < 2 ||
      !pow2(h.piece_capacity) || !pow2(h.pair_capacity) || !pow2(h.prefix_capacity) ||
      !pow2(h.pair_filter_bits) || h.pair_filter_bits < 64)
    return "jaxbpe tables blob has an inconsistent header";
  auto fits = [&](int64_t off, int64_t bytes, int align = 4) {
    return off >= int64_t(sizeof(TablesHeader)) && off % align == 0 && bytes >= 0 &&
           off + bytes <= size;
  };
  if (!fits(h.token_offsets, 4 * (int64_t(h.n_tokens) + 1)) || !fits(h.token_bytes, 0) ||
      !fits(h.inline_slots, 16 * int64_t(h.inline_capacity), 8) ||
      !fits(h.piece_slots, 8 * int64_t(h.piece_capacity)) ||
      !fits(h.pair_slots, 12 * int64_t(h.pair_capacity)) ||
      !fits(h.pair_filter, int64_t(h.pair_filter_bits) / 8, 8) || !fits(h.byte_ids, 4 * 256) ||
      !fits(h.splits, 8 * int64_t(h.n_tokens)) || !fits(h.next_prefix, 4 * int64_t(h.n_tokens)) ||
      !fits(h.prefix_slots, 12 * int64_t(h.prefix_capacity)) || !fits(h.byte_pairs, 4 * 65536))
    return "jaxbpe tables blob has a section out of bounds";
  out->flags = h.flags;
  out->n_tokens = h.n_tokens;
  out->vocabulary_hash = h.vocabulary_hash;
  out->max_token_len = h.max_token_len;
  out->inline_mask = uint32_t(h.inline_capacity - 1);
  out->inline_shift = 64 - lowest_bit(uint64_t(h.inline_capacity));
  out->piece_mask = uint32_t(h.piece_capacity - 1);
  out->pair_mask = uint32_t(h.pair_capacity - 1);
  out->prefix_mask = uint32_t(h.prefix_capacity - 1);
  out->pair_filter_mask = uint32_t(h.pair_filter_bits - 1);
  out->token_offsets = reinterpret_cast<const int32_t*>(blob + h.token_offsets);
  out->token_bytes = blob + h.token_bytes;
  out->inline_slots = reinterpret_cast<const uint64_t*>(blob + h.inline_slots);
  out->piece_slots = reinterpret_cast<const int32_t*>(blob + h.piece_slots);
  out->pair_slots = reinterpret_cast<const int32_t*>(blob + h.pair_slots);
  out->pair_filter = reinterpret_cast<const uint64_t*>(blob + h.pair_filter);
  out->byte_ids = reinterpret_cast<const int32_t*>(blob + h.byte_ids);
  out->splits = reinterpret_cast<const int32_t*>(blob + h.splits);
  out->next_prefix = reinterpret_cast<const int32_t*>(blob + h.next_prefix);
  out->prefix_slots = reinterpret_cast<const int32_t*>(blob + h.prefix_slots);
  out->byte_pairs = reinterpret_cast<const int32_t*>(blob + h.byte_pairs);
  return nullptr;
}

// Tokens of up to kInlineTokenBytes bytes, most of those that pieces of text are, have a
// table whose slots hold their bytes: finding one reads one slot, where a longer one
// reads a slot, the token's offset and its bytes. That matters on new text, whose pieces
// are not in the host's piece cache and whose lookups miss the CPU's caches: first calls
// on 64 KiB documents of English, code, markdown and multilingual text 1.08-1.15x as
// fast, the first document a process encodes (cold tables) 1.1-1.2x; CJK, Cyrillic and
// Arabic text, whose pieces are longer, 0.99-1.06x (wall time, one pinned core, cl100k
// and o200k; 2-5% fewer instructions).
constexpr int kInlineTokenBytes = 12;

// The bytes of a piece of 2..kInlineTokenBytes bytes, as the inline table keys them.
struct InlineKey {
  uint64_t head;  // bytes 0..7, zero-padded
  uint64_t tail;  // bytes 8..11, zero-padded, and the length in bits 32..39
};
constexpr int kInlineIdShift = 40;  // a slot's id is its second word >> kInlineIdShift

JAXBPE_HD InlineKey inline_key(const uint8_t* p, int64_t n) {
  const uint64_t tail = n > 8 ? load_le(p + 8, int(n - 8)) : 0;
  return {load_le(p, int(n < 8 ? n : 8)), tail | uint64_t(n) << 32};
}

JAXBPE_HD uint64_t inline_hash(const InlineKey& k) {
  return k.head * 0x9e3779b97f4a7c15ULL ^ k.tail * 0xc2b2ae3d27d4eb4fULL;
}

// The id of the token whose bytes are p[0..n) (2 <= n <= kInlineTokenBytes), or -1.
JAXBPE_HD int32_t lookup_inline_token(const Tables& t, const uint8_t* p, int64_t n) {
  const InlineKey k = inline_key(p, n);
  constexpr uint64_t kKeyBits = (uint64_t(1) << kInlineIdShift) - 1;
  for (uint32_t slot = uint32_t(inline_hash(k) >> t.inline_shift);;
       slot = (slot + 1) & t.inline_mask) {
    const uint64_t* s = t.inline_slots + 2 * slot;
    if (s[1] == 0) return -1;
    if ((s[1] & kKeyBits) == k.tail && s[0] == k.head) return int32_t(s[1] >> kInlineIdShift);
  }
}

// The id of the token whose bytes are p[0..n), or -1.
JAXBPE_HD int32_t lookup_piece(const Tables& t, const uint8_t* p, int64_t n) {
  if (n == 1) return t.byte_ids[p[0]];
  if (n <= kInlineTokenBytes) return lookup_inline_token(t, p, n);
  if (n > t.max_token_len) return -1;
  const uint64_t h = hash_bytes(p, n);
  const int32_t tag = int32_t(h >> 32);
  for (uint32_t slot = uint32_t(h) & t.piece_mask;; slot = (slot + 1) & t.piece_mask) {
    const int32_t id = t.piece_slots[2 * slot];
    if (id < 0) return -1;
    if (t.piece_slots[2 * slot + 1] != tag) continue;
    const int32_t begin = t.token_offsets[id], len = t.token_offsets[id + 1] - begin;
    if (len == n && bytes_equal(t.token_bytes + begin, p, n)) return id;
  }
}

// The token that merging parts a and b side by side makes, or kNoRank when BPE never
// merges them; in byte-level BPE its id is also the merge's rank. Of the ways to write a
// token m as two tokens, BPE only ever merges one: all merges inside m's bytes happen
// before m forms and none crosses its edges, so they are the merges BPE makes of m's
// bytes alone, and the last of them is the one that forms m. The table holds just that
// pair per token, fewer than half of all splits (smaller tables, fewer cache misses).
JAXBPE_HD int32_t lookup_pair(const Tables& t, int32_t a, int32_t b) {
  const uint64_t h = hash_pair(a, b);
  const uint32_t bit = uint32_t(h >> 32) & t.pair_filter_mask;
  if (!(t.pair_filter[bit / 64] >> (bit % 64) & 1)) return kNoRank;
  for (uint32_t slot = uint32_t(h) & t.pair_mask;; slot = (slot + 1) & t.pair_mask) {
    const int32_t* s = t.pair_slots + 3 * slot;
    if (s[0] < 0) return kNoRank;
    if (s[0] == a && s[1] == b) return s[2];
  }
}

// Keys of the prefix table: a hash of p[0..len) extended one byte at a time, so that a
// scan can look up every prefix of the text ahead at one step each.
JAXBPE_HD uint64_t extend_prefix_hash(uint64_t h, uint8_t byte) {
  return (h + byte + 1) * 0x9e3779b97f4a7c15ULL;
}

JAXBPE_HD int32_t token_length(const Tables& t, int32_t id) {
  return t.token_offsets[id + 1] - t.token_offsets[id];
}

// The prefix table's slot for p[0..len), whose running hash is h and whose first 4 bytes
// are head, or nullptr. Slots are confirmed by length and bytes, so a hash collision
// costs time, never a wrong answer. `known` is a token whose first len - 1 bytes are
// known to be p's (or -1). As a scan extends a prefix, its slots mostly name either that
// token or one that `known` is the longest token prefix of (the slots of a run of spaces
// name the run's own tokens, one byte longer each time), and then one byte confirms the
// slot; comparing the whole prefix there made a megabyte of spaces cost 250 instructions
// per byte (callgrind).
JAXBPE_HD const int32_t* find_prefix(const Tables& t, uint64_t h, uint32_t head, const uint8_t* p,
                                     int64_t len, int32_t known) {
  for (uint32_t slot = uint32_t(mix64(h)) & t.prefix_mask;; slot = (slot + 1) & t.prefix_mask) {
    const int32_t* s = t.prefix_slots + 3 * slot;
    if (s[0] == 0) return nullptr;
    if ((s[0] & kPrefixLengthMask) != len || uint32_t(s[2]) != head) continue;
    if (len <= 4) return s;
    const int32_t id = s[1];
    const uint8_t* witness = t.token_bytes + t.token_offsets[id];
    const bool extends_known = known >= 0 && (id == known || t.next_prefix[id] == known);
    if (extends_known ? witness[len - 1] == p[len - 1] : bytes_equal(witness + 4, p + 4, len - 4))
      return s;
  }
}

// The longest token that p[0..n) starts with (n >= 1; every byte is a token). Sets
// *decided to how many of the bytes decide it: every text that starts with them has
// the same longest token. 0 when the text's end cut the search short (a longer text
// might have a longer token there).
JAXBPE_HD int32_t longest_token_at(const Tables& t, const uint8_t* p, int64_t n, int64_t* decided) {
  int32_t best = t.byte_ids[p[0]], known = -1;
  const int64_t limit = n < t.max_token_len ? n : t.max_token_len;
  uint64_t h = 0;
  uint32_t head = 0;
  for (int64_t len = 1; len <= limit; ++len) {
    h = extend_prefix_hash(h, p[len - 1]);
    if (len <= 4) head |= uint32_t(p[len - 1]) << (8 * (len - 1));
    const int32_t* s = find_prefix(t, h, head, p, len, known);
    *decided = len;
    if (s == nullptr) return best;
    if (s[0] & kPrefixIsToken) best = s[1];
    if (!(s[0] & kPrefixExtends)) return best;
    known = s[1];
  }
  *decided = limit == t.max_token_len ? limit : 0;
  return best;
}

}  // namespace jaxbpe
