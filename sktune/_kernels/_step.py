"""The optimizer update: one unit per optimizer, and the end-of-batch step
that every CPU kernel runs after a batch's gradient.

:func:`update_range` is compiled once per optimizer (its code ``_OPT`` a
compile-time constant, so the per-element branches fold away and the loop
vectorizes) and called by address (``fns[F_STEP]``): a fit compiles only
its own optimizer, and no kernel compiles the update loops again.
"""
import math

import numpy as np
from numba import njit

from . import _codes as C
from ._jit import arr, caller, types
from ._scalar import flush, optimizer_step, soft_threshold, update_factors

# replaced in each compiled variant (see _jit.twin): the optimizer,
# whether the decoupled decay and L1 proximal step run, and whether pruned
# weights (marked by a negative second moment, ``_codes.PRUNED``) are held
# at zero
_OPT = C.ADAM
_PROX = False
_MASK = False


@njit(cache=True, inline="always")
def _update_loop(opt, prox, mask, params, grad, m, v, n_pen, inv_n, coupled, scale, lr,
                 mom, b1, b2, eps, c1, c2, decay, l1):
    """Penalty, optimizer step and (with ``prox``, a literal) the decoupled
    decay and L1 proximal step of every element of ``params`` by the
    optimizer ``opt`` (a literal, as ``prox`` and ``mask``); zeroes their
    gradient. With ``mask``, a weight whose second moment is negative
    (``_codes.PRUNED``) keeps its zero weight and moments: the step is
    computed and discarded by selects, so the loop stays branch-free.
    Stored values below float32's smallest normal are flushed to zero
    (``_scalar.flush``). Returns the number of new weights that are not
    finite (integer adds, which vectorize). The penalty enters as a select,
    not a branch."""
    bad = 0
    for j in range(params.shape[0]):
        w0 = np.float64(params[j])
        v0 = np.float64(v[j])
        keep = v0 >= 0.0 if mask else True
        pen = j < n_pen
        g = grad[j] * inv_n + (coupled if pen else 0.0) * w0
        grad[j] = 0.0
        w, mj, vj, step = optimizer_step(
            opt, w0, g * scale, np.float64(m[j]), v0 if keep else 0.0,
            lr, mom, b1, b2, eps, c1, c2,
        )
        if prox and pen:
            w = soft_threshold(w - decay * w0, step * l1)
        if mask:
            w = w if keep else 0.0
            mj = mj if keep else 0.0
            vj = vj if keep else v0
        params[j] = flush(w)
        m[j] = flush(mj)
        v[j] = flush(vj)  # a pruned weight's code (negative) is kept
        bad += (w - w) != 0.0  # NaN exactly when w is inf or NaN
    return bad


def update_range(lo, hi, params, grad, m, v, lr, hyper, icodes, n_batch, scale, c1, c2,
                 decay):
    """Penalty, optimizer step and L1 prox of the parameters ``lo:hi``.

    The gradient of parameter ``j`` is ``(grad[j] / n_batch + coupled * w)
    * scale`` (the coupled L2 term only for ``j < n_penalized``, the
    weights), followed there, in the ``_PROX`` variant, by the decoupled
    decay and the L1 proximal step. ``grad[lo:hi]`` is zeroed, ready for the next batch.
    Each parameter's step depends on nothing else, so any split into ranges
    gives the same bits. Returns how many new weights are not finite. The
    ``_MASK`` variant (``sparsity > 0``) holds pruned weights at zero.
    """
    n_pen = min(max(icodes[C.I_N_PENALIZED], lo), hi)
    coupled = 0.0 if icodes[C.I_DECOUPLED] == 1 else hyper[C.H_L2]
    l1 = hyper[C.H_L1]
    inv_n = 1.0 / n_batch
    mom = hyper[C.H_MOMENTUM]
    b1 = hyper[C.H_BETA_1]
    b2 = hyper[C.H_BETA_2]
    eps = hyper[C.H_EPSILON]
    # the loop without the proximal step is a variant of its own: a
    # per-element branch costs as much as Adam's step itself
    # views from 0: loops indexed from 0 vectorize; an index with a runtime
    # offset makes Numba check for negative indices per element (7x slower)
    p = params[lo:hi]
    g = grad[lo:hi]
    mm = m[lo:hi]
    vv = v[lo:hi]
    n_pen = n_pen - lo
    if _PROX:
        return _update_loop(_OPT, True, _MASK, p, g, mm, vv, n_pen, inv_n, coupled, scale,
                            lr, mom, b1, b2, eps, c1, c2, decay, l1)
    return _update_loop(_OPT, False, _MASK, p, g, mm, vv, n_pen, inv_n, coupled, scale, lr,
                        mom, b1, b2, eps, c1, c2, decay, l1)


def step_signature(dtype, grad_dtype):
    """Signature of :func:`update_range` for parameters of ``dtype`` and a
    gradient of ``grad_dtype`` (Numba types)."""
    f64, i64 = types.float64, types.int64
    return types.int64(i64, i64, arr(dtype), arr(grad_dtype), arr(dtype), arr(dtype),
                       f64, arr(f64, 1, True), arr(i64, 1, True), i64, f64, f64, f64, f64)


_call_step = caller(*(step_signature(f, g)
                      for f in (types.float64, types.float32)
                      for g in (types.float64, types.float32)))


@njit(cache=True, inline="always")
def call_step(fns, lo, hi, params, grad, m, v, lr, hyper, icodes, n_batch, scale, c1, c2,
              decay):
    """Call the fit's optimizer unit ``fns[F_STEP]`` on ``lo:hi``."""
    return _call_step(fns[C.F_STEP], (lo, hi, params, grad, m, v, lr, hyper, icodes,
                                       n_batch, scale, c1, c2, decay))


