"""Data-parallel training of one model on dask collections.

Each estimator is its in-memory twin (same parameters, same fitted
attributes, same compiled epoch) whose data lives in the partitions of a
dask array. Between two synchronisations every partition trains on its own
rows from the same synchronised state (local SGD); the driver averages the
results in a fixed order of partitions and starts the next round. With
``batch_size="full"`` the partitions sum their gradients instead and the
driver takes one exact full-batch step. See :doc:`/distributed`.
"""
import copy
import inspect
import textwrap
import uuid
from collections import defaultdict
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .._engine.loop import EpochLoop, TrainState
from .._kernels import _codes as C
from .._kernels import cpu
from ..base import fill_doc
from ..linear_model import LinearClassifier, LinearRegressor
from ..neural_network import MLPClassifier, MLPRegressor
from ..penalties import penalty_value
from . import _tasks

_DASK_PARAMS_DOC = """
    client : distributed.Client or None, default=None
        The cluster to train on. None uses the current ``distributed``
        client if there is one, else dask's default scheduler (threads in
        this process: out-of-core training on one machine). ``clone``
        shares the client, never copies it.
    sync_every : int or "epoch", default=100
        Mini-batches each partition trains on its own rows, from the
        synchronised weights and optimizer state, before the partitions'
        weights and optimizer states are averaged (weighted by the rows each
        trained on; local SGD). Smaller is closer to the in-memory fit and
        costs a synchronisation more often; ``"epoch"`` synchronises once
        per epoch. Ignored with ``batch_size="full"``, where each epoch is
        one exact full-batch step: the partitions sum their loss gradients,
        the sum is taken in partition order, and the driver steps once.
    persist : bool, default=True
        Keep the partitions in the workers' memory for the whole fit (``X``
        converted once to the training dtype, the encoded targets and the
        weights). False computes each partition from its source every
        time a round uses it: for data bigger than the cluster's memory,
        with ``sync_every="epoch"`` (or ``batch_size="full"``) a partition
        is computed once per epoch and never held longer than its task.
"""

_DASK_PARAMS = ("client", "sync_every", "persist")

# partial results up to this size in all are summed on the client (see
# ``_Rounds``); bigger ones by a tree of tasks on the workers, so that the
# client's link carries one result per round, not one per partition
_LOCAL_REDUCE_BYTES = 16 << 20

# tries of a round on actors before a lost worker's error is raised (each
# loss makes the actors again where the partitions now are)
_ACTOR_ATTEMPTS = 4


def _section(doc, name, end):
    """The body of the numpydoc section ``name`` of ``doc`` up to ``end``."""
    start = doc.index(name + "\n")
    body = doc[doc.index("\n", doc.index("---", start)) + 1: doc.index(end + "\n", start)]
    return textwrap.dedent(body).strip("\n") + "\n"


def _client(client):
    """The explicit client, else the current distributed one, else None."""
    if client is not None:
        return client
    try:
        from distributed import default_client
        return default_client()
    except (ImportError, ValueError):
        return None


def _to_dask_array(data, name, lengths=True):
    """A dask array from a dask array, DataFrame or Series, or a NumPy array
    (one partition); None stays None."""
    import dask.array as da

    if data is None:
        return None
    if hasattr(data, "to_dask_array"):  # dask DataFrame / Series
        # unknown partition lengths are None (False is refused by dask 2026.8)
        return data.to_dask_array(lengths=True if lengths else None)
    if isinstance(data, da.Array):
        return data
    if hasattr(data, "__dask_graph__"):
        raise TypeError(f"{name} must be a dask array, DataFrame or Series; got "
                        f"{type(data).__name__}.")
    arr = np.asarray(data)
    return da.from_array(arr, chunks=arr.shape or None)


class _DaskLoop(EpochLoop):
    """The in-memory epoch loop (schedules, divergence, stopping, Ctrl-C,
    verbose output) around rounds of data-parallel training: the epoch's
    order is drawn per partition, in the partitions' tasks."""

    def __init__(self, est, n_rows, n_features, steps, n_epochs, incremental, validation):
        super().__init__(est, _Rows(n_rows, n_features), None, None, validation,
                         n_epochs, incremental)
        self.order = np.empty(0, dtype=np.int64)
        self.n_batches = steps  # optimizer steps of one epoch: its learning rates

    def validate(self):
        """Score and loss of the current weights on the partitions' held-out
        rows, computed where they are: ``(score, loss)``."""
        est, state = self.est, self.state
        weights = state.predictive_params()
        est._set_fitted_attributes(weights)
        score, loss = est._holdout_score(self.X_val, self.icodes[C.I_LOSS],
                                         self.hyper[C.H_HUBER])
        return score, loss + penalty_value(weights[: state.n_penalized], self.l2, self.l1)

    def draw_order(self):
        pass


