"""`Encoding`: the tiktoken-compatible host API, and the JAX pytree that carries an
encoding's tables into jitted code."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Collection, Iterable, Sequence
from typing import AbstractSet, Literal

import jax
import numpy as np

from . import _native
from .patterns import pattern_family, pattern_id
from .vocab import VocabularyError, load_gpt2_vocab, load_hf_tokenizer, load_tiktoken_bpe

AllowedSpecial = Literal["all"] | AbstractSet[str]
DisallowedSpecial = Literal["all"] | Collection[str]


class Encoding:
    """A byte-level BPE encoding, token for token identical to tiktoken's.

    Use it like a `tiktoken.Encoding` on the host, and pass it as an argument to jitted
    functions that call `jaxbpe.encode`: it is a pytree whose one leaf is the array of
    its lookup tables (uploaded to the default device once), so the tables are an
    operand of the custom call rather than a constant baked into every program.
    """

    def __init__(
        self,
        name: str,
        *,
        pattern: str,
        mergeable_ranks: dict[bytes, int],
        special_tokens: dict[str, int] | None = None,
    ):
        self.name = name
        self.pattern = pattern_family(pattern)
        self._special_tokens = dict(special_tokens or {})
        n = len(mergeable_ranks)
        if n == 0:
            raise VocabularyError(f"{name}: no tokens")
        by_rank = sorted(mergeable_ranks.items(), key=lambda kv: kv[1])
        if by_rank[0][1] != 0 or by_rank[-1][1] != n - 1:
            raise VocabularyError(
                f"{name}: ranks must be 0..{n - 1} without gaps or duplicates "
                f"(found {by_rank[0][1]}..{by_rank[-1][1]}{_first_duplicate_rank(by_rank)})"
            )
        seen_ids: dict[int, str] = {}
        for token, rank in self._special_tokens.items():
            if rank in seen_ids:
                raise VocabularyError(f"{name}: special tokens {seen_ids[rank]!r} and {token!r} both have id {rank}")
            seen_ids[rank] = token
            if rank < n:
                raise VocabularyError(
                    f"{name}: special token {token!r} has id {rank}, which is an ordinary token's rank"
                )
            if token.encode() in mergeable_ranks:
                raise VocabularyError(f"{name}: special token {token!r} is also an ordinary token")
        token_bytes = [t for t, _ in by_rank]
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum([len(t) for t in token_bytes], out=offsets[1:])
        try:
            self._tables = _native.build_tables(np.frombuffer(b"".join(token_bytes), np.uint8), offsets)
        except ValueError as e:
            raise VocabularyError(f"{name}: {e}") from None
        self._core = _native.HostEncoder(self._tables, pattern_id(self.pattern))
        self._all_specials = _native.build_specials([(t.encode(), i) for t, i in self._special_tokens.items()])
        self._device_tables: jax.Array | None = None
        self._specials_blobs: dict[frozenset[str], np.ndarray] = {}

    # -- constructors -----------------------------------------------------------------

    @classmethod
    def from_tiktoken_file(
        cls,
        path: str | os.PathLike,
        *,
        pattern: str,
        special_tokens: dict[str, int] | None = None,
        name: str | None = None,
        expected_hash: str | None = None,
    ) -> "Encoding":
        """Loads a tiktoken rank file (`base64(token) rank` lines, optionally gzipped).
        `pattern` is a family name ("r50k", "cl100k", "o200k") or its exact regex."""
        return cls(
            name or os.path.basename(os.fspath(path)).split(".")[0],
            pattern=pattern,
            mergeable_ranks=load_tiktoken_bpe(path, expected_hash),
            special_tokens=special_tokens,
        )

    @classmethod
    def from_gpt2_files(cls, vocab_bpe, encoder_json, *, name: str = "gpt2") -> "Encoding":
        """GPT-2's original vocab.bpe + encoder.json, with the r50k pattern."""
        return cls(
            name,
            pattern="r50k",
            mergeable_ranks=load_gpt2_vocab(vocab_bpe, encoder_json),
            special_tokens={"<|endoftext|>": 50256},
        )

    @classmethod
    def from_hf_tokenizer_json(cls, path, *, name: str | None = None) -> "Encoding":
        """A Hugging Face tokenizer.json with a byte-level BPE model whose pre-tokenizer
        is one of the supported patterns. Its ids are taken as the merge ranks."""
        ranks, regex, specials = load_hf_tokenizer(path)
        return cls(name or "hf", pattern=regex, mergeable_ranks=ranks, special_tokens=specials)

    # -- tiktoken-compatible API --------------------------------------------------------

    def __repr__(self) -> str:
        return f"<jaxbpe.Encoding {self.name!r} ({self.pattern} pattern, {self.n_vocab} ids)>"

    @property
    def n_vocab(self) -> int:
        return max([self._core.n_tokens - 1, *self._special_tokens.values()]) + 1

    @property
    def max_token_value(self) -> int:
        return self.n_vocab - 1

    @property
    def eot_token(self) -> int:
        return self._special_tokens["<|endoftext|>"]

    @property
    def special_tokens_set(self) -> set[str]:
        return set(self._special_tokens)

    def encode_ordinary(self, text: str) -> list[int]:
        """Encodes text, treating special tokens' text as ordinary text."""
        return self._core.encode_list(_utf8(text), _NO_SPECIALS)

    def encode(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = set(),  # noqa: B006 (tiktoken's signature)
        disallowed_special: DisallowedSpecial = "all",
    ) -> list[int]:
        """Encodes text; raises ValueError on disallowed special tokens, like tiktoken."""
        allowed, disallowed = self._special_sets(allowed_special, disallowed_special)
        _raise_if_disallowed(text, disallowed)
        return self._core.encode_list(_utf8(text), self._specials_blob(allowed))

    def encode_to_numpy(self, text: str | bytes, *, allowed_special: AllowedSpecial = frozenset()) -> np.ndarray:
        """int32 ids of text or raw bytes (any bytes, valid UTF-8 or not), without a list."""
        data = text if isinstance(text, bytes) else _utf8(text)
        return self._core.encode(data, self._specials_blob(self._resolve_allowed(allowed_special)))

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        num_threads: int = 8,
        allowed_special: AllowedSpecial = set(),  # noqa: B006
        disallowed_special: DisallowedSpecial = "all",
    ) -> list[list[int]]:
        """Encodes texts in parallel on `num_threads` native threads (GIL released)."""
        allowed, disallowed = self._special_sets(allowed_special, disallowed_special)
        for text in texts:
            _raise_if_disallowed(text, disallowed)
        blob = self._specials_blob(allowed)
        return self._core.encode_batch([_utf8(t) for t in texts], blob, num_threads)

    def encode_ordinary_batch(self, texts: Sequence[str], *, num_threads: int = 8) -> list[list[int]]:
        return self._core.encode_batch([_utf8(t) for t in texts], _NO_SPECIALS, num_threads)

    def decode_bytes(self, tokens: Iterable[int]) -> bytes:
        ids = np.asarray(list(tokens) if not isinstance(tokens, np.ndarray) else tokens)
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"token ids must be integers, got {ids.dtype}")
        return self._core.decode(np.ascontiguousarray(ids.reshape(-1), dtype=np.int64), self._all_specials)

    def decode(self, tokens: Iterable[int], errors: str = "replace") -> str:
        return self.decode_bytes(tokens).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        return self.decode_bytes([token])

    def decode_tokens_bytes(self, tokens: Iterable[int]) -> list[bytes]:
        return [self.decode_single_token_bytes(t) for t in tokens]

    # -- special tokens -----------------------------------------------------------------

    def _resolve_allowed(self, allowed_special: AllowedSpecial) -> frozenset[str]:
        if allowed_special == "all":
            return frozenset(self._special_tokens)
        unknown = set(allowed_special) - set(self._special_tokens)
        if unknown:
            raise ValueError(f"{self.name} has no special tokens {sorted(unknown)}")
        return frozenset(allowed_special)

    def _special_sets(self, allowed_special, disallowed_special) -> tuple[frozenset[str], frozenset[str]]:
        """The allowed special tokens, and those whose text must not occur."""
        allowed = self._resolve_allowed(allowed_special)
        if disallowed_special == "all":
            return allowed, frozenset(self._special_tokens) - allowed
        return allowed, frozenset(disallowed_special)

    def _specials_blob(self, allowed: frozenset[str]) -> np.ndarray:
        """The native form of a set of allowed special tokens (cached per set)."""
        if (blob := self._specials_blobs.get(allowed)) is None:
            tokens = [(t.encode(), self._special_tokens[t]) for t in sorted(allowed)]
            blob = self._specials_blobs[allowed] = _native.build_specials(tokens)
        return blob

    # -- JAX ----------------------------------------------------------------------------

    @property
    def tables(self) -> jax.Array:
        """The lookup tables as a uint8 array on the default device (uploaded once)."""
        if self._device_tables is None:
            self._device_tables = jax.device_put(self._tables)
        return self._device_tables

    def tree_flatten(self):
        return (self.tables,), _Static(self)

    @classmethod
    def tree_unflatten(cls, static: "_Static", leaves):
        enc = object.__new__(cls)
        enc.__dict__.update(static.encoding.__dict__)
        enc._device_tables = leaves[0]
        return enc


