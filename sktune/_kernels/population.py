"""Population kernels: one call trains one epoch of many models at once.

A batched search (:mod:`sktune.model_selection`) trains every candidate x
fold of a search together. Models that share a compiled shape (kind, dtype,
number of features, outputs and, for MLPs, layer sizes) form a population:
their parameters, optimizer moments and counters are rows of 2-D arrays, and
one call of a population kernel runs one epoch of each active model, spread
over threads (Python threads, each taking the next group of models, the
costliest first, and calling its compiled cohort epoch, which releases the
GIL). Everything else (batch size, optimizer, loss,
schedule, penalty, dropout, seed) is per model: it travels in the rows of
``hyper``, ``icodes`` and ``lrs``.

Exactness: a linear model trained here has bitwise the weights of the same
model fitted on its own; an MLP has them up to rounding.

* MLPs that share their data, sample order, batch size and layer sizes
  train as one cohort (:func:`_mlp_cohort_epoch`): each model's pass and
  step are the single-fit code (``mlp.mlp_pass``, ``_step.end_batch``);
  a first layer narrower than a vector (:func:`fuses`) is instead one wide
  product for all of them. A batch runs in chunks of its own
  (``COHORT_CHUNK_ROWS`` rows or more), not the single fit's, so gradient
  sums round differently.
* Linear models that share their data, sample order, batch size and loss
  (the candidates of one fold with the same ``random_state``) train fused
  (:func:`_linear_cohort_epoch`): a chunk's rows are gathered once for all
  of them, their outputs and weight gradients are two register-tiled
  products over the models' weights side by side, each sum formed in the
  single-fit kernel's order and rounding (:func:`_gemm.gemm_acc`), the
  losses with its scalar code, and each model's end-of-batch step is the
  single-fit one (``_step.end_batch``).

Data are held once: the distinct training sets (one per fold, plus one
per model that holds out its own early-stopping split, equal splits stored
once) are tuples of arrays (``Xa``, ``Ya``, ``swa``) and each model names
its set by index (``data[k]`` = X index, Y index, sw index, rows). Scratch
buffers are per thread slot, not per model.
"""
import collections
import heapq
import itertools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from . import _codes as C
from ._batches import batch_range, begin_epoch, chunk_range
from ._gemm import gemm_acc, vector_width
from ._jit import (
    NUMBA_FLOAT,
    PLANNED,
    address,
    arr,
    borrowed,
    caller,
    compiled,
    prefetch_dense_row,
    types,
)
from ._scalar import elem_loss_grad, row_loss_grad
from ._step import end_batch
from .linear import n_chunks
from .mlp import _call_pass

#: an MLP cohort's batch runs in chunks (at most ``GA.shape[1]``, which the
#: search sizes ``COHORT_MAX_CHUNKS``) of at least this many rows, and of
#: more while a model's pass over the chunk (about four blocks of rows x its
#: widest layer: activations and output gradients) stays within
#: ``COHORT_PASS_BYTES``. With at most 4 chunks (the single fit's
#: ``mlp.MAX_CHUNKS``), batches of 512 rows ran in chunks of 128: a (64,)
#: model-epoch took 3.57 ms, against 2.30 ms in 8 chunks of 64. Chunks of 32
#: rows were slower for every width and batch size of that search.
COHORT_CHUNK_ROWS = 64
COHORT_PASS_BYTES = 128 * 1024
COHORT_MAX_CHUNKS = 8


@njit(cache=True, inline="always")
def fuses(n_units, vector):
    """Whether an MLP cohort whose first hidden layer has ``n_units`` units
    trains that layer fused (one wide product for all its models) rather
    than in each model's own pass: only below ``vector``, the width
    (elements of a vector) from which the pass's tiles take a layer.

    Measured per model-epoch in the halving benchmark's grid (float64,
    20 features, 8-wide vectors): a fused (64,) model took 2.0-2.4 ms, its
    own pass 1.5-1.9 ms; (32,) 1.0-1.2 against 0.8-1.0; (16,) 0.6-0.8
    against 0.5-0.65. Under the vector width the pass's products fall
    back to scalar loops: a (4,) cohort took twice as long unfused.
    """
    return n_units < vector


def cohort_fuses(n_units, dtype):
    """:func:`fuses` for a cohort of ``dtype`` (from Python: the search
    sizes the fused layer's scratch only where it is used)."""
    return bool(fuses.py_func(n_units, vector_width.py_func(np.empty(0, dtype))))


# :func:`_gemm.gemm_acc` on float64 scratch, a unit of its own that the
# linear cohort kernels call by address: inlined at its two call sites in
# each of them, it added ~0.95 s to a first linear search's compile
_ACC_SIG = types.void(arr(types.float64), types.int64, types.int64,
                      arr(types.float64), types.int64, types.int64, types.int64,
                      arr(types.float64), *(types.int64,) * 5)