class _Rounds:
    """Runs a synchronisation round: ``func(model, block_i, *args)`` on the
    partitions, then the sum of their partial results.

    With a ``distributed`` client and persisted partitions, each partition
    gets a :class:`_tasks.PartitionActor` on a worker that holds it, made
    once per fit with the model scattered to every worker once; a round is
    one call per partition with the round's shared state inline, relayed
    by the scheduler (straight to the worker with a client made with
    ``direct_to_workers=True``). Tasks went through the scheduler's task
    machinery three times a round: 9-10 ms of a round on a busy 2-core
    machine against 4-5 ms. A worker lost mid-round fails its calls: dask
    makes its partitions again from their sources, new actors are made
    where they now are, and the round runs again from the same
    synchronised state, so the same bits.

    The partial results are summed pairwise in partition order
    (:func:`_tasks.tree_reduce`): the same tree, so the same bits, wherever
    it runs. Results too big to all cross the client's link (more than
    ``_LOCAL_REDUCE_BYTES`` a round) come from tasks submitted to the
    partitions' futures instead and are summed by a tree of tasks on the
    workers, so that the link carries one result per round. Without a
    client, or without persisted partitions, a round is one graph of
    delayed calls, summed on the workers.
    """

    def __init__(self, est, blocks, model_d, client, leaf_bytes):
        from dask import delayed

        self.est, self.blocks, self.model_d = est, blocks, model_d
        self.client, self.leaf_bytes = client, leaf_bytes
        self.futures = self.held = self.actors = self.actor_futures = None
        if client is not None and est.persist:
            from distributed import futures_of, wait

            self.futures = [futures_of(b)[0] for b in blocks]
            # the partitions' places, known before the first round asks for them
            wait(self.futures)
            self.model_f = client.scatter(model_d.compute(scheduler="sync"), broadcast=True,
                                          hash=False)
            if len(blocks) * leaf_bytes <= _LOCAL_REDUCE_BYTES:
                self._start_actors()
        self.delayed = delayed

    def _placed(self, func, name, blocks, *iterables, **kwargs):
        """``client.map(func, model, block, *iterables)`` over the partitions'
        futures ``blocks``, each call asking for a worker that holds its
        partition: placed by dask's estimates alone, a round's two tasks on
        two workers were now and then swapped (each fetching the other's
        200 MB partition: 0.3-0.5 s lost in a round of 0.2 s in
        bench_dask). Loosely: a lost worker's partition is made again
        elsewhere and its work follows."""
        import dask

        client = self.client
        holders = client.who_has(blocks)
        keys = [f"{name}-{uuid.uuid4().hex}-{i}" for i in range(len(blocks))]
        where = defaultdict(list, {k: list(holders.get(b.key, ())) for k, b in zip(keys, blocks)})
        # one message for all: submitted one by one, the client's batched
        # stream held each after the first for its 10 ms interval. The
        # restrictions are an annotation the scheduler evaluates per key
        with dask.annotate(workers=where.__getitem__, allow_other_workers=True):
            return client.map(func, [self.model_f] * len(blocks), blocks, *iterables,
                              pure=False, key=keys, **kwargs)

    def _start_actors(self):
        self.actor_futures = self._placed(_tasks.PartitionActor, "sktune-partition",
                                          self.futures, actor=True)
        # an actor's handle calls through the client current when it is
        # made: the estimator's, not the process's latest (another cluster's)
        with self.client.as_current():
            self.actors = [f.result() for f in self.actor_futures]

    def _call(self, func, args):
        """The round's calls, one per partition (``ActorFuture`` objects)."""
        return [self.actors[a[0]].run(func, a) for a in args]

    def _on_actors(self, func, args):
        for attempt in range(_ACTOR_ATTEMPTS):
            calls = self._call(func, args)
            try:
                return [call.result() for call in calls]
            except OSError:
                # a worker holding a partition was lost ("Unable to contact
                # Actor's worker"); the calls that did answer are dropped
                if attempt + 1 == _ACTOR_ATTEMPTS:
                    raise
                self.client.cancel(self.actor_futures)  # the survivors' too
                self._start_actors()

    def run(self, func, args):
        if self.actors is not None:
            return _tasks.tree_reduce(self._on_actors(func, args), _tasks.eager)
        if self.futures is None:
            # one graph with one output: dask orders its tasks to finish each
            # partition's chain before loading many more (a list of leaves
            # instead let unpersisted partitions pile up: 1.5 GiB of peak
            # memory per worker against 0.45 in bench_dask's memory test)
            delayed = self.delayed
            leaves = [delayed(func, pure=True)(self.model_d, self.blocks[a[0]], *a)
                      for a in args]
            return self.est._compute(_tasks.tree_reduce(leaves, delayed), self.client)
        client = self.client
        futures = self._placed(func, func.__name__, [self.futures[a[0]] for a in args],
                               *zip(*args))
        # the previous round's results are released only now: released
        # before, their message went first and held this round's in the
        # client's and the scheduler's batched streams (10 and 5 ms apart)
        self.held = futures
        if len(args) * self.leaf_bytes > _LOCAL_REDUCE_BYTES:
            return self.est._compute(_tasks.tree_reduce(futures, self._submitter), client)
        return _tasks.tree_reduce(self.est._compute(futures, client), _tasks.eager)

    def close(self):
        """Release the actors and the last round's results (end of a fit)."""
        if self.actor_futures is not None:
            self.client.cancel(self.actor_futures)
        self.actors = self.actor_futures = self.held = None

    def _submitter(self, func, pure=True):
        return lambda *args: self.client.submit(func, *args, pure=False)


