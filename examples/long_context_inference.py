"""Tokenize a long document on the device, then prefill and greedily generate with a
small GPT-2-style transformer and a KV cache, decoding the generated ids on the device
and streaming the text out as it comes.

The document defaults to 1 MiB of the machine's English manual pages
(benchmarks/corpus.py); --file reads another. The model has random weights unless
--checkpoint names a GPT-2 `model.safetensors` (read with numpy, no safetensors
package needed). The whole document is tokenized inside jit; the model sees its last
tokens (as many as its context holds, less the ones it generates).

    python examples/long_context_inference.py --small
    python examples/long_context_inference.py --checkpoint gpt2/model.safetensors
"""

from __future__ import annotations

import argparse
import codecs
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# The corpus builder and the model; jaxbpe itself is the installed package.
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "examples")]

import corpus  # noqa: E402
import gpt  # noqa: E402
import jaxbpe  # noqa: E402

SIZES = {  # random-weight models: context, layers, heads, width
    "small": gpt.Config(vocab=0, context=256, layers=2, heads=4, width=64),
    "full": gpt.Config(vocab=0, context=1024, layers=12, heads=12, width=768),  # GPT-2 small's shape
}


def timed(label: str, fn, *args, repeat: int = 1):
    """Compiles fn for args, then runs it `repeat` times; returns (result, compile s,
    fastest run s)."""
    print(f"{label}: compiling...", end=" ", flush=True)
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    print("running...", end=" ", flush=True)
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - t0)
    print(f"{min(runs):.3f} s (compile {compile_s:.1f} s)", flush=True)
    return result, compile_s, min(runs)


