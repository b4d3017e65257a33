"""MLP kernels: the units of a pass, the pass of a row chunk, the epoch.

``params`` packs every layer's weights (row-major, fan_in x fan_out) first,
then every layer's biases (see :mod:`._layout`), so one update covers all
layers and the penalty applies to ``params[:n_weights]``. Every buffer is
flat and every unit takes offsets into it, so one compiled signature per
dtype serves every network shape.

The units (:mod:`._jit`): the activation and its derivative, one variant
per activation; the loss and output gradient, one per loss; two products
(vector tiles for layers at least a vector wide, a strided loop for the
others); the chunk's pass; the epoch. The epoch calls the pass, the pass
calls the others, all by address, so each compiles once and alone.
"""
import math

import numpy as np
from numba import njit, prange

from . import _codes as C
from ._batches import batch_range, begin_epoch, chunk_range
from ._gemm import gemm_nn, vector_width
from ._jit import arr, caller, types
from ._rng import dropout_keep_after, hash_prefix
from ._scalar import activation, activation_grad, elem_loss_grad
from ._step import batch_loss, call_step, end_batch, sum_chunks, update_average, \
    update_scalars

_ACT = C.RELU  # compile-time constants of each variant (see _jit.twin)
_LOSS = C.SQUARED_ERROR

F32, F64, I64 = types.float32, types.float64, types.int64


# --------------------------------------------------------------------------
# Units of a pass

def bias_activation(Z, z_off, rows, cols, params, b_off):
    """``Z = activation(Z + bias)`` in place on the ``rows x cols`` block at
    ``Z[z_off:]``, the bias at ``params[b_off:]``."""
    for r in range(rows):
        at = z_off + r * cols
        for j in range(cols):
            Z[at + j] = activation(_ACT, np.float64(Z[at + j]) + params[b_off + j])


def times_activation_grad(D, d_off, A, a_off, rows, cols):
    """``D *= activation'(A)`` in place (the derivative from the output
    ``A``) on ``rows x cols`` blocks."""
    for q in range(rows * cols):
        D[d_off + q] *= activation_grad(_ACT, np.float64(A[a_off + q]))


def loss_rows(P, p_off, D, d_off, Y, sw, order, lo, nb, delta):
    """Loss of the rows ``order[lo:lo + nb]`` from their outputs (the
    ``nb x n_out`` block at ``P[p_off:]``) and their output gradients,
    times the sample weights, into ``D[d_off:]``; returns the summed
    weighted loss."""
    n_out = Y.shape[1]
    loss = 0.0
    for r in range(nb):
        i = order[lo + r]
        wi = np.float64(sw[i])
        at = p_off + r * n_out
        dt = d_off + r * n_out
        if _LOSS == C.SOFTMAX:
            mx = -np.inf
            for k in range(n_out):
                mx = max(mx, np.float64(P[at + k]))
            s = 0.0
            for k in range(n_out):
                s += math.exp(P[at + k] - mx)
            lse = mx + math.log(s)
            for k in range(n_out):
                y = np.float64(Y[i, k])
                loss += wi * y * (lse - P[at + k])
                D[dt + k] = wi * (math.exp(P[at + k] - lse) - y)
        else:
            for k in range(n_out):
                lk, gk = elem_loss_grad(_LOSS, np.float64(Y[i, k]), np.float64(P[at + k]),
                                        delta)
                loss += wi * lk
                D[dt + k] = wi * gk
    return loss


def small_gemm(Cm, c_off, c_rs, c_cs, A, a_off, a_rs, a_cs, B, b_off, b_rs, b_cs, M, N, K):
    """``C = A @ B`` (``M x N``, summed over ``K`` in order, in float64) on
    strided flat blocks: the products of layers narrower than a vector
    (an output unit, say), where a loop beats a BLAS call's fixed cost."""
    for i in range(M):
        for j in range(N):
            s = 0.0
            for p in range(K):
                s += (np.float64(A[a_off + i * a_rs + p * a_cs])
                      * B[b_off + p * b_rs + j * b_cs])
            Cm[c_off + i * c_rs + j * c_cs] = s


def dropout_forward(A, a_off, order, lo, nb, cols, seed, epoch, unit0, rate):
    """Inverted dropout on the ``nb x cols`` outputs at ``A[a_off:]`` of the
    rows ``order[lo:lo + nb]``, their units numbered from ``unit0``: each
    is zeroed or scaled by ``1 / (1 - rate)``, the mask keyed by (seed,
    epoch, sample, unit)."""
    for r in range(nb):
        prefix = hash_prefix(seed, epoch, order[lo + r])
        at = a_off + r * cols
        for j in range(cols):
            A[at + j] *= dropout_keep_after(prefix, unit0 + j, rate)


