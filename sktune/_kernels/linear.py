"""Linear-model epoch kernels, on dense and on CSR data.

``params`` packs ``coef`` (n_features x n_outputs, row-major) then the
intercepts. A batch is split into a number of chunks that depends only on
the data shape, never on the thread count; chunk gradients are summed in a
fixed order, so the serial and parallel twins give bitwise-identical
results. The optimizer step is the fit's unit, called by address
(:mod:`._step`).
"""
import math

import numpy as np
from numba import njit, prange

from . import _codes as C
from ._batches import batch_range, begin_epoch, chunk_range
from ._jit import arr, prefetch_csr_row, prefetch_dense_row, types
from ._scalar import optimizer_step, row_loss_grad
from ._step import end_batch, update_scalars

_LOSS = C.SQUARED_ERROR  # replaced in each compiled variant (see _jit.twin)
#: the optimizer of the lazy kernel, replaced in each of its variants: a
#: literal folds the per-coefficient optimizer branches (9% of its epoch)
_OPT = C.ADAM

# Work (multiply-adds) per gradient chunk; bigger batches split into more chunks.
CHUNK_WORK = 16384
MAX_CHUNKS = 16


@njit(cache=True, inline="always")
def n_chunks(n_batch, work_per_row):
    n = (n_batch * work_per_row) // CHUNK_WORK
    return max(1, min(n, MAX_CHUNKS, n_batch))


@njit(cache=True, inline="always")
def add_row_grad(X, i, G, c, gc):
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


def dense_epoch(X, Y, sw, order, lrs, params, m, v, avg, grad, P, G, hyper, icodes,
                counters, stats, fns):
    """One epoch of a linear model on dense ``X`` (see module docstring).

    ``params`` packs ``coef`` (n_features x n_outputs, row-major) then the
    intercepts. ``P``, ``G`` are per-chunk scratch rows (outputs and output
    gradients); ``grad`` is a scratch of shape (MAX_CHUNKS, n_params).
    """
    n_features = X.shape[1]
    n_out = Y.shape[1]
    n = order.shape[0]
    bs = icodes[C.I_BATCH]
    delta = hyper[C.H_HUBER]
    n_batches = begin_epoch(stats, n, bs)
    chunk_loss = np.zeros(MAX_CHUNKS)
    for b in range(n_batches):
        start, nb = batch_range(b, bs, n)
        nc = n_chunks(nb, n_features * n_out)
        for c in prange(nc):
            gc = grad[c]  # all zeros: the previous update consumed it
            lo, hi = chunk_range(start, nb, c, nc)
            closs = 0.0
            for ii in range(lo, hi):
                prefetch_dense_row(X, Y, sw, order, ii)
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
                closs += row_loss_grad(_LOSS, Y, i, P, c, delta,
                                        np.float64(sw[i]), G)
                add_row_grad(X, i, G, c, gc)
            chunk_loss[c] = closs
        if not end_batch(fns, params, grad, m, v, avg, chunk_loss, nc, nb, lrs[b],
                             hyper, icodes, counters, stats):
            return


@njit(cache=True, inline="always")
def fold_scale(weights, ws):
    """Multiply the L2 scale ``ws`` of the sparse and per-sample SGD paths
    into ``weights`` (true weights are ``ws * weights``); returns the new
    scale, 1."""
    for j in range(weights.shape[0]):
        weights[j] *= ws
    return 1.0


