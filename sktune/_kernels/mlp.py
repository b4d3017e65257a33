"""MLP kernels: the products, the pass of a row chunk, the epoch.

``params`` packs every layer's weights (row-major, fan_in x fan_out) first,
then every layer's biases, so one update covers all layers and the penalty
applies to ``params[:n_weights]``. Every buffer is flat and every unit takes
offsets into it, so one compiled signature per dtype serves every network
shape.

The units (:mod:`._jit`): the chunk's forward and backward pass, one per
dtype; what it calls: the activation and its derivative (one variant per
activation), the loss and output gradient (one per loss), the products
(vector tiles for layers at least a vector wide, BLAS for narrower ones,
one variant per layout) and dropout (compiled only for fits that use it);
the epoch, one per dtype and serial/parallel twin. Calls between units go
by address, so each compiles once and alone; a call passes every array as
Numba's structure (30-70 ns), about 2% of a 16-row pass.
"""
import math

import numpy as np
from numba import njit, prange

from . import _codes as C
from ._batches import batch_range, begin_epoch, chunk_range
from ._gemm import gemm_nn, transpose, vector_width
from ._jit import arr, borrowed, caller, types
from ._rng import dropout_keep_after, hash_prefix
from ._scalar import activation, activation_grad, elem_loss_grad
from ._step import (add_grad_sum, batch_loss, call_step, end_batch, sum_chunks,
                    update_average, update_scalars)

_ACT = C.RELU  # compile-time constants of the units' variants (see _jit.twin)
_LOSS = C.SQUARED_ERROR
_SOFTMAX = C.SOFTMAX
_PARALLEL = 1  # the epoch's twin: 0 drops the threaded update ranges

F32, F64, I64 = types.float32, types.float64, types.int64


# --------------------------------------------------------------------------
# Units of a pass

# Element loops index 0-based views (``block``): an index with a runtime
# offset makes Numba test it for negative values per element, which stops
# the loop from vectorizing (the optimizer step ran 7x slower that way).


@njit(cache=True, inline="always")
def block(flat, offset, rows, cols):
    """The ``rows x cols`` row-major block of ``flat`` at ``offset``, as a view."""
    return flat[offset: offset + rows * cols].reshape(rows, cols)


@njit(cache=True, inline="always")
def bias_activation(code, Z, params, b_off):
    """``Z = activation(Z + bias)`` in place, the bias at ``params[b_off:]``;
    ``code`` a literal."""
    bias = params[b_off: b_off + Z.shape[1]]
    for r in range(Z.shape[0]):
        for j in range(Z.shape[1]):
            Z[r, j] = activation(code, np.float64(Z[r, j]) + bias[j])


@njit(cache=True, inline="always")
def times_activation_grad(code, D, A):
    """``D *= activation'(A)`` in place (the derivative from the output
    ``A``); ``code`` a literal."""
    for r in range(D.shape[0]):
        for j in range(D.shape[1]):
            D[r, j] *= activation_grad(code, np.float64(A[r, j]))


# exp(x) for x <= 0 as a loop that vectorizes (libm's exp is a call per
# element, ~5 ns; this is ~1.3 ns at most 1 ulp away): x = k ln2 + r with
# |r| <= ln2 / 2 (ln2 in two parts, so r is exact to ~1e-20), e^r by its
# Taylor polynomial of degree 13 (truncation < 1e-17), 2^k from a table.
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
# 2^-j for j < 1076 (0 below the smallest subnormal); 2048 entries so that an
# index masked to 11 bits (a NaN's) stays inside
_POW2_NEG = np.array([math.ldexp(1.0, -j) for j in range(2048)])
_EXP_TAYLOR = tuple(1.0 / math.factorial(j) for j in range(14))


@njit(cache=True, fastmath={"contract"})
def exp_nonpositive(x, out):
    """``out = exp(x)`` element-wise for 1-D ``x <= 0`` (NaN stays NaN)."""
    c = _EXP_TAYLOR
    for j in range(x.shape[0]):
        v = max(np.float64(x[j]), -745.0)
        k = np.floor(v * _LOG2E + 0.5)
        r = (v - k * _LN2_HI) - k * _LN2_LO
        p = c[13]
        for t in range(12, -1, -1):  # Horner; LLVM unrolls the loop
            p = p * r + c[t]
        out[j] = p * _POW2_NEG[np.int64(-k) & 2047]


