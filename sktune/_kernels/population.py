"""Population kernels: one call trains one epoch of many models at once.

A batched search (:mod:`sktune.model_selection`) trains every candidate x
fold of a search together. Models that share a compiled shape (kind, dtype,
number of features, outputs and, for MLPs, layer sizes) form a population:
their parameters, optimizer moments and counters are rows of 2-D arrays, and
one call of a population kernel runs one epoch of each active model, spread
over threads (``prange`` over thread slots, each slot a list of models
balanced by estimated cost). Everything else (batch size, optimizer, loss,
schedule, penalty, dropout, seed) is per model: it travels in the rows of
``hyper``, ``icodes`` and ``lrs``.

Exactness: a model trained here has bitwise the weights of the same model
fitted on its own.

* An MLP's epoch is the serial single-fit kernel itself
  (``cpu.get_kernel("mlp", dtype, parallel=False)``, the same compiled
  code); the serial and parallel twins of a kernel agree bitwise.
* Linear models that share their data, sample order and batch size (the
  candidates of one fold with the same ``random_state``) train fused
  (:func:`_linear_cohort_epoch`): each row is read once for all of them and
  the models are the innermost loop, while every model's sums are formed in
  the single-fit kernel's order with its scalar code, and its end-of-batch
  step is the single-fit one (``cpu._end_batch``).

Data are held once: the training sets (one per fold, plus one per model
that holds out its own early-stopping split, equal splits stored once) lie
back to back in flat "arenas" (``Xa``, ``Ya``, ``swa``) and each model names
its set by offsets (``data[k]`` = X offset, Y offset, sw offset, rows); the
kernels view them as 2-D arrays, no copy. Scratch buffers are per thread
slot, not per model.
"""
import types

import numpy as np
from numba import njit, prange

from . import _codes as C
from . import cpu

_TAG = cpu._SOURCE_TAG
_FLAGS = dict(cache=True, nogil=True, error_model="numpy")


@njit(cache=True, inline="always")
def _data(k, data, Xa, Ya, swa, n_features, n_out):
    """Model ``k``'s training set, viewed in the arenas: ``X, Y, sw``."""
    n = data[k, 3]
    X = Xa[data[k, 0]: data[k, 0] + n * n_features].reshape(n, n_features)
    Y = Ya[data[k, 1]: data[k, 1] + n * n_out].reshape(n, n_out)
    sw = swa[data[k, 2]: data[k, 2] + n]
    return X, Y, sw


