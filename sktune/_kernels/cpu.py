"""CPU epoch kernels (Numba ``njit``), each with a serial and a parallel twin.

One call trains one epoch: it walks the shuffled sample order in
mini-batches and, per batch, forms the gradient, adds the penalty, clips,
applies the optimizer update, the L1 proximal step and the running average.

Determinism: a batch is split into a number of chunks that depends only on
the data shape, never on the thread count; chunk gradients are summed in a
fixed order, so the serial and parallel twins give bitwise-identical results.
"""
import math

import numpy as np
from numba import njit, prange, types

from . import _codes as C
from ._gemm import gemm_nn, vector_width
from ._rng import hash_prefix, uniform, uniform_after
from ._scalar import (
    activation,
    activation_grad,
    elem_loss_grad,
    optimizer_step,
    soft_threshold,
)


def _source_tag():
    """Short hash of the kernel sources.

    Numba's cache checks only the timestamp of the file that defines the
    jitted function, not of the helpers it inlines from other modules; naming
    each twin after this hash makes an edit anywhere in ``_kernels`` miss the
    stale cache entries.
    """
    import hashlib
    import os

    h = hashlib.sha1()
    here = os.path.dirname(__file__)
    for name in sorted(os.listdir(here)):
        if name.endswith(".py") and name != "cuda.py":  # the GPU backend is apart
            with open(os.path.join(here, name), "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()[:10]


_SOURCE_TAG = _source_tag()


def _twin(func, suffix):
    """A copy of ``func`` under its own name, so each twin has its own cache."""
    import types as pytypes

    twin = pytypes.FunctionType(func.__code__, func.__globals__,
                                func.__name__ + suffix, func.__defaults__,
                                func.__closure__)
    twin.__qualname__ = func.__qualname__ + suffix
    twin.__module__ = func.__module__
    twin.__doc__ = func.__doc__
    return twin


# Work (multiply-adds) per gradient chunk; bigger batches split into more chunks.
_CHUNK_WORK = 16384
_MAX_CHUNKS = 16


@njit(cache=True, inline="always")
def _n_chunks(n_batch, work_per_row):
    n = (n_batch * work_per_row) // _CHUNK_WORK
    return max(1, min(n, _MAX_CHUNKS, n_batch))


@njit(cache=True, inline="always")
def _row_loss_grad(code, Y, i, P, c, delta, wi, G):
    """Loss of row ``i`` and its gradient (times weight ``wi``) into ``G[c]``.

    ``P[c]`` holds the raw outputs of the row.
    """
    n_out = Y.shape[1]
    loss = 0.0
    if code == C.SOFTMAX:
        mx = -np.inf
        for k in range(n_out):
            mx = max(mx, P[c, k])
        s = 0.0
        for k in range(n_out):
            s += math.exp(P[c, k] - mx)
        lse = mx + math.log(s)
        for k in range(n_out):
            y = np.float64(Y[i, k])
            loss += y * (lse - P[c, k])
            G[c, k] = wi * (math.exp(P[c, k] - lse) - y)
    else:
        for k in range(n_out):
            lk, gk = elem_loss_grad(code, np.float64(Y[i, k]), P[c, k], delta)
            loss += lk
            G[c, k] = wi * gk
    return wi * loss


@njit(cache=True, inline="always")
def _update_loop(code, prox, params, grad, m, v, n_pen, inv_n, coupled, scale, lr, mom,
                 b1, b2, eps, c1, c2, decay, l1):
    """The loop of :func:`_update_all`; ``code`` and ``prox`` are literals."""
    bad = 0
    for j in range(params.shape[0]):
        w0 = np.float64(params[j])
        pen = j < n_pen
        g = grad[j] * inv_n + (coupled if pen else 0.0) * w0
        grad[j] = 0.0
        w, mj, vj, step = optimizer_step(
            code, w0, g * scale, np.float64(m[j]), np.float64(v[j]),
            lr, mom, b1, b2, eps, c1, c2,
        )
        if prox and pen:
            w = soft_threshold(w - decay * w0, step * l1)
        params[j] = w
        m[j] = mj
        v[j] = vj
        bad += (w - w) != 0.0  # NaN exactly when w is inf or NaN
    return bad


@njit(cache=True, inline="always")
def _update_all(code, params, grad, m, v, n_pen, inv_n, coupled, scale, lr, mom, b1,
                b2, eps, c1, c2, decay, l1):
    """Optimizer step, penalty and L1 prox on every parameter, in one pass.

    The gradient of parameter ``j`` is ``(grad[j] * inv_n + coupled * w) *
    scale`` (the coupled L2 term only for ``j < n_pen``, the penalized
    weights), followed there by the decoupled decay and the L1 proximal step
    when either is on. ``grad`` is zeroed as it is consumed, ready for the
    next batch. Returns the number of new weights that are not finite
    (counted with integer adds, which vectorize).

    Written for the vectorizer: the penalty enters as a select, not a branch,
    and the loop without the proximal step is a loop of its own (a
    per-element branch or threshold costs as much as Adam's step itself).
    """
    if l1 > 0.0 or decay != 0.0:
        return _update_loop(code, True, params, grad, m, v, n_pen, inv_n, coupled, scale,
                            lr, mom, b1, b2, eps, c1, c2, decay, l1)
    return _update_loop(code, False, params, grad, m, v, n_pen, inv_n, coupled, scale, lr,
                        mom, b1, b2, eps, c1, c2, decay, l1)


@njit(cache=True, inline="always")
def _update_scalars(params, grad, lr, hyper, icodes, counters, n_batch):
    """The per-batch scalars of an update, ``(scale, c1, c2, decay)``: the
    clipping factor (from the norm of the whole summed gradient ``grad``),
    Adam's bias corrections as factors and the decoupled decay. Advances the
    step counter."""
    n_pen = icodes[C.I_N_PENALIZED]
    opt = icodes[C.I_OPTIMIZER]
    decoupled = icodes[C.I_DECOUPLED] == 1
    l2 = hyper[C.H_L2]
    clip = hyper[C.H_CLIP]
    coupled = 0.0 if decoupled else l2
    scale = 1.0
    if clip > 0.0:
        inv_n = 1.0 / n_batch
        sq = 0.0
        for j in range(params.shape[0]):
            g = grad[j] * inv_n
            if j < n_pen:
                g += coupled * params[j]
            sq += g * g
        norm = math.sqrt(sq)
        if norm > clip:
            scale = clip / norm
    t = counters[C.C_STEP] + 1
    counters[C.C_STEP] = t
    c1 = 1.0
    c2 = 1.0
    if opt == C.ADAM or opt == C.ADAMW:
        c1 = 1.0 / (1.0 - hyper[C.H_BETA_1]**t)
        c2 = 1.0 / math.sqrt(1.0 - hyper[C.H_BETA_2]**t)
    decay = lr * l2 if decoupled else 0.0
    return scale, c1, c2, decay


@njit(cache=True, inline="always")
def _update_slice(lo, hi, params, grad, m, v, lr, hyper, icodes, n_batch, scale, c1, c2,
                  decay):
    """Penalty, optimizer step and L1 prox of the parameters ``lo:hi`` (their
    gradient ``grad[lo:hi]`` is zeroed); returns how many new weights are not
    finite. Each parameter's step depends on nothing else, so any split into
    slices gives the same bits."""
    n_pen = min(max(icodes[C.I_N_PENALIZED] - lo, 0), hi - lo)
    opt = icodes[C.I_OPTIMIZER]
    coupled = 0.0 if icodes[C.I_DECOUPLED] == 1 else hyper[C.H_L2]
    l1 = hyper[C.H_L1]
    inv_n = 1.0 / n_batch
    mom = hyper[C.H_MOMENTUM]
    b1 = hyper[C.H_BETA_1]
    b2 = hyper[C.H_BETA_2]
    eps = hyper[C.H_EPSILON]
    p = params[lo:hi]
    g = grad[lo:hi]
    mm = m[lo:hi]
    vv = v[lo:hi]
    # One loop per optimizer with the code as a literal, so that the compiler
    # folds the per-element branches away and vectorizes the loop.
    if opt == C.SGD:
        bad = _update_all(C.SGD, p, g, mm, vv, n_pen, inv_n, coupled, scale, lr, mom, b1,
                          b2, eps, c1, c2, decay, l1)
    elif opt == C.MOMENTUM:
        bad = _update_all(C.MOMENTUM, p, g, mm, vv, n_pen, inv_n, coupled, scale, lr, mom,
                          b1, b2, eps, c1, c2, decay, l1)
    elif opt == C.NESTEROV:
        bad = _update_all(C.NESTEROV, p, g, mm, vv, n_pen, inv_n, coupled, scale, lr, mom,
                          b1, b2, eps, c1, c2, decay, l1)
    elif opt == C.ADAM:
        bad = _update_all(C.ADAM, p, g, mm, vv, n_pen, inv_n, coupled, scale, lr, mom, b1,
                          b2, eps, c1, c2, decay, l1)
    elif opt == C.ADAMW:
        bad = _update_all(C.ADAMW, p, g, mm, vv, n_pen, inv_n, coupled, scale, lr, mom, b1,
                          b2, eps, c1, c2, decay, l1)
    elif opt == C.RMSPROP:
        bad = _update_all(C.RMSPROP, p, g, mm, vv, n_pen, inv_n, coupled, scale, lr, mom,
                          b1, b2, eps, c1, c2, decay, l1)
    else:
        bad = _update_all(C.ADAGRAD, p, g, mm, vv, n_pen, inv_n, coupled, scale, lr, mom,
                          b1, b2, eps, c1, c2, decay, l1)
    return bad


# The step as a function of its own (called, not inlined): every kernel and
# the threaded MLP update share one compile of its optimizer loops per dtype
# (inlined, they cost each kernel seconds of compile time).
_update_slice_call = njit(cache=True, nogil=True, error_model="numpy")(
    _twin(_update_slice.py_func, "_call_" + _SOURCE_TAG))


@njit(cache=True, inline="always")
def _update_average(params, avg, icodes, counters, n_batch):
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
def _apply_update(params, grad, m, v, avg, lr, hyper, icodes, counters, n_batch):
    """Penalty, clipping, optimizer step, L1 prox and averaging for one batch.

    ``grad`` holds the summed (weighted) data gradient of the batch; it is
    left zeroed. Returns False when a weight became non-finite.
    """
    scale, c1, c2, decay = _update_scalars(params, grad, lr, hyper, icodes, counters,
                                           n_batch)
    # np.int64(0), not 0: a literal argument would compile the step a second
    # time (numba types it as Literal[int]), next to the threaded MLP update's
    bad = _update_slice_call(np.int64(0), params.shape[0], params, grad, m, v, lr, hyper,
                             icodes, n_batch, scale, c1, c2, decay)
    _update_average(params, avg, icodes, counters, n_batch)
    return bad == 0


@njit(cache=True, inline="always")
def _sum_chunks(grad, nc, lo, hi):
    """Add the chunk gradients ``grad[1:nc, lo:hi]`` into ``grad[0]`` in
    order, zeroing them."""
    for c in range(1, nc):
        for j in range(lo, hi):
            grad[0, j] += grad[c, j]
            grad[c, j] = 0.0


@njit(cache=True, inline="always")
def _batch_loss(chunk_loss, nc, nb, stats):
    """Record the batch's summed chunk losses; False when not finite."""
    bloss = 0.0
    for c in range(nc):
        bloss += chunk_loss[c]
    stats[C.S_LOSS] += bloss
    stats[C.S_WEIGHT] += nb
    return math.isfinite(bloss)


@njit(cache=True, inline="always")
def _end_batch(params, grad, m, v, avg, chunk_loss, nc, nb, lr, hyper, icodes, counters,
               stats):
    """Sum the ``nc`` chunk gradients and losses in order, record the loss and
    update the weights. Returns False (and flags ``stats``) on divergence."""
    _sum_chunks(grad, nc, 0, params.shape[0])
    if _batch_loss(chunk_loss, nc, nb, stats) and _apply_update(
            params, grad[0], m, v, avg, lr, hyper, icodes, counters, nb):
        return True
    stats[C.S_DIVERGED] = 1.0
    return False


# The same step as a function of its own (called, not inlined): kernels that
# call it once per model per batch need not compile the optimizer loops again.
_end_batch_call = njit(cache=True, nogil=True, error_model="numpy")(
    _twin(_end_batch.py_func, "_call_" + _SOURCE_TAG))


@njit(cache=True, inline="always")
def _add_row_grad(X, i, G, c, gc):
    """Add dense row ``X[i]``'s contribution (output gradient ``G[c]``) to the
    gradient ``gc`` of a linear model: coefficients, then intercepts."""
    n_features = X.shape[1]
    n_out = G.shape[1]
    if n_out == 1:
        g0 = G[c, 0]
        for j in range(n_features):
            gc[j] += np.float64(X[i, j]) * g0
    else:
        for j in range(n_features):
            x = np.float64(X[i, j])
            base = j * n_out
            for k in range(n_out):
                gc[base + k] += x * G[c, k]
    for k in range(n_out):
        gc[n_features * n_out + k] += G[c, k]


def _linear_epoch_dense(X, Y, sw, order, lrs, params, m, v, avg, grad, P, G,
                        hyper, icodes, counters, stats):
    """One epoch of a linear model on dense ``X`` (see module docstring).

    ``params`` packs ``coef`` (n_features x n_outputs, row-major) then the
    intercepts. ``P``, ``G`` are per-chunk scratch rows (outputs and output
    gradients); ``grad`` is a scratch of shape (_MAX_CHUNKS, n_params).
    """
    n_features = X.shape[1]
    n_out = Y.shape[1]
    n = order.shape[0]
    bs = icodes[C.I_BATCH]
    loss_code = icodes[C.I_LOSS]
    delta = hyper[C.H_HUBER]
    n_batches = (n + bs - 1) // bs
    stats[C.S_LOSS] = 0.0
    stats[C.S_WEIGHT] = 0.0
    stats[C.S_DIVERGED] = 0.0
    chunk_loss = np.zeros(_MAX_CHUNKS)
    for b in range(n_batches):
        start = b * bs
        stop = min(start + bs, n)
        nb = stop - start
        nc = _n_chunks(nb, n_features * n_out)
        for c in prange(nc):
            gc = grad[c]  # all zeros: the previous update consumed it
            lo = start + (c * nb) // nc
            hi = start + ((c + 1) * nb) // nc
            closs = 0.0
            for ii in range(lo, hi):
                i = order[ii]
                if n_out == 1:
                    # a local accumulator keeps the dot product in registers
                    p = np.float64(params[n_features])
                    for j in range(n_features):
                        p += np.float64(X[i, j]) * params[j]
                    P[c, 0] = p
                else:
                    for k in range(n_out):
                        P[c, k] = params[n_features * n_out + k]
                    for j in range(n_features):
                        x = np.float64(X[i, j])
                        base = j * n_out
                        for k in range(n_out):
                            P[c, k] += x * params[base + k]
                closs += _row_loss_grad(loss_code, Y, i, P, c, delta,
                                        np.float64(sw[i]), G)
                _add_row_grad(X, i, G, c, gc)
            chunk_loss[c] = closs
        if not _end_batch_call(params, grad, m, v, avg, chunk_loss, nc, nb, lrs[b], hyper,
                          icodes, counters, stats):
            return


@njit(cache=True, inline="always")
def _csr_sgd_sparse_updates(data, indices, indptr, Y, sw, order, lrs, params, grad,
                            P, G, hyper, icodes, counters, stats):
    """Plain SGD on CSR data touching only each batch's non-zero features.

    The coupled L2 term shrinks every weight by ``1 - lr * l2`` per step; that
    factor is kept in a scalar ``ws`` (true weights are ``ws * params``, as in
    scikit-learn's SGD), so an update costs the batch's non-zeros, not
    ``n_features``. The result equals the dense update up to rounding.
    """
    n_out = Y.shape[1]
    n_params = params.shape[0]
    n_w = n_params - n_out
    n_features = n_w // n_out
    n = order.shape[0]
    bs = icodes[C.I_BATCH]
    loss_code = icodes[C.I_LOSS]
    delta = hyper[C.H_HUBER]
    l2 = hyper[C.H_L2]
    n_batches = (n + bs - 1) // bs
    stamp = np.zeros(n_features, dtype=np.int64)
    touched = np.empty(n_features, dtype=np.int64)
    ws = 1.0
    for b in range(n_batches):
        start = b * bs
        stop = min(start + bs, n)
        nb = stop - start
        n_touched = 0
        direct_bad = 0
        bloss = 0.0
        for ii in range(start, stop):
            i = order[ii]
            if n_out == 1:
                p = 0.0
                for q in range(indptr[i], indptr[i + 1]):
                    p += np.float64(data[q]) * params[indices[q]]
                P[0, 0] = ws * p + params[n_w]
            else:
                for k in range(n_out):
                    P[0, k] = 0.0
                for q in range(indptr[i], indptr[i + 1]):
                    x = np.float64(data[q])
                    base = indices[q] * n_out
                    for k in range(n_out):
                        P[0, k] += x * params[base + k]
                for k in range(n_out):
                    P[0, k] = ws * P[0, k] + params[n_w + k]
            bloss += _row_loss_grad(loss_code, Y, i, P, 0, delta, np.float64(sw[i]), G)
            g0 = G[0, 0]
            if nb == 1 and n_out == 1:
                # per-sample SGD: update the row's weights directly
                ws_new = ws * (1.0 - lrs[b] * l2)
                scaled = lrs[b] * g0 / ws_new
                for q in range(indptr[i], indptr[i + 1]):
                    w = params[indices[q]] - scaled * np.float64(data[q])
                    params[indices[q]] = w
                    direct_bad += (w - w) != 0.0
                grad[n_w] += g0
                continue
            for q in range(indptr[i], indptr[i + 1]):
                j = indices[q]
                if stamp[j] != b + 1:
                    stamp[j] = b + 1
                    touched[n_touched] = j
                    n_touched += 1
                x = np.float64(data[q])
                if n_out == 1:
                    grad[j] += x * g0
                else:
                    for k in range(n_out):
                        grad[j * n_out + k] += x * G[0, k]
            for k in range(n_out):
                grad[n_w + k] += G[0, k]
        stats[C.S_LOSS] += bloss
        stats[C.S_WEIGHT] += nb
        if not math.isfinite(bloss):
            stats[C.S_DIVERGED] = 1.0
            break
        lr = lrs[b]
        step = lr / nb
        ws_new = ws * (1.0 - lr * l2)
        scaled_step = step / ws_new
        bad = direct_bad
        for t in range(n_touched):
            base = touched[t] * n_out
            for k in range(n_out):
                w = params[base + k] - scaled_step * grad[base + k]
                grad[base + k] = 0.0
                params[base + k] = w
                bad += (w - w) != 0.0
        for k in range(n_out):
            w = params[n_w + k] - step * grad[n_w + k]
            grad[n_w + k] = 0.0
            params[n_w + k] = w
            bad += (w - w) != 0.0
        ws = ws_new
        counters[C.C_STEP] += 1
        counters[C.C_SEEN] += nb
        if bad:
            stats[C.S_DIVERGED] = 1.0
            break
        if ws < 1e-6:  # fold the scale in before it loses precision
            for j in range(n_w):
                params[j] *= ws
            ws = 1.0
    for j in range(n_w):
        params[j] *= ws


def _linear_epoch_csr(data, indices, indptr, Y, sw, order, lrs, params, m, v,
                      avg, grad, P, G, hyper, icodes, counters, stats):
    """One epoch of a linear model on CSR ``X`` (``data, indices, indptr``)."""
    n_out = Y.shape[1]
    n_params = params.shape[0]
    n_features = (n_params - n_out) // n_out
    n = order.shape[0]
    bs = icodes[C.I_BATCH]
    loss_code = icodes[C.I_LOSS]
    delta = hyper[C.H_HUBER]
    n_batches = (n + bs - 1) // bs
    mean_nnz = max(1, data.shape[0] // max(1, indptr.shape[0] - 1))
    stats[C.S_LOSS] = 0.0
    stats[C.S_WEIGHT] = 0.0
    stats[C.S_DIVERGED] = 0.0
    max_lr = 0.0
    for b in range(n_batches):
        max_lr = max(max_lr, lrs[b])
    if (icodes[C.I_OPTIMIZER] == C.SGD and hyper[C.H_L1] == 0.0
            and hyper[C.H_CLIP] == 0.0 and icodes[C.I_AVERAGE_START] < 0
            and max_lr * hyper[C.H_L2] < 0.5 and bs * mean_nnz < n_features):
        _csr_sgd_sparse_updates(data, indices, indptr, Y, sw, order, lrs, params,
                                grad[0], P, G, hyper, icodes, counters, stats)
        return
    chunk_loss = np.zeros(_MAX_CHUNKS)
    for b in range(n_batches):
        start = b * bs
        stop = min(start + bs, n)
        nb = stop - start
        nc = _n_chunks(nb, mean_nnz * n_out)
        for c in prange(nc):
            gc = grad[c]  # all zeros: the previous update consumed it
            lo = start + (c * nb) // nc
            hi = start + ((c + 1) * nb) // nc
            closs = 0.0
            for ii in range(lo, hi):
                i = order[ii]
                for k in range(n_out):
                    P[c, k] = params[n_features * n_out + k]
                for p in range(indptr[i], indptr[i + 1]):
                    x = np.float64(data[p])
                    base = indices[p] * n_out
                    for k in range(n_out):
                        P[c, k] += x * params[base + k]
                closs += _row_loss_grad(loss_code, Y, i, P, c, delta,
                                        np.float64(sw[i]), G)
                for p in range(indptr[i], indptr[i + 1]):
                    x = np.float64(data[p])
                    base = indices[p] * n_out
                    for k in range(n_out):
                        gc[base + k] += x * G[c, k]
                for k in range(n_out):
                    gc[n_features * n_out + k] += G[c, k]
            chunk_loss[c] = closs
        if not _end_batch_call(params, grad, m, v, avg, chunk_loss, nc, nb, lrs[b], hyper,
                          icodes, counters, stats):
            return


# --------------------------------------------------------------------------
# Multi-layer perceptron. ``params`` packs every layer's weights (row-major,
# fan_in x fan_out) first, then every layer's biases, so one update loop
# covers all layers and the penalty applies to ``params[:n_weights]``.


@njit(cache=True, inline="always")
def _dropout_keep(seed, epoch, sample, unit, rate):
    """Inverted-dropout factor of one hidden unit: 0 or 1 / (1 - rate).

    Keyed by (seed, epoch, sample, unit), so the mask is the same whatever
    the batch split, thread count or device.
    """
    if uniform(seed, epoch, sample, unit) < rate:
        return 0.0
    return 1.0 / (1.0 - rate)


@njit(cache=True, inline="always")
def _dropout_keep_after(prefix, unit, rate):
    """``_dropout_keep`` of one unit of a sample, from the sample's
    ``hash_prefix(seed, epoch, sample)`` (the same factor, a quarter of the
    hashing)."""
    if uniform_after(prefix, unit) < rate:
        return 0.0
    return 1.0 / (1.0 - rate)


@njit(cache=True, inline="always")
def _view2d(flat, offset, rows, cols):
    return flat[offset: offset + rows * cols].reshape(rows, cols)


@njit(cache=True, inline="always")
def _bias_activation_loop(code, Z, params, b_off):
    for r in range(Z.shape[0]):
        for j in range(Z.shape[1]):
            Z[r, j] = activation(code, np.float64(Z[r, j]) + params[b_off + j])


@njit(cache=True, inline="always")
def _bias_activation(code, Z, params, b_off):
    """``Z = activation(Z + bias)`` in place; one loop per activation with the
    code as a literal, so the per-element branch folds away and it vectorizes."""
    if code == C.RELU:
        _bias_activation_loop(C.RELU, Z, params, b_off)
    elif code == C.TANH:
        _bias_activation_loop(C.TANH, Z, params, b_off)
    elif code == C.LOGISTIC_ACT:
        _bias_activation_loop(C.LOGISTIC_ACT, Z, params, b_off)
    elif code == C.LEAKY_RELU:
        _bias_activation_loop(C.LEAKY_RELU, Z, params, b_off)
    else:
        _bias_activation_loop(C.IDENTITY, Z, params, b_off)


@njit(cache=True, inline="always")
def _activation_grad_loop(code, D, A):
    for r in range(D.shape[0]):
        for j in range(D.shape[1]):
            D[r, j] *= activation_grad(code, np.float64(A[r, j]))


@njit(cache=True, inline="always")
def _times_activation_grad(code, D, A):
    """``D *= activation'(A)`` in place (the derivative from the output ``A``)."""
    if code == C.RELU:
        _activation_grad_loop(C.RELU, D, A)
    elif code == C.TANH:
        _activation_grad_loop(C.TANH, D, A)
    elif code == C.LOGISTIC_ACT:
        _activation_grad_loop(C.LOGISTIC_ACT, D, A)
    elif code == C.LEAKY_RELU:
        _activation_grad_loop(C.LEAKY_RELU, D, A)


@njit(cache=True, inline="always")
def _transpose_into(src, s_off, rows, cols, dst, d_off):
    """``dst[d_off:]`` = the transpose of the row-major ``rows x cols`` block
    at ``src[s_off:]``."""
    for j in range(cols):
        for i in range(rows):
            dst[d_off + j * rows + i] = src[s_off + i * cols + j]


def _mlp_batch_grad(X, Y, sw, idx, params, grad, sizes, acts, deltas, hyper, icodes,
                    D1, d1_col):
    """Forward and backward pass of the rows ``X[idx]``.

    Writes the summed (sample-weighted) gradient into ``grad`` and returns
    the summed weighted loss. ``acts`` holds the outputs of every layer
    (input batch first, each of width ``sizes[l]``) at offsets
    ``bs_max * cumsum(sizes)``; ``deltas`` three parts of ``bs_max`` rows
    of the widest layer: two ping-pong buffers of output gradients, then
    (optional: with only two, the backward product ``D @ W.T`` goes to
    BLAS) room for the transpose of ``D`` it reads.

    With an empty ``D1`` this is the whole pass. Otherwise the first layer's
    two matrix products are the caller's, shared by many models of a batched
    search: it has put ``X[idx] @ W1`` into the first hidden layer's slot of
    ``acts``; the pass leaves that layer's output gradient in the columns
    ``d1_col:`` of ``D1`` and the first weight block of ``grad`` unwritten.
    """
    fused = D1.shape[0] > 0
    n_layers = sizes.shape[0] - 1
    nb = idx.shape[0]
    bs_max = icodes[C.I_BATCH]
    act_code = icodes[C.I_ACTIVATION]
    loss_code = icodes[C.I_LOSS]
    seed = icodes[C.I_SEED]
    epoch = icodes[C.I_EPOCH]
    rate = hyper[C.H_DROPOUT]
    delta = hyper[C.H_HUBER]
    n_out = sizes[n_layers]
    # layers this wide take the vector-tile products, narrower ones BLAS
    vec = vector_width(acts)
    one = np.int64(1)
    max_width = 0
    n_weights = 0
    for l in range(n_layers):
        n_weights += sizes[l] * sizes[l + 1]
        max_width = max(max_width, sizes[l + 1])

    # input batch
    if not fused:
        A0 = _view2d(acts, 0, nb, sizes[0])
        for r in range(nb):
            i = idx[r]
            for j in range(sizes[0]):
                A0[r, j] = X[i, j]

    # forward (offsets start as typed zeros, not literals: a call with a
    # literal 0 compiles gemm_nn a second time)
    w_off = np.int64(0)
    b_off = n_weights
    a_off = 0
    unit0 = 0
    for l in range(n_layers):
        fan_in = sizes[l]
        fan_out = sizes[l + 1]
        W = _view2d(params, w_off, fan_in, fan_out)
        A_prev = _view2d(acts, a_off, nb, fan_in)
        a_off += bs_max * fan_in
        Z = _view2d(acts, a_off, nb, fan_out)
        if (l > 0 or not fused) and fan_out >= vec:
            gemm_nn(acts, a_off, fan_out, one, acts, a_off - bs_max * fan_in, fan_in,
                    one, params, w_off, fan_out, nb, fan_out, fan_in)
        elif l > 0 or not fused:
            np.dot(A_prev, W, Z)
        hidden = l < n_layers - 1
        _bias_activation(act_code if hidden else C.IDENTITY, Z, params, b_off)
        if hidden:
            if rate > 0.0:
                for r in range(nb):
                    prefix = hash_prefix(seed, epoch, idx[r])
                    for j in range(fan_out):
                        Z[r, j] *= _dropout_keep_after(prefix, unit0 + j, rate)
            unit0 += fan_out
        w_off += fan_in * fan_out
        b_off += fan_out

    # output gradient (into the first delta buffer)
    P = _view2d(acts, a_off, nb, n_out)
    D = _view2d(deltas, 0, nb, n_out)
    loss = 0.0
    for r in range(nb):
        i = idx[r]
        wi = np.float64(sw[i])
        if loss_code == C.SOFTMAX:
            mx = -np.inf
            for k in range(n_out):
                mx = max(mx, np.float64(P[r, k]))
            s = 0.0
            for k in range(n_out):
                s += math.exp(P[r, k] - mx)
            lse = mx + math.log(s)
            for k in range(n_out):
                y = np.float64(Y[i, k])
                loss += wi * y * (lse - P[r, k])
                D[r, k] = wi * (math.exp(P[r, k] - lse) - y)
        else:
            for k in range(n_out):
                lk, gk = elem_loss_grad(loss_code, np.float64(Y[i, k]),
                                        np.float64(P[r, k]), delta)
                loss += wi * lk
                D[r, k] = wi * gk

    # backward: the output gradients ping-pong between the first two thirds
    # of ``deltas`` (each room for a batch of the widest layer); the last,
    # where allocated, holds the transpose that ``D @ W.T`` reads
    part = bs_max * max_width
    nt_tiles = deltas.shape[0] >= 3 * part and nb >= vec
    cur = np.int64(0)
    for l in range(n_layers - 1, -1, -1):
        fan_in = sizes[l]
        fan_out = sizes[l + 1]
        w_off -= fan_in * fan_out
        b_off -= fan_out
        a_off -= bs_max * fan_in
        A_prev = _view2d(acts, a_off, nb, fan_in)
        D = _view2d(deltas, cur, nb, fan_out)
        if (l > 0 or not fused) and fan_out >= vec:
            gemm_nn(grad, w_off, fan_out, one, acts, a_off, one, fan_in, deltas, cur,
                    fan_out, fan_in, fan_out, nb)
        elif l > 0 or not fused:
            np.dot(A_prev.T, D, _view2d(grad, w_off, fan_in, fan_out))
        else:
            for r in range(nb):
                for j in range(fan_out):
                    D1[r, d1_col + j] = D[r, j]
        for j in range(fan_out):
            grad[b_off + j] = 0.0
        for r in range(nb):
            for j in range(fan_out):
                grad[b_off + j] += D[r, j]
        if l > 0:
            nxt = part - cur
            D_prev = _view2d(deltas, nxt, nb, fan_in)
            if nt_tiles:
                # D @ W.T as (W @ D.T).T, written transposed: the tiles read
                # their right operand by rows, and D.T's rows are D's columns
                _transpose_into(deltas, cur, nb, fan_out, deltas, 2 * part)
                gemm_nn(deltas, nxt, one, fan_in, params, w_off, fan_out, one, deltas,
                        2 * part, nb, fan_in, nb, fan_out)
            else:
                np.dot(D, _view2d(params, w_off, fan_in, fan_out).T, D_prev)
            unit0 -= fan_in
            if rate > 0.0:
                # through the mask: dropped units pass no gradient; kept ones
                # are scaled, and their activation is undone to take act'
                for r in range(nb):
                    prefix = hash_prefix(seed, epoch, idx[r])
                    for j in range(fan_in):
                        keep = _dropout_keep_after(prefix, unit0 + j, rate)
                        if keep == 0.0:
                            D_prev[r, j] = 0.0
                        else:
                            D_prev[r, j] *= keep
                            A_prev[r, j] /= keep
            _times_activation_grad(act_code, D_prev, A_prev)
            cur = nxt
    return loss


_mlp_batch_grad_jit = njit(cache=True, nogil=True, error_model="numpy")(
    _twin(_mlp_batch_grad, "_" + _SOURCE_TAG))


# Rows per gradient chunk of an MLP batch (at least): a batch of 32 rows
# splits over 2 threads, one of 64 or more over 4. Measured on 2 cores with
# (64, 64) hidden units: 1.2x faster than one chunk at batch 32, 1.6x at
# batch 200; one thread pays ~10% for the extra chunk at batch 32.
_MLP_CHUNK_ROWS = 16
_MLP_MAX_CHUNKS = 4


@njit(cache=True, inline="always")
def _mlp_chunks(n_batch):
    return max(1, min(_MLP_MAX_CHUNKS, n_batch // _MLP_CHUNK_ROWS))


# The update of a network with this many parameters or more is split into two
# slices, one per thread (a (64, 64) network's step over 7.5k parameters is a
# third of a batch's time at batch 32 on 2 threads).
_MLP_SPLIT_UPDATE = 4096


def _mlp_epoch(X, Y, sw, order, lrs, params, m, v, avg, grad, sizes, acts, deltas,
               hyper, icodes, counters, stats):
    """One epoch of an MLP on dense ``X`` (matrix products through BLAS).

    Each batch is split into ``_mlp_chunks`` row chunks (a function of the
    batch size only); chunk ``c`` works in ``acts[c]``, ``deltas[c]`` and
    ``grad[c]``, and the chunk gradients are summed in order, so the serial
    and parallel twins agree bitwise. The update of a network of
    ``_MLP_SPLIT_UPDATE`` parameters or more (without clipping) runs as two
    parameter slices, one per thread: the same bits, one more fork per batch.
    """
    n = order.shape[0]
    bs = icodes[C.I_BATCH]
    n_batches = (n + bs - 1) // bs
    stats[C.S_LOSS] = 0.0
    stats[C.S_WEIGHT] = 0.0
    stats[C.S_DIVERGED] = 0.0
    chunk_loss = np.zeros(_MLP_MAX_CHUNKS)
    whole = np.empty((0, 0), dtype=acts.dtype)  # no shared first layer
    n_params = params.shape[0]
    # slices of the update (the clipping norm needs the whole sum first)
    ns = 2 if n_params >= _MLP_SPLIT_UPDATE and hyper[C.H_CLIP] <= 0.0 else 1
    bad = np.zeros(2, dtype=np.int64)
    for b in range(n_batches):
        start = b * bs
        stop = min(start + bs, n)
        nb = stop - start
        nc = _mlp_chunks(nb)
        for c in prange(nc):
            lo = start + (c * nb) // nc
            hi = start + ((c + 1) * nb) // nc
            chunk_loss[c] = _mlp_batch_grad_jit(X, Y, sw, order[lo:hi], params, grad[c],
                                                sizes, acts[c], deltas[c], hyper, icodes,
                                                whole, np.int64(0))
        if ns == 1:
            if not _end_batch_call(params, grad, m, v, avg, chunk_loss, nc, nb, lrs[b], hyper,
                              icodes, counters, stats):
                return
            continue
        # _end_batch with the chunk sums and the step over two parameter slices
        # on the threads: the same bits, as every parameter's step is its own
        if not _batch_loss(chunk_loss, nc, nb, stats):
            stats[C.S_DIVERGED] = 1.0
            return
        scale, c1, c2, decay = _update_scalars(params, grad[0], lrs[b], hyper, icodes,
                                               counters, nb)
        for s in prange(2):
            lo = (s * n_params) // 2
            hi = ((s + 1) * n_params) // 2
            _sum_chunks(grad, nc, lo, hi)
            bad[s] = _update_slice_call(lo, hi, params, grad[0], m, v, lrs[b], hyper,
                                        icodes, nb, scale, c1, c2, decay)
        _update_average(params, avg, icodes, counters, nb)
        if bad[0] + bad[1] > 0:
            stats[C.S_DIVERGED] = 1.0
            return


# --------------------------------------------------------------------------
# Compilation: one explicit signature per (kernel, dtype, index dtype,
# serial/parallel), compiled on first use and cached on disk. Inputs are
# declared read-only, which also accepts writable arrays, so read-only
# memmaps (joblib) and ordinary arrays share one compile.

def _arr(dtype, ndim, readonly=False):
    return types.Array(dtype, ndim, "C", readonly=readonly)


def _signature(kind, dtype, index_dtype):
    f = {np.float32: types.float32, np.float64: types.float64}[dtype]
    state = (
        _arr(types.int64, 1, True),  # order
        _arr(types.float64, 1, True),  # lrs
        _arr(f, 1), _arr(f, 1), _arr(f, 1), _arr(f, 1),  # params, m, v, avg
        _arr(types.float64, 2),  # grad scratch
        _arr(types.float64, 2), _arr(types.float64, 2),  # P, G scratch
        _arr(types.float64, 1, True),  # hyper
        _arr(types.int64, 1, True),  # icodes
        _arr(types.int64, 1),  # counters
        _arr(types.float64, 1),  # stats
    )
    y_sw = (_arr(f, 2, True), _arr(f, 1, True))
    if kind == "mlp":
        return (_arr(f, 2, True),) + y_sw + (
            _arr(types.int64, 1, True), _arr(types.float64, 1, True),  # order, lrs
            _arr(f, 1), _arr(f, 1), _arr(f, 1), _arr(f, 1), _arr(f, 2),  # params..grad
            _arr(types.int64, 1, True), _arr(f, 2), _arr(f, 2),  # sizes, acts, deltas
            _arr(types.float64, 1, True), _arr(types.int64, 1, True),  # hyper, icodes
            _arr(types.int64, 1), _arr(types.float64, 1),  # counters, stats
        )
    if kind == "dense":
        return (_arr(f, 2, True),) + y_sw + state
    idx = {np.int32: types.int32, np.int64: types.int64}[index_dtype]
    return (_arr(f, 1, True), _arr(idx, 1, True), _arr(idx, 1, True)) + y_sw + state


_PY_FUNCS = {"dense": _linear_epoch_dense, "csr": _linear_epoch_csr, "mlp": _mlp_epoch}
_COMPILED = {}




def get_kernel(kind, dtype, parallel, index_dtype=np.int32):
    """The compiled epoch kernel for ``kind`` in {"dense", "csr", "mlp"}."""
    dtype = np.dtype(dtype).type
    index_dtype = np.dtype(index_dtype).type
    key = (kind, dtype, index_dtype if kind == "csr" else None, bool(parallel))
    kernel = _COMPILED.get(key)
    if kernel is None:
        suffix = "_{}_{}_{}{}".format(
            _SOURCE_TAG,
            "par" if parallel else "ser",
            np.dtype(dtype).name,
            "_" + np.dtype(index_dtype).name if kind == "csr" else "",
        )
        sig = _signature(kind, dtype, index_dtype)
        # error_model="numpy": no zero-division checks, so loops vectorize; a
        # division by zero gives inf/NaN, which the divergence guard catches
        kernel = njit([sig], cache=True, nogil=True, parallel=bool(parallel),
                      error_model="numpy")(
            _twin(_PY_FUNCS[kind], suffix)
        )
        _COMPILED[key] = kernel
    return kernel