def tiktoken_seconds(name: str, text: str, count: int, tail: np.ndarray) -> float | None:
    """tiktoken's time for the same document (built from the rank file jaxbpe verified);
    checks that it gives the same token count and the same last tokens as jaxbpe."""
    try:
        ref = jaxbpe.get_encoding(name).to_tiktoken()
    except ImportError:  # tiktoken is not installed
        return None
    seconds = float("inf")
    for _ in range(3):  # the fastest of 3, like jaxbpe's time
        start = time.perf_counter()
        ids = ref.encode_ordinary(text)
        seconds = min(seconds, time.perf_counter() - start)
    same = len(ids) == count and ids[len(ids) - len(tail) :] == tail.tolist()
    print(f"tiktoken: {seconds:.3f} s (fastest of 3), {len(ids):,} tokens "
          f"(count and prompt tokens same as jaxbpe: {same})")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, help="the document (default: English man pages from this machine)")
    parser.add_argument("--size", type=int, default=1 << 20, help="bytes of the default document (1 MiB)")
    parser.add_argument("--checkpoint", type=Path, help="a GPT-2 model.safetensors (default: random weights)")
    parser.add_argument("--heads", type=int, help="the checkpoint's attention heads (default: its config.json, or 12)")
    parser.add_argument("--small", action="store_true", help="a tiny random model, for a CPU")
    parser.add_argument("--generate", type=int, default=64, help="tokens to generate")
    parser.add_argument("--chunk", type=int, default=16, help="tokens per jitted generation call")
    args = parser.parse_args()

    document = args.file.read_bytes() if args.file else corpus.text("english", args.size).encode()
    enc = jaxbpe.get_encoding("gpt2")
    if args.checkpoint:
        params, cfg = gpt.load_safetensors(args.checkpoint, args.heads)
    else:
        cfg = SIZES["small" if args.small else "full"]._replace(vocab=enc.n_vocab)
        params = gpt.init(jax.random.key(0), cfg)
    n_params = sum(x.size for x in jax.tree.leaves(params))
    print(f"{jax.devices()[0].platform}: document {len(document):,} bytes; model {n_params / 1e6:.1f}M parameters, "
          f"{cfg.layers} layers, context {cfg.context}{'' if args.checkpoint else ', random weights'}")
    generate_total = -(-args.generate // args.chunk) * args.chunk
    prompt_len = cfg.context - generate_total
    if prompt_len < 1:
        raise SystemExit(f"--generate {args.generate} leaves no room for a prompt in a context of {cfg.context}")

    # 1. Tokenize the whole document inside jit, keep its last prompt_len tokens.
    def tokenize(enc, data, length):
        tokens, counts = jaxbpe.encode(enc, data, length)
        start = jnp.maximum(counts[0] - prompt_len, 0)
        return counts[0], jax.lax.dynamic_slice(tokens[0], (start,), (prompt_len,)), jnp.minimum(counts[0], prompt_len)

    data, length = jaxbpe.to_bytes_batch([document])
    (count, prompt, n_prompt), _, tokenize_s = timed(
        f"tokenize {len(document):,} bytes", tokenize, enc, data, length, repeat=3
    )
    print(f"  {int(count):,} tokens, fastest of 3 runs ({len(document) / tokenize_s / 2**20:.1f} MiB/s)")
    tail = np.asarray(prompt[: int(n_prompt)])
    try:
        tiktoken_s = tiktoken_seconds("gpt2", document.decode(), int(count), tail)
    except UnicodeDecodeError:  # tiktoken takes text; jaxbpe tokenizes any bytes
        tiktoken_s = None

    # 2. Prefill the KV cache with the prompt.
    head_width = cfg.width // cfg.heads
    empty_cache = [(jnp.zeros((1, cfg.context, cfg.heads, head_width)),) * 2 for _ in range(cfg.layers)]

    def prefill(params, prompt, n_prompt):
        positions = jnp.arange(prompt_len)
        mask = (positions[None, :, None] >= jnp.arange(cfg.context)[None, None, :]) & (
            jnp.arange(cfg.context) < n_prompt
        )
        logits, cache = gpt.forward(params, cfg, prompt[None], positions[None], mask, empty_cache, 0)
        return jnp.argmax(logits[0, n_prompt - 1]).astype(jnp.int32), cache

    (next_token, cache), _, prefill_s = timed(f"prefill {prompt_len} tokens", prefill, params, prompt, n_prompt)

    # 3. Generate greedily, a chunk of tokens per call, decoded to bytes on the device.
    table = jaxbpe.decode_table(enc)
    longest_token = int(np.diff(np.asarray(table.offsets)).max())

    def generate_chunk(params, table, cache, token, position):
        def step(carry, _):
            cache, token, position = carry
            mask = (jnp.arange(cfg.context) <= position)[None, None, :]
            logits, cache = gpt.forward(params, cfg, token[None, None], position[None, None], mask, cache, position)
            return (cache, jnp.argmax(logits[0, -1]).astype(jnp.int32), position + 1), token

        (cache, token, position), ids = jax.lax.scan(step, (cache, token, position), length=args.chunk)
        text = jaxbpe.decode(table, ids[None], max_bytes=args.chunk * longest_token)
        return cache, token, position, text.bytes[0], text.lengths[0]

    print(f"generate {generate_total} tokens: compiling...", flush=True)
    compiled = jax.jit(generate_chunk).lower(params, table, cache, next_token, n_prompt).compile()
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")  # holds back split characters
    position = n_prompt
    start = time.perf_counter()
    print("-" * 30 + " generated text " + "-" * 30)
    for _ in range(generate_total // args.chunk):
        cache, next_token, position, chunk_bytes, chunk_len = compiled(params, table, cache, next_token, position)
        chunk = bytes(np.asarray(chunk_bytes[: int(chunk_len)]))
        print(utf8.decode(chunk), end="", flush=True)
    print(utf8.decode(b"", final=True))
    generate_s = time.perf_counter() - start
    print("-" * 76)

    print(f"tokenize  {tokenize_s:8.3f} s  jaxbpe in jit, {int(count):,} tokens"
          + (f"  (tiktoken {tiktoken_s:.3f} s)" if tiktoken_s is not None else ""))
    print(f"prefill   {prefill_s:8.3f} s  {prompt_len} tokens")
    print(f"generate  {generate_s:8.3f} s  {generate_total} tokens, {generate_total / generate_s:.1f} tokens/s")


if __name__ == "__main__":
    main()
