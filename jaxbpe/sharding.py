"""Keeping a sharded batch sharded through jaxbpe's operations.

XLA cannot partition a custom call: given a batch sharded over devices, the SPMD
partitioner all-gathers the text to every device and tokenizes the whole batch on each.
jaxbpe avoids that by running its operations per shard with `jax.shard_map` whenever
the batch's sharding is known at trace time, i.e. under JAX's explicit sharding
(a mesh with `AxisType.Explicit` axes, whose sharding is part of the array's type):
each device tokenizes (and packs) its own rows, the tables are replicated, and nothing
about the text crosses devices.

`jax.experimental.custom_partitioning` would also cover automatic sharding, but it has
no batching rule, so `jax.vmap` of `encode` would stop working. Under automatic
sharding (where the sharding is unknown while tracing), call jaxbpe inside your own
`jax.shard_map` over the batch axis instead.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
from jax.sharding import AxisType
from jax.sharding import PartitionSpec as P


def batch_axes(x) -> tuple[str, ...]:
    """The explicit mesh axes that x's leading (batch) dimension is sharded over."""
    sharding = getattr(jax.typeof(x), "sharding", None)
    if sharding is None or sharding.mesh.empty or not sharding.spec:
        return ()
    axes = sharding.spec[0]
    axes = () if axes is None else (axes,) if isinstance(axes, str) else tuple(axes)
    types = dict(zip(sharding.mesh.axis_names, sharding.mesh.axis_types))
    return tuple(a for a in axes if types[a] == AxisType.Explicit)


def shards(axes: tuple[str, ...]) -> int:
    """How many pieces the batch is cut into over these axes of the current mesh."""
    mesh = jax.sharding.get_abstract_mesh()
    count = 1
    for a in axes:
        count *= mesh.shape[a]
    return count


def map_over_batch(fn: Callable, axes: tuple[str, ...], replicated: tuple, batched: tuple):
    """fn(*replicated, *batched), run per shard of `axes` when there are any.

    Every array in `batched` and every output of fn is split along its leading axis.
    """
    if not axes:
        return fn(*replicated, *batched)
    spec = P(axes if len(axes) > 1 else axes[0])
    return jax.shard_map(
        fn,
        in_specs=(P(),) * len(replicated) + (spec,) * len(batched),
        out_specs=spec,
    )(*replicated, *batched)