class _Holdout:
    """Stands in for the validation set of :class:`_DaskLoop`: the rows
    each partition holds out, scored where they are."""

    def __init__(self, blocks, client):
        self.blocks, self.client = blocks, client


class _Rows:
    """Stands in for ``X`` in :class:`_DaskLoop`: only its shape is read."""

    def __init__(self, n, d):
        self.shape = (n, d)


class _DaskMixin:
    """Fit, predict and conversion shared by the four dask estimators."""

    _local_class = None

    def to_local(self):
        """Return the plain sktune estimator with the same weights.

        The copy has the same parameters (less the dask ones) and every
        fitted attribute, pickles without dask and predicts on NumPy data;
        ``partial_fit`` and ``warm_start`` continue its training in memory.

        Returns
        -------
        estimator : LinearRegressor, LinearClassifier, MLPRegressor or MLPClassifier
            The in-memory twin, fitted.
        """
        check_is_fitted(self)
        local = self._local_class(**self._local_params())
        for key, value in self.__dict__.items():
            if key not in _DASK_PARAMS and not hasattr(local, key):
                setattr(local, key, copy.deepcopy(value))
        return local

    def __sklearn_clone__(self):
        # a client is shared, never copied (it holds connections and locks)
        from sklearn.base import clone

        params = self.get_params(deep=False)
        client = params.pop("client")
        return type(self)(client=client,
                          **{k: clone(v, safe=False) for k, v in params.items()})

    def _local_params(self):
        params = self.get_params(deep=False)
        return {k: v for k, v in params.items() if k not in _DASK_PARAMS}

    # ------------------------------------------------------------------
    # data

    def _dask_data(self, X, y, sample_weight):
        """Validate and align ``X``, ``y`` and ``sample_weight`` as dask
        arrays partitioned by rows only."""
        names = None
        if hasattr(X, "columns"):
            cols = list(X.columns)
            if cols and all(isinstance(c, str) for c in cols):
                names = np.asarray(cols, dtype=object)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but "
                             "the target y is None.")
        X = _to_dask_array(X, "X")
        y = _to_dask_array(y, "y")
        if y.ndim == 2 and len(y.chunks[1]) > 1:
            y = y.rechunk({1: -1})  # every output of a row in one partition
        sample_weight = _to_dask_array(sample_weight, "sample_weight")
        if X.ndim != 2:
            raise ValueError(f"Expected a 2-D X, got an array of shape {X.shape}.")
        for name, arr in (("X", X), ("y", y), ("sample_weight", sample_weight)):
            if arr is not None and any(np.isnan(c) for c in arr.chunks[0]):
                raise ValueError(
                    f"{name} has unknown partition sizes (nan in {name}.chunks); call "
                    f"{name}.compute_chunk_sizes(), or to_dask_array(lengths=True) on "
                    "a dask DataFrame, before fitting.")
        if len(X.chunks[1]) > 1:
            X = X.rechunk({1: -1})  # a partition holds whole rows
        if X.dtype.kind not in "fiub":
            raise ValueError(f"X must be numeric; got dtype {X.dtype}.")
        for name, arr in (("y", y), ("sample_weight", sample_weight)):
            if arr is None:
                continue
            if arr.shape[0] != X.shape[0]:
                raise ValueError(f"X and {name} have different numbers of rows: "
                                 f"{X.shape[0]} and {arr.shape[0]}.")
            if arr.chunks[0] != X.chunks[0]:
                raise ValueError(
                    f"X and {name} are partitioned differently (row chunks "
                    f"{X.chunks[0]} and {arr.chunks[0]}); rechunk one to the other, "
                    f"e.g. {name}.rechunk({{0: X.chunks[0]}}).")
        if sample_weight is not None and sample_weight.ndim != 1:
            raise ValueError("sample_weight must be 1-D.")
        if X.shape[0] == 0:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
        return X, y, sample_weight, names

    def _check_dask_params(self):
        if self.device != "cpu":
            raise ValueError(f"The dask estimators train on the workers' CPUs; got "
                             f"device={self.device!r}. Use device='cpu'.")
        if self.average is not False:
            raise ValueError("average is not supported by the dask estimators "
                             "(the averages of the partitions' runs would not be "
                             "those of one run); got average=%r." % (self.average,))

    # ------------------------------------------------------------------
    # training

    def _worker_model(self):
        """The in-memory twin the tasks train with: parameters and the
        target encoding, no weights (those travel as the shared state)."""
        model = self._local_class(**self._local_params())
        for key in ("_sizes", "_n_outputs", "_y_1d", "classes_", "_multilabel"):
            if hasattr(self, key):
                setattr(model, key, getattr(self, key))
        if isinstance(getattr(model, "class_weight", None), str):
            model.class_weight = self._balanced_weights
        return model

    def _compute(self, obj, client):
        """Compute the delayed ``obj`` (or gather the futures ``obj``) on the
        client, or else on dask's default scheduler; a Ctrl-C cancels what
        is in flight."""
        import dask

        if client is None:
            return dask.compute(obj)[0]
        futures = client.compute(obj)
        try:
            return client.gather(futures)
        except KeyboardInterrupt:
            client.cancel(futures)
            raise

    def _initial_state(self, X, y, sw, client, dtype, classes):
        """One pass over the partitions: the classes and the mean target, for
        the weights' initialisation (as the in-memory fit does)."""
        from dask import delayed

        classifier = hasattr(self, "class_weight")
        self._set_target_shape(y, classes)
        model = self._worker_model() if not classifier else None
        Xb, yb, swb = self._blocks(X, y, sw)
        parts = [delayed(_tasks.target_summary, pure=True)(model, xb, yb_, sb, classifier)
                 for xb, yb_, sb in zip(Xb, yb, swb)]
        parts = self._compute(parts, client)
        if classifier:
            labels = np.unique(np.concatenate([p["labels"] for p in parts]))
            if classes is not None:
                self.classes_ = np.unique(np.asarray(classes))
            else:
                self.classes_ = labels
            self._encode_targets(labels, dtype, reset=True, classes=self.classes_)
            counts = np.zeros(len(self.classes_))
            weights = np.zeros(len(self.classes_))
            for p in parts:
                pos = np.searchsorted(self.classes_, p["labels"])
                np.add.at(counts, pos, p["counts"])
                np.add.at(weights, pos, p["weights"])
            self._balanced_weights = dict(zip(
                self.classes_.tolist(),
                counts.sum() / (len(self.classes_) * np.maximum(counts, 1.0))))
            cw = self.class_weight
            if isinstance(cw, str):
                cw = self._balanced_weights
            if cw is not None:
                weights = weights * np.array([cw.get(c, 1.0) for c in self.classes_.tolist()])
            Y = self._encode_targets(self.classes_, np.float64, reset=False)
            W = weights
        else:
            wsum = sum(p["wsum"] for p in parts)
            n = sum(p["n"] for p in parts)
            mean = (sum(p["wy"] for p in parts) / wsum if wsum > 0
                    else sum(p["y"] for p in parts) / n)
            Y, W = np.atleast_2d(mean), np.ones(1)
        rng = check_random_state(self.random_state)
        params, n_pen = self._init_params(X.shape[1], Y.shape[1], Y, W, rng)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        return TrainState(params.astype(dtype), n_pen, seed)

    def _blocks(self, X, y, sw):
        Xb = list(X.to_delayed().ravel())
        yb = list(y.to_delayed().ravel()) if y.ndim == 1 else list(y.to_delayed()[:, 0])
        swb = [None] * len(Xb) if sw is None else list(sw.to_delayed().ravel())
        return Xb, yb, swb

    def _dask_fit(self, X, y, sample_weight, *, incremental, classes=None):
        import dask
        from dask import delayed

        resume = (incremental or self.warm_start) and hasattr(self, "_train_state")
        if not (incremental and resume):
            self._validate_params()
        self._check_dask_params()
        X, y, sw, names = self._dask_data(X, y, sample_weight)
        dtype = np.dtype(np.float32 if X.dtype == np.float32 else np.float64)
        if resume:
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} "
                                 f"is expecting {self.n_features_in_} features as input.")
            dtype = self._train_state.params.dtype
        client = _client(self.client)
        if self.persist:
            kept = [a for a in (X, y, sw) if a is not None]
            kept = client.persist(kept) if client is not None else dask.persist(*kept)
            X, y = kept[:2]
            sw = kept[2] if sw is not None else None
        self.device_ = "cpu"
        if not resume:
            self.n_features_in_ = X.shape[1]
            if names is not None:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            self._train_state = self._initial_state(X, y, sw, client, dtype, classes)
            self.loss_curve_, self.learning_rates_ = [], []
            n_layers = len(self._layer_slices())
            self.gradient_norms_ = np.empty((0, n_layers))
            self.update_norms_ = np.empty((0, n_layers))
            self.n_iter_ = 0
        else:
            self._check_resume(X.shape[1], self._n_outputs)
            if classes is not None:
                self._check_classes(classes)
        self.validation_scores_ = None
        self.validation_loss_curve_ = None
        self.best_validation_score_ = None
        state = self._train_state
        if not incremental:
            state.best_loss = np.inf
            state.no_improve = 0
        if self.lr_schedule == "plateau" and state.plateau_lr is None:
            state.plateau_lr = float(self.learning_rate)

        sizes = [int(c) for c in X.chunks[0]]
        holdout = None
        if self.early_stopping and not incremental:
            # each partition holds out its own rows, drawn from (seed, partition)
            frac = self.validation_fraction
            held = [int(_tasks.validation_mask(state.seed, i, s, frac).sum())
                    for i, s in enumerate(sizes)]
            if sum(held) < 1 or sum(held) >= sum(sizes):
                raise ValueError(
                    f"validation_fraction={frac} leaves an empty training or "
                    f"validation set with {sum(sizes)} samples; use more samples, "
                    "another validation_fraction, or early_stopping=False.")
            sizes = [s - h for s, h in zip(sizes, held)]
            holdout = [(state.seed, i, frac) for i in range(len(sizes))]
            self.validation_scores_ = []
            self.validation_loss_curve_ = []
            self.best_validation_score_ = -np.inf
        n = sum(sizes)
        full = self.batch_size == "full"
        bs = self._resolve_batch_size(n)
        batches = [-(-s // bs) for s in sizes]
        steps = 1 if full else max(batches)
        k = steps if (full or self.sync_every == "epoch") else min(int(self.sync_every), steps)
        model_d = delayed(self._worker_model(), pure=True, traverse=False)
        # each partition as the kernels read it (dtype, encoded targets,
        # weights, and its held-out rows): kept on the workers with
        # persist, else made per task
        blocks = [delayed(_tasks.prepare_block, pure=True)(
            model_d, dtype, xb, yb, sb, None if holdout is None else holdout[i])
            for i, (xb, yb, sb) in enumerate(zip(*self._blocks(X, y, sw)))]
        if self.persist:
            blocks = (client.persist(blocks) if client is not None
                      else list(dask.persist(*blocks)))
        del X, y, sw  # the prepared partitions hold the data now
        validation = (_Holdout(blocks, client) if holdout else None, None, None, None)
        loop = _DaskLoop(self, n, self.n_features_in_, steps,
                         1 if incremental else self.max_iter, incremental, validation)
        if full:
            runner = self._full_batch_runner(loop, blocks, sizes, dtype, model_d, client)
        else:
            runner = self._local_sgd_runner(loop, blocks, sizes, batches, bs, k, dtype,
                                            model_d, client)
        try:
            loop.run(runner)
        finally:
            runner.rounds.close()
        return self

    def _shared(self, state, hyper, icodes, lrs):
        shared = {"params": state.params, "m": state.m, "v": state.v, "avg": state.avg,
                  "counters": state.counters, "hyper": hyper, "icodes": icodes,
                  "lrs": lrs}
        return {k: v.copy() for k, v in shared.items()}

    def _local_sgd_runner(self, loop, blocks, sizes, batches, bs, k, dtype, model_d,
                          client):
        state = self._train_state
        steps = loop.n_batches
        n_rounds = -(-steps // k)

        rounds = _Rounds(self, blocks, model_d, client, 40 * state.params.shape[0])

        def run_epoch(order, lrs, hyper, icodes, stats):
            totals = np.zeros(C.N_STATS)
            grad_sum = np.zeros(state.params.shape[0])
            n_batches = 0
            for r in range(n_rounds):
                shared = self._shared(state, hyper, icodes, lrs[r * k:(r + 1) * k])
                res = rounds.run(_tasks.local_round,
                                 [(i, shared, r, k, bs) for i in range(len(sizes))
                                  if r * k < batches[i]])
                totals += res["stats"]
                totals[C.S_DIVERGED] = max(totals[C.S_DIVERGED], res["stats"][C.S_DIVERGED])
                grad_sum += res["grad_sum"]
                n_batches += res["batches"]
                new = {name: (res[name] / res["w"]).astype(dtype)
                       for name in ("params", "m", "v", "avg")}
                counters = state.counters + res["counters"]
                if res["stats"][C.S_DIVERGED] or not np.isfinite(new["params"]).all():
                    totals[C.S_DIVERGED] = 1.0
                    break
                # the synchronised state, replaced as a whole (what Ctrl-C keeps)
                for name, value in new.items():
                    getattr(state, name)[...] = value
                state.counters[...] = counters
            stats[...] = totals
            # the loop reads the mean batch gradient as grad_sum / steps
            state.grad_sum = grad_sum * (steps / max(n_batches, 1))

        run_epoch.rounds = rounds
        return run_epoch

    def _full_batch_runner(self, loop, blocks, sizes, dtype, model_d, client):
        state = self._train_state
        kind = "mlp" if hasattr(self, "_sizes") else "dense"
        n = sum(sizes)
        rounds = _Rounds(self, blocks, model_d, client, 8 * state.params.shape[0])

        def run_epoch(order, lrs, hyper, icodes, stats):
            shared = self._shared(state, hyper, icodes, lrs)
            res = rounds.run(_tasks.gradient_block,
                             [(i, shared) for i in range(len(sizes)) if sizes[i] > 0])
            stats[...] = 0.0
            codes = icodes.copy()
            codes[C.I_GRAD_SUM] = 1
            codes[C.I_BATCH] = n
            _, mean_grad = cpu.apply_gradient(
                kind, state.params, res["grad"], state.m, state.v, state.avg,
                res["stats"][C.S_LOSS], n, lrs[0], hyper, codes, state.counters, stats)
            if res["stats"][C.S_DIVERGED]:
                stats[C.S_DIVERGED] = 1.0
            state.grad_sum = mean_grad.astype(np.float64)

        run_epoch.rounds = rounds
        return run_epoch

    def _holdout_score(self, holdout, loss_code, delta):
        """Early stopping's score (R^2 or accuracy) and the mean training
        loss (penalty excluded) on the rows the partitions hold out, from
        per-partition sums: ``(score, loss)``."""
        from dask import delayed

        classifier = hasattr(self, "classes_")
        model = delayed(self.to_local(), pure=True, traverse=False)
        parts = [delayed(_tasks.validation_sums, pure=True)(model, block, classifier,
                                                            loss_code, delta)
                 for block in holdout.blocks]
        sums = self._compute(_tasks.tree_reduce(parts, delayed), holdout.client)
        loss = float(sums["loss"][0] / max(sums["n"][0], 1.0))
        if classifier:
            return float(sums["hits"][0] / sums["w"][0]), loss
        w = sums["w"][0]
        den = sums["wyy"] - sums["wy"] ** 2 / w
        sse = sums["sse"]
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(den > 0, 1.0 - sse / den, np.where(sse == 0, 1.0, 0.0))
        return float(np.mean(r2)), loss

    def _check_classes(self, classes):
        if not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"`classes={np.unique(classes).tolist()}` is not the same "
                             f"as on the first call: {self.classes_.tolist()}.")

    # ------------------------------------------------------------------
    # prediction

    def _map_blocks(self, method, X):
        """``method`` of the in-memory twin applied to each partition of
        ``X``: a dask array, computed where the partitions are."""
        check_is_fitted(self)
        X = _to_dask_array(X, "X", lengths=False)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[-1]} features, but {type(self).__name__} "
                             f"is expecting {self.n_features_in_} features as input.")
        if len(X.chunks[1]) > 1:
            X = X.rechunk({1: -1})
        model = self.to_local()
        if hasattr(model, "feature_names_in_"):
            del model.feature_names_in_  # the partitions are arrays
        sample = getattr(model, method)(np.zeros((1, self.n_features_in_), dtype=X.dtype))
        if sample.ndim == 1:
            return X.map_blocks(_tasks.predict_block, model=model, method=method,
                                drop_axis=1, dtype=sample.dtype,
                                meta=np.empty((0,), sample.dtype))
        return X.map_blocks(_tasks.predict_block, model=model, method=method,
                            chunks=(X.chunks[0], (sample.shape[1],)), dtype=sample.dtype,
                            meta=np.empty((0, 0), sample.dtype))

    def _score_data(self, X, y, sample_weight):
        """``X``, ``y`` and the weights as dask arrays on the same partitions."""
        import dask.array as da

        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but "
                             "the target y is None.")
        X = _to_dask_array(X, "X")
        y = _to_dask_array(y, "y")
        if y.ndim == 2 and len(y.chunks[1]) > 1:
            y = y.rechunk({1: -1})  # every output of a row in one partition
        if y.chunks[0] != X.chunks[0]:
            y = y.rechunk({0: X.chunks[0]})
        if sample_weight is None:
            w = da.ones(X.shape[0], chunks=(X.chunks[0],))
        else:
            w = _to_dask_array(sample_weight, "sample_weight").rechunk({0: X.chunks[0]})
        return X, y, w