def dropout_backward(D, d_off, A, a_off, order, lo, nb, cols, seed, epoch, unit0, rate):
    """The output gradient at ``D[d_off:]`` through the mask of
    :func:`dropout_forward`: dropped units pass no gradient, kept ones are
    scaled, and their output ``A`` is unscaled so that the activation's
    derivative reads the activation itself."""
    for r in range(nb):
        prefix = hash_prefix(seed, epoch, order[lo + r])
        for j in range(cols):
            keep = dropout_keep_after(prefix, unit0 + j, rate)
            q = r * cols + j
            if keep == 0.0:
                D[d_off + q] = 0.0
            else:
                D[d_off + q] *= keep
                A[a_off + q] /= keep


def _sig_drop(f):
    return types.void(arr(f), I64, arr(I64, 1, True, "A"), I64, I64, I64, I64, I64, I64,
                      F64)


def _sig_drop_grad(f):
    return types.void(arr(f), I64, arr(f), I64, arr(I64, 1, True, "A"), I64, I64, I64, I64,
                      I64, I64, F64)


def _sig_act(f):
    return types.void(arr(f), I64, I64, I64, arr(f), I64)


def _sig_act_grad(f):
    return types.void(arr(f), I64, arr(f), I64, I64, I64)


def _sig_loss(f):
    return F64(arr(f), I64, arr(f), I64, arr(f, 2, True), arr(f, 1, True),
               arr(I64, 1, True, "A"), I64, I64, F64)


def _sig_gemm(f):
    return types.void(arr(f), I64, I64, I64, arr(f), I64, I64, I64, arr(f), I64, I64,
                      I64, I64, I64)


def _sig_small(f):
    return types.void(arr(f), I64, I64, I64, arr(f), I64, I64, I64, arr(f), I64, I64, I64,
                      I64, I64, I64)


def _sig_pass(f):
    return F64(arr(f, 2, True), arr(f, 2, True), arr(f, 1, True), arr(I64, 1, True, "A"),
               I64, I64, arr(f), arr(f), arr(I64, 1, True), arr(f), arr(f),
               arr(F64, 1, True), arr(I64, 1, True), arr(I64, 1, True), arr(f, 2), I64)


_call_act = caller(_sig_act(F64), _sig_act(F32))
_call_act_grad = caller(_sig_act_grad(F64), _sig_act_grad(F32))
_call_loss = caller(_sig_loss(F64), _sig_loss(F32))
_call_gemm = caller(_sig_gemm(F64), _sig_gemm(F32))
_call_small = caller(_sig_small(F64), _sig_small(F32))
_call_pass = caller(_sig_pass(F64), _sig_pass(F32))
_call_drop = caller(_sig_drop(F64), _sig_drop(F32))
_call_drop_grad = caller(_sig_drop_grad(F64), _sig_drop_grad(F32))


@njit(cache=True, inline="always")
def _product(fns, wide, Cm, c_off, c_rs, c_cs, A, a_off, a_rs, a_cs, B, b_off, b_rs, M, N,
             K):
    """``C = A @ B`` with ``B`` row-major: the vector tiles when ``wide``
    (``N`` at least a vector), else the loop."""
    if wide:
        _call_gemm(fns[C.F_GEMM], (Cm, c_off, c_rs, c_cs, A, a_off, a_rs, a_cs, B, b_off,
                                   b_rs, M, N, K))
    else:
        _call_small(fns[C.F_SMALL], (Cm, c_off, c_rs, c_cs, A, a_off, a_rs, a_cs, B,
                                     b_off, b_rs, np.int64(1), M, N, K))