class _Static:
    """Pytree aux data: compares by the identity of the encoding it came from, so jit
    caches one trace per loaded encoding."""

    def __init__(self, encoding: Encoding):
        self.encoding = encoding

    def __eq__(self, other):
        return isinstance(other, _Static) and other.encoding._core is self.encoding._core

    def __hash__(self):
        return id(self.encoding._core)


jax.tree_util.register_pytree_node_class(Encoding)

_NO_SPECIALS = np.zeros(0, dtype=np.uint8)


def _first_duplicate_rank(by_rank: list[tuple[bytes, int]]) -> str:
    """', rank R is given to both A and B' for the first rank given twice, or ''."""
    for (a, ra), (b, rb) in zip(by_rank, by_rank[1:]):
        if ra == rb:
            return f"; rank {ra} is given to both {a!r} and {b!r}"
    return ""


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates cannot be UTF-8; tiktoken replaces them with U+FFFD too.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")


@functools.lru_cache(maxsize=128)
def _special_token_regex(tokens: frozenset[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)))


def _raise_if_disallowed(text: str, disallowed: frozenset[str]) -> None:
    """tiktoken's error for special-token text that the caller did not allow."""
    if disallowed and (match := _special_token_regex(disallowed).search(text)):
        token = match.group()
        raise ValueError(
            f"Encountered text corresponding to disallowed special token {token!r}.\n"
            f"If you want this text to be encoded as a special token, pass it to "
            f"`allowed_special`, e.g. `allowed_special={{{token!r}, ...}}`.\n"
            f"If you want this text to be encoded as normal text, disable the check for "
            f"this token by passing `disallowed_special=(enc.special_tokens_set - {{{token!r}}})`.\n"
            f"To disable this check for all special tokens, pass `disallowed_special=()`.\n"
        )