def _linear_cohort_epoch(X, Y, sw, order, mem, lrs, params, m, v, avg, hyper, icodes,
                         counters, stats, WT, GT, PT, GG, Pm, Gm, closs, gk, cl, alive):
    """One epoch of the linear models ``mem``, which share their data, sample
    order and batch size, fused: each row of ``X`` is read once for all of
    them and the arithmetic runs across models (SIMD lanes).

    Bitwise the same as one :func:`cpu._linear_epoch_dense` call per model:
    every model's outputs, losses and gradients are accumulated in the same
    order (features, then rows, then chunks), with the same scalar code;
    only the loop over models is innermost. The end-of-batch step
    (:func:`cpu._end_batch`: chunk sum, penalty, clipping, optimizer,
    averaging, divergence) is the single-model one, per model, on its
    gathered gradient. ``WT`` (weights, transposed: parameter x model) and
    ``GT`` (chunk x parameter x model) keep the models innermost.
    """
    n_features = X.shape[1]
    n_out = Y.shape[1]
    n_params = params.shape[1]
    n_w = n_features * n_out
    K = mem.shape[0]
    n = order.shape[0]
    bs = icodes[mem[0], C.I_BATCH]
    n_batches = (n + bs - 1) // bs
    for q in range(K):
        k = mem[q]
        stats[k, C.S_LOSS] = 0.0
        stats[k, C.S_WEIGHT] = 0.0
        stats[k, C.S_DIVERGED] = 0.0
        alive[q] = True
        for j in range(n_params):
            WT[j, q] = params[k, j]
    for b in range(n_batches):
        start = b * bs
        stop = min(start + bs, n)
        nb = stop - start
        nc = cpu._n_chunks(nb, n_w)
        for c in range(nc):
            for j in range(n_params):
                for q in range(K):
                    GT[c, j, q] = 0.0
            lo = start + (c * nb) // nc
            hi = start + ((c + 1) * nb) // nc
            for q in range(K):
                closs[c, q] = 0.0
            for ii in range(lo, hi):
                i = order[ii]
                # outputs of every model: intercept, then the features in order
                for o in range(n_out):
                    for q in range(K):
                        PT[o, q] = np.float64(WT[n_w + o, q])
                if n_out == 1:
                    for j in range(n_features):
                        x = np.float64(X[i, j])
                        for q in range(K):
                            PT[0, q] += x * WT[j, q]
                else:
                    for j in range(n_features):
                        x = np.float64(X[i, j])
                        base = j * n_out
                        for o in range(n_out):
                            for q in range(K):
                                PT[o, q] += x * WT[base + o, q]
                wi = np.float64(sw[i])
                for q in range(K):
                    k = mem[q]
                    for o in range(n_out):
                        Pm[q, o] = PT[o, q]
                    closs[c, q] += cpu._row_loss_grad(icodes[k, C.I_LOSS], Y, i, Pm, q,
                                                      hyper[k, C.H_HUBER], wi, Gm)
                    for o in range(n_out):
                        GG[o, q] = Gm[q, o]
                if n_out == 1:
                    for j in range(n_features):
                        x = np.float64(X[i, j])
                        for q in range(K):
                            GT[c, j, q] += x * GG[0, q]
                else:
                    for j in range(n_features):
                        x = np.float64(X[i, j])
                        base = j * n_out
                        for o in range(n_out):
                            for q in range(K):
                                GT[c, base + o, q] += x * GG[o, q]
                for o in range(n_out):
                    for q in range(K):
                        GT[c, n_w + o, q] += GG[o, q]
        for q in range(K):
            if not alive[q]:
                continue  # diverged earlier this epoch: its epoch is over
            k = mem[q]
            for c in range(nc):
                cl[c] = closs[c, q]
                for j in range(n_params):
                    gk[c, j] = GT[c, j, q]
            if cpu._end_batch(params[k], gk, m[k], v[k], avg[k], cl, nc, nb, lrs[k, b],
                              hyper[k], icodes[k], counters[k], stats[k]):
                for j in range(n_params):
                    WT[j, q] = params[k, j]
            else:
                alive[q] = False


def _linear_population(Xa, Ya, swa, data, n_features, orders, lrs, n_batches, params, m,
                       v, avg, hyper, icodes, counters, stats, units, unit_start, slots,
                       WT, GT, PT, GG, Pm, Gm, closs, gk, cl, alive):
    """One epoch of every model of ``units`` (linear, dense), in parallel.

    ``units[unit_start[u]:unit_start[u + 1]]`` are the models of unit ``u``:
    models sharing data, sample order and batch size, trained fused by
    :func:`_linear_cohort_epoch`. ``slots[s]`` lists the units thread slot ``s`` trains
    (-1 pads); the other trailing arrays are the slots' scratch.
    ``data[k]`` = (X offset, Y offset, sw offset, rows) of model ``k`` in
    the arenas, ``orders[k, :rows]`` its sample order and
    ``lrs[k, :n_batches[k]]`` its per-step learning rates.
    """
    n_out = PT.shape[1]
    for s in prange(slots.shape[0]):
        for r in range(slots.shape[1]):
            u = slots[s, r]
            if u < 0:
                break
            mem = units[unit_start[u]: unit_start[u + 1]]
            k = mem[0]
            X, Y, sw = _data(k, data, Xa, Ya, swa, n_features, n_out)
            _linear_cohort(X, Y, sw, orders[k, :data[k, 3]], mem, lrs, params, m, v, avg,
                           hyper, icodes, counters, stats, WT[s], GT[s], PT[s], GG[s], Pm[s],
                           Gm[s], closs[s], gk[s], cl[s], alive[s])