@njit(cache=True, inline="always")
def loss_rows(code, P, D, Y, sw, order, lo, delta, bias):
    """Loss of the rows ``order[lo:lo + nb]`` from their outputs ``P``
    (``nb x n_out``, the output layer's products, before the output biases
    ``bias``) and their output gradients, times the sample weights, into
    ``D``; returns the summed weighted loss. The softmax loss leaves ``P``
    shifted by each row's maximum."""
    if code == C.SOFTMAX:
        return softmax_loss_rows(P, D, Y, sw, order, lo, bias)
    return elementwise_loss_rows(code, P, D, Y, sw, order, lo, delta, bias)


@njit(cache=True, inline="always")
def elementwise_loss_rows(code, P, D, Y, sw, order, lo, delta, bias):
    """:func:`loss_rows` of a loss of each output apart (``elem_loss_grad``)."""
    loss = 0.0
    for r in range(P.shape[0]):
        i = order[lo + r]
        wi = np.float64(sw[i])
        for k in range(Y.shape[1]):
            lk, gk = elem_loss_grad(code, np.float64(Y[i, k]), np.float64(P[r, k]) + bias[k],
                                    delta)
            loss += wi * lk
            D[r, k] = wi * gk
    return loss


@njit(cache=True, inline="always")
def softmax_loss_rows(P, D, Y, sw, order, lo, bias):
    """:func:`loss_rows` of the softmax log loss: the block's exponentials
    in one vector loop (:func:`exp_nonpositive`; 3 libm calls a row were
    ~40% of a 3-class loss); leaves ``P`` shifted by each row's maximum.
    (The binary logistic loss, one exp a row, gained 2-3% a fit this way:
    not worth the 0.3 s its first fit would compile the vector exp.)"""
    n_out = Y.shape[1]
    loss = 0.0
    for r in range(P.shape[0]):
        mx = -np.inf
        for k in range(n_out):
            P[r, k] = np.float64(P[r, k]) + bias[k]
            mx = max(mx, np.float64(P[r, k]))
        for k in range(n_out):
            P[r, k] = np.float64(P[r, k]) - mx
    # held in D, the exponentials give the probabilities too (e / s,
    # not exp(p - lse))
    exp_nonpositive(P.reshape(P.size), D.reshape(D.size))
    for r in range(P.shape[0]):
        i = order[lo + r]
        wi = np.float64(sw[i])
        s = 0.0
        for k in range(n_out):
            s += np.float64(D[r, k])
        log_s = math.log(s)
        inv = 1.0 / s
        for k in range(n_out):
            y = np.float64(Y[i, k])
            loss += wi * y * (log_s - np.float64(P[r, k]))
            D[r, k] = wi * (np.float64(D[r, k]) * inv - y)
    return loss


def activation_unit(Z, z_off, rows, cols, params, b_off):
    """:func:`bias_activation` of the variant's activation on the block at
    ``Z[z_off:]``."""
    bias_activation(_ACT, block(Z, z_off, rows, cols), params, b_off)


def activation_grad_unit(D, d_off, A, a_off, rows, cols):
    """:func:`times_activation_grad` of the variant's activation on the
    blocks at ``D[d_off:]`` and ``A[a_off:]``."""
    times_activation_grad(_ACT, block(D, d_off, rows, cols), block(A, a_off, rows, cols))


def loss_unit(P, p_off, D, d_off, Y, sw, order, lo, nb, delta, params, b_off):
    """:func:`loss_rows` of the variant's loss on the ``nb`` rows' blocks
    at ``P[p_off:]`` and ``D[d_off:]``, the output biases at
    ``params[b_off:]``. The output layer's identity activation is this
    bias add: a unit of its own, it cost each dtype's first fit 0.2-0.35 s
    of compile time."""
    n_out = Y.shape[1]
    P, D = block(P, p_off, nb, n_out), block(D, d_off, nb, n_out)
    bias = params[b_off: b_off + n_out]
    # a test of the variant's constant, which Numba prunes: only the
    # softmax variants compile the vector exp (~0.25 s each)
    if _LOSS == _SOFTMAX:
        return softmax_loss_rows(P, D, Y, sw, order, lo, bias)
    return elementwise_loss_rows(_LOSS, P, D, Y, sw, order, lo, delta, bias)


def _sig_act(f):
    return types.void(arr(f), I64, I64, I64, arr(f), I64)


def _sig_act_grad(f):
    return types.void(arr(f), I64, arr(f), I64, I64, I64)


