"""What a partition computes, and how partial results are combined.

Every function here is pure: its result depends on its arguments only (the
partition's rows, its index, the synchronised state), never on the worker
that runs it, so dask may run it anywhere, twice, or again after a worker
was lost, and a fit gives the same bits on any number of workers.
"""
import threading
import time
from collections import OrderedDict

import numpy as np

from .. import _config
from .._engine.loop import TrainState
from .._kernels import _codes as C
from .._kernels._rng import permutation

#: Rows per gradient pass of the full-batch mode (bounds the kernels'
#: scratch buffers, whatever the size of a partition).
GRAD_ROWS = 1024


# The epoch's order of a partition, kept between the rounds of the epoch
# (drawing it costs as much as ~100 mini-batches of a small MLP on a
# million-row partition): a pure function's memo, so a miss or an eviction
# changes nothing but time.
_ORDERS = OrderedDict()
_ORDERS_LOCK = threading.Lock()
_ORDERS_KEPT = 8


def epoch_order(seed, epoch, n, shuffle):
    """The order in which a partition of ``n`` rows visits its rows in
    ``epoch``: the shuffle of ``(seed, epoch)``, or the rows in turn
    (read-only; memoized per worker process)."""
    key = (int(seed), int(epoch), int(n), bool(shuffle))
    with _ORDERS_LOCK:
        order = _ORDERS.get(key)
        if order is not None:
            _ORDERS.move_to_end(key)
            return order
    order = np.empty(n, dtype=np.int64)
    if shuffle:
        permutation(key[0], key[1], order)
    else:
        order[:] = np.arange(n)
    order.flags.writeable = False
    with _ORDERS_LOCK:
        _ORDERS[key] = order
        while len(_ORDERS) > _ORDERS_KEPT:
            _ORDERS.popitem(last=False)
    return order


