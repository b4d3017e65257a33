"""The batch and chunk ranges every CPU kernel walks.

An epoch visits ``order`` in batches of ``icodes[I_BATCH]`` rows (the last
may be shorter); a batch is split into ``nc`` chunks whose bounds depend on
the batch alone, never on the thread count, so chunk sums taken in order
give the same bits on any number of threads.
"""
from numba import njit

from . import _codes as C
from ._jit import prefetch

#: how many rows ahead of the one being trained a kernel asks for
#: (:func:`prefetch_csr_row`): one row ahead hid 80 % of the wait, two all
#: of it, more gained nothing
AHEAD = 2

#: bytes per cache line on the CPUs Numba targets
LINE = 64


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


@njit(cache=True, inline="always")
def prefetch_span(a, lo, hi):
    """Prefetch (:func:`._jit.prefetch`) every cache line of the 1-D
    ``a[lo:hi]``."""
    if hi > lo:
        step = max(1, LINE // a.itemsize)
        for q in range(lo, hi, step):
            prefetch(a, q, 0)
        prefetch(a, hi - 1, 0)  # the last line, when ``lo`` is not aligned


@njit(cache=True, inline="always")
def prefetch_csr_row(data, indices, indptr, Y, sw, order, ii):
    """Prefetch the non-zeros, targets and weight of the CSR row
    ``order[ii + AHEAD]``, if any: called before training the row
    ``order[ii]``, its loads overlap the current row's arithmetic instead
    of stalling the next."""
    if ii + AHEAD < order.shape[0]:
        r = order[ii + AHEAD]
        lo = indptr[r]
        hi = indptr[r + 1]
        prefetch_span(data, lo, hi)
        prefetch_span(indices, lo, hi)
        prefetch(Y, r, 0)
        prefetch(sw, r, 0)


@njit(cache=True, inline="always")
def prefetch_dense_row(X, Y, sw, order, ii):
    """Prefetch the C-ordered row ``X[order[ii + AHEAD]]``, its targets and
    weight, if any (see :func:`prefetch_csr_row`)."""
    if ii + AHEAD < order.shape[0]:
        r = order[ii + AHEAD]
        for off in range(0, X.shape[1] * X.itemsize, LINE):
            prefetch(X, r, off)
        prefetch(Y, r, 0)
        prefetch(sw, r, 0)