@njit(cache=True, inline="always")
def csr_sgd_sparse_updates(loss, data, indices, indptr, Y, sw, order, lrs, params, grad,
                            gsum, P, G, hyper, icodes, counters, stats):
    """Plain SGD on CSR data touching only each batch's non-zero features.

    The coupled L2 term shrinks every weight by ``1 - lr * l2`` per step; that
    factor is kept in a scalar ``ws`` (true weights are ``ws * params``, as in
    scikit-learn's SGD), so an update costs the batch's non-zeros, not
    ``n_features``. The result equals the dense update up to rounding.
    With ``icodes[I_GRAD_SUM]``, each batch's mean loss gradient is added
    into ``gsum`` (on the same touched features).
    """
    sum_grads = icodes[C.I_GRAD_SUM] == 1
    n_out = Y.shape[1]
    n_params = params.shape[0]
    n_w = n_params - n_out
    n_features = n_w // n_out
    n = order.shape[0]
    bs = icodes[C.I_BATCH]
    delta = hyper[C.H_HUBER]
    l2 = hyper[C.H_L2]
    n_batches = (n + bs - 1) // bs
    stamp = np.zeros(n_features, dtype=np.int64)
    touched = np.empty(n_features, dtype=np.int64)
    ws = 1.0
    for b in range(n_batches):
        start, nb = batch_range(b, bs, n)
        stop = start + nb
        n_touched = 0
        direct_bad = 0
        bloss = 0.0
        for ii in range(start, stop):
            prefetch_csr_row(data, indices, indptr, Y, sw, order, ii)
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
            bloss += row_loss_grad(loss, Y, i, P, 0, delta, np.float64(sw[i]), G)
            g0 = G[0, 0]
            if nb == 1 and n_out == 1:
                # per-sample SGD: update the row's weights directly
                ws_new = ws * (1.0 - lrs[b] * l2)
                scaled = lrs[b] * g0 / ws_new
                if sum_grads:
                    for q in range(indptr[i], indptr[i + 1]):
                        x = np.float64(data[q])
                        w = params[indices[q]] - scaled * x
                        params[indices[q]] = w
                        gsum[indices[q]] += g0 * x
                        direct_bad += (w - w) != 0.0
                else:
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
        inv_nb = 1.0 / nb
        for t in range(n_touched):
            base = touched[t] * n_out
            for k in range(n_out):
                if sum_grads:
                    gsum[base + k] += grad[base + k] * inv_nb
                w = params[base + k] - scaled_step * grad[base + k]
                grad[base + k] = 0.0
                params[base + k] = w
                bad += (w - w) != 0.0
        for k in range(n_out):
            if sum_grads:
                gsum[n_w + k] += grad[n_w + k] * inv_nb
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
            ws = fold_scale(params[:n_w], ws)
    fold_scale(params[:n_w], ws)