def _sig_loss(f):
    return F64(arr(f), I64, arr(f), I64, arr(f, 2, True), arr(f, 1, True),
               arr(I64, 1, True, "A"), I64, I64, F64, arr(f), I64)


def strided_product(Cm, c_off, c_rs, c_cs, A, a_off, a_rs, a_cs, B, b_off, b_rs, b_cs, M,
                    N, K):
    """``C = A @ B`` (``M x N``, summed over ``K`` in order, in float64) on
    strided blocks of flat arrays: the rare products the vector tiles do not
    take (narrow on both sides, as a tiny layer in a chunk of fewer rows
    than a vector). Scalar code, kept out of the pass (one unit, compiled
    once) so that the pass does not compile three layouts of it."""
    for i in range(M):
        for j in range(N):
            acc = 0.0
            for p in range(K):
                acc += (np.float64(A[a_off + i * a_rs + p * a_cs])
                        * B[b_off + p * b_rs + j * b_cs])
            Cm[c_off + i * c_rs + j * c_cs] = acc


def _sig_small(f):
    return types.void(arr(f), I64, I64, I64, arr(f), I64, I64, I64, arr(f), I64, I64, I64,
                      I64, I64, I64)


def dropout_forward(A, a_off, order, lo, nb, cols, seed, epoch, unit0, rate, M, m_rs, mode):
    """Inverted dropout on the ``nb x cols`` outputs at ``A[a_off:]`` of the
    rows ``order[lo:lo + nb]``, their units numbered from ``unit0``: each
    is zeroed or scaled by ``1 / (1 - rate)``, the mask keyed by (seed,
    epoch, sample, unit).

    ``mode`` 0 draws the factors; 1 draws them and keeps them in ``M``
    (row ``r``'s unit ``u`` at ``r * m_rs + u``); 2 takes them from ``M``,
    where a model of the same seed, epoch, rate and rows left them (the
    models of a batched search's cohort share them: the same bits)."""
    Z = block(A, a_off, nb, cols)
    if mode == 2:
        for r in range(nb):
            m_row = r * m_rs + unit0
            factors, z = M[m_row: m_row + cols], Z[r]
            for j in range(cols):  # (a loop of its own: it vectorizes)
                z[j] *= factors[j]
        return
    for r in range(nb):
        m_row = r * m_rs + unit0
        prefix = hash_prefix(seed, epoch, order[lo + r])
        for j in range(cols):
            keep = dropout_keep_after(prefix, unit0 + j, rate)
            if mode == 1:
                M[m_row + j] = keep
            Z[r, j] *= keep


def dropout_backward(D, d_off, A, a_off, order, lo, nb, cols, seed, epoch, unit0, rate, M,
                     m_rs, mode, unscale):
    """The output gradient at ``D[d_off:]`` through the mask of
    :func:`dropout_forward`: dropped units pass no gradient, kept ones are
    scaled. ``mode`` 0 draws the mask again, otherwise it is read from
    ``M``, where the forward pass left it.

    With ``unscale``, the kept outputs ``A`` are divided by their factor
    again, for an activation whose derivative reads the activation's value
    (tanh, logistic). ReLU's, leaky ReLU's and the identity's read its sign
    at most, which a positive factor keeps, so they skip the division (on
    a batched search's dropout models, that and a loop that vectorizes
    took this function from 1.45 to 0.45 ns an element)."""
    G = block(D, d_off, nb, cols)
    Z = block(A, a_off, nb, cols)
    for r in range(nb):
        m_row = r * m_rs + unit0
        g, z = G[r], Z[r]
        if mode == 0:
            prefix = hash_prefix(seed, epoch, order[lo + r])
            for j in range(cols):
                keep = dropout_keep_after(prefix, unit0 + j, rate)
                if keep == 0.0:
                    g[j] = 0.0
                else:
                    g[j] *= keep
                    if unscale:
                        z[j] /= keep
            continue
        factors = M[m_row: m_row + cols]
        for j in range(cols):
            keep = factors[j]
            g[j] = g[j] * keep if keep != 0.0 else 0.0
        if unscale:
            for j in range(cols):
                keep = factors[j]
                if keep != 0.0:
                    z[j] /= keep


def _sig_drop(f):
    return types.void(arr(f), I64, arr(I64, 1, True, "A"), I64, I64, I64, I64, I64, I64,
                      F64, arr(F64), I64, I64)