def mlp_pass(X, Y, sw, order, lo, hi, params, grad, sizes, acts, deltas, hyper, icodes,
             fns, D1, d1_col):
    """Forward and backward pass of the rows ``X[order[lo:hi]]``.

    Writes the summed (sample-weighted) gradient into ``grad`` and returns
    the summed weighted loss. ``acts`` holds the outputs of every layer
    (input batch first, each of width ``sizes[l]``) at offsets
    ``bs_max * cumsum(sizes)``; ``deltas`` three parts of ``bs_max`` rows of
    the widest layer: two ping-pong buffers of output gradients, then room
    for the transpose of ``D`` that the backward product reads.

    With an empty ``D1`` this is the whole pass. Otherwise the first layer's
    two matrix products are the caller's, shared by many models of a batched
    search: it has put ``X[idx] @ W1`` into the first hidden layer's slot of
    ``acts``; the pass leaves that layer's output gradient in the columns
    ``d1_col:`` of ``D1`` and the first weight block of ``grad`` unwritten.
    """
    fused = D1.shape[0] > 0
    n_layers = sizes.shape[0] - 1
    nb = hi - lo
    bs_max = icodes[C.I_BATCH]
    seed = icodes[C.I_SEED]
    epoch = icodes[C.I_EPOCH]
    identity_act = icodes[C.I_ACTIVATION] == C.IDENTITY
    rate = hyper[C.H_DROPOUT]
    delta = hyper[C.H_HUBER]
    n_out = sizes[n_layers]
    vec = vector_width(acts)  # layers this wide take the vector tiles
    one = np.int64(1)
    max_width = 0
    n_weights = 0
    for l in range(n_layers):
        n_weights += sizes[l] * sizes[l + 1]
        max_width = max(max_width, sizes[l + 1])

    if not fused:  # the input batch
        for r in range(nb):
            i = order[lo + r]
            for j in range(sizes[0]):
                acts[r * sizes[0] + j] = X[i, j]

    # forward
    w_off = np.int64(0)
    b_off = n_weights
    a_off = np.int64(0)
    unit0 = 0
    for l in range(n_layers):
        fan_in = sizes[l]
        fan_out = sizes[l + 1]
        z_off = a_off + bs_max * fan_in
        if l > 0 or not fused:
            _product(fns, fan_out >= vec, acts, z_off, fan_out, one, acts, a_off, fan_in,
                     one, params, w_off, fan_out, nb, fan_out, fan_in)
        hidden = l < n_layers - 1
        _call_act(fns[C.F_ACT] if hidden else fns[C.F_OUT],
                  (acts, z_off, nb, fan_out, params, b_off))
        if hidden and rate > 0.0:
            _call_drop(fns[C.F_DROP], (acts, z_off, order, lo, nb, fan_out, seed, epoch,
                                       np.int64(unit0), rate))
        if hidden:
            unit0 += fan_out
        a_off = z_off
        w_off += fan_in * fan_out
        b_off += fan_out

    # output gradient, into the first delta buffer
    loss = _call_loss(fns[C.F_LOSS], (acts, a_off, deltas, np.int64(0), Y, sw, order, lo,
                                      nb, delta))

    # backward: the output gradients ping-pong between the first two thirds
    # of ``deltas``; the last holds the transpose that ``D @ W.T`` reads
    part = bs_max * max_width
    nt_tiles = deltas.shape[0] >= 3 * part and nb >= vec
    cur = np.int64(0)
    for l in range(n_layers - 1, -1, -1):
        fan_in = sizes[l]
        fan_out = sizes[l + 1]
        w_off -= fan_in * fan_out
        b_off -= fan_out
        a_off -= bs_max * fan_in
        if l > 0 or not fused:
            # dW = A_prev.T @ D
            _product(fns, fan_out >= vec, grad, w_off, fan_out, one, acts, a_off, one,
                     fan_in, deltas, cur, fan_out, fan_in, fan_out, nb)
        else:
            for r in range(nb):
                for j in range(fan_out):
                    D1[r, d1_col + j] = deltas[cur + r * fan_out + j]
        for j in range(fan_out):
            grad[b_off + j] = 0.0
        for r in range(nb):
            for j in range(fan_out):
                grad[b_off + j] += deltas[cur + r * fan_out + j]
        if l > 0:
            nxt = part - cur
            if nt_tiles:
                # D @ W.T as (W @ D.T).T, written transposed: the tiles read
                # their right operand by rows, and D.T's rows are D's columns
                for j in range(fan_out):
                    for r in range(nb):
                        deltas[2 * part + j * nb + r] = deltas[cur + r * fan_out + j]
                _call_gemm(fns[C.F_GEMM], (deltas, nxt, one, fan_in, params, w_off, fan_out,
                                           one, deltas, 2 * part, nb, fan_in, nb, fan_out))
            else:
                # D_prev[r, i] = sum_j D[r, j] * W[i, j]
                _call_small(fns[C.F_SMALL], (deltas, nxt, fan_in, one, deltas, cur, fan_out,
                                             one, params, w_off, one, fan_out, nb, fan_in,
                                             fan_out))
            unit0 -= fan_in
            if rate > 0.0:
                _call_drop_grad(fns[C.F_DROP_GRAD], (deltas, nxt, acts, a_off, order, lo, nb,
                                                     fan_in, seed, epoch, np.int64(unit0),
                                                     rate))
            if not identity_act:
                _call_act_grad(fns[C.F_ACT_GRAD], (deltas, nxt, acts, a_off, nb, fan_in))
            cur = nxt
    return loss


# --------------------------------------------------------------------------
# The epoch