_DASK_CONSTRAINTS = {
    "client": "no_validation",
    "sync_every": [Interval(Integral, 1, None, closed="left"), StrOptions({"epoch"})],
    "persist": ["boolean"],
}


def _dask_init(local_cls):
    """An ``__init__`` taking every parameter of ``local_cls`` and the dask
    ones, all keyword-only, storing them untouched (its signature is what
    ``get_params`` reads)."""
    local = list(inspect.signature(local_cls.__init__).parameters.values())
    kw = inspect.Parameter.KEYWORD_ONLY
    params = [local[0]] + [p.replace(kind=kw) for p in local[1:]] + [
        inspect.Parameter("client", kw, default=None),
        inspect.Parameter("sync_every", kw, default=100),
        inspect.Parameter("persist", kw, default=True)]
    signature = inspect.Signature(params)

    def __init__(self, **params):
        bound = signature.bind(self, **params)
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            if name != "self":
                setattr(self, name, value)

    __init__.__signature__ = signature
    return __init__


def _dask_doc(local_cls, summary, see_also, example):
    """The docstring of the dask twin of ``local_cls``: its parameters and
    attributes, the dask parameters added."""
    doc = local_cls.__doc__
    params = (_section(doc, "Parameters", "    Attributes")
              + textwrap.dedent(_DASK_PARAMS_DOC).strip("\n"))
    attributes = _section(doc, "Attributes", "    See Also")
    return fill_doc(params=params, attributes=attributes), (
        summary + "\n\n    Parameters\n    ----------\n    %(params)s\n\n"
        "    Attributes\n    ----------\n    %(attributes)s\n\n    See Also\n"
        "    --------\n" + see_also + "\n\n    Examples\n    --------\n" + example)