def _sig_drop_grad(f):
    return types.void(arr(f), I64, arr(f), I64, arr(I64, 1, True, "A"), I64, I64, I64, I64,
                      I64, I64, F64, arr(F64), I64, I64, I64)


def _sig_gemm(f):
    return types.void(arr(f), I64, I64, I64, arr(f), I64, I64, I64, arr(f), I64, I64,
                      I64, I64, I64)


def pass_signature(f):
    """Signature of :func:`mlp_pass` for Numba float type ``f``."""
    return F64(arr(f, 2, True), arr(f, 2, True), arr(f, 1, True), arr(I64, 1, True, "A"),
               I64, I64, arr(f), arr(f), arr(I64, 1, True), arr(f), arr(f),
               arr(F64, 1, True), arr(I64, 1, True), arr(I64, 1, True), arr(f, 2), I64,
               arr(F64), I64)


_call_gemm = caller(_sig_gemm(F64), _sig_gemm(F32))
_call_pass = caller(pass_signature(F64), pass_signature(F32))
_call_small = caller(_sig_small(F64), _sig_small(F32))
_call_act = caller(_sig_act(F64), _sig_act(F32))
_call_act_grad = caller(_sig_act_grad(F64), _sig_act_grad(F32))
_call_loss = caller(_sig_loss(F64), _sig_loss(F32))
_call_drop = caller(_sig_drop(F64), _sig_drop(F32))
_call_drop_grad = caller(_sig_drop_grad(F64), _sig_drop_grad(F32))