# Rows per gradient chunk of an MLP batch (at least): a batch of 32 rows
# splits over 2 threads, one of 64 or more over 4. Measured on 2 cores with
# (64, 64) hidden units: 1.2x faster than one chunk at batch 32, 1.6x at
# batch 200; one thread pays ~10% for the extra chunk at batch 32.
CHUNK_ROWS = 16
MAX_CHUNKS = 4

# The update of a network with this many parameters or more is split into two
# ranges, one per thread (a (64, 64) network's step over 7.5k parameters is a
# third of a batch's time at batch 32 on 2 threads).
SPLIT_UPDATE = 4096


@njit(cache=True, inline="always")
def n_chunks(n_batch):
    return max(1, min(MAX_CHUNKS, n_batch // CHUNK_ROWS))


def mlp_epoch(X, Y, sw, order, lrs, params, m, v, avg, grad, sizes, acts, deltas, hyper,
              icodes, counters, stats, fns):
    """One epoch of an MLP on dense ``X``.

    Each batch is split into ``n_chunks`` row chunks (a function of the
    batch size only); chunk ``c`` works in ``acts[c]``, ``deltas[c]`` and
    ``grad[c]``, and the chunk gradients are summed in order, so the serial
    and parallel twins agree bitwise. The update of a network of
    ``SPLIT_UPDATE`` parameters or more (without clipping) runs as two
    parameter ranges, one per thread: the same bits, one more fork per batch.
    """
    n = order.shape[0]
    bs = icodes[C.I_BATCH]
    n_batches = begin_epoch(stats, n, bs)
    chunk_loss = np.zeros(MAX_CHUNKS)
    whole = np.empty((0, 0), dtype=acts.dtype)  # no shared first layer
    n_params = params.shape[0]
    ns = 2 if n_params >= SPLIT_UPDATE and hyper[C.H_CLIP] <= 0.0 else 1
    bad = np.zeros(2, dtype=np.int64)
    for b in range(n_batches):
        start, nb = batch_range(b, bs, n)
        nc = n_chunks(nb)
        for c in prange(nc):
            lo, hi = chunk_range(start, nb, c, nc)
            chunk_loss[c] = _call_pass(fns[C.F_PASS], (
                X, Y, sw, order, lo, hi, params, grad[c], sizes, acts[c], deltas[c], hyper,
                icodes, fns, whole, np.int64(0)))
        if ns == 1:
            if not end_batch(fns, params, grad, m, v, avg, chunk_loss, nc, nb, lrs[b], hyper,
                             icodes, counters, stats):
                return
            continue
        # end_batch with the chunk sums and the step over two parameter
        # ranges on the threads (the clipping norm would need the sum first)
        if not batch_loss(chunk_loss, nc, nb, stats):
            stats[C.S_DIVERGED] = 1.0
            return
        scale, c1, c2, decay = update_scalars(params, grad[0], lrs[b], hyper, icodes,
                                              counters, nb)
        for s in prange(2):
            lo = (s * n_params) // 2
            hi = ((s + 1) * n_params) // 2
            sum_chunks(grad, nc, lo, hi)
            bad[s] = call_step(fns, np.int64(lo), np.int64(hi), params, grad[0], m, v,
                               lrs[b], hyper, icodes, np.int64(nb), scale, c1, c2, decay)
        update_average(params, avg, icodes, counters, nb)
        if bad[0] + bad[1] > 0:
            stats[C.S_DIVERGED] = 1.0
            return


def epoch_signature(f):
    """Signature of :func:`mlp_epoch` for parameters of Numba type ``f``."""
    ro = True
    return types.void(
        arr(f, 2, ro), arr(f, 2, ro), arr(f, 1, ro),  # X, Y, sw
        arr(I64, 1, ro), arr(F64, 1, ro),  # order, lrs
        arr(f), arr(f), arr(f), arr(f), arr(f, 2),  # params, m, v, avg, grad
        arr(I64, 1, ro), arr(f, 2), arr(f, 2),  # sizes, acts, deltas
        arr(F64, 1, ro), arr(I64, 1, ro),  # hyper, icodes
        arr(I64), arr(F64), arr(I64, 1, ro),  # counters, stats, fns
    )


UNITS = {
    # name: (python function, signature of a dtype, option constant)
    "act": (bias_activation, _sig_act, "_ACT"),
    "act_grad": (times_activation_grad, _sig_act_grad, "_ACT"),
    "loss": (loss_rows, _sig_loss, "_LOSS"),
    "gemm": (gemm_nn.py_func, _sig_gemm, None),
    "small": (small_gemm, _sig_small, None),
    "pass": (mlp_pass, _sig_pass, None),
    "dropout": (dropout_forward, _sig_drop, None),
    "dropout_grad": (dropout_backward, _sig_drop_grad, None),
}