class _DaskRegressorMixin(_DaskMixin):

    def _set_target_shape(self, y, classes):
        self._y_1d = y.ndim == 1
        self._n_outputs = 1 if y.ndim == 1 else int(y.shape[1])

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data partitioned in a dask collection.

        Trains for at most ``max_iter`` epochs (fewer by the ``tol`` rule on
        the training loss), each made of rounds of ``sync_every`` local
        mini-batches per partition followed by a synchronisation, or, with
        ``batch_size="full"``, of one exact full-batch step. The rows never
        leave the workers.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            Training data, partitioned by rows (with known partition sizes).
            float32 data trains in float32, any other dtype in float64. A
            NumPy array is taken as one partition.
        y : dask array or dask Series of shape (n_samples,) or (n_samples, n_outputs)
            Target values, partitioned as ``X``.
        sample_weight : dask array of shape (n_samples,), default=None
            Weight of each sample's loss, partitioned as ``X``.

        Returns
        -------
        self : object
            Fitted estimator.

        Raises
        ------
        DivergenceError
            As the in-memory ``fit``: the weights with the lowest training
            loss are kept.
        """
        return self._dask_fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X, y, sample_weight=None):
        """Train one epoch on a dask collection, continuing from the current state.

        The first call initialises the model; later calls keep the weights,
        the optimizer state and the position in the learning-rate schedule.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            Training data, partitioned by rows.
        y : dask array or dask Series of shape (n_samples,) or (n_samples, n_outputs)
            Target values, partitioned as ``X``.
        sample_weight : dask array of shape (n_samples,), default=None
            Weight of each sample's loss, partitioned as ``X``.

        Returns
        -------
        self : object
            Estimator trained one more epoch.
        """
        return self._dask_fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predict with the fitted model, partition by partition.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            The input samples (a NumPy array is one partition).

        Returns
        -------
        y_pred : dask array of shape (n_samples,) or (n_samples, n_outputs)
            Predicted values, lazily computed where the partitions are.
        """
        return self._map_blocks("predict", X)

    def score(self, X, y, sample_weight=None):
        """Return the coefficient of determination R^2 of the prediction.

        Computed with dask reductions (nothing is gathered but the sums), as
        :func:`sklearn.metrics.r2_score` (outputs averaged uniformly).

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            Test samples.
        y : dask array or dask Series of shape (n_samples,) or (n_samples, n_outputs)
            True values.
        sample_weight : dask array of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            R^2 of ``self.predict(X)`` against ``y``.
        """
        X, y, w = self._score_data(X, y, sample_weight)
        pred = self.predict(X)
        y2 = y.reshape(-1, 1) if y.ndim == 1 else y
        p2 = pred.reshape(-1, 1) if pred.ndim == 1 else pred
        mean = (w[:, None] * y2).sum(axis=0) / w.sum()
        num = (w[:, None] * (y2 - p2) ** 2).sum(axis=0)
        den = (w[:, None] * (y2 - mean) ** 2).sum(axis=0)
        num, den = self._compute([num, den], _client(self.client))
        num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(den != 0, 1.0 - num / den, np.where(num == 0, 1.0, 0.0))
        return float(np.mean(r2))