def sparse_sgd_applies(nnz, n_rows, lrs, hyper, icodes, n_features, n_outputs=1):
    """Whether an epoch on CSR data runs :func:`csr_sgd_epoch` (plain SGD
    whose updates touch only the batch's non-zero features) rather than
    :func:`csr_epoch`: no L1, clipping or pruning, averaging only per sample
    of one output, a stable L2 scale, and batches with fewer non-zeros than
    there are features. Decided on the host, so each fit compiles only the
    kernel it runs."""
    mean_nnz = max(1, nnz // max(1, n_rows))
    per_sample = icodes[C.I_BATCH] == 1 and n_outputs == 1
    return bool(icodes[C.I_OPTIMIZER] == C.SGD and hyper[C.H_L1] == 0.0
                and hyper[C.H_CLIP] == 0.0 and icodes[C.I_PRUNED] == 0
                and (icodes[C.I_AVERAGE_START] < 0 or per_sample)
                and float(np.max(lrs, initial=0.0)) * hyper[C.H_L2] < 0.5
                and icodes[C.I_BATCH] * mean_nnz < n_features)


@njit(cache=True, inline="always")
def csr_sgd_per_sample(loss, data, indices, indptr, Y, sw, order, lrs, params, avg, gsum,
                       P, G, hyper, icodes, counters, stats):
    """Per-sample plain SGD of one output on CSR data: the row's dot
    product and one update of its non-zeros, the L2 shrinkage kept in the
    scale ``ws``, the loss summed in a register (the batch-of-one case of
    :func:`csr_sgd_sparse_updates`, without its per-batch bookkeeping).

    Averaging (``average``) costs O(non-zeros) per sample too. From a
    start with stored weights ``p0``, step ``t`` stores ``p_t = p_{t-1} -
    c_t x_t`` and its true weights are ``ws_t p_t``; with ``B_t = ws_1 +
    ... + ws_t`` the sum of the true weights of steps 1..k is ``B_k p_k +
    Q_k``, where ``Q`` gains ``c_t B_{t-1} x_t`` at step ``t``: a sparse
    add. The average is formed from that sum once, at the end of the epoch
    (and the sum restarted whenever the scale is folded in).
    """
    n_w = params.shape[0] - 1
    n = order.shape[0]
    l2 = hyper[C.H_L2]
    delta = hyper[C.H_HUBER]
    sum_grads = icodes[C.I_GRAD_SUM] == 1
    # Without L2 and at one rate for the whole epoch every update is
    # -lr * g * x, so the gradient sum is the parameters' change over -lr:
    # read after the loop, it spares the loop a second scattered add per
    # non-zero (about a fifth of the epoch).
    lr0 = lrs[0] if n > 0 else 0.0
    from_change = sum_grads and l2 == 0.0 and lr0 > 0.0
    if from_change:
        for ii in range(n):
            from_change &= lrs[ii] == lr0
    w0 = params.copy() if from_change else params[:0].copy()
    sum_grads = sum_grads and not from_change
    avg_start = icodes[C.I_AVERAGE_START]
    seen0 = counters[C.C_SEEN]
    n_avg0 = counters[C.C_N_AVG]
    n_avg = n_avg0
    size = n_w if avg_start >= 0 else 0
    Q = np.zeros(size)
    S = np.zeros(size)  # the sums of the stretches before a fold
    B = 0.0
    ws = 1.0
    total = 0.0
    seen = 0
    bad = 0
    for ii in range(n):
        prefetch_csr_row(data, indices, indptr, Y, sw, order, ii)
        i = np.uint64(order[ii])
        # the row as 0-based views, its column indices unsigned: Numba
        # then skips its per-access test for negative indices
        xd = data[indptr[i]:indptr[i + 1]]
        xi = indices[indptr[i]:indptr[i + 1]]
        nnz = xd.shape[0]
        p = 0.0
        for k in range(nnz):
            p += np.float64(xd[k]) * params[np.uint64(xi[k])]
        P[0, 0] = ws * p + params[n_w]
        row_loss = row_loss_grad(loss, Y, i, P, 0, delta, np.float64(sw[i]), G)
        total += row_loss
        seen += 1
        if not math.isfinite(row_loss):
            bad = 1
            break
        g0 = G[0, 0]
        lr = lrs[ii]
        ws *= 1.0 - lr * l2
        scaled = lr * g0 / ws
        if avg_start >= 0 and seen0 + seen > avg_start:
            cb = scaled * B
            for k in range(nnz):
                x = np.float64(xd[k])
                j = np.uint64(xi[k])
                params[j] -= scaled * x
                Q[j] += cb * x
                if sum_grads:
                    gsum[j] += g0 * x
            B += ws
            n_avg += 1
            params[n_w] -= lr * g0
            avg[n_w] += (params[n_w] - avg[n_w]) / n_avg
        elif sum_grads:
            for k in range(nnz):
                x = np.float64(xd[k])
                j = np.uint64(xi[k])
                params[j] -= scaled * x
                gsum[j] += g0 * x
            params[n_w] -= lr * g0
        else:
            for k in range(nnz):
                params[np.uint64(xi[k])] -= scaled * np.float64(xd[k])
            params[n_w] -= lr * g0
        if sum_grads:
            gsum[n_w] += g0
        if ws < 1e-6:  # fold the scale in before it loses precision
            if B != 0.0:
                for j in range(n_w):
                    S[j] += B * params[j] + Q[j]
                    Q[j] = 0.0
                B = 0.0
            ws = fold_scale(params[:n_w], ws)
    if n_avg > n_avg0:
        for j in range(n_w):
            avg[j] = (n_avg0 * avg[j] + S[j] + B * params[j] + Q[j]) / n_avg
    counters[C.C_N_AVG] = n_avg
    fold_scale(params[:n_w], ws)
    if from_change:
        inv_lr = 1.0 / lr0
        for j in range(n_w + 1):  # the intercept too
            gsum[j] += (w0[j] - params[j]) * inv_lr
    for j in range(n_w + 1):
        bad += not math.isfinite(params[j])
    stats[C.S_LOSS] += total
    stats[C.S_WEIGHT] += seen
    counters[C.C_STEP] += seen
    counters[C.C_SEEN] += seen
    if bad:
        stats[C.S_DIVERGED] = 1.0


def csr_sgd_epoch(data, indices, indptr, Y, sw, order, lrs, params, m, v, avg, grad, P, G,
                  hyper, icodes, counters, stats, fns):
    """One epoch of plain SGD on CSR ``X`` by :func:`csr_sgd_sparse_updates`
    (where :func:`sparse_sgd_applies`; per sample, one output: by
    :func:`csr_sgd_per_sample`)."""
    begin_epoch(stats, order.shape[0], icodes[C.I_BATCH])
    if icodes[C.I_BATCH] == 1 and Y.shape[1] == 1:
        csr_sgd_per_sample(_LOSS, data, indices, indptr, Y, sw, order, lrs, params, avg,
                           grad[grad.shape[0] - 1], P, G, hyper, icodes, counters, stats)
        return
    csr_sgd_sparse_updates(_LOSS, data, indices, indptr, Y, sw, order, lrs, params, grad[0],
                           grad[grad.shape[0] - 1], P, G, hyper, icodes, counters, stats)


def csr_epoch(data, indices, indptr, Y, sw, order, lrs, params, m, v, avg, grad, P, G,
              hyper, icodes, counters, stats, fns):
    """One epoch of a linear model on CSR ``X`` (``data, indices, indptr``)."""
    n_out = Y.shape[1]
    n_params = params.shape[0]
    n_features = (n_params - n_out) // n_out
    n = order.shape[0]
    bs = icodes[C.I_BATCH]
    delta = hyper[C.H_HUBER]
    n_batches = begin_epoch(stats, n, bs)
    mean_nnz = max(1, data.shape[0] // max(1, indptr.shape[0] - 1))
    chunk_loss = np.zeros(MAX_CHUNKS)
    for b in range(n_batches):
        start, nb = batch_range(b, bs, n)
        nc = n_chunks(nb, mean_nnz * n_out)
        for c in prange(nc):
            gc = grad[c]  # all zeros: the previous update consumed it
            lo, hi = chunk_range(start, nb, c, nc)
            closs = 0.0
            for ii in range(lo, hi):
                prefetch_csr_row(data, indices, indptr, Y, sw, order, ii)
                i = np.uint64(order[ii])
                # the row as 0-based views, its column indices unsigned: no
                # per-access test for negative indices
                xd = data[indptr[i]:indptr[i + 1]]
                xi = indices[indptr[i]:indptr[i + 1]]
                if n_out == 1:
                    p = np.float64(params[n_features])
                    for q in range(xd.shape[0]):
                        p += np.float64(xd[q]) * params[np.uint64(xi[q])]
                    P[c, 0] = p
                else:
                    for k in range(n_out):
                        P[c, k] = params[n_features * n_out + k]
                    for q in range(xd.shape[0]):
                        x = np.float64(xd[q])
                        base = np.uint64(xi[q]) * np.uint64(n_out)
                        for k in range(n_out):
                            P[c, k] += x * params[base + np.uint64(k)]
                closs += row_loss_grad(_LOSS, Y, i, P, c, delta,
                                        np.float64(sw[i]), G)
                if n_out == 1:
                    g0 = G[c, 0]
                    for q in range(xd.shape[0]):
                        gc[np.uint64(xi[q])] += np.float64(xd[q]) * g0
                else:
                    for q in range(xd.shape[0]):
                        x = np.float64(xd[q])
                        base = np.uint64(xi[q]) * np.uint64(n_out)
                        for k in range(n_out):
                            gc[base + np.uint64(k)] += x * G[c, k]
                for k in range(n_out):
                    gc[n_features * n_out + k] += G[c, k]
            chunk_loss[c] = closs
        if not end_batch(fns, params, grad, m, v, avg, chunk_loss, nc, nb, lrs[b],
                             hyper, icodes, counters, stats):
            return


def dense_sgd_applies(lrs, hyper, icodes, n_outputs):
    """Whether an epoch on dense data runs :func:`dense_sgd_epoch`:
    per-sample plain SGD (batch size 1) of one output, without L1,
    clipping or pruning, with a stable L2 scale (averaging included). Decided on the
    host, so each fit compiles only the kernel it runs."""
    return bool(icodes[C.I_OPTIMIZER] == C.SGD and icodes[C.I_BATCH] == 1
                and n_outputs == 1 and icodes[C.I_PRUNED] == 0
                and hyper[C.H_L1] == 0.0 and hyper[C.H_CLIP] == 0.0
                and float(np.max(lrs, initial=0.0)) * hyper[C.H_L2] < 0.5)


def dense_sgd_epoch(X, Y, sw, order, lrs, params, m, v, avg, grad, P, G, hyper, icodes,
                    counters, stats, fns):
    """One epoch of per-sample plain SGD on dense ``X`` (where
    :func:`dense_sgd_applies`): a dot product and one fused update per
    sample, nothing else.

    The coupled L2 term scales every weight by ``1 - lr * l2`` per sample;
    that factor is kept in a scalar ``ws`` (true weights are ``ws *
    params``), so a sample costs two passes over its features, as in
    scikit-learn's SGD. The result equals :func:`dense_epoch`'s up to
    rounding. With ``icodes[I_GRAD_SUM]`` the sample gradients are summed
    into the last row of ``grad`` in the same pass, and once averaging has
    started (``average``) the running average of the weights is updated
    there too.
    """
    n_features = X.shape[1]
    n = order.shape[0]
    begin_epoch(stats, n, 1)
    l2 = hyper[C.H_L2]
    delta = hyper[C.H_HUBER]
    sum_grads = icodes[C.I_GRAD_SUM] == 1
    gsum = grad[grad.shape[0] - 1]
    w = params[:n_features]
    a = avg[:n_features]
    avg_start = icodes[C.I_AVERAGE_START]
    seen0 = counters[C.C_SEEN]
    n_avg = counters[C.C_N_AVG]
    ws = 1.0
    total = 0.0
    seen = 0
    for ii in range(n):
        prefetch_dense_row(X, Y, sw, order, ii)
        i = order[ii]
        x = X[i]
        p = 0.0
        for j in range(n_features):
            p += np.float64(x[j]) * w[j]
        P[0, 0] = ws * p + params[n_features]
        loss = row_loss_grad(_LOSS, Y, i, P, 0, delta, np.float64(sw[i]), G)
        total += loss
        seen += 1
        if not math.isfinite(loss):
            stats[C.S_DIVERGED] = 1.0
            break
        g0 = G[0, 0]
        lr = lrs[ii]
        ws *= 1.0 - lr * l2
        scaled = lr * g0 / ws
        if avg_start >= 0 and seen0 + seen > avg_start:
            # the average of the true weights ws * w after this update
            n_avg += 1
            inv_k = 1.0 / n_avg
            for j in range(n_features):
                xj = np.float64(x[j])
                w[j] -= scaled * xj
                a[j] += (ws * w[j] - a[j]) * inv_k
                if sum_grads:
                    gsum[j] += g0 * xj
            params[n_features] -= lr * g0
            avg[n_features] += (params[n_features] - avg[n_features]) * inv_k
        elif sum_grads:
            for j in range(n_features):
                xj = np.float64(x[j])
                w[j] -= scaled * xj
                gsum[j] += g0 * xj
            params[n_features] -= lr * g0
        else:
            for j in range(n_features):
                w[j] -= scaled * np.float64(x[j])
            params[n_features] -= lr * g0
        if sum_grads:
            gsum[n_features] += g0
        if ws < 1e-6:  # fold the scale in before it loses precision
            ws = fold_scale(w, ws)
    fold_scale(w, ws)
    stats[C.S_LOSS] += total
    stats[C.S_WEIGHT] += seen
    counters[C.C_STEP] += seen
    counters[C.C_SEEN] += seen
    counters[C.C_N_AVG] = n_avg
    for j in range(n_features + 1):
        if not math.isfinite(params[j]):
            stats[C.S_DIVERGED] = 1.0


#: optimizers whose CSR updates ``lazy_updates`` restricts to the batch's features
LAZY_OPTIMIZERS = (C.MOMENTUM, C.NESTEROV, C.ADAM, C.ADAMW, C.RMSPROP, C.ADAGRAD)


def lazy_applies(hyper, icodes):
    """Whether a CSR epoch with ``lazy_updates=True`` runs
    :func:`csr_lazy_epoch`: an optimizer with state (plain SGD has its own
    sparse path), no L1, clipping, averaging or pruning (each needs every
    coefficient at every step; a pruned fit takes the exact path)."""
    return bool(icodes[C.I_OPTIMIZER] in LAZY_OPTIMIZERS and hyper[C.H_L1] == 0.0
                and hyper[C.H_CLIP] == 0.0 and icodes[C.I_AVERAGE_START] < 0
                and icodes[C.I_PRUNED] == 0)


def csr_lazy_epoch(data, indices, indptr, Y, sw, order, lrs, params, m, v, avg, grad, P, G,
                   hyper, icodes, counters, stats, fns):
    """One epoch of lazy (sparse) updates on CSR ``X``: each batch's
    optimizer step updates the weights and the optimizer state of only the
    features present in the batch, and the intercepts.

    The batch's coefficients are stepped in place (the optimizer's
    per-parameter update, bias corrections from the global step count; a
    gather into the step unit and back cost twice the random accesses). The
    L2 term decays every weight by ``1 - lr * l2`` per step, kept as one
    scale ``ws`` (true weights are ``ws * params``) as in plain SGD's sparse
    path: for Adam this is a decoupled decay, not Adam's coupled gradient
    term. Untouched features keep their moments exactly.
    """
    sum_grads = icodes[C.I_GRAD_SUM] == 1
    n_out = Y.shape[1]
    n_params = params.shape[0]
    n_w = n_params - n_out
    n_features = n_w // n_out
    n = order.shape[0]
    bs = icodes[C.I_BATCH]
    delta = hyper[C.H_HUBER]
    l2 = hyper[C.H_L2]
    n_batches = begin_epoch(stats, n, bs)
    # the step sees no L2 (applied as the scale) and no decoupled decay
    hyper_l = hyper.copy()
    hyper_l[C.H_L2] = 0.0
    icodes_l = icodes.copy()
    icodes_l[C.I_N_PENALIZED] = 0
    g = grad[0]  # the batch gradient, by parameter (zero between batches)
    gsum = grad[grad.shape[0] - 1]
    opt = _OPT
    mom = hyper[C.H_MOMENTUM]
    b1 = hyper[C.H_BETA_1]
    b2 = hyper[C.H_BETA_2]
    eps = hyper[C.H_EPSILON]
    stamp = np.zeros(n_features, dtype=np.int64)
    touched = np.empty(n_features + 1, dtype=np.int64)  # one spare slot
    ws = 1.0
    for b in range(n_batches):
        start, nb = batch_range(b, bs, n)
        n_touched = 0
        bloss = 0.0
        for ii in range(start, start + nb):
            prefetch_csr_row(data, indices, indptr, Y, sw, order, ii)
            i = np.uint64(order[ii])
            xd = data[indptr[i]:indptr[i + 1]]
            xi = indices[indptr[i]:indptr[i + 1]]
            if n_out == 1:
                p = 0.0
                for q in range(xd.shape[0]):
                    p += np.float64(xd[q]) * params[np.uint64(xi[q])]
                P[0, 0] = ws * p + params[n_w]
            else:
                for k in range(n_out):
                    P[0, k] = 0.0
                for q in range(xd.shape[0]):
                    x = np.float64(xd[q])
                    base = np.uint64(xi[q]) * np.uint64(n_out)
                    for k in range(n_out):
                        P[0, k] += x * params[base + np.uint64(k)]
                for k in range(n_out):
                    P[0, k] = ws * P[0, k] + params[n_w + k]
            bloss += row_loss_grad(_LOSS, Y, i, P, 0, delta, np.float64(sw[i]), G)
            # first touches listed without a branch (whether a feature
            # repeats within a batch is a coin flip for the predictor)
            if n_out == 1:  # its own loop: a third less time for the batch
                g0 = G[0, 0]
                for q in range(xd.shape[0]):
                    j = np.uint64(xi[q])
                    touched[n_touched] = j
                    n_touched += stamp[j] != b + 1
                    stamp[j] = b + 1
                    g[j] += np.float64(xd[q]) * g0
            else:
                for q in range(xd.shape[0]):
                    j = np.uint64(xi[q])
                    x = np.float64(xd[q])
                    base = j * np.uint64(n_out)
                    touched[n_touched] = j
                    n_touched += stamp[j] != b + 1
                    stamp[j] = b + 1
                    for k in range(n_out):
                        g[base + np.uint64(k)] += x * G[0, k]
            for k in range(n_out):
                g[n_w + k] += G[0, k]
        stats[C.S_LOSS] += bloss
        stats[C.S_WEIGHT] += nb
        if not math.isfinite(bloss):
            stats[C.S_DIVERGED] = 1.0
            return
        lr = lrs[b]
        scale, c1, c2, decay = update_scalars(g, g, g, lr, hyper_l, icodes_l, counters, nb)
        inv_nb = 1.0 / nb
        inv_ws = 1.0 / ws
        bad = 0
        # the touched coefficients (as true weights), then the intercepts,
        # stepped in place: the per-parameter body of the optimizer unit
        for t in range(n_touched + 1):
            base = touched[t] * n_out if t < n_touched else n_w
            w_scale = ws if t < n_touched else 1.0
            inv_scale = inv_ws if t < n_touched else 1.0
            for k in range(n_out):
                j = np.uint64(base + k)
                gj = g[j] * inv_nb
                g[j] = 0.0
                if sum_grads:
                    gsum[j] += gj
                w0 = np.float64(params[j]) * w_scale
                w, mj, vj, step = optimizer_step(opt, w0, gj * scale, np.float64(m[j]),
                                                 np.float64(v[j]), lr, mom, b1, b2, eps,
                                                 c1, c2)
                # the stepped true weight, decayed with every other weight:
                # stored as w * ws_new / ws over the new scale ws_new
                # no flush of subnormal values (``_scalar.flush``) here: an
                # epoch that touches only the batch's features pays for a
                # subnormal value in its own feature's updates only, and the
                # flush cost 4-5 % of the epoch
                params[j] = w * inv_scale
                m[j] = mj
                v[j] = vj
                bad += (w - w) != 0.0
        ws_new = ws * (1.0 - lr * l2)
        ws = ws_new
        counters[C.C_SEEN] += nb
        if bad:
            stats[C.S_DIVERGED] = 1.0
            return
        if ws < 1e-6:  # fold the scale in before it loses precision
            ws = fold_scale(params[:n_w], ws)
    fold_scale(params[:n_w], ws)


def epoch_signature(kind, f, index_dtype=None):
    """Signature of :func:`dense_epoch` (``kind="dense"``) or
    :func:`csr_epoch` for data of Numba type ``f``."""
    f64, i64 = types.float64, types.int64
    state = (
        arr(i64, 1, True), arr(f64, 1, True),  # order, lrs
        arr(f), arr(f), arr(f), arr(f),  # params, m, v, avg
        arr(f64, 2), arr(f64, 2), arr(f64, 2),  # grad, P, G scratch
        arr(f64, 1, True), arr(i64, 1, True),  # hyper, icodes
        arr(i64), arr(f64), arr(i64, 1, True),  # counters, stats, fns
    )
    y_sw = (arr(f, 2, True), arr(f, 1, True))
    if kind in ("dense", "dense_sgd"):
        return types.void(arr(f, 2, True), *y_sw, *state)
    # "csr" and "csr_sgd"
    return types.void(arr(f, 1, True), arr(index_dtype, 1, True),
                      arr(index_dtype, 1, True), *y_sw, *state)


EPOCHS = {"dense": dense_epoch, "dense_sgd": dense_sgd_epoch, "csr": csr_epoch,
          "csr_sgd": csr_sgd_epoch, "csr_lazy": csr_lazy_epoch}