@njit(cache=True, inline="always")
def update_scalars(params, grad, v, lr, hyper, icodes, counters, n_batch):
    """The per-batch scalars of an update, ``(scale, c1, c2, decay)``: the
    clipping factor (from the norm of the whole summed gradient ``grad``,
    without the pruned weights' entries), Adam's bias corrections as
    factors and the decoupled decay. Advances the step counter."""
    n_pen = icodes[C.I_N_PENALIZED]
    pruned = icodes[C.I_PRUNED] == 1
    decoupled = icodes[C.I_DECOUPLED] == 1
    l2 = hyper[C.H_L2]
    clip = hyper[C.H_CLIP]
    coupled = 0.0 if decoupled else l2
    sq = 0.0
    if clip > 0.0:
        inv_n = 1.0 / n_batch
        for j in range(params.shape[0]):
            g = grad[j] * inv_n
            if j < n_pen:
                g += coupled * params[j]
            if pruned and v[j] < 0.0:
                g = 0.0
            sq += g * g
    t = counters[C.C_STEP] + 1
    counters[C.C_STEP] = t
    scale, c1, c2 = update_factors(icodes[C.I_OPTIMIZER], hyper[C.H_BETA_1],
                                   hyper[C.H_BETA_2], t, sq, clip)
    decay = lr * l2 if decoupled else 0.0
    return scale, c1, c2, decay


@njit(cache=True, inline="always")
def update_average(params, avg, icodes, counters, n_batch):
    """Count the batch's samples and, once averaging has started, fold the
    new weights into the running average."""
    counters[C.C_SEEN] += n_batch
    start = icodes[C.I_AVERAGE_START]
    if start >= 0 and counters[C.C_SEEN] > start:
        k = counters[C.C_N_AVG] + 1
        counters[C.C_N_AVG] = k
        inv_k = 1.0 / k
        for j in range(params.shape[0]):
            avg[j] += (params[j] - avg[j]) * inv_k


@njit(cache=True, inline="always")
def sum_chunks(grad, nc, lo, hi):
    """Add the chunk gradients ``grad[1:nc, lo:hi]`` into ``grad[0]`` in
    order, zeroing them."""
    g0 = grad[0, lo:hi]
    for c in range(1, nc):
        gc = grad[c, lo:hi]
        for j in range(hi - lo):
            g0[j] += gc[j]
            gc[j] = 0.0


@njit(cache=True, inline="always")
def add_grad_sum(grad, lo, hi, nb, icodes):
    """With ``icodes[I_GRAD_SUM]``, add the batch's mean loss gradient
    ``grad[0, lo:hi] / nb`` into the last row of ``grad`` (the epoch's sum,
    read by the gradient diagnostics)."""
    if icodes[C.I_GRAD_SUM] == 1:
        g0 = grad[0, lo:hi]
        acc = grad[grad.shape[0] - 1, lo:hi]
        inv = 1.0 / nb
        for j in range(hi - lo):
            acc[j] += g0[j] * inv


@njit(cache=True, inline="always")
def batch_loss(chunk_loss, nc, nb, stats):
    """Record the batch's summed chunk losses; False when not finite."""
    bloss = 0.0
    for c in range(nc):
        bloss += chunk_loss[c]
    stats[C.S_LOSS] += bloss
    stats[C.S_WEIGHT] += nb
    return math.isfinite(bloss)


def end_batch_unit(fns, params, grad, m, v, avg, chunk_loss, nc, nb, lr, hyper, icodes,
                   counters, stats):
    """After a batch: sum the ``nc`` chunk gradients and losses in order,
    record the loss, then penalty, clipping, the optimizer step, L1 prox and
    averaging. ``grad[0]`` is left zeroed. Returns False (and flags
    ``stats``) on divergence.

    A unit of its own (``fns[F_END]``, one per parameter and gradient
    dtype), shared by every epoch and population kernel: inlined, it costs
    each of them half a second of compile time."""
    n = params.shape[0]
    sum_chunks(grad, nc, 0, n)
    if batch_loss(chunk_loss, nc, nb, stats):
        add_grad_sum(grad, 0, n, nb, icodes)
        g = grad[0]
        scale, c1, c2, decay = update_scalars(params, g, v, lr, hyper, icodes, counters, nb)
        bad = call_step(fns, np.int64(0), np.int64(n), params, g, m, v, lr, hyper, icodes,
                        np.int64(nb), scale, c1, c2, decay)
        update_average(params, avg, icodes, counters, nb)
        if bad == 0:
            return True
    stats[C.S_DIVERGED] = 1.0
    return False


def end_signature(dtype, grad_dtype):
    """Signature of :func:`end_batch_unit` (Numba types)."""
    f64, i64 = types.float64, types.int64
    return types.boolean(arr(i64, 1, True), arr(dtype), arr(grad_dtype, 2), arr(dtype),
                         arr(dtype), arr(dtype), arr(f64, 1, False, "A"), i64, i64, f64,
                         arr(f64, 1, True), arr(i64, 1, True), arr(i64), arr(f64))


_call_end = caller(*(end_signature(f, g)
                     for f in (types.float64, types.float32)
                     for g in (types.float64, types.float32)))


@njit(cache=True, inline="always")
def end_batch(fns, params, grad, m, v, avg, chunk_loss, nc, nb, lr, hyper, icodes,
              counters, stats):
    """:func:`end_batch_unit` of the fit, called by address."""
    return _call_end(fns[C.F_END], (fns, params, grad, m, v, avg, chunk_loss,
                                    np.int64(nc), np.int64(nb), lr, hyper, icodes,
                                    counters, stats))