class _DaskClassifierMixin(_DaskMixin):

    def _set_target_shape(self, y, classes):
        if y.ndim != 1:
            raise ValueError(f"The dask classifiers take a 1-D y of class labels; got "
                             f"shape {y.shape} (multilabel targets are not supported).")
        if hasattr(self, "hidden_layer_sizes"):
            self._multilabel = False

    def fit(self, X, y, sample_weight=None):
        """Fit the classifier to data partitioned in a dask collection.

        Trains for at most ``max_iter`` epochs (fewer by the ``tol`` rule on
        the training loss), each made of rounds of ``sync_every`` local
        mini-batches per partition followed by a synchronisation, or, with
        ``batch_size="full"``, of one exact full-batch step. The rows never
        leave the workers; one pass before the first epoch finds the classes.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            Training data, partitioned by rows (with known partition sizes).
            float32 data trains in float32, any other dtype in float64. A
            NumPy array is taken as one partition.
        y : dask array or dask Series of shape (n_samples,)
            Class labels (binary or multiclass), partitioned as ``X``.
        sample_weight : dask array of shape (n_samples,), default=None
            Weight of each sample's loss, multiplied by the ``class_weight``
            of its class; partitioned as ``X``.

        Returns
        -------
        self : object
            Fitted estimator.

        Raises
        ------
        DivergenceError
            As the in-memory ``fit``: the weights with the lowest training
            loss are kept.
        """
        return self._dask_fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train one epoch on a dask collection, continuing from the current state.

        The first call initialises the model and must name every class;
        later calls keep the weights, the optimizer state and the position
        in the learning-rate schedule. ``class_weight="balanced"`` is
        refused, as in memory.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            Training data, partitioned by rows.
        y : dask array or dask Series of shape (n_samples,)
            Class labels, all of them among ``classes``.
        classes : array-like of shape (n_classes,), default=None
            Every class that may appear in ``y``; required on the first call.
        sample_weight : dask array of shape (n_samples,), default=None
            Weight of each sample's loss, partitioned as ``X``.

        Returns
        -------
        self : object
            Estimator trained one more epoch.
        """
        if not hasattr(self, "_train_state") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if isinstance(self.class_weight, str):
            raise ValueError("class_weight='balanced' is not supported by partial_fit; "
                             "pass the weights as a dict.")
        return self._dask_fit(X, y, sample_weight, incremental=True, classes=classes)

    def decision_function(self, X):
        """Compute the raw scores of the model, partition by partition.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        scores : dask array of shape (n_samples,) or (n_samples, n_classes)
            As the in-memory ``decision_function``, lazily computed.
        """
        return self._map_blocks("decision_function", X)

    def predict(self, X):
        """Predict class labels, partition by partition.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        y_pred : dask array of shape (n_samples,)
            The class of ``classes_`` with the highest score of each sample.
        """
        return self._map_blocks("predict", X)

    def _has_proba(self):
        return self.loss == "log_loss"

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Estimate class probabilities (``loss="log_loss"`` only).

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        proba : dask array of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``.
        """
        return self._map_blocks("predict_proba", X)

    @available_if(_has_proba)
    def predict_log_proba(self, X):
        """Estimate the log of the class probabilities (``loss="log_loss"`` only).

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        log_proba : dask array of shape (n_samples, n_classes)
            Natural logarithm of :meth:`predict_proba`.
        """
        return self._map_blocks("predict_log_proba", X)

    def score(self, X, y, sample_weight=None):
        """Return the (weighted) accuracy of the predictions.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            Test samples.
        y : dask array or dask Series of shape (n_samples,)
            True labels.
        sample_weight : dask array of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            Share of correctly predicted samples.
        """
        X, y, w = self._score_data(X, y, sample_weight)
        hits = (w * (self.predict(X) == y)).sum()
        hits, total = self._compute([hits, w.sum()], _client(self.client))
        return float(hits / total)