_mlp_epoch = None  # the serial single-fit kernel, bound per dtype below


def _mlp_population(Xa, Ya, swa, data, n_features, orders, lrs, n_batches, params, m, v,
                    avg, grad, sizes, acts, deltas, hyper, icodes, counters, stats, slots):
    """One epoch of each model listed in ``slots`` (MLP, one shape: ``sizes``).

    Same layout as :func:`_linear_population`; the scratch of slot ``s`` is
    ``grad[s]``, ``acts[s]`` and ``deltas[s]``, sized for the largest batch.
    """
    n_out = sizes[sizes.shape[0] - 1]
    for s in prange(slots.shape[0]):
        for q in range(slots.shape[1]):
            k = slots[s, q]
            if k < 0:
                break
            X, Y, sw = _data(k, data, Xa, Ya, swa, n_features, n_out)
            _mlp_epoch(X, Y, sw, orders[k, :data[k, 3]], lrs[k, :n_batches[k]],
                       params[k], m[k], v[k], avg[k], grad[s], sizes, acts[s], deltas[s],
                       hyper[k], icodes[k], counters[k], stats[k])


# --------------------------------------------------------------------------
# Compilation. The fused linear epoch is compiled once (per dtype) as a
# function of its own and called from the parallel loop; the MLP population
# calls the very serial kernel a single fit uses (``cpu.get_kernel``), with
# the same argument types (read-only inputs), so its compiled code is shared
# with single fits instead of being compiled again.

_linear_cohort = njit(**_FLAGS)(cpu._twin(_linear_cohort_epoch, "_" + _TAG))
_linear_population_jit = njit(parallel=True, **_FLAGS)(
    cpu._twin(_linear_population, "_" + _TAG))
_MLP_POPULATION = {}


def _mlp_population_kernel(dtype):
    dtype = np.dtype(dtype)
    kernel = _MLP_POPULATION.get(dtype)
    if kernel is None:
        serial = cpu.get_kernel("mlp", dtype, parallel=False)
        glb = dict(_mlp_population.__globals__, _mlp_epoch=serial)
        func = types.FunctionType(_mlp_population.__code__, glb,
                                  f"_mlp_population_{_TAG}_{dtype.name}")
        func.__qualname__ = func.__name__
        func.__module__ = __name__
        kernel = njit(parallel=True, **_FLAGS)(func)
        _MLP_POPULATION[dtype] = kernel
    return kernel


def linear_population(*args):
    """One epoch of a population of linear models: see :func:`_linear_population`."""
    return _linear_population_jit(*args)


def mlp_population(*args):
    """One epoch of a population of MLPs: see :func:`_mlp_population`."""
    return _mlp_population_kernel(args[8].dtype)(*args)


def read_only(a):
    """A read-only view of ``a`` (kernel inputs are typed read-only)."""
    view = a.view()
    view.flags.writeable = False
    return view


def assign_slots(costs, n_slots):
    """Spread work items over ``n_slots`` thread slots, longest first.

    ``costs`` gives each item's estimated cost; returns an int64 array
    ``(n_slots, max_per_slot)`` of item indices padded with -1, each slot's
    items in ascending order. Greedy longest-processing-time: every item
    goes to the least loaded slot.
    """
    costs = np.asarray(costs, dtype=float)
    n_slots = max(1, min(int(n_slots), costs.shape[0]))
    load = np.zeros(n_slots)
    members = [[] for _ in range(n_slots)]
    for k in np.argsort(-costs, kind="stable"):
        s = int(np.argmin(load))
        load[s] += costs[k]
        members[s].append(int(k))
    width = max(len(m) for m in members)
    slots = np.full((n_slots, width), -1, dtype=np.int64)
    for s, mem in enumerate(members):
        slots[s, : len(mem)] = sorted(mem)
    return slots
