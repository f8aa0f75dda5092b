"""`jaxbpe_encode` on every platform, chosen when jit lowers.

CPU runs the CPU custom call and CUDA the CUDA one, each partitioned over the batch
(`jaxbpe.sharding.partitioned`). Every other platform (TPU, ROCm, or CUDA when jaxbpe
was built without nvcc) runs a host callback into the same CPU encoder
(`HostEncoder.encode_rows` runs the CPU custom call's code), with a one-time warning;
`JAXBPE_FALLBACK=error` makes that an error and `JAXBPE_FALLBACK=always` takes the
callback on every platform (to test it). `jax.lax.platform_dependent` makes the choice
per platform at lowering time, so that `jax.export` for several platforms lowers each
its own way.

Rows may have any number of leading batch axes (`data` uint8[..., L], `lengths`
int32[...]): the handlers take them as rows, and vmap adds one (sharding.row_parallel).
"""

from __future__ import annotations

import functools
import importlib
import math
import os
import warnings
from types import ModuleType

import jax
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import mlir

from . import _native, sharding

_native_cuda: ModuleType | None
try:
    _native_cuda = importlib.import_module("jaxbpe._native_cuda")
except ImportError:  # built without nvcc
    _native_cuda = None

for _name, _capsule in _native.registrations().items():
    jax.ffi.register_ffi_target(_name, _capsule, platform="cpu")
if _native_cuda is not None:
    for _name, _capsule in _native_cuda.registrations().items():
        jax.ffi.register_ffi_target(_name, _capsule, platform="CUDA")

FALLBACK_ENV = "JAXBPE_FALLBACK"  # "warn" (default), "error" or "always"


def native_platforms() -> tuple[str, ...]:
    """The platforms on which `jaxbpe.encode` runs a native kernel in this build."""
    return ("cpu", "cuda") if _native_cuda is not None else ("cpu",)


def encode_rows(
    tables, specials, data, lengths, *, host, pattern: int, max_tokens: int, pad_id: int, specials_header: tuple
):
    """(tokens, counts, status) of the rows, computed by the platform's kernel.

    `host` is the encoding's `_native.HostEncoder`: the fallback encodes with its own copy
    of the tables, so the callback does not copy them from the device, and the CUDA call
    takes its tables' header (and `specials_header`, of the specials blob) as attributes."""
    params = dict(pattern=pattern, max_tokens=max_tokens, pad_id=pad_id)
    cuda = functools.partial(
        _cuda_call,
        heap_merge=not host.merges_in_rank_order,
        tables_header=tuple(host.tables_header.tolist()),
        specials_header=specials_header,
    )
    calls = {"cpu": _cpu_call, "cuda": cuda} if _native_cuda is not None else {"cpu": _cpu_call}
    if os.environ.get(FALLBACK_ENV) == "always":
        calls = {}
    batch_dims = np.ndim(data) - 1
    native = {
        platform: lambda *operands, call=call: sharding.partitioned(
            functools.partial(call, **params), operands[:2], operands[2:], batch_dims
        )
        for platform, call in calls.items()
    }

    def fallback(*operands):
        return tuple(fallback_p.bind(*operands, host=host, max_tokens=max_tokens, pad_id=pad_id))

    return tuple(jax.lax.platform_dependent(tables, specials, data, lengths, default=fallback, **native))


def _result_shapes(data, lengths, max_tokens: int) -> list[jax.ShapeDtypeStruct]:
    return [
        jax.ShapeDtypeStruct((*data.shape[:-1], max_tokens), np.int32),
        jax.ShapeDtypeStruct(lengths.shape, np.int32),
        jax.ShapeDtypeStruct(lengths.shape, np.int32),
    ]


def _cpu_call(tables, specials, data, lengths, *, pattern, max_tokens, pad_id):
    call = jax.ffi.ffi_call("jaxbpe_encode", _result_shapes(data, lengths, max_tokens))
    return call(tables, specials, data, lengths, pattern=np.int32(pattern), pad_id=np.int32(pad_id))