_EXAMPLE_REG = """\
    >>> import dask.array as da
    >>> from sktune.dask import {name}
    >>> X = da.random.default_rng(0).normal(size=(400, 3), chunks=(100, 3))
    >>> y = X @ da.from_array([1.0, -2.0, 0.5]) + 1.0
    >>> reg = {name}({args}max_iter=5, tol=None, sync_every=2,
    ...                random_state=0)
    >>> reg = reg.fit(X, y)
    >>> reg.predict(X).chunks[0]
    (100, 100, 100, 100)
    >>> reg.to_local().predict(X[:2].compute()).shape
    (2,)
"""

_EXAMPLE_CLF = """\
    >>> import dask.array as da
    >>> from sktune.dask import {name}
    >>> X = da.random.default_rng(0).normal(size=(400, 3), chunks=(100, 3))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = {name}({args}max_iter=5, tol=None, sync_every=2,
    ...                random_state=0)
    >>> clf = clf.fit(X, y)
    >>> clf.classes_
    array([0, 1])
    >>> clf.predict_proba(X).shape
    (400, 2)
"""


def _make(local_cls, mixin, summary, see_also, example, args):
    decorate, doc = _dask_doc(local_cls, summary, see_also,
                              example.format(name="Dask" + local_cls.__name__, args=args))
    namespace = {
        "__doc__": doc,
        "__module__": __name__,
        "__qualname__": "Dask" + local_cls.__name__,
        "_local_class": local_cls,
        "_parameter_constraints": {**local_cls._parameter_constraints,
                                   **_DASK_CONSTRAINTS},
        "__init__": _dask_init(local_cls),
    }
    return decorate(type("Dask" + local_cls.__name__, (mixin, local_cls), namespace))


