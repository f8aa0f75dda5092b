"""Running jaxbpe's operations shard by shard, whatever the batch's sharding.

XLA cannot partition a custom call by itself: given a batch sharded over devices, the
SPMD partitioner all-gathers the text to every device and tokenizes the whole batch on
each. jaxbpe tells it how instead:

- under automatic sharding (a `Mesh` with default axis types, `NamedSharding` inputs,
  plain `jax.jit`), `partitioned` wraps the custom call in
  `jax.experimental.custom_partitioning`: a Shardy rule ties the leading axes of the
  batched operands and of every result to batch factors and marks every other axis,
  the tables' included, as needing replication, and the partitioning callback puts the
  custom call on each device's rows;
- under explicit sharding (`AxisType.Explicit`, where the sharding is part of the type
  at trace time), `map_over_batch` runs the operation in `jax.shard_map` over the
  batch's axes (`row_parallel` does that for `encode`, and maps vmap onto its rows);
- inside `jax.shard_map` (all axes manual) and on one device, custom_partitioning
  simply inlines the call.

XLA's own batch-partitionable custom calls (`jax.ffi.register_ffi_target_as_batch_
partitionable`, used for LAPACK) would need no Python callback at compile time, but
they split *every* operand along its leading axes: an encoding's tables, a 1-D byte
blob, would be cut into pieces. `pack` and `decode` are plain jnp, which XLA partitions
by itself under automatic sharding; under explicit sharding they use `map_over_batch`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap
from jax.experimental.custom_partitioning import custom_partitioning
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P


def row_parallel(fn: Callable[..., Sequence], replicated: Sequence, batched: Sequence) -> tuple:
    """fn(*replicated, *batched) for a row-wise fn, whose results' rows depend each on
    the same row of the batched operands, and which takes rows with any number of
    leading batch axes (as the custom calls do).

    Under explicit sharding fn runs per shard (`map_over_batch`); under `jax.vmap` the
    mapped axis becomes one more leading batch axis of the same call (custom_vmap,
    since custom_partitioning has no batching rule of its own). Axes are kept rather
    than folded into one: reshaping a sharded axis and an unsharded one into one axis
    would make XLA gather the batch, whichever of the two is sharded.
    """
    return _row_parallel(fn, 1, tuple(replicated), tuple(batched))


def _row_parallel(fn, batch_dims: int, replicated: tuple, batched: tuple) -> tuple:
    @custom_vmap
    def call(replicated, batched):
        return tuple(map_over_batch(fn, explicit_batch_spec(batched[0], batch_dims), replicated, batched))

    @call.def_vmap
    def call_vmapped(axis_size, in_batched, replicated, batched):
        if any(in_batched[0]):
            raise NotImplementedError("jaxbpe: vmap over an encoding's tables is not supported; map the text only")
        batched = tuple(x if b else jnp.broadcast_to(x, (axis_size, *x.shape)) for x, b in zip(batched, in_batched[1]))
        out = _row_parallel(fn, batch_dims + 1, replicated, batched)
        return out, tuple(True for _ in out)

    return call(replicated, batched)


def partitioned(fn: Callable[..., Sequence], replicated: Sequence, batched: Sequence, batch_dims: int) -> tuple:
    """fn(*replicated, *batched), run by every device on its rows under automatic sharding.

    fn returns arrays whose leading `batch_dims` axes are the batch's, as are those of
    every array in `batched`; each row of a result depends only on the same row of the
    batched operands. The results are sharded like the first batched operand's batch
    axes (less any that its mesh axes do not divide evenly); `replicated` stay whole.
    """
    return _partitioned(fn, len(replicated), batch_dims, *replicated, *batched)


def _sharding_rule(fn, n_replicated, batch_dims, mesh, operand_types, result_types):
    """`r0_0, ..., b0 x1_1, ... -> b0 y0_1, ...` (for one batch axis): batch factors
    shared by the leading axes of the batched operands and of all results; every other
    factor is its operand's own and must stay replicated."""
    batch = [f"b{d}" for d in range(batch_dims)]
    replicated, operands, results = [], [], []
    for i, t in enumerate(operand_types):
        own = [f"x{i}_{d}" for d in range(0 if i < n_replicated else batch_dims, len(t.shape))]
        replicated += own
        operands.append(" ".join(own if i < n_replicated else [*batch, *own]))
    for i, t in enumerate(result_types):
        own = [f"y{i}_{d}" for d in range(batch_dims, len(t.shape))]
        replicated += own
        results.append(" ".join([*batch, *own]))
    return f"{', '.join(operands)} -> {', '.join(results)}", {"need_replication_factors": tuple(replicated)}