def cuda_workspace_bytes(rows: int, row_len: int, max_tokens: int, specials: bool, heap_merge: bool) -> int:
    """The CUDA call's workspace for these static shapes (the formula its handler checks)."""
    return _native.pipeline_workspace_bytes(
        rows, row_len, max_tokens, _native.PIPELINE_CHUNK_BYTES, specials, heap_merge
    )


def _cuda_call(
    tables, specials, data, lengths, *, pattern, max_tokens, pad_id, heap_merge, tables_header, specials_header
):
    """The CUDA handler's call: the staged parallel encoder's workspace, sized for these
    (per-device) shapes by the formula the handler checks it against, is one more
    result, dropped here."""
    rows, row_len = math.prod(data.shape[:-1]), data.shape[-1]
    workspace = cuda_workspace_bytes(rows, row_len, max_tokens, specials_header[0] > 0, heap_merge)
    results = [*_result_shapes(data, lengths, max_tokens), jax.ShapeDtypeStruct((workspace,), np.uint8)]
    *outputs, _ = jax.ffi.ffi_call("jaxbpe_encode", results)(
        tables,
        specials,
        data,
        lengths,
        pattern=np.int32(pattern),
        pad_id=np.int32(pad_id),
        chunk_bytes=np.int64(_native.PIPELINE_CHUNK_BYTES),
        heap_merge=heap_merge,
        tables_header=np.array(tables_header, np.int64),
        specials_header=np.array(specials_header, np.int64),
    )
    return outputs


# The fallback, a primitive of its own so that the warning comes when it is lowered,
# i.e. only for the platforms that take it.
fallback_p = Primitive("jaxbpe_encode_on_host")
fallback_p.multiple_results = True


def _fallback_abstract_eval(tables, specials, data, lengths, *, host, max_tokens, pad_id):
    # The types of the native branch's ffi_call, which platform_dependent requires.
    return [jax.core.ShapedArray(r.shape, r.dtype) for r in _result_shapes(data, lengths, max_tokens)]


@functools.cache
def _announce_fallback(platform: str) -> None:
    """Warns once per platform, or raises with JAXBPE_FALLBACK=error."""
    mode = os.environ.get(FALLBACK_ENV, "warn")
    if mode == "always":
        return
    reason = (
        "jaxbpe was built without its CUDA extension (no nvcc was found when it was installed)"
        if platform == "cuda"
        else f"jaxbpe has no native kernel for the {platform!r} platform"
    )
    message = (
        f"{reason}: jaxbpe.encode runs on the host CPU there, through a callback. Every "
        "call copies the batch to the host and the tokens back, and tokenizes on the "
        "host's cores outside the device's stream; under automatic sharding over several "
        "devices the whole batch goes through the first device (explicit sharding and "
        "shard_map keep it per device)."
    )
    if mode == "error":
        raise RuntimeError(f"{message} ({FALLBACK_ENV}=error refuses to fall back.)")
    warnings.warn(f"{message} Set {FALLBACK_ENV}=error to make this an error.", RuntimeWarning, stacklevel=2)


def _fallback_lowering(ctx, tables, specials, data, lengths, *, host, max_tokens, pad_id):
    for platform in ctx.module_context.platforms:
        _announce_fallback(platform)

    def encode_on_host(specials, data, lengths):
        out = host.encode_rows(
            data.reshape(-1, data.shape[-1]), lengths.reshape(-1), specials, max_tokens=max_tokens, pad_id=pad_id
        )
        return [x.reshape(r.shape) for x, r in zip(out, _result_shapes(data, lengths, max_tokens))]

    def callback(tables, specials, data, lengths):
        return jax.pure_callback(encode_on_host, _result_shapes(data, lengths, max_tokens), specials, data, lengths)

    return mlir.lower_fun(callback, multiple_results=True)(ctx, tables, specials, data, lengths)


fallback_p.def_abstract_eval(_fallback_abstract_eval)
fallback_p.def_impl(
    jax.jit(lambda *args, **params: fallback_p.bind(*args, **params), static_argnames=("host", "max_tokens", "pad_id"))
)
mlir.register_lowering(fallback_p, _fallback_lowering)