_SUMMARY = """{what} trained data-parallel on the partitions of a dask collection.

    :class:`~sktune.{local}` (every parameter, the same compiled epoch, the
    same fitted attributes) for data that stays partitioned on a dask
    cluster or streams from disk: each partition trains ``sync_every``
    mini-batches on its own rows from the synchronised weights, and the
    results are averaged in the order of the partitions, so a fixed
    ``random_state`` and partitioning give bitwise the same weights on any
    number of workers. ``batch_size="full"`` trains by exact full-batch
    steps instead. Predictions are dask arrays; :meth:`to_local` returns
    the fitted in-memory estimator. With ``early_stopping``, each partition
    holds out about ``validation_fraction`` of its rows. ``average`` and
    ``device="cuda"`` are not supported (a ValueError says so). See
    :doc:`/distributed`."""

DaskLinearRegressor = _make(
    LinearRegressor, _DaskRegressorMixin,
    _SUMMARY.format(what="Linear regression", local="LinearRegressor"),
    "    sktune.LinearRegressor : The in-memory twin (see ``to_local``).\n"
    "    DaskMLPRegressor : A neural network trained the same way.",
    _EXAMPLE_REG, "learning_rate=0.1, ")
DaskLinearClassifier = _make(
    LinearClassifier, _DaskClassifierMixin,
    _SUMMARY.format(what="Linear classifier", local="LinearClassifier"),
    "    sktune.LinearClassifier : The in-memory twin (see ``to_local``).\n"
    "    DaskMLPClassifier : A neural network trained the same way.",
    _EXAMPLE_CLF, "learning_rate=0.1, ")
DaskMLPRegressor = _make(
    MLPRegressor, _DaskRegressorMixin,
    _SUMMARY.format(what="Multi-layer perceptron regressor", local="MLPRegressor"),
    "    sktune.MLPRegressor : The in-memory twin (see ``to_local``).\n"
    "    DaskLinearRegressor : The linear model trained the same way.",
    _EXAMPLE_REG, "hidden_layer_sizes=(8,), learning_rate=0.01, ")
DaskMLPClassifier = _make(
    MLPClassifier, _DaskClassifierMixin,
    _SUMMARY.format(what="Multi-layer perceptron classifier", local="MLPClassifier"),
    "    sktune.MLPClassifier : The in-memory twin (see ``to_local``).\n"
    "    DaskLinearClassifier : The linear model trained the same way.",
    _EXAMPLE_CLF, "hidden_layer_sizes=(8,), learning_rate=0.01, ")