def _partition(fn, n_replicated, batch_dims, mesh, arg_shapes, result_shape):
    """Every device runs fn on its rows: the batched operands and results keep the
    sharding of the first batched operand's batch axes, the others are replicated."""
    spec = _batch_spec(arg_shapes[n_replicated], batch_dims, mesh)
    rows, whole = NamedSharding(mesh, spec), NamedSharding(mesh, P())
    arg_shardings = tuple(whole if i < n_replicated else rows for i in range(len(arg_shapes)))
    return mesh, lambda *args: tuple(fn(*args)), tuple(rows for _ in result_shape), arg_shardings


def _batch_spec(shape: jax.ShapeDtypeStruct, batch_dims: int, mesh) -> P:
    """The partition of shape's batch axes, less any axis whose mesh axes do not divide
    it evenly (XLA would pad it with rows that are garbage)."""
    spec = shape.sharding.spec if isinstance(shape.sharding, NamedSharding) else P()
    kept = []
    for d in range(batch_dims):
        axes = spec[d] if d < len(spec) else None
        names = () if axes is None else (axes,) if isinstance(axes, str) else tuple(axes)
        kept.append(axes if names and shape.shape[d] % math.prod(mesh.shape[a] for a in names) == 0 else None)
    return P(*kept)


_partitioned = custom_partitioning(
    lambda fn, n_replicated, batch_dims, *args: tuple(fn(*args)), static_argnums=(0, 1, 2)
)
_partitioned.def_partition(partition=_partition, sharding_rule=_sharding_rule)


def explicit_batch_spec(x, batch_dims: int = 1) -> P | None:
    """The explicit mesh axes that x's leading `batch_dims` axes are sharded over, as a
    PartitionSpec, or None when none of them is (automatic or no sharding)."""
    kept = [_explicit_axes(x, d) for d in range(batch_dims)]
    return P(*(None if not a else a[0] if len(a) == 1 else a for a in kept)) if any(kept) else None


def batch_axes(x) -> tuple[str, ...]:
    """The explicit mesh axes that x's leading (batch) dimension is sharded over."""
    return _explicit_axes(x, 0)


def _explicit_axes(x, dim: int) -> tuple[str, ...]:
    sharding = getattr(jax.typeof(x), "sharding", None)
    if sharding is None or sharding.mesh.empty or len(sharding.spec) <= dim:
        return ()
    axes = sharding.spec[dim]
    axes = () if axes is None else (axes,) if isinstance(axes, str) else tuple(axes)
    types = dict(zip(sharding.mesh.axis_names, sharding.mesh.axis_types))
    return tuple(a for a in axes if types[a] == AxisType.Explicit)


def shards(axes: tuple[str, ...]) -> int:
    """How many pieces the batch is cut into over these axes of the current mesh."""
    mesh = jax.sharding.get_abstract_mesh()
    return math.prod(mesh.shape[a] for a in axes)


def map_over_batch(fn: Callable, spec: P | None, replicated: tuple, batched: tuple):
    """fn(*replicated, *batched), run per shard of an explicit mesh (jax.shard_map) when
    `spec`, the partition of the leading axes, is given. Every array in `batched` and
    every output of fn is split as `spec` says."""
    if spec is None:
        return fn(*replicated, *batched)
    return jax.shard_map(
        fn,
        in_specs=(P(),) * len(replicated) + (spec,) * len(batched),
        out_specs=spec,
    )(*replicated, *batched)
