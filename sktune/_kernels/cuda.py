"""CUDA epoch runners (numba-cuda): the GPU twin of :mod:`sktune._kernels.cpu`.

Everything CUDA-specific in sktune lives in this one module, imported only
when a fit runs with ``device="cuda"``; numba-cuda is in maintenance mode, so
a successor backend replaces this file and nothing else. Its interface is two
classes:

``LinearRunner(X, Y, sw, state)`` and ``MLPRunner(X, Y, sw, state, sizes)``
    Upload the training data once. Calling the runner as
    ``runner(order, lrs, hyper, icodes, stats)`` trains one epoch exactly as
    ``linear.dense_epoch`` / ``mlp.mlp_epoch`` do (same batches, learning
    rates, losses, optimizer updates, penalties, clipping, averaging, counters
    and statistics) and leaves the result in the host arrays of ``state``.

How an epoch runs
-----------------
The data, the parameters and the optimizer state stay on the device for the
whole epoch: the host uploads ``order`` and ``lrs`` (and the small state
arrays, which the training loop may have restored after a divergence), then
launches a few kernels per mini-batch without waiting for them, and copies
the state back at the end. Per batch:

1. gradient kernels: the forward pass, the loss and its output gradient per
   row (``_row_loss_grad``, softmax included), then the parameter gradient
   as a reduction over the batch rows, split into ``SPLITS`` row ranges whose
   partial sums are added in a fixed order (no atomics: a given device and
   launch configuration always gives the same bits). The MLP uses tiled
   shared-memory matrix products with the bias, activation and dropout (or
   the activation derivative) fused into their epilogue;
2. ``_grad_sq_norm`` (only with ``clip_norm``): block sums of the squared
   gradient norm;
3. ``_finalize`` (one block): the batch loss, the divergence check, the clip
   scale, the step counter ``t`` with Adam's bias corrections, and the
   averaging weight;
4. ``_update``: the optimizer step, the coupled or decoupled L2 penalty, the
   L1 proximal step and the running average, one parameter per thread.

A non-finite batch loss or weight sets a flag on the device; every later
kernel of the epoch returns at once, and the host checks the flag every
``CHECK_EVERY`` batches to stop launching.

Shared math
-----------
The per-element math is not repeated here: the kernels call the functions of
:mod:`sktune._kernels._scalar` (``row_loss_grad`` among them) and
``_rng.dropout_keep`` (counter-based RNG of :mod:`sktune._kernels._rng`),
compiled from the same Python source as CUDA device functions. The dropout
masks are therefore the same bits on the CPU and the GPU. Only the few lines
that combine them per parameter (``_update``, mirroring ``_step.update_range``)
and per batch (``_finalize``, mirroring ``_step.end_batch_unit``) are written
out again.

Launch configuration
--------------------
Module constants, read once from the environment at import:

``SKTUNE_CUDA_THREADS``
    Threads per block of the one-dimensional kernels (a power of two).
``SKTUNE_CUDA_BLOCKS``
    The most blocks of any launch; every kernel loops grid-stride, so any
    value is correct.
``SKTUNE_CUDA_TILE``, ``SKTUNE_CUDA_MICRO``
    Matrix products run on ``TILE x TILE`` thread blocks, each thread
    computing ``MICRO x MICRO`` outputs.
``SKTUNE_CUDA_SPLITS``
    Row ranges of a batch whose partial gradients are summed in order.
``SKTUNE_CUDA_CHECK_EVERY``
    Batches between two host polls of the divergence flag.

Under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) the defaults are tiny
(at most 2 blocks of 32 threads), since it runs every thread in Python.
"""
import math
import os
import warnings
from itertools import pairwise

import numba
import numpy as np
from numba import cuda

from . import _codes as C
from ._scalar import activation, activation_grad, flush, optimizer_step, soft_threshold, \
    update_factors
from ._rng import dropout_keep as _dropout_keep
from ._scalar import row_loss_grad as _row_loss_grad