_call_acc = caller(_ACC_SIG)


def acc_address():
    """Address of the compiled :func:`_gemm.gemm_acc` unit (0 while
    :func:`_jit.planned` lists it)."""
    return address(compiled(gemm_acc.py_func, "gemm_acc", _ACC_SIG, "float64"), _ACC_SIG)


def linear_columns(n_models, n_out):
    """Columns of a linear cohort's side-by-side outputs (a model's outputs
    each, padded to whole vectors of float64): the width of its scratch."""
    w = vector_width.py_func(np.empty(0))
    return -(-(n_models * n_out) // w) * w


def _data(k, data, Xa, Ya, swa):
    """Model ``k``'s training set ``X, Y, sw``: the arrays ``data[k]``
    names among the distinct ones."""
    return Xa[data[k, 0]], Ya[data[k, 1]], swa[data[k, 2]]


@njit(cache=True, inline="always")
def _cohort_begin(mem, order, icodes, stats, alive):
    """Start the epoch of the cohort ``mem``: clear its models' epoch stats,
    mark them all alive; returns ``(rows, batch size, batches)``."""
    n = order.shape[0]
    bs = icodes[mem[0], C.I_BATCH]
    n_batches = 0
    for q in range(mem.shape[0]):
        n_batches = begin_epoch(stats[mem[q]], n, bs)
        alive[q] = True
    return n, bs, n_batches


@njit(cache=True, inline="always")
def _cohort_weights(params, mem, n_features, n_out, WF, N):
    """The cohort's weights side by side for :func:`gemm_acc`, row-major
    with ``N`` columns in the flat ``WF``: column ``q * n_out + o`` holds
    model ``mem[q]``'s coefficients of output ``o`` (rows ``:n_features``)
    and its intercept (row ``n_features``), as float64. The padding columns
    are left as they are: every column of a product is computed apart from
    the others, so what they hold reaches no model."""
    n_w = n_features * n_out
    for q in range(mem.shape[0]):
        w = params[mem[q]]
        for j in range(n_features):
            for o in range(n_out):
                WF[j * N + q * n_out + o] = np.float64(w[j * n_out + o])
        for o in range(n_out):
            WF[n_features * N + q * n_out + o] = np.float64(w[n_w + o])


def _linear_cohort_epoch(X, Y, sw, order, mem, lrs, params, m, v, avg, hyper, icodes,
                         counters, stats, fns, XB, PR, Pm, Gm, GO, WC, GW, QS, GA, closs,
                         cl, alive, acc):
    """One epoch of the linear models ``mem``, which share their data, sample
    order and batch size.

    Bitwise the same as one :func:`linear.dense_epoch` call per model,
    faster: per chunk of a batch, the rows are gathered once (``XB``, row
    major) for every model of the cohort, and two register-tiled products
    do the arithmetic of all of them (:func:`_gemm.gemm_acc`, which keeps
    the single-fit kernel's order: each output starts from its intercept
    and adds the features' products in order, each gradient element adds
    the rows' products in order, every product rounded on its own). The
    models' weights sit side by side (``WC``: a column per model and
    output, padded to whole vectors), so a row's outputs for all models are
    one row of ``PR`` and their output gradients one row of ``GO``. Losses
    and output gradients follow in the single-fit arithmetic (the loss a
    compile-time constant: ``_LOSS``, one kernel per loss, and a cohort has
    one loss): element-wise ones a row at a time for all the models
    (``QS``: their chunk sums and Huber deltas), the softmax model by model
    (``_scalar.row_loss_grad``); then the weight gradients are
    ``XB.T @ GO`` (``GW``; each gathered row ends in a 1, so its last row
    holds the intercepts' gradients, the same sums) and each model's
    end-of-batch step is the single-fit one (``_step.end_batch``) on its
    own gradient ``GA[q]``. ``acc`` is the address of the products' unit
    (:func:`acc_address`).
    """
    # no reference counting of the many views below (see ``borrowed``)
    X, Y, sw, order, mem, lrs = (borrowed(X), borrowed(Y), borrowed(sw), borrowed(order),
                                 borrowed(mem), borrowed(lrs))
    params, m, v, avg = borrowed(params), borrowed(m), borrowed(v), borrowed(avg)
    hyper, icodes, counters, stats, fns = (borrowed(hyper), borrowed(icodes),
                                           borrowed(counters), borrowed(stats), borrowed(fns))
    XB, PR, Pm, Gm, GO = borrowed(XB), borrowed(PR), borrowed(Pm), borrowed(Gm), borrowed(GO)
    WC, GW, QS, GA = borrowed(WC), borrowed(GW), borrowed(QS), borrowed(GA)
    closs, cl, alive = borrowed(closs), borrowed(cl), borrowed(alive)
    F = X.shape[1]
    F1 = F + 1  # a row of XB: the features, then a 1
    n_out = Y.shape[1]
    n_w = F * n_out
    K = mem.shape[0]
    w = vector_width(PR)
    N = -(-(K * n_out) // w) * w  # columns: every model's outputs, whole vectors
    XF, PF, OF, WF, GF = (XB.reshape(XB.size), PR.reshape(PR.size), GO.reshape(GO.size),
                          WC.reshape(WC.size), GW.reshape(GW.size))
    zero, one = np.int64(0), np.int64(1)
    for q in range(K):
        QS[1, q] = hyper[mem[q], C.H_HUBER]
    n, bs, n_batches = _cohort_begin(mem, order, icodes, stats, alive)
    for b in range(n_batches):
        start, nb = batch_range(b, bs, n)
        nc = n_chunks(nb, n_w)
        _cohort_weights(params, mem, F, n_out, WF, N)
        for c in range(nc):
            lo, hi = chunk_range(start, nb, c, nc)
            R = hi - lo
            # the chunk's rows, shared by every model (rows a few ahead are
            # fetched meanwhile: random rows of a large X miss the caches),
            # each followed by a 1: the product below that gives the weight
            # gradients then gives the intercepts' too
            for r in range(R):
                prefetch_dense_row(X, Y, sw, order, lo + r + 6)
                i = order[lo + r]
                x_row = XF[r * F1: r * F1 + F1]  # (a view: contiguous stores)
                for j in range(F):
                    x_row[j] = np.float64(X[i, j])
                x_row[F] = 1.0
            # every model's outputs: its intercept, then the features in order
            for r in range(R):
                for col in range(N):
                    PF[r * N + col] = WF[F * N + col]
            _call_acc(acc, (PF, zero, N, XF, zero, F1, one, WF, zero, N, R, N, F))
            # (what the columns of padding and of diverged models hold
            # reaches no model that trains on)
            # the loss is the kernel's compile-time constant (its cohort's)
            if _LOSS == C.SOFTMAX:  # over a row's outputs: model by model
                for q in range(K):
                    if not alive[q]:
                        continue  # diverged earlier this epoch: its epoch is over
                    delta = hyper[mem[q], C.H_HUBER]
                    loss = 0.0
                    for r in range(R):
                        i = order[lo + r]
                        for o in range(n_out):
                            Pm[0, o] = PF[r * N + q * n_out + o]
                        loss += row_loss_grad(_LOSS, Y, i, Pm, 0, delta, np.float64(sw[i]),
                                              Gm)
                        for o in range(n_out):
                            OF[r * N + q * n_out + o] = Gm[0, o]
                    closs[q, c] = loss
            else:
                # element-wise: a row for every model at once (the models
                # innermost vectorize: a row's views, indexed from 0 up, need
                # no test of negative indices), each model's sum still over
                # the rows in order, in the arithmetic of ``row_loss_grad``
                for q in range(K):
                    QS[0, q] = 0.0
                sums, deltas = QS[0], QS[1]
                for r in range(R):
                    i = order[lo + r]
                    wi = np.float64(sw[i])
                    p_row = PF[r * N: r * N + N]
                    g_row = OF[r * N: r * N + N]
                    if n_out == 1:  # (no loop over the outputs inside: vectorizes)
                        yi = np.float64(Y[i, 0])
                        for q in range(K):
                            lk, gk = elem_loss_grad(_LOSS, yi, p_row[q], deltas[q])
                            row = 0.0
                            row += lk
                            g_row[q] = wi * gk
                            sums[q] += wi * row
                        continue
                    for q in range(K):
                        row = 0.0
                        for o in range(n_out):
                            lk, gk = elem_loss_grad(_LOSS, np.float64(Y[i, o]),
                                                    p_row[q * n_out + o], deltas[q])
                            row += lk
                            g_row[q * n_out + o] = wi * gk
                        sums[q] += wi * row
                for q in range(K):
                    closs[q, c] = QS[0, q]
            # every model's weight gradient, and in the last row its
            # intercepts' (the 1s): the rows' products in order
            for t in range(F1 * N):
                GF[t] = 0.0
            _call_acc(acc, (GF, zero, N, XF, zero, one, F1, OF, zero, N, F1, N, R))
            for q in range(K):
                g = GA[q, c]
                for j in range(F1):
                    for o in range(n_out):
                        g[j * n_out + o] = GF[j * N + q * n_out + o]
        for q in range(K):
            if not alive[q]:
                continue
            k = mem[q]
            for c in range(nc):
                cl[c] = closs[q, c]
            if not end_batch(fns[k], params[k], GA[q], m[k], v[k], avg[k], cl, nc, nb,
                             lrs[k, b], hyper[k], icodes[k], counters[k], stats[k]):
                alive[q] = False


_QUEUE = threading.local()  # the flow a population step on this thread queues to


def flow(steps, n_slots):
    """Run population steps to their end on ``n_slots`` threads, each
    population at its own pace.

    A step is a generator: each ``send`` runs a population's Python work
    between two of its epochs (ends the models' last epoch, begins the
    next) and calls a population kernel, whose units then go to the
    flow's queue (see :func:`queue_costs`, :func:`_in_slots`) instead of
    running; it is sent the seconds those units ran (their threads'
    seconds over ``n_slots``) once the last of them is done, and ends
    (``StopIteration``) when its models are trained. A step may also queue
    Python work (:func:`queue_task`), run by a free thread after the units
    queued costlier.

    The threads (the caller's is slot 0) take the costliest unit queued,
    or, as soon as a population's epoch is done, its next step: a
    population waits for its own units only, never for another's, and a
    step's Python runs on whichever thread is free while the others train
    (the kernels release the GIL). Steps run one at a time (they share the
    search's warning log); the units of one population's epoch run in any
    order on any thread, so results do not depend on the threads. An error
    in a step or a unit, or a ``KeyboardInterrupt``, drops what is queued,
    lets the other threads finish what they run, and is raised here.

    With one barrier an epoch for all populations instead, a 3-class
    halving search of three shapes kept its second thread idle a sixth of
    the time while the caller did every population's Python between
    epochs.
    """
    _Flow(steps, n_slots).run()


class _Flow:
    """The state of :func:`flow`, guarded by one condition."""

    def __init__(self, steps, n_slots):
        self.n_slots = max(1, int(n_slots))
        self.cv = threading.Condition()
        self.items = []  # heap of (-cost, sequence, step, cohort, members)
        self.seq = 0
        self.ready = collections.deque((step, None) for step in steps)
        self.pending = {}  # step -> its units queued and not done
        self.spent = {}  # step -> its units' seconds this epoch
        self.current = None  # the step running, if any
        self.live = len(self.ready)
        self.error = None

    def add_step(self, step):
        with self.cv:
            self.ready.append((step, None))
            self.live += 1
            self.cv.notify_all()

    def add_task(self, task, cost):
        with self.cv:
            heapq.heappush(self.items, (-float(cost), self.seq, None, task, None))
            self.seq += 1
            self.cv.notify_all()

    def add(self, cohort, units, unit_start, costs):
        # the population's scratch has a row for each of the flow's slots
        step = _QUEUE.step
        with self.cv:
            for u, cost in enumerate(costs):
                heapq.heappush(self.items, (-float(cost), self.seq, step, cohort,
                                            units[unit_start[u]: unit_start[u + 1]]))
                self.seq += 1
            self.pending[step] = self.pending.get(step, 0) + len(costs)
            self.spent.setdefault(step, 0.0)
            self.cv.notify_all()

    def _next(self):
        """The next ``("step", (step, seconds))`` or ``("unit", item)`` to
        run, steps first (they queue work); None once all is done."""
        with self.cv:
            while True:
                if self.error is not None:
                    return None
                if self.ready and self.current is None:
                    task = self.ready.popleft()
                    self.current = task[0]
                    return "step", task
                if self.items:
                    return "unit", heapq.heappop(self.items)
                if self.live == 0:
                    return None
                self.cv.wait()

    def _done(self, step):
        """Queue ``step`` again if its epoch's units are all done (lock held)."""
        if self.pending.get(step, 0) == 0 and step is not self.current:
            self.ready.append((step, self.spent.pop(step, 0.0) / self.n_slots))

    def _step(self, step, seconds):
        previous = getattr(_QUEUE, "tasks", None), getattr(_QUEUE, "step", None)
        _QUEUE.tasks, _QUEUE.step, _QUEUE.costs = self, step, None
        ended = False
        try:
            step.send(seconds)
        except StopIteration:
            ended = True
        finally:
            (_QUEUE.tasks, _QUEUE.step), _QUEUE.costs = previous, None
            with self.cv:
                self.current = None
                if ended:
                    self.live -= 1
                else:
                    self._done(step)
                self.cv.notify_all()

    def _work(self, s):
        try:
            for kind, task in iter(self._next, None):
                if kind == "step":
                    self._step(*task)
                    continue
                _, _, step, cohort, members = task
                if step is None:  # a task of queue_task
                    cohort()
                    continue
                start = time.perf_counter()
                cohort(s, members)
                seconds = time.perf_counter() - start
                with self.cv:
                    self.pending[step] -= 1
                    self.spent[step] += seconds
                    self._done(step)
                    self.cv.notify_all()
        except BaseException as exc:  # noqa: BLE001  (raised by run)
            with self.cv:
                if self.error is None:
                    self.error = exc
                self.items.clear()
                self.cv.notify_all()

    def run(self):
        workers = []
        if self.n_slots > 1 and self.live:
            pool = _pool(self.n_slots - 1)
            workers = [pool.submit(self._work, s) for s in range(1, self.n_slots)]
        try:
            self._work(0)
        finally:
            for done in workers:
                done.result()
        if self.error is not None:
            raise self.error


def start(step):
    """Add the population step ``step`` to the flow whose step calls this
    (it runs after the steps ready now), or run it to its end outside a
    flow."""
    queued = getattr(_QUEUE, "tasks", None)
    if queued is None:
        flow([step], 1)
    else:
        queued.add_step(step)


def queue_task(task, cost=0.0):
    """Call ``task()`` on a thread of the flow whose step calls this (after
    the units and tasks queued costlier), or now outside a flow. It must
    not raise: an error would end the flow."""
    queued = getattr(_QUEUE, "tasks", None)
    if queued is None:
        task()
    else:
        queued.add_task(task, cost)


def queue_costs(costs):
    """The estimated costs of the units of the next population kernel call
    (in the order it lists them), for :func:`flow` to order them by."""
    if getattr(_QUEUE, "tasks", None) is not None:
        _QUEUE.costs = np.asarray(costs, dtype=np.float64)


def _dispatch(n_slots, work):
    """Run every ``cohort(s, members)`` of ``work`` on ``n_slots`` threads,
    each taking the next item not yet taken, in order."""
    n_work = len(work)
    n_slots = min(n_slots, n_work)
    taken = itertools.count()  # next() on a count is atomic under the GIL

    def run(s):
        for u in iter(taken.__next__, None):
            if u >= n_work:
                return
            cohort, members = work[u]
            cohort(s, members)

    if n_slots <= 1:
        run(0)
        return
    pool = _pool(n_slots - 1)
    others = [pool.submit(run, s) for s in range(1, n_slots)]
    try:
        run(0)
    finally:
        for done in others:
            done.result()


def _in_slots(slots, units, unit_start, cohort):
    """Run ``cohort(s, members)`` for every unit, on ``slots.shape[0]``
    threads (thread slot 0 is the calling thread; slot ``s`` works in
    scratch row ``s``). Each thread takes the next unit not yet taken, in
    the units' order (the caller lists the costliest first): measured costs
    stray from the estimates behind a fixed assignment (``slots``, longest
    processing time first; on a 243-model MLP grid two threads trained 1.6x
    as fast as one with it, 1.77x taking units in order). Each unit's
    arithmetic is its own, so the results do not depend on which thread ran
    it, nor on the number of threads. The cohort epochs release the GIL, so
    the threads run in parallel. In a step of a :func:`flow`, the units go
    to its queue instead."""
    n_units = unit_start.shape[0] - 1
    queued = getattr(_QUEUE, "tasks", None)
    if queued is not None:
        costs = _QUEUE.costs
        if costs is None or costs.shape[0] != n_units:
            costs = np.diff(unit_start).astype(np.float64)
        _QUEUE.costs = None
        queued.add(cohort, units, unit_start, costs)
        return
    _dispatch(slots.shape[0], [(cohort, units[unit_start[u]: unit_start[u + 1]])
                               for u in range(n_units)])


_POOL = {"pool": None, "size": 0}
_POOL_LOCK = threading.Lock()


def _forget_pool():
    # a forked child has none of the pool's threads: a search there would
    # wait forever on tasks queued to them
    global _POOL_LOCK
    _POOL.update(pool=None, size=0)
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _pool(size):
    """A thread pool of at least ``size`` threads, kept between calls (a new
    one per epoch cost ~0.2 ms, a sixth of a small search's epoch)."""
    with _POOL_LOCK:
        if _POOL["size"] < size:
            _POOL["pool"] = ThreadPoolExecutor(size, thread_name_prefix="sktune-population")
            _POOL["size"] = size
        return _POOL["pool"]


def linear_population(Xa, Ya, swa, data, n_features, orders, lrs, n_batches, params, m,
                      v, avg, hyper, icodes, counters, stats, fns, units, unit_start, slots,
                      XB, PR, Pm, Gm, GO, WC, GW, QS, GA, closs, cl, alive):
    """One epoch of every model of ``units`` (linear, dense), in parallel.

    ``units[unit_start[u]:unit_start[u + 1]]`` are the models of unit ``u``:
    models sharing data, sample order, batch size and loss, trained fused
    by :func:`_linear_cohort_epoch`, costliest first; ``slots`` has a row
    per thread slot (a planned assignment: the threads take the units in
    order, see :func:`_in_slots`); the other trailing arrays are the slots'
    scratch. ``data[k]`` = (X index, Y index, sw index, rows, order row) of
    model ``k``: its training set in the tuples of arrays ``Xa``, ``Ya``,
    ``swa``, its sample order ``orders[order row, :rows]``, and
    ``lrs[k, :n_batches[k]]`` its per-step learning rates.
    """
    # looked up here, once per epoch, not per unit (nor raced for by threads)
    kernels = {int(code): cohort_kernel("linear", params.dtype, int(code))
               for code in np.unique(icodes[units[: unit_start[-1]], C.I_LOSS])}
    acc = acc_address()

    def cohort(s, mem):
        k = mem[0]
        X, Y, sw = _data(k, data, Xa, Ya, swa)
        kernel = kernels[int(icodes[k, C.I_LOSS])]
        kernel(X, Y, sw, orders[data[k, 4], :data[k, 3]], mem, lrs, params, m, v, avg, hyper,
               icodes, counters, stats, fns, XB[s], PR[s], Pm[s], Gm[s], GO[s], WC[s], GW[s],
               QS[s], GA[s], closs[s], cl[s], alive[s], acc)

    _in_slots(slots, units, unit_start, cohort)


@njit(cache=True, inline="always")
def _mask_mode(M, hyper_k, icodes_k, seed, epoch, rate):
    """The dropout mode of a model's pass in a cohort's chunk (see
    :func:`mlp.dropout_forward`) and what ``M`` holds then: ``(mode, seed,
    epoch, rate)``. Mode 0 without dropout (or without room for shared
    factors), 2 when ``M`` holds the factors of the model's seed, epoch
    and rate (``seed`` -1: none yet), else 1: draw them and keep them."""
    r = hyper_k[C.H_DROPOUT]
    if r <= 0.0 or M.shape[0] == 0:
        return np.int64(0), seed, epoch, rate
    s, e = icodes_k[C.I_SEED], icodes_k[C.I_EPOCH]
    if seed == s and epoch == e and rate == r:
        return np.int64(2), seed, epoch, rate
    return np.int64(1), s, e, r


def _mlp_cohort_epoch(X, Y, sw, order, mem, lrs, params, m, v, avg, hyper, icodes,
                      counters, stats, fns, sizes, XB, W1, Z1, D1, G1, acts, deltas, GA, cl,
                      alive, live, M):
    """One epoch of the MLPs ``mem``, which share their data, sample order,
    batch size and layer sizes.

    Per chunk of a batch, each model runs its own pass
    (:func:`mlp.mlp_pass`: products, activations, dropout, loss), and per
    batch its single-fit end-of-batch step (:func:`_step.end_batch`).
    Where the first hidden layer is narrower than a vector (:func:`fuses`:
    the pass's tiles do not take it), the rows are instead gathered once
    per chunk and that layer's two matrix products (outputs ``XB @ W1``
    and weight gradient ``XB.T @ D1``) are one product each for all
    models, their first-layer weights side by side (``W1``, ``Z1``,
    ``D1``, ``G1`` are flat scratch viewed as ``rows x (models x units)``,
    empty when unused); the passes do the rest.
    A batch runs in chunks (up to ``GA``'s second axis) of at least
    ``COHORT_CHUNK_ROWS`` rows, more for narrow networks (a model's pass
    over a chunk within ``COHORT_PASS_BYTES``), each through every model's
    pass (and the fused products), and their gradients are summed in order by the
    step. Measured per model-epoch: batches of 512 rows of (64,) models
    ran 1.2x faster in chunks of 128 than in one pass, batches of 128 rows
    1.45x faster in chunks of 64, while (32,) models at batches of 200 ran
    6-8 % slower in chunks of 64 than in one pass. The chunks are not the
    single fit's (16 rows there), so the weights equal those of single fits
    up to rounding, not bitwise. Models of the same seed and dropout rate
    draw the same dropout masks: the first of them in a chunk keeps its
    factors in ``M`` (a row of every hidden unit per row of the chunk), the
    others' passes read them there (empty ``M``: each draws its own).
    """
    # no reference counting of the many views below (see ``borrowed``)
    X, Y, sw, order, mem, lrs = (borrowed(X), borrowed(Y), borrowed(sw), borrowed(order),
                                 borrowed(mem), borrowed(lrs))
    params, m, v, avg = borrowed(params), borrowed(m), borrowed(v), borrowed(avg)
    hyper, icodes, counters, stats, fns = (borrowed(hyper), borrowed(icodes),
                                           borrowed(counters), borrowed(stats), borrowed(fns))
    sizes, XB, W1, Z1, D1, G1 = (borrowed(sizes), borrowed(XB), borrowed(W1), borrowed(Z1),
                                 borrowed(D1), borrowed(G1))
    acts, deltas, GA, cl, alive, live = (borrowed(acts), borrowed(deltas), borrowed(GA),
                                         borrowed(cl), borrowed(alive), borrowed(live))
    M = borrowed(M)
    F = sizes[0]
    H = sizes[1]
    K = mem.shape[0]
    MC = GA.shape[1]  # room for a batch's chunks, per model
    widest = 0
    for l in range(1, sizes.shape[0]):
        widest = max(widest, sizes[l])
    # a model's pass holds about four blocks of rows x its widest layer
    chunk_rows = max(COHORT_CHUNK_ROWS, COHORT_PASS_BYTES // (4 * widest * acts.itemsize))
    n, bs, n_batches = _cohort_begin(mem, order, icodes, stats, alive)
    fuse = fuses(H, vector_width(acts))
    whole = D1[:0].reshape(0, H)  # an empty D1: the pass runs the first layer too
    for b in range(n_batches):
        start, nb = batch_range(b, bs, n)
        na = 0
        for q in range(K):
            if alive[q]:  # a model that diverged sits out the rest of the epoch
                live[na] = q
                na += 1
        if na == 0:
            return
        # a working set that stays in the caches (see the docstring)
        nc = max(1, min(MC, nb // chunk_rows))
        if not fuse:
            for c in range(nc):
                lo, hi = chunk_range(start, nb, c, nc)
                m_seed, m_epoch, m_rate = np.int64(-1), np.int64(-1), -1.0  # none kept yet
                for a in range(na):
                    k = mem[live[a]]
                    mode, m_seed, m_epoch, m_rate = _mask_mode(M, hyper[k], icodes[k], m_seed,
                                                               m_epoch, m_rate)
                    # the first model's pass gathers the chunk's rows into
                    # ``acts``, where the others' passes find them
                    cl[a * MC + c] = _call_pass(fns[k, C.F_PASS], (
                        X, Y, sw, order, lo, hi, params[k], GA[a, c], sizes, acts, deltas,
                        hyper[k], icodes[k], fns[k], whole, np.int64(-1 if a > 0 else 0), M,
                        mode))
        else:
            width = na * H
            Wv = W1[: F * width].reshape(F, width)
            for a in range(na):
                w = params[mem[live[a]]]
                for j in range(F):
                    for h in range(H):
                        Wv[j, a * H + h] = w[j * H + h]
            for c in range(nc):
                lo, hi = chunk_range(start, nb, c, nc)
                rows = hi - lo
                Xv = XB[: rows * F].reshape(rows, F)
                Zv = Z1[: rows * width].reshape(rows, width)
                Dv = D1[: rows * width].reshape(rows, width)
                Gv = G1[: F * width].reshape(F, width)
                for r in range(rows):
                    i = order[lo + r]
                    for j in range(F):
                        Xv[r, j] = X[i, j]
                np.dot(Xv, Wv, Zv)
                m_seed, m_epoch, m_rate = np.int64(-1), np.int64(-1), -1.0
                for a in range(na):
                    k = mem[live[a]]
                    mode, m_seed, m_epoch, m_rate = _mask_mode(M, hyper[k], icodes[k], m_seed,
                                                               m_epoch, m_rate)
                    Z = acts[bs * F: bs * F + rows * H].reshape(rows, H)
                    for r in range(rows):
                        for h in range(H):
                            Z[r, h] = Zv[r, a * H + h]
                    cl[a * MC + c] = _call_pass(fns[k, C.F_PASS], (
                        X, Y, sw, order, lo, hi, params[k], GA[a, c], sizes, acts, deltas,
                        hyper[k], icodes[k], fns[k], Dv, np.int64(a * H), M, mode))
                np.dot(Xv.T, Dv, Gv)
                for a in range(na):
                    g = GA[a, c]
                    for j in range(F):
                        for h in range(H):
                            g[j * H + h] = Gv[j, a * H + h]
        for a in range(na):
            q = live[a]
            k = mem[q]
            if not end_batch(fns[k], params[k], GA[a], m[k], v[k], avg[k],
                             cl[a * MC: a * MC + nc], np.int64(nc), nb, lrs[k, b], hyper[k],
                             icodes[k], counters[k], stats[k]):
                alive[q] = False


def mlp_population(Xa, Ya, swa, data, n_features, orders, lrs, n_batches, params, m, v,
                   avg, hyper, icodes, counters, stats, fns, units, unit_start, slots, sizes,
                   XB, W1, Z1, D1, G1, acts, deltas, GA, cl, alive, live, M):
    """One epoch of every MLP of ``units`` (one shape: ``sizes``), in parallel.

    Same layout as :func:`linear_population`: ``units`` are cohorts trained
    by :func:`_mlp_cohort_epoch`, ``slots`` a row per thread slot, the
    trailing arrays the slots' scratch.
    """
    kernel = cohort_kernel("mlp", params.dtype)

    def cohort(s, mem):
        k = mem[0]
        X, Y, sw = _data(k, data, Xa, Ya, swa)
        kernel(X, Y, sw, orders[data[k, 4], :data[k, 3]], mem, lrs, params, m, v, avg, hyper,
               icodes, counters, stats, fns, sizes, XB[s], W1[s], Z1[s], D1[s], G1[s],
               acts[s], deltas[s], GA[s], cl[s], alive[s], live[s], M[s])

    _in_slots(slots, units, unit_start, cohort)


# --------------------------------------------------------------------------
# Compilation. The fused epochs are units of the compile registry
# (:mod:`._jit`): compiled per dtype, and for linear models per loss, with
# explicit signatures, cached, and listed by ``_jit.planned`` so that a first
# search compiles them in two processes with the models' own units. They are
# serial functions that release the GIL; threads, not a parallel Numba loop,
# spread the cohorts, which spares the compile of a parfor wrapper (3-4.5 s)
# and leaves Numba's threading layer unstarted. Every model's pass, step and
# end of batch are the single fit's units, called by address from its row of
# ``fns``, so they are not compiled again here.

_LOSS = C.SQUARED_ERROR  # a linear cohort kernel's own loss (a variant's constant)


def cohort_signature(kind, f):
    """Signature of :func:`_linear_cohort_epoch` (``kind="linear"``) or
    :func:`_mlp_cohort_epoch` for parameters of Numba type ``f``."""
    f64, i64 = types.float64, types.int64
    data = (arr(f, 2, True), arr(f, 2, True), arr(f, 1, True),  # X, Y, sw
            arr(i64, 1, True), arr(i64, 1, True), arr(f64, 2, True))  # order, mem, lrs
    state = (arr(f, 2), arr(f, 2), arr(f, 2), arr(f, 2),  # params, m, v, avg
             arr(f64, 2, True), arr(i64, 2, True),  # hyper, icodes
             arr(i64, 2), arr(f64, 2), arr(i64, 2, True))  # counters, stats, fns
    if kind == "linear":
        scratch = ((arr(f64, 2),) * 8  # XB, PR, Pm, Gm, GO, WC, GW, QS
                   + (arr(f64, 3), arr(f64, 2), arr(f64, 1), arr(types.boolean, 1),
                      i64))  # GA, closs, cl, alive; the products' unit
    else:
        scratch = ((arr(i64, 1, True),)  # sizes
                   + (arr(f, 1),) * 7  # XB, W1, Z1, D1, G1, acts, deltas
                   + (arr(f, 3), arr(f64, 1), arr(types.boolean, 1), arr(i64, 1),
                      arr(f64, 1)))  # GA, cl, alive, live, M
    return types.void(*data, *state, *scratch)


def prepare(kind, dtype, hyper, icodes):
    """The unit tables ``fns`` (a row per model) of a population of
    ``kind`` ("mlp" or "dense"), with the models' units and the cohort
    kernels compiled: a first search compiles them in two processes where
    :func:`._jit.compile_in_two` may fork, as a first fit does."""
    from . import _jit, cpu

    losses = [None] if kind == "mlp" else sorted({int(c) for c in icodes[:, C.I_LOSS]})
    if _jit.fork_allowed():
        def build():
            from ._rng import permutation_unit

            permutation_unit()  # the models' shuffles
            cpu.build_tables(kind, dtype, hyper, icodes)
            if kind != "mlp":
                acc_address()
            for loss in losses:
                cohort_kernel(kind, dtype, loss)

        _jit.compile_in_two(_jit.planned(build))
    for loss in losses:
        cohort_kernel(kind, dtype, loss)
    return np.stack([cpu.function_table(kind, dtype, hyper[k], icodes[k])
                     for k in range(hyper.shape[0])])


_KERNELS = {}  # (kind, dtype, loss) -> the compiled cohort epoch


def cohort_kernel(kind, dtype, loss=None):
    """The compiled cohort epoch of ``kind`` ("mlp", else linear: of loss
    code ``loss``; one loss per kernel, where all seven in one took ~11 s
    to compile) for parameters of ``dtype``."""
    key = (kind == "mlp", np.dtype(dtype).name, loss)
    # a batched search asks for them every epoch: building the signature
    # alone took 0.2-0.4 ms a call
    found = _KERNELS.get(key)
    if found is None or found is PLANNED:  # (a plan's stand-in is not kept)
        found = _KERNELS[key] = _cohort_kernel(kind, dtype, loss)
    return found


def _cohort_kernel(kind, dtype, loss):
    dtype = np.dtype(dtype).name
    sig = cohort_signature("mlp" if kind == "mlp" else "linear", NUMBA_FLOAT[dtype])
    if kind != "mlp":
        return compiled(_linear_cohort_epoch, "linear_cohort", sig,
                        variant=f"{int(loss)}_{dtype}", consts={"_LOSS": int(loss)})
    return compiled(_mlp_cohort_epoch, "mlp_cohort", sig, variant=dtype)


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