def partition_seed(seed, index):
    """The seed of partition ``index``: shuffles and dropout masks are keyed
    by (random_state, partition, epoch), never by worker."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint32)
    return int(state[0] >> 1)


def validation_mask(seed, index, n, fraction):
    """The rows of partition ``index`` held out for early stopping: each
    with probability ``fraction``, drawn from (seed, partition)."""
    rng = np.random.default_rng([int(seed), int(index), 7])
    return rng.random(n) < fraction


def prepare_block(model, dtype, X, y, sw, holdout=None):
    """The kernel's view of one partition: ``(X, Y, sw)`` of ``dtype``, C
    order, targets encoded as in the in-memory fit (class weights applied).
    With ``holdout = (seed, index, fraction)``, the training rows, then the
    held-out ``(X, y, sw)`` (labels as given) for early stopping."""
    if holdout is not None:
        val = validation_mask(*holdout[:2], np.shape(X)[0], holdout[2])
        X, y = np.asarray(X), np.asarray(y)
        sw = None if sw is None else np.asarray(sw)
        train = prepare_block(model, dtype, X[~val], y[~val],
                              None if sw is None else sw[~val])
        held = prepare_block(model, dtype, X[val], y[val], None if sw is None else sw[val])
        return train + (held[0], y[val], held[2])
    X = np.ascontiguousarray(X, dtype=dtype)
    if X.shape[0] == 0:  # a partition's empty share of a split
        return X, np.empty((0, model._n_outputs), dtype=dtype), np.empty(0, dtype=dtype)
    y = np.ascontiguousarray(y)
    Y = model._encode_targets(y, dtype, reset=False)
    # ones times the class weights; a partition may weigh all its rows 0
    weights = np.ascontiguousarray(model._sample_weight(None, X, y), dtype=dtype)
    if sw is not None:
        sw = np.ascontiguousarray(sw, dtype=dtype)
        if sw.shape != (X.shape[0],) or (sw < 0).any():
            raise ValueError("sample_weight must be 1-D, non-negative and as long as X.")
        weights = weights * sw
    return X, Y, weights


#: rows per block of :func:`all_finite`
FINITE_ROWS = 16384


def all_finite(X):
    """Whether every value of ``X`` is finite, checked by blocks of rows. A
    mask of the whole partition adds a quarter of a float32 partition's
    bytes to the worker's peak memory; on 1M x 50 float32 rows it took
    116 ms where its memory was new to the process (a worker's first fit)
    and 15-17 ms where reused, against 9.5-10 ms by blocks."""
    X = X.reshape(X.shape[0], -1)
    return all(np.isfinite(X[i:i + FINITE_ROWS]).all()
               for i in range(0, X.shape[0], FINITE_ROWS))


def target_summary(model, X, y, sw, classifier):
    """One pass over a partition before the first epoch: checks the data
    and sums what the initial weights need (class counts or the weighted
    target sum)."""
    X = np.asarray(X)
    if not all_finite(X):
        raise ValueError("Input X contains NaN or infinity.")
    y = np.ascontiguousarray(y)
    # contiguous, and numpy's pairwise sums rather than BLAS: the same bits
    # whatever the block's memory layout and the process's BLAS threads
    w = np.ones(y.shape[0]) if sw is None else np.ascontiguousarray(sw, dtype=np.float64)
    if classifier:
        labels, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
        return {"labels": labels, "counts": counts,
                "weights": np.bincount(inverse.ravel(), weights=w, minlength=labels.size)}
    Y = model._encode_targets(y, np.float64, reset=False)
    return {"wsum": w.sum(), "wy": (w[:, None] * Y).sum(axis=0), "y": Y.sum(axis=0),
            "n": Y.shape[0]}


def _state(model_state, n_penalized):
    state = TrainState(model_state["params"].copy(), n_penalized, 0)
    for name in ("m", "v", "avg", "counters"):
        setattr(state, name, model_state[name].copy())
    return state


def local_round(model, block, index, shared, round_, sync_every, batch_size):
    """Partition ``index`` trains ``sync_every`` mini-batches (or fewer, at
    the end of its rows) of round ``round_`` of the epoch, from the
    synchronised state ``shared``, with the in-memory engine's compiled
    epoch. ``block`` is the partition's :func:`prepare_block`. Returns its
    contribution to the average, weighted by its rows."""
    X, Y, sw = block[:3]
    n = X.shape[0]
    icodes = shared["icodes"].copy()
    icodes[C.I_SEED] = partition_seed(icodes[C.I_SEED], index)
    order = epoch_order(icodes[C.I_SEED], icodes[C.I_EPOCH], n, model.shuffle)
    lo = round_ * sync_every * batch_size
    hi = min(n, lo + sync_every * batch_size)
    sub = np.ascontiguousarray(order[lo:hi])
    n_batches = -(-(hi - lo) // batch_size)
    state = _state(shared, int(icodes[C.I_N_PENALIZED]))
    start = state.counters.copy()
    stats = np.zeros(C.N_STATS)
    model._run_epoch(X, Y, sw, sub, shared["lrs"][:n_batches], state, shared["hyper"],
                     icodes, stats, _config.effective_threads(model.n_threads))
    w = float(hi - lo)
    out = {name: w * getattr(state, name).astype(np.float64)
           for name in ("params", "m", "v", "avg")}
    out.update(w=w, stats=stats, counters=state.counters - start,
               grad_sum=state.grad_sum.astype(np.float64), batches=n_batches)
    return out


def gradient_block(model, block, index, shared):
    """Partition ``index``'s summed loss gradient and loss at the weights
    ``shared["params"]`` (the full-batch mode): the engine's compiled epoch
    run with a learning rate of 0 (plain SGD, no penalty, so the weights
    stay bitwise as they are) over passes of at most :data:`GRAD_ROWS`
    rows."""
    X, Y, sw = block[:3]
    n = X.shape[0]
    hyper = shared["hyper"].copy()
    hyper[C.H_L1] = hyper[C.H_L2] = hyper[C.H_CLIP] = 0.0
    icodes = shared["icodes"].copy()
    icodes[C.I_SEED] = partition_seed(icodes[C.I_SEED], index)
    icodes[C.I_OPTIMIZER] = C.SGD
    icodes[C.I_DECOUPLED] = 0
    icodes[C.I_AVERAGE_START] = -1
    rows = min(n, GRAD_ROWS)
    full = (n // rows) * rows
    grad = np.zeros(shared["params"].shape[0])
    stats = np.zeros(C.N_STATS)
    for lo, hi, bs in ((0, full, rows), (full, n, n - full)):
        if hi <= lo:
            continue
        icodes[C.I_BATCH] = bs
        state = TrainState(shared["params"].copy(), int(icodes[C.I_N_PENALIZED]), 0)
        part = np.zeros(C.N_STATS)
        order = np.arange(lo, hi, dtype=np.int64)
        model._run_epoch(X, Y, sw, order, np.zeros(-(-(hi - lo) // bs)), state, hyper,
                         icodes, part, _config.effective_threads(model.n_threads))
        # the kernel sums each batch's mean gradient: times the batch's rows
        grad += state.grad_sum.astype(np.float64) * bs
        stats[C.S_LOSS] += part[C.S_LOSS]
        stats[C.S_WEIGHT] += part[C.S_WEIGHT]
        stats[C.S_DIVERGED] = max(stats[C.S_DIVERGED], part[C.S_DIVERGED])
    return {"grad": grad, "stats": stats}


def combine(a, b):
    """The sum of two partial results (``a`` first): arrays and weights add,
    the step counters and divergence flags take their maximum, the seen
    samples add."""
    out = {}
    for key, x in a.items():
        y = b[key]
        if key == "stats":
            s = x + y
            s[C.S_DIVERGED] = max(x[C.S_DIVERGED], y[C.S_DIVERGED])
            out[key] = s
        elif key == "counters":
            c = np.maximum(x, y)
            c[C.C_SEEN] = x[C.C_SEEN] + y[C.C_SEEN]
            out[key] = c
        else:
            out[key] = x + y
    return out


def eager(func, pure=True):
    """``tree_reduce``'s ``delayed`` that calls at once: the same tree of
    sums, taken where the results already are."""
    return func


def tree_reduce(leaves, delayed):
    """Combine ``leaves`` (in partition order) pairwise, level by level: a
    tree whose shape depends on the number of leaves only, so the sums are
    taken in the same order on any cluster."""
    level = list(leaves)
    while len(level) > 1:
        nxt = [delayed(combine, pure=True)(level[i], level[i + 1])
               for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def validation_sums(model, block, classifier, loss_code, delta):
    """A partition's share of the validation score and loss of ``model`` on
    its held-out rows: weighted hits (classifier), or per output the sums of
    the weights, ``w y``, ``w y**2`` and ``w (y - prediction)**2``; and the
    sum of the rows' weighted training loss (``loss``, of code
    ``loss_code``) with their count (``n``)."""
    from .._engine.loop import mean_loss

    X, y, w = block[3:]
    w = w.astype(np.float64)
    n = X.shape[0]
    if n == 0:
        pred = np.empty((0,) + np.shape(y)[1:])
        loss = 0.0
    else:
        pred = model.predict(X)
        raw = model._raw_output(X, None)
        Y_enc = model._encode_targets(y, np.float64, reset=False)
        loss = mean_loss(loss_code, raw, Y_enc, w, delta) * n
    sums = {"loss": np.array([loss]), "n": np.array([float(n)])}
    if classifier:
        return dict(sums, hits=np.array([np.sum(w * (pred == y))]), w=np.array([w.sum()]))
    Y = np.asarray(y, dtype=np.float64).reshape(n, -1)
    P = np.asarray(pred, dtype=np.float64).reshape(n, -1)
    return dict(sums, w=np.array([w.sum()]), wy=(w[:, None] * Y).sum(axis=0),
                wyy=(w[:, None] * Y * Y).sum(axis=0),
                sse=(w[:, None] * (Y - P) ** 2).sum(axis=0))


# seconds this process has spent in :class:`PartitionActor` calls (what
# dask's task stream shows for tasks; benchmarks read it with client.run)
_ACTOR_SECONDS = [0.0]
_ACTOR_SECONDS_LOCK = threading.Lock()


def actor_seconds():
    """Seconds this worker process has spent training in actor calls."""
    return _ACTOR_SECONDS[0]


class PartitionActor:
    """One partition's trainer, a dask actor kept for a whole fit on the
    worker that holds the partition's rows.

    A round is then one call from the driver to the worker and its answer
    (relayed by the scheduler, unless the client calls workers directly):
    as tasks, each round went driver -> scheduler -> worker, then back
    through the scheduler twice (the task's end reported, the result
    gathered), 9-10 ms a round on a busy 2-core machine against 4-5 ms. The
    calls run the same pure functions as the tasks (``func(model, block,
    *args)``): what a round computes never depends on the actor.
    """

    def __init__(self, model, block):
        self.model, self.block = model, block

    async def run(self, func, args):
        """``func(model, block, *args)``: one round of this partition, in the
        worker's task threads (dask runs an actor's plain methods on one
        thread per worker: a worker of 4 threads holding 4 partitions would
        have trained them one at a time)."""
        import asyncio

        from distributed import get_worker

        executor = get_worker().executors["default"]
        return await asyncio.get_running_loop().run_in_executor(
            executor, self._timed, func, args)

    def _timed(self, func, args):
        start = time.perf_counter()
        try:
            return func(self.model, self.block, *args)
        finally:
            with _ACTOR_SECONDS_LOCK:  # in-process workers share the module
                _ACTOR_SECONDS[0] += time.perf_counter() - start


def predict_block(X, model, method):
    """``model.method(X)`` on one block (the dask estimators' predictions)."""
    return getattr(model, method)(X)