SIMULATOR = bool(getattr(numba.config, "ENABLE_CUDASIM", 0)) or (
    os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"))


def _make_simulator_shared_memory_thread_safe():
    """Fix a race in the simulator's ``cuda.shared.array``.

    The simulator runs the threads of a block as Python threads and hands
    each call site one array per block from a dict, checked and filled
    without a lock: two threads arriving together can get different arrays,
    and the block then silently computes garbage. This does the same lookup
    under a lock (keyed by the caller's file and line, as the original).
    """
    import sys
    import threading

    from numba.cuda.simulator import kernelapi

    shared = getattr(kernelapi, "FakeCUDAShared", None)
    if shared is None or getattr(shared, "_sktune_thread_safe", False):
        return
    original = shared.array
    lock = threading.Lock()

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None or not hasattr(self, "_allocations"):
            return original(self, shape, dtype, alignment)
        if isinstance(dtype, numba.types.Type):
            dtype = numba.np.numpy_support.as_dtype(dtype)
        frame = sys._getframe(1)
        caller = (frame.f_code.co_filename, frame.f_lineno)
        with lock:
            res = self._allocations.get(caller)
            if res is None:
                res = self._allocations[caller] = np.empty(shape, dtype)
        return res

    shared.array = array
    shared._sktune_thread_safe = True


if SIMULATOR:
    _make_simulator_shared_memory_thread_safe()


def _env_int(name, default, power_of_two=False):
    raw = os.environ.get(name, "")
    value = int(raw) if raw.strip() else default
    if value < 1 or (power_of_two and value & (value - 1)):
        kind = "a power of two" if power_of_two else "a positive integer"
        raise ValueError(f"{name}={raw!r} must be {kind}.")
    return value


THREADS = _env_int("SKTUNE_CUDA_THREADS", 32 if SIMULATOR else 256, power_of_two=True)
MAX_BLOCKS = _env_int("SKTUNE_CUDA_BLOCKS", 2 if SIMULATOR else 65535)
TILE = _env_int("SKTUNE_CUDA_TILE", 4 if SIMULATOR else 16)
MICRO = _env_int("SKTUNE_CUDA_MICRO", 2)
SPLITS = _env_int("SKTUNE_CUDA_SPLITS", 2 if SIMULATOR else 4)
CHECK_EVERY = _env_int("SKTUNE_CUDA_CHECK_EVERY", 64)
if TILE * TILE > 1024:
    raise ValueError(f"SKTUNE_CUDA_TILE={TILE}: a block has at most 1024 threads.")

# tiled matrix products: a block computes a (BM x BN) output tile, stepping
# through the reduction dimension BK at a time
_BM = TILE * MICRO
_BN = TILE * MICRO
_BK = TILE
_T2 = TILE * TILE  # threads per block; each loads MICRO elements per operand

# slots of the per-batch scalars that _finalize hands to _update
SC_OK = 0  # 1.0: apply the update
SC_LR = 1
SC_INV_N = 2  # 1 / batch size
SC_SCALE = 3  # gradient clipping factor
SC_C1 = 4  # Adam bias corrections, as factors (see optimizer_step)
SC_C2 = 5
SC_DECAY = 6  # decoupled weight decay lr * l2 (AdamW)
SC_COUPLED = 7  # L2 coefficient added to the gradient
SC_INV_K = 8  # 1 / k of the running average, 0 = no averaging
N_SCAL = 9

_DIV = C.S_DIVERGED
_LOSS = C.S_LOSS
_WEIGHT = C.S_WEIGHT


def _device_function(func):
    """``func`` (an ``njit`` function) compiled from its source for the GPU.

    Under the simulator the result runs the plain Python source, which also
    accepts the simulator's array objects.
    """
    return cuda.jit(device=True)(getattr(func, "py_func", func))


_row_loss_grad_d = _device_function(_row_loss_grad)
_optimizer_step_d = _device_function(optimizer_step)
_flush_d = _device_function(flush)
_soft_threshold_d = _device_function(soft_threshold)
_activation_d = _device_function(activation)
_activation_grad_d = _device_function(activation_grad)
_dropout_keep_d = _device_function(_dropout_keep)
_update_factors_d = _device_function(update_factors)


def _grid(n_items, per_block=THREADS):
    """Blocks for ``n_items`` work items, capped by ``MAX_BLOCKS``."""
    return max(1, min(MAX_BLOCKS, -(-n_items // per_block)))


# --------------------------------------------------------------------------
# Kernels shared by the linear model and the MLP


@cuda.jit(device=True)
def _block_sum(buf, value):
    """Sum of ``value`` over the threads of a 1-D block (a fixed-order tree)."""
    t = cuda.threadIdx.x
    buf[t] = value
    cuda.syncthreads()
    half = THREADS // 2
    while half > 0:
        if t < half:
            buf[t] += buf[t + half]
        cuda.syncthreads()
        half //= 2
    total = buf[0]
    cuda.syncthreads()
    return total


@cuda.jit(device=True)
def _summed_grad(gpart, q):
    """Gradient of parameter ``q``: its row-range partials added in order."""
    g = gpart[0, q]
    for s in range(1, gpart.shape[0]):
        g += gpart[s, q]
    return g


@cuda.jit
def _grad_sq_norm(gpart, params, v, nb, hyper, icodes, normpart, dstats):
    """Per-block sums of the squared batch gradient, penalty included
    (pruned weights left out)."""
    buf = cuda.shared.array(THREADS, np.float64)
    if dstats[_DIV] != 0.0:
        return
    n_pen = icodes[C.I_N_PENALIZED]
    coupled = 0.0 if icodes[C.I_DECOUPLED] == 1 else hyper[C.H_L2]
    pruned = icodes[C.I_PRUNED] == 1
    inv_n = 1.0 / nb
    acc = 0.0
    for q in range(cuda.grid(1), params.shape[0], cuda.gridsize(1)):
        g = _summed_grad(gpart, q) * inv_n
        if q < n_pen:
            g += coupled * params[q]
        if pruned and v[q] < 0.0:
            g = 0.0  # a pruned weight is out of the clipping norm
        acc += g * g
    total = _block_sum(buf, acc)
    if cuda.threadIdx.x == 0:
        normpart[cuda.blockIdx.x] = total


@cuda.jit
def _finalize(rowloss, nb, normpart, lrs, b, hyper, icodes, counters, dstats, scal):
    """Batch loss, divergence check and the scalars of the update (one block).

    Mirrors the scalar part of ``_step.end_batch_unit``: the step counter and
    Adam's bias corrections, the clip scale, the samples seen and the weight
    of the running average.
    """
    buf = cuda.shared.array(THREADS, np.float64)
    t = cuda.threadIdx.x
    if dstats[_DIV] != 0.0:
        if t == 0:
            scal[SC_OK] = 0.0
        return
    acc = 0.0
    for r in range(t, nb, THREADS):
        acc += rowloss[r]
    bloss = _block_sum(buf, acc)
    clip = hyper[C.H_CLIP]
    sq = 0.0
    if clip > 0.0:
        acc = 0.0
        for q in range(t, normpart.shape[0], THREADS):
            acc += normpart[q]
        sq = _block_sum(buf, acc)
    if t != 0:
        return
    dstats[_LOSS] += bloss
    dstats[_WEIGHT] += nb
    if not math.isfinite(bloss):
        dstats[_DIV] = 1.0
        scal[SC_OK] = 0.0
        return
    decoupled = icodes[C.I_DECOUPLED] == 1
    l2 = hyper[C.H_L2]
    lr = lrs[b]
    step = counters[C.C_STEP] + 1
    counters[C.C_STEP] = step
    scale, c1, c2 = _update_factors_d(icodes[C.I_OPTIMIZER], hyper[C.H_BETA_1],
                                      hyper[C.H_BETA_2], step, sq, clip)
    counters[C.C_SEEN] += nb
    inv_k = 0.0
    avg_start = icodes[C.I_AVERAGE_START]
    if avg_start >= 0 and counters[C.C_SEEN] > avg_start:
        k = counters[C.C_N_AVG] + 1
        counters[C.C_N_AVG] = k
        inv_k = 1.0 / k
    scal[SC_LR] = lr
    scal[SC_INV_N] = 1.0 / nb
    scal[SC_SCALE] = scale
    scal[SC_C1] = c1
    scal[SC_C2] = c2
    scal[SC_DECAY] = lr * l2 if decoupled else 0.0
    scal[SC_COUPLED] = 0.0 if decoupled else l2
    scal[SC_INV_K] = inv_k
    scal[SC_OK] = 1.0


@cuda.jit
def _update(params, m, v, avg, gpart, gsum, hyper, icodes, scal, dstats):
    """Optimizer step, penalty, L1 prox and averaging of every parameter.

    The per-parameter body of ``_step.update_range`` (and the averaging of
    ``_step.update_average``). A non-finite new weight flags divergence.
    With ``icodes[I_PRUNED]``, a weight whose second moment is negative
    (``_codes.PRUNED``) stays zero, as in the masked CPU variant.
    """
    if scal[SC_OK] == 0.0:
        return
    n_pen = icodes[C.I_N_PENALIZED]
    opt = icodes[C.I_OPTIMIZER]
    lr = scal[SC_LR]
    inv_n = scal[SC_INV_N]
    scale = scal[SC_SCALE]
    c1 = scal[SC_C1]
    c2 = scal[SC_C2]
    decay = scal[SC_DECAY]
    coupled = scal[SC_COUPLED]
    inv_k = scal[SC_INV_K]
    mom = hyper[C.H_MOMENTUM]
    b1 = hyper[C.H_BETA_1]
    b2 = hyper[C.H_BETA_2]
    eps = hyper[C.H_EPSILON]
    l1 = hyper[C.H_L1]
    masked = icodes[C.I_PRUNED] == 1
    for q in range(cuda.grid(1), params.shape[0], cuda.gridsize(1)):
        pen = q < n_pen
        w0 = np.float64(params[q])
        g = _summed_grad(gpart, q) * inv_n
        if icodes[C.I_GRAD_SUM] == 1:
            gsum[q] += g  # the diagnostics' sum of mean batch gradients
        if pen:
            g += coupled * w0
        v0 = np.float64(v[q])
        cut = masked and v0 < 0.0  # a pruned weight: its step is discarded
        w, mq, vq, step = _optimizer_step_d(
            opt, w0, g * scale, np.float64(m[q]), 0.0 if cut else v0,
            lr, mom, b1, b2, eps, c1, c2,
        )
        if pen:
            w = _soft_threshold_d(w - decay * w0, step * l1)
        if cut:
            w, mq, vq = 0.0, 0.0, v0
        params[q] = _flush_d(w)  # as the CPU step: no subnormal state
        m[q] = _flush_d(mq)
        v[q] = _flush_d(vq)
        if not math.isfinite(w):
            dstats[_DIV] = 1.0
        if inv_k > 0.0:
            avg[q] += (params[q] - avg[q]) * inv_k


@cuda.jit
def _loss_rows(Y, sw, order, start, nb, P, D, rowloss, hyper, icodes, dstats):
    """Loss of each batch row and its output gradient ``D`` (MLP output)."""
    if dstats[_DIV] != 0.0:
        return
    code = icodes[C.I_LOSS]
    delta = hyper[C.H_HUBER]
    for r in range(cuda.grid(1), nb, cuda.gridsize(1)):
        i = order[start + r]
        rowloss[r] = _row_loss_grad_d(code, Y, i, P, r, delta, np.float64(sw[i]), D)


# --------------------------------------------------------------------------
# Linear model


@cuda.jit
def _linear_rows(X, Y, sw, order, start, nb, params, P, G, rowloss, hyper, icodes,
                 dstats):
    """Outputs, loss and output gradient of each batch row (one row a thread)."""
    if dstats[_DIV] != 0.0:
        return
    n_features = X.shape[1]
    n_out = Y.shape[1]
    code = icodes[C.I_LOSS]
    delta = hyper[C.H_HUBER]
    for r in range(cuda.grid(1), nb, cuda.gridsize(1)):
        i = order[start + r]
        if n_out == 1:
            p = np.float64(params[n_features])
            for j in range(n_features):
                p += np.float64(X[i, j]) * params[j]
            P[r, 0] = p
        else:
            for k in range(n_out):
                P[r, k] = params[n_features * n_out + k]
            for j in range(n_features):
                x = np.float64(X[i, j])
                for k in range(n_out):
                    P[r, k] += x * params[j * n_out + k]
        rowloss[r] = _row_loss_grad_d(code, Y, i, P, r, delta, np.float64(sw[i]), G)


@cuda.jit
def _linear_grad(X, order, start, nb, G, gpart, dstats):
    """Summed gradient of every parameter over each row range of the batch."""
    if dstats[_DIV] != 0.0:
        return
    n_features = X.shape[1]
    n_out = G.shape[1]
    n_w = n_features * n_out
    n_params = n_w + n_out
    n_splits = gpart.shape[0]
    for item in range(cuda.grid(1), n_params * n_splits, cuda.gridsize(1)):
        s = item // n_params
        q = item - s * n_params
        lo = (s * nb) // n_splits
        hi = ((s + 1) * nb) // n_splits
        acc = 0.0
        if q < n_w:
            j = q // n_out
            k = q - j * n_out
            for r in range(lo, hi):
                acc += np.float64(X[order[start + r], j]) * G[r, k]
        else:
            k = q - n_w
            for r in range(lo, hi):
                acc += G[r, k]
        gpart[s, q] = acc


# --------------------------------------------------------------------------
# MLP: tiled matrix products with fused epilogues, one set per dtype


@cuda.jit(device=True)
def _zero(acc):
    for i in range(MICRO):
        for j in range(MICRO):
            acc[i, j] = 0


@cuda.jit(device=True)
def _multiply_tiles(sA, sB, acc, tx, ty):
    """``acc += sA.T @ sB`` for this thread's ``MICRO x MICRO`` outputs.

    The thread owns rows ``ty + i * TILE`` and columns ``tx + j * TILE`` of
    the block's output tile, so neighbouring threads read neighbouring
    shared-memory words.
    """
    for kk in range(_BK):
        for i in range(MICRO):
            a = sA[kk, ty + i * TILE]
            for j in range(MICRO):
                acc[i, j] += a * sB[kk, tx + j * TILE]


def _tiled_kernels(dtype):
    """The three MLP products for ``dtype`` (the accumulators' type).

    ``forward``: ``Z = act(A @ W + b)`` (dropout on hidden layers);
    ``weight_grad``: ``A.T @ D`` and the bias gradient ``sum(D)`` per row range;
    ``backprop``: ``D_prev = (D @ W.T) * act'(A_prev)`` (dropout mask applied).
    ``A`` is the layer input: the rows ``X[order[start:start+nb]]`` for the
    first layer (``gathered=1``), else the previous layer's output.
    """
    dt = dtype

    @cuda.jit
    def forward(A, gathered, params, w_off, b_off, Z, nb, hidden, unit0, order, start,
                hyper, icodes, dstats):
        sA = cuda.shared.array((_BK, _BM), dt)
        sB = cuda.shared.array((_BK, _BN), dt)
        acc = cuda.local.array((MICRO, MICRO), dt)
        if dstats[_DIV] != 0.0:
            return
        K = A.shape[1]
        N = Z.shape[1]
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * TILE + tx
        act_code = icodes[C.I_ACTIVATION]
        seed = icodes[C.I_SEED]
        epoch = icodes[C.I_EPOCH]
        rate = hyper[C.H_DROPOUT]
        tiles_n = (N + _BN - 1) // _BN
        n_tiles = ((nb + _BM - 1) // _BM) * tiles_n
        for tile in range(cuda.blockIdx.x, n_tiles, cuda.gridDim.x):
            m0 = (tile // tiles_n) * _BM
            n0 = (tile % tiles_n) * _BN
            _zero(acc)
            for k0 in range(0, K, _BK):
                for e in range(MICRO):
                    idx = tid + e * _T2
                    mm = idx // _BK  # A: contiguous along the reduction
                    kk = idx - mm * _BK
                    r = m0 + mm
                    k = k0 + kk
                    if r < nb and k < K:
                        row = order[start + r] if gathered else r
                        sA[kk, mm] = A[row, k]
                    else:
                        sA[kk, mm] = 0
                    kk = idx // _BN  # W: contiguous along the outputs
                    nn = idx - kk * _BN
                    k = k0 + kk
                    n = n0 + nn
                    if k < K and n < N:
                        sB[kk, nn] = params[w_off + k * N + n]
                    else:
                        sB[kk, nn] = 0
                cuda.syncthreads()
                _multiply_tiles(sA, sB, acc, tx, ty)
                cuda.syncthreads()
            for i in range(MICRO):
                r = m0 + ty + i * TILE
                if r < nb:
                    for j in range(MICRO):
                        n = n0 + tx + j * TILE
                        if n < N:
                            z = np.float64(acc[i, j]) + params[b_off + n]
                            if hidden:
                                out = _activation_d(act_code, z)
                                if rate > 0.0:
                                    out *= _dropout_keep_d(seed, epoch, order[start + r],
                                                           unit0 + n, rate)
                                Z[r, n] = out
                            else:
                                Z[r, n] = z

    @cuda.jit
    def weight_grad(A, gathered, D, nb, w_off, b_off, order, start, gpart, dstats):
        sA = cuda.shared.array((_BK, _BM), dt)
        sB = cuda.shared.array((_BK, _BN), dt)
        acc = cuda.local.array((MICRO, MICRO), dt)
        bacc = cuda.local.array(MICRO, dt)
        if dstats[_DIV] != 0.0:
            return
        K = A.shape[1]
        N = D.shape[1]
        n_splits = gpart.shape[0]
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * TILE + tx
        tiles_n = (N + _BN - 1) // _BN
        per_split = ((K + _BM - 1) // _BM) * tiles_n
        for tile in range(cuda.blockIdx.x, per_split * n_splits, cuda.gridDim.x):
            s = tile // per_split
            rest = tile - s * per_split
            tm = rest // tiles_n
            m0 = tm * _BM
            n0 = (rest - tm * tiles_n) * _BN
            lo = (s * nb) // n_splits
            hi = ((s + 1) * nb) // n_splits
            with_bias = tm == 0 and ty == 0
            _zero(acc)
            for j in range(MICRO):
                bacc[j] = 0
            for r0 in range(lo, hi, _BK):
                for e in range(MICRO):
                    idx = tid + e * _T2
                    kk = idx // _BM  # A rows: contiguous along the inputs
                    mm = idx - kk * _BM
                    r = r0 + kk
                    mc = m0 + mm
                    if r < hi and mc < K:
                        row = order[start + r] if gathered else r
                        sA[kk, mm] = A[row, mc]
                    else:
                        sA[kk, mm] = 0
                    kk = idx // _BN  # D rows: contiguous along the outputs
                    nn = idx - kk * _BN
                    r = r0 + kk
                    n = n0 + nn
                    if r < hi and n < N:
                        sB[kk, nn] = D[r, n]
                    else:
                        sB[kk, nn] = 0
                cuda.syncthreads()
                _multiply_tiles(sA, sB, acc, tx, ty)
                if with_bias:
                    for kk in range(_BK):
                        for j in range(MICRO):
                            bacc[j] += sB[kk, tx + j * TILE]
                cuda.syncthreads()
            for i in range(MICRO):
                mc = m0 + ty + i * TILE
                if mc < K:
                    for j in range(MICRO):
                        n = n0 + tx + j * TILE
                        if n < N:
                            gpart[s, w_off + mc * N + n] = acc[i, j]
            if with_bias:
                for j in range(MICRO):
                    n = n0 + tx + j * TILE
                    if n < N:
                        gpart[s, b_off + n] = bacc[j]

    @cuda.jit
    def backprop(D, params, w_off, A_prev, D_prev, nb, unit0, order, start, hyper,
                 icodes, dstats):
        sA = cuda.shared.array((_BK, _BM), dt)
        sB = cuda.shared.array((_BK, _BN), dt)
        acc = cuda.local.array((MICRO, MICRO), dt)
        if dstats[_DIV] != 0.0:
            return
        N = D.shape[1]  # fan_out: the reduction
        K = D_prev.shape[1]  # fan_in: the outputs
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * TILE + tx
        act_code = icodes[C.I_ACTIVATION]
        seed = icodes[C.I_SEED]
        epoch = icodes[C.I_EPOCH]
        rate = hyper[C.H_DROPOUT]
        tiles_n = (K + _BN - 1) // _BN
        n_tiles = ((nb + _BM - 1) // _BM) * tiles_n
        for tile in range(cuda.blockIdx.x, n_tiles, cuda.gridDim.x):
            m0 = (tile // tiles_n) * _BM
            n0 = (tile % tiles_n) * _BN
            _zero(acc)
            for j0 in range(0, N, _BK):
                for e in range(MICRO):
                    idx = tid + e * _T2
                    mm = idx // _BK  # D: contiguous along the reduction
                    kk = idx - mm * _BK
                    r = m0 + mm
                    jj = j0 + kk
                    if r < nb and jj < N:
                        sA[kk, mm] = D[r, jj]
                    else:
                        sA[kk, mm] = 0
                    nn = idx // _BK  # W.T: W rows are contiguous along the reduction
                    kk = idx - nn * _BK
                    kc = n0 + nn
                    jj = j0 + kk
                    if kc < K and jj < N:
                        sB[kk, nn] = params[w_off + kc * N + jj]
                    else:
                        sB[kk, nn] = 0
                cuda.syncthreads()
                _multiply_tiles(sA, sB, acc, tx, ty)
                cuda.syncthreads()
            for i in range(MICRO):
                r = m0 + ty + i * TILE
                if r < nb:
                    for j in range(MICRO):
                        kc = n0 + tx + j * TILE
                        if kc < K:
                            g = np.float64(acc[i, j])
                            out = np.float64(A_prev[r, kc])
                            if rate > 0.0:
                                keep = _dropout_keep_d(seed, epoch, order[start + r],
                                                       unit0 + kc, rate)
                                if keep == 0.0:
                                    D_prev[r, kc] = 0
                                    continue
                                g *= keep
                                out /= keep  # the activation before dropout
                            D_prev[r, kc] = g * _activation_grad_d(act_code, out)

    return forward, weight_grad, backprop


_TILED = {}


def _tiled_for(dtype):
    key = np.dtype(dtype).type
    if key not in _TILED:
        _TILED[key] = _tiled_kernels(key)
    return _TILED[key]


# --------------------------------------------------------------------------
# Host side


class _Runner:
    """Device copies of the data and training state, and the update step."""

    def __init__(self, X, Y, sw, state, n_params):
        if not (isinstance(X, np.ndarray) and X.ndim == 2):
            raise ValueError("device='cuda' trains on a dense 2-D array X only.")
        self.state = state
        self.dtype = state.params.dtype
        self.n_samples = X.shape[0]
        self.n_params = n_params
        self.X = cuda.to_device(np.ascontiguousarray(X, dtype=self.dtype))
        self.Y = cuda.to_device(np.ascontiguousarray(Y, dtype=self.dtype))
        self.sw = cuda.to_device(np.ascontiguousarray(sw, dtype=self.dtype))
        self.params = cuda.to_device(state.params)
        self.m = cuda.to_device(state.m)
        self.v = cuda.to_device(state.v)
        self.avg = cuda.to_device(state.avg)
        self.counters = cuda.to_device(state.counters)
        self.hyper = cuda.device_array(C.N_HYPER, dtype=np.float64)
        self.icodes = cuda.device_array(C.N_ICODES, dtype=np.int64)
        self.order = cuda.device_array(self.n_samples, dtype=np.int64)
        self.dstats = cuda.device_array(C.N_STATS, dtype=np.float64)
        self.scal = cuda.device_array(N_SCAL, dtype=np.float64)
        self.update_blocks = _grid(n_params)
        self.normpart = cuda.device_array(self.update_blocks, dtype=np.float64)
        self.batch_size = None
        self.lrs = None
        self._configured = {}

    def _launch(self, kernel, grid, block):
        """``kernel[grid, block]``, configured once per runner.

        Reusing the configuration saves host time per launch, and its
        low-occupancy warning (small grids are expected here: the one-block
        ``_finalize``, narrow layers) is silenced once, at creation. The
        simulator's kernels configure themselves in place, so there each
        launch configures afresh.
        """
        if SIMULATOR:
            return kernel[grid, block]
        key = (kernel, grid, block)
        configured = self._configured.get(key)
        if configured is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                configured = self._configured[key] = kernel[grid, block]
        return configured

    def _allocate(self, batch_size):
        """Per-batch buffers, sized for ``batch_size`` rows."""
        raise NotImplementedError

    def _batch_gradient(self, start, nb):
        """Launch the kernels that fill ``self.gpart`` and ``self.rowloss``."""
        raise NotImplementedError

    def _step(self, b, nb, clip):
        if clip:
            self._launch(_grad_sq_norm, self.update_blocks, THREADS)(
                self.gpart, self.params, self.v, nb, self.hyper, self.icodes, self.normpart,
                self.dstats)
        self._launch(_finalize, 1, THREADS)(
            self.rowloss, nb, self.normpart, self.lrs, b, self.hyper, self.icodes,
            self.counters, self.dstats, self.scal)
        self._launch(_update, self.update_blocks, THREADS)(
            self.params, self.m, self.v, self.avg, self.gpart, self.gsum, self.hyper,
            self.icodes, self.scal, self.dstats)

    def __call__(self, order, lrs, hyper, icodes, stats):
        state = self.state
        n = order.shape[0]
        bs = int(icodes[C.I_BATCH])
        n_batches = -(-n // bs)
        if bs != self.batch_size:
            self._allocate(bs)
            self.batch_size = bs
        if self.lrs is None or self.lrs.shape[0] != n_batches:
            self.lrs = cuda.device_array(n_batches, dtype=np.float64)
        # the training loop may have restored the state after a divergence
        self.params.copy_to_device(state.params)
        self.m.copy_to_device(state.m)
        self.v.copy_to_device(state.v)
        self.avg.copy_to_device(state.avg)
        self.counters.copy_to_device(state.counters)
        self.hyper.copy_to_device(np.ascontiguousarray(hyper, dtype=np.float64))
        icodes = np.array(icodes, dtype=np.int64)
        icodes[C.I_GRAD_SUM] = 1
        self.icodes.copy_to_device(icodes)
        self.gsum = cuda.to_device(np.zeros(self.n_params))
        self.order.copy_to_device(np.ascontiguousarray(order, dtype=np.int64))
        self.lrs.copy_to_device(np.ascontiguousarray(lrs, dtype=np.float64))
        self.dstats.copy_to_device(np.zeros(C.N_STATS))
        clip = float(hyper[C.H_CLIP]) > 0.0
        for b in range(n_batches):
            start = b * bs
            nb = min(bs, n - start)
            self._batch_gradient(start, nb)
            self._step(b, nb, clip)
            if ((b + 1) % CHECK_EVERY == 0 and b + 1 < n_batches
                    and self.dstats.copy_to_host()[_DIV] != 0.0):
                break  # diverged: the remaining launches would do nothing
        self.params.copy_to_host(state.params)
        self.m.copy_to_host(state.m)
        self.v.copy_to_host(state.v)
        self.avg.copy_to_host(state.avg)
        self.counters.copy_to_host(state.counters)
        state.grad_sum = self.gsum.copy_to_host()
        stats[:] = self.dstats.copy_to_host()


class LinearRunner(_Runner):
    """One epoch of a linear model on the GPU (see the module docstring).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Dense, float32 or float64 (the dtype of ``state.params``).
    Y : ndarray of shape (n_samples, n_outputs)
    sw : ndarray of shape (n_samples,)
    state : sktune._engine.loop.TrainState
        Its host arrays (``params``, ``m``, ``v``, ``avg``, ``counters``) are
        read at the start of each call and updated in place at its end.
    """

    def __init__(self, X, Y, sw, state):
        super().__init__(X, Y, sw, state, state.params.shape[0])
        self.n_out = Y.shape[1]
        self.gpart = cuda.device_array((SPLITS, self.n_params), dtype=np.float64)

    def _allocate(self, batch_size):
        self.P = cuda.device_array((batch_size, self.n_out), dtype=np.float64)
        self.G = cuda.device_array((batch_size, self.n_out), dtype=np.float64)
        self.rowloss = cuda.device_array(batch_size, dtype=np.float64)

    def _batch_gradient(self, start, nb):
        self._launch(_linear_rows, _grid(nb), THREADS)(
            self.X, self.Y, self.sw, self.order, start, nb, self.params, self.P, self.G,
            self.rowloss, self.hyper, self.icodes, self.dstats)
        self._launch(_linear_grad, _grid(self.n_params * SPLITS), THREADS)(
            self.X, self.order, start, nb, self.G, self.gpart, self.dstats)


class MLPRunner(_Runner):
    """One epoch of a multi-layer perceptron on the GPU.

    Parameters
    ----------
    X, Y, sw, state
        As for :class:`LinearRunner`.
    sizes : ndarray of int
        Units of every layer, inputs first and outputs last. ``state.params``
        packs every layer's weights (fan_in x fan_out, row-major), then every
        layer's biases, as ``mlp.mlp_epoch`` expects.
    """

    def __init__(self, X, Y, sw, state, sizes):
        sizes = [int(s) for s in sizes]
        n_layers = len(sizes) - 1
        n_weights = sum(a * b for a, b in pairwise(sizes))
        n_params = n_weights + sum(sizes[1:])
        if state.params.shape[0] != n_params:
            raise ValueError(f"params has {state.params.shape[0]} entries; the layer "
                             f"sizes {sizes} need {n_params}.")
        super().__init__(X, Y, sw, state, n_params)
        self.sizes = sizes
        self.n_layers = n_layers
        self.w_off, self.b_off, self.unit0 = [], [], []
        w_off, b_off, unit0 = 0, n_weights, 0
        for layer in range(n_layers):
            self.w_off.append(w_off)
            self.b_off.append(b_off)
            self.unit0.append(unit0)  # dropout numbering of the layer's inputs
            w_off += sizes[layer] * sizes[layer + 1]
            b_off += sizes[layer + 1]
            if layer > 0:
                unit0 += sizes[layer]
        self.gpart = cuda.device_array((SPLITS, n_params), dtype=self.dtype)
        self.forward, self.weight_grad, self.backprop = _tiled_for(self.dtype)

    def _allocate(self, batch_size):
        # acts[l] / deltas[l]: output of layer l and d loss / d (its input to
        # the activation); index 0 is the input batch, read from X directly
        self.acts = [None] + [cuda.device_array((batch_size, s), dtype=self.dtype)
                              for s in self.sizes[1:]]
        self.deltas = [None] + [cuda.device_array((batch_size, s), dtype=self.dtype)
                                for s in self.sizes[1:]]
        self.rowloss = cuda.device_array(batch_size, dtype=np.float64)

    def _tiles(self, rows, cols):
        return max(1, min(MAX_BLOCKS, -(-rows // _BM) * -(-cols // _BN)))

    def _batch_gradient(self, start, nb):
        L = self.n_layers
        sizes = self.sizes
        block = (TILE, TILE)
        for layer in range(L):
            gathered = 1 if layer == 0 else 0
            A = self.X if layer == 0 else self.acts[layer]
            hidden = 1 if layer < L - 1 else 0
            unit0 = self.unit0[layer] + (sizes[layer] if layer > 0 else 0)
            self._launch(self.forward, self._tiles(nb, sizes[layer + 1]), block)(
                A, gathered, self.params, self.w_off[layer], self.b_off[layer],
                self.acts[layer + 1], nb, hidden, unit0, self.order, start, self.hyper,
                self.icodes, self.dstats)
        self._launch(_loss_rows, _grid(nb), THREADS)(
            self.Y, self.sw, self.order, start, nb, self.acts[L], self.deltas[L],
            self.rowloss, self.hyper, self.icodes, self.dstats)
        for layer in range(L - 1, -1, -1):
            gathered = 1 if layer == 0 else 0
            A = self.X if layer == 0 else self.acts[layer]
            n_tiles = -(-sizes[layer] // _BM) * -(-sizes[layer + 1] // _BN) * SPLITS
            self._launch(self.weight_grad, max(1, min(MAX_BLOCKS, n_tiles)), block)(
                A, gathered, self.deltas[layer + 1], nb, self.w_off[layer],
                self.b_off[layer], self.order, start, self.gpart, self.dstats)
            if layer > 0:
                self._launch(self.backprop, self._tiles(nb, sizes[layer]), block)(
                    self.deltas[layer + 1], self.params, self.w_off[layer],
                    self.acts[layer], self.deltas[layer], nb, self.unit0[layer],
                    self.order, start, self.hyper, self.icodes, self.dstats)
