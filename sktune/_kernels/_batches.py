"""The batch and chunk ranges every CPU kernel walks.

An epoch visits ``order`` in batches of ``icodes[I_BATCH]`` rows (the last
may be shorter); a batch is split into ``nc`` chunks whose bounds depend on
the batch alone, never on the thread count, so chunk sums taken in order
give the same bits on any number of threads.
"""
from numba import njit

from . import _codes as C


@njit(cache=True, inline="always")
def begin_epoch(stats, n, bs):
    """Clear the epoch statistics; returns the number of batches of ``n``
    rows in batches of ``bs``."""
    stats[C.S_LOSS] = 0.0
    stats[C.S_WEIGHT] = 0.0
    stats[C.S_DIVERGED] = 0.0
    return (n + bs - 1) // bs


@njit(cache=True, inline="always")
def batch_range(b, bs, n):
    """``(start, rows)`` of batch ``b``."""
    start = b * bs
    return start, min(start + bs, n) - start


@njit(cache=True, inline="always")
def chunk_range(start, nb, c, nc):
    """``(lo, hi)`` of chunk ``c`` of ``nc`` of the batch ``start:start + nb``."""
    return start + (c * nb) // nc, start + ((c + 1) * nb) // nc