def mlp_pass(X, Y, sw, order, lo, hi, params, grad, sizes, acts, deltas, hyper, icodes,
             fns, D1, d1_col, M, m_mode):
    """Forward and backward pass of the rows ``X[order[lo:hi]]``.

    Writes the summed (sample-weighted) gradient into ``grad`` and returns
    the summed weighted loss. ``acts`` holds the outputs of every layer
    (input batch first, each of width ``sizes[l]``) at offsets
    ``bs_max * cumsum(sizes)``; ``deltas`` three parts of ``bs_max`` rows of
    the widest layer: two ping-pong buffers of output gradients, then room
    for the transpose of ``D`` that the backward product reads.

    With an empty ``D1`` this is the whole pass (with ``d1_col < 0``, the
    caller has gathered the rows into the input block of ``acts`` already:
    the models of a batched search's cohort share them). Otherwise the
    first layer's two matrix products are the caller's, shared by many
    models of a batched search: it has put ``X[idx] @ W1`` into the first
    hidden layer's slot of ``acts``; the pass leaves that layer's output
    gradient in the columns ``d1_col:`` of ``D1`` and the first weight
    block of ``grad`` unwritten.

    ``M``, ``m_mode``: the dropout factors of a cohort's chunk, shared by
    its models of one seed and rate (see :func:`dropout_forward`; ``M``
    holds a row of every hidden unit per row of the chunk); mode 0 for a
    fit of its own.
    """
    fused = D1.shape[0] > 0
    n_layers = sizes.shape[0] - 1
    nb = hi - lo
    bs_max = icodes[C.I_BATCH]
    seed = icodes[C.I_SEED]
    epoch = icodes[C.I_EPOCH]
    rate = hyper[C.H_DROPOUT]
    delta = hyper[C.H_HUBER]
    identity = icodes[C.I_ACTIVATION] == C.IDENTITY
    # whether dropout's backward must unscale the outputs for the derivative
    unscale = np.int64(icodes[C.I_ACTIVATION] == C.TANH
                       or icodes[C.I_ACTIVATION] == C.LOGISTIC_ACT)
    vec = vector_width(acts)  # layers this wide take the vector tiles
    one = np.int64(1)
    max_width = 0
    n_weights = 0
    n_hidden = np.int64(0)  # units of the hidden layers: a row of ``M``
    for l in range(n_layers):
        n_weights += sizes[l] * sizes[l + 1]
        max_width = max(max_width, sizes[l + 1])
        if l < n_layers - 1:
            n_hidden += sizes[l + 1]

    if not fused and d1_col >= 0:  # the input batch
        A0 = block(acts, 0, nb, sizes[0])
        for r in range(nb):
            i = order[lo + r]
            for j in range(A0.shape[1]):
                A0[r, j] = X[i, j]

    # ``deltas``: two ping-pong parts for the output gradients, then
    # (``spare``) a third for the transposes that the tiles read
    part = bs_max * max_width
    spare = deltas.shape[0] >= 3 * part

    # forward
    w_off = np.int64(0)
    b_off = n_weights
    out_b_off = b_off
    a_off = np.int64(0)
    unit0 = 0
    for l in range(n_layers):
        fan_in = sizes[l]
        fan_out = sizes[l + 1]
        z_off = a_off + bs_max * fan_in
        if (l > 0 or not fused) and fan_out >= vec:
            _call_gemm(fns[C.F_GEMM], (acts, z_off, fan_out, one, acts, a_off, fan_in, one,
                                       params, w_off, fan_out, nb, fan_out, fan_in))
        elif (l > 0 or not fused) and nb >= vec and fan_in * nb <= part and spare:
            # a narrow layer (an output unit, say) as Z.T = W.T @ A.T: the
            # rows A.T of the chunk, transposed into the spare third of
            # ``deltas``, are the tiles' right operand, Z.T is stored strided
            transpose(deltas, 2 * part, nb, acts, a_off, fan_in, nb, fan_in)
            _call_gemm(fns[C.F_GEMM], (acts, z_off, one, fan_out, params, w_off, one, fan_out,
                                       deltas, 2 * part, nb, fan_out, nb, fan_in))
        elif l > 0 or not fused:
            _call_small(fns[C.F_SMALL], (acts, z_off, fan_out, one, acts, a_off, fan_in, one,
                                         params, w_off, fan_out, one, nb, fan_out, fan_in))
        hidden = l < n_layers - 1
        if hidden:
            _call_act(fns[C.F_ACT], (acts, z_off, nb, fan_out, params, b_off))
        else:
            out_b_off = b_off  # the loss unit adds the output biases
        if hidden and rate > 0.0:
            _call_drop(fns[C.F_DROP], (acts, z_off, order, lo, nb, fan_out, seed, epoch,
                                       np.int64(unit0), rate, M, n_hidden, m_mode))
        if hidden:
            unit0 += fan_out
        a_off = z_off
        w_off += fan_in * fan_out
        b_off += fan_out

    # output gradient, into the first delta buffer
    loss = _call_loss(fns[C.F_LOSS], (acts, a_off, deltas, np.int64(0), Y, sw, order, lo, nb,
                                      delta, params, out_b_off))

    # backward: the output gradients ping-pong between the first two thirds
    # of ``deltas``; the last holds the transpose that ``D @ W.T`` reads
    nt_tiles = spare and nb >= vec
    cur = np.int64(0)
    for l in range(n_layers - 1, -1, -1):
        fan_in = sizes[l]
        fan_out = sizes[l + 1]
        w_off -= fan_in * fan_out
        b_off -= fan_out
        a_off -= bs_max * fan_in
        # dW = A_prev.T @ D
        if (l > 0 or not fused) and fan_out >= vec:
            _call_gemm(fns[C.F_GEMM], (grad, w_off, fan_out, one, acts, a_off, one, fan_in,
                                       deltas, cur, fan_out, fan_in, fan_out, nb))
        elif (l > 0 or not fused) and fan_in >= vec:
            # a narrow layer's weight gradient as dW.T = D.T @ A_prev, stored
            # strided
            _call_gemm(fns[C.F_GEMM], (grad, w_off, one, fan_out, deltas, cur, one, fan_out,
                                       acts, a_off, fan_in, fan_out, fan_in, nb))
        elif l > 0 or not fused:
            _call_small(fns[C.F_SMALL], (grad, w_off, fan_out, one, acts, a_off, one, fan_in,
                                         deltas, cur, fan_out, one, fan_in, fan_out, nb))
        D = block(deltas, cur, nb, fan_out)
        if l == 0 and fused:
            for r in range(nb):
                for j in range(fan_out):
                    D1[r, d1_col + j] = D[r, j]
        gb = grad[b_off: b_off + fan_out]
        for j in range(fan_out):
            gb[j] = 0.0
        # four rows an update of ``gb`` (the same sums, in the same order):
        # a load and store of ``gb`` per row made each row's additions wait
        # on the last row's store
        r = 0
        while r + 4 <= nb:
            for j in range(fan_out):
                gb[j] = (((gb[j] + D[r, j]) + D[r + 1, j]) + D[r + 2, j]) + D[r + 3, j]
            r += 4
        while r < nb:
            for j in range(fan_out):
                gb[j] += D[r, j]
            r += 1
        if l > 0:
            nxt = part - cur
            if (spare and fan_in >= vec and fan_in * fan_out <= part
                    and fan_in * fan_out <= fan_out * nb + 2 * nb * fan_in):
                # D @ W.T with W.T's rows (W's columns) copied into the spare
                # third: the tiles store the rows of the result as vectors
                # (written transposed, below, each element is a store of its
                # own); the same multiply-adds in the same order
                transpose(deltas, 2 * part, fan_in, params, w_off, fan_out, fan_in, fan_out)
                _call_gemm(fns[C.F_GEMM], (deltas, nxt, fan_in, one, deltas, cur, fan_out,
                                           one, deltas, 2 * part, fan_in, nb, fan_in,
                                           fan_out))
            elif nt_tiles:
                # D @ W.T as (W @ D.T).T, written transposed: the tiles read
                # their right operand by rows, and D.T's rows are D's columns
                transpose(deltas, 2 * part, nb, deltas, cur, fan_out, nb, fan_out)
                _call_gemm(fns[C.F_GEMM], (deltas, nxt, one, fan_in, params, w_off, fan_out,
                                           one, deltas, 2 * part, nb, fan_in, nb, fan_out))
            else:  # a chunk of fewer rows than a vector
                _call_small(fns[C.F_SMALL], (deltas, nxt, fan_in, one, deltas, cur, fan_out,
                                             one, params, w_off, one, fan_out, nb, fan_in,
                                             fan_out))
            unit0 -= fan_in
            if rate > 0.0:
                _call_drop_grad(fns[C.F_DROP_GRAD], (deltas, nxt, acts, a_off, order, lo, nb,
                                                     fan_in, seed, epoch, np.int64(unit0),
                                                     rate, M, n_hidden, m_mode, unscale))
            if not identity:
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
    # no atomic reference counting of the views made below (``borrowed``)
    X, Y, sw, order, lrs = (borrowed(X), borrowed(Y), borrowed(sw), borrowed(order),
                            borrowed(lrs))
    params, m, v, avg = borrowed(params), borrowed(m), borrowed(v), borrowed(avg)
    grad, sizes = borrowed(grad), borrowed(sizes)
    acts, deltas = borrowed(acts), borrowed(deltas)
    hyper, icodes, counters = borrowed(hyper), borrowed(icodes), borrowed(counters)
    stats, fns = borrowed(stats), borrowed(fns)
    n = order.shape[0]
    bs = icodes[C.I_BATCH]
    n_batches = begin_epoch(stats, n, bs)
    chunk_loss = np.zeros(MAX_CHUNKS)
    whole = np.empty((0, 0), dtype=acts.dtype)  # no shared first layer
    no_masks = np.empty(0)  # nor shared dropout factors
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
                icodes, fns, whole, np.int64(0), no_masks, np.int64(0)))
        if _PARALLEL == 1 and ns == 2:
            # end_batch with the chunk sums and the step over two parameter
            # ranges on the threads (the clipping norm needs the sum first)
            if not batch_loss(chunk_loss, nc, nb, stats):
                stats[C.S_DIVERGED] = 1.0
                return
            scale, c1, c2, decay = update_scalars(params, grad[0], v, lrs[b], hyper,
                                                  icodes, counters, nb)
            for s in prange(2):
                lo = (s * n_params) // 2
                hi = ((s + 1) * n_params) // 2
                sum_chunks(grad, nc, lo, hi)
                add_grad_sum(grad, lo, hi, nb, icodes)
                bad[s] = call_step(fns, np.int64(lo), np.int64(hi), params, grad[0], m, v,
                                   lrs[b], hyper, icodes, np.int64(nb), scale, c1, c2, decay)
            update_average(params, avg, icodes, counters, nb)
            if bad[0] + bad[1] > 0:
                stats[C.S_DIVERGED] = 1.0
                return
        elif not end_batch(fns, params, grad, m, v, avg, chunk_loss, nc, nb, lrs[b], hyper,
                           icodes, counters, stats):
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
    "act": (activation_unit, _sig_act, "_ACT"),
    "act_grad": (activation_grad_unit, _sig_act_grad, "_ACT"),
    "loss": (loss_unit, _sig_loss, "_LOSS"),
    "pass": (mlp_pass, pass_signature, None),
    "gemm": (gemm_nn.py_func, _sig_gemm, None),
    "small": (strided_product, _sig_small, None),
    "dropout": (dropout_forward, _sig_drop, None),
    "dropout_grad": (dropout_backward, _sig_drop_grad, None),
}
