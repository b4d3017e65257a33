"""Searches on a dask.distributed cluster through joblib's dask backend, and
sktune.dask's data-parallel fits on worker processes (one of them killed)."""
import os
import signal
import time

import dask.array as da
import joblib
import numpy as np
import pytest
from distributed import Client, LocalCluster, get_task_stream
from distributed.diagnostics.plugin import SchedulerPlugin
from sklearn.datasets import make_regression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktune import LinearRegressor, MLPClassifier
from sktune.dask import DaskLinearRegressor, DaskMLPRegressor, _estimators

N_WORKERS = min(2, os.cpu_count())


def _grid_search():
    X, y = make_regression(n_samples=150, n_features=6, noise=5.0, random_state=0)
    pipe = make_pipeline(StandardScaler(), LinearRegressor(max_iter=15, tol=None,
                                                           penalty="elasticnet",
                                                           random_state=0))
    grid = {
        "linearregressor__optimizer": ["sgd", "adam"],
        "linearregressor__learning_rate": [0.01, 0.1],
        "linearregressor__l1_ratio": [0.15, 0.8],
        "linearregressor__batch_size": [16, "full"],
    }
    return GridSearchCV(pipe, grid, cv=KFold(3, shuffle=True, random_state=0)), X, y


def _thread_policy():
    """Run in a dask task: the thread counts sktune sees there."""
    import threading

    import numba

    from sktune import _config

    return {
        "effective_threads": _config.effective_threads(None),
        "numba_threads": numba.get_num_threads(),
        "main_thread": threading.current_thread() is threading.main_thread(),
        "pid": os.getpid(),
    }


def _fit_in_worker(X, y):
    """Run in a dask task: a default-threaded MLP fit."""
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, tol=None, random_state=0)
    return model.fit(X, y).predict_proba(X)


@pytest.fixture(scope="module")
def local_search():
    # Run locally first: it also warms the Numba cache before worker
    # processes load it (concurrent first-time cache writes can race).
    search, X, y = _grid_search()
    return search.fit(X, y)


def _data():
    """240 x 4 rows of a linear target, as dask arrays of 4 partitions."""
    rng = np.random.RandomState(1)
    X = rng.randn(240, 4)
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.randn(240)
    return da.from_array(X, chunks=(60, 4)), da.from_array(y, chunks=60)


def _data_parallel_fits(client=None):
    """A linear and an MLP fit of sktune.dask, 4 partitions, 2 rounds an epoch."""
    Xd, yd = _data()
    kw = dict(batch_size=20, max_iter=3, tol=None, sync_every=2, random_state=0,
              client=client)
    return [DaskLinearRegressor(learning_rate=0.05, **kw).fit(Xd, yd),
            DaskMLPRegressor(hidden_layer_sizes=(6,), learning_rate=0.01, **kw).fit(Xd, yd)]


@pytest.fixture(scope="module")
def data_parallel_reference():
    # on dask's default scheduler, before the cluster (and its client) exists
    return _data_parallel_fits()


@pytest.fixture(scope="module")
def client(local_search, data_parallel_reference):
    with LocalCluster(n_workers=N_WORKERS, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(N_WORKERS)
        yield client


def test_grid_search_on_dask_matches_local(client, local_search):
    search, X, y = _grid_search()
    with get_task_stream(client) as stream, joblib.parallel_config(backend="dask"):
        search.set_params(n_jobs=-1).fit(X, y)
    # the fits really ran on the cluster's workers
    assert {task["worker"] for task in stream.data} <= set(client.scheduler_info()["workers"])
    assert len(stream.data) > 0
    assert search.cv_results_["params"] == local_search.cv_results_["params"]
    for key in ("mean_test_score", "std_test_score", "split0_test_score",
                "split1_test_score", "split2_test_score"):
        np.testing.assert_allclose(search.cv_results_[key], local_search.cv_results_[key],
                                   rtol=1e-10)
    assert search.best_params_ == local_search.best_params_
    np.testing.assert_allclose(search.predict(X), local_search.predict(X), rtol=1e-10)


def test_worker_threads_are_capped(client):
    workers = client.scheduler_info()["workers"]
    assert len(workers) == N_WORKERS
    futures = [client.submit(_thread_policy, pure=False, workers=[address])
               for address in workers]
    policies = dict(zip(workers, client.gather(futures)))
    assert len({p["pid"] for p in policies.values()}) == N_WORKERS  # separate processes
    total = 0
    for address, policy in policies.items():
        # tasks run in the worker's thread pool, so sktune's default
        # (n_threads=None) runs the serial kernel there
        assert not policy["main_thread"]
        assert policy["effective_threads"] == 1
        assert 1 <= policy["effective_threads"] <= policy["numba_threads"]
        total += workers[address]["nthreads"] * policy["effective_threads"]
    assert total <= os.cpu_count()


def test_fit_in_worker_matches_local(client):
    rng = np.random.RandomState(0)
    X = rng.randn(80, 4)
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    local = _fit_in_worker(X, y)  # compiles (or loads) the kernel here first
    remote = client.submit(_fit_in_worker, X, y, pure=False).result()
    np.testing.assert_allclose(remote, local, rtol=1e-10)


def test_data_parallel_fit_on_worker_processes_has_the_same_bits(client,
                                                                 data_parallel_reference):
    for est, ref in zip(_data_parallel_fits(client), data_parallel_reference):
        np.testing.assert_array_equal(est._train_state.params, ref._train_state.params)
        assert est.loss_curve_ == ref.loss_curve_


def _recorded_fits(client, plugin, attr, reference):
    """Run the data-parallel fits with the scheduler plugin ``plugin``
    registered; check their weights against ``reference`` and return what
    the plugin recorded in ``attr``."""
    name = plugin.name
    client.register_plugin(plugin)
    try:
        fits = _data_parallel_fits(client)
        recorded = client.run_on_scheduler(
            lambda dask_scheduler: getattr(dask_scheduler.plugins[name], attr))
    finally:
        client.unregister_scheduler_plugin(name)
    for est, ref in zip(fits, reference):
        np.testing.assert_array_equal(est._train_state.params, ref._train_state.params)
    return recorded


class _Placement(SchedulerPlugin):
    """Records, for every task whose key starts with ``prefix``, the workers
    it was restricted to, where it ran and where its partition was."""

    name = "sktune-placement"

    def __init__(self, prefix):
        self.prefix = prefix

    def start(self, scheduler):
        self.scheduler, self.seen, self.rounds = scheduler, [], 0

    def transition(self, key, start, finish, *args, **kwargs):
        if finish != "processing":
            return
        self.rounds += str(key).startswith("local_round")
        if not str(key).startswith(self.prefix):
            return
        ts = self.scheduler.tasks[key]
        holders = {ws.address for dep in ts.dependencies if dep.nbytes > 1000
                   for ws in dep.who_has}
        self.seen.append((set(ts.worker_restrictions or ()), ts.processing_on.address,
                          holders, ts.loose_restrictions))

    @property
    def record(self):
        return self.seen, self.rounds


@pytest.mark.parametrize("path", ["actors", "tasks"])
def test_partitions_train_where_they_are(client, data_parallel_reference, monkeypatch,
                                         path):
    # each partition trains in an actor made on a worker that holds it (or,
    # for results too big for the client's link, in tasks asking for such a
    # worker); loosely, so that a lost worker's partition can be made again
    # elsewhere: left to its estimates, the scheduler now and then swapped
    # two partitions' tasks
    if path == "tasks":
        monkeypatch.setattr(_estimators, "_LOCAL_REDUCE_BYTES", 0)
    prefix = "sktune-partition" if path == "actors" else "local_round"
    seen, rounds = _recorded_fits(client, _Placement(prefix), "record",
                                  data_parallel_reference)
    # fits x partitions (x rounds x epochs for tasks)
    assert len(seen) == 2 * 4 * (1 if path == "actors" else 2 * 3)
    # actors: no round went through the scheduler
    assert rounds == (0 if path == "actors" else len(seen))
    for restricted, ran_on, holders, loose in seen:
        assert restricted and restricted <= holders and loose
        assert ran_on in holders


class _RoundOrder(SchedulerPlugin):
    """Records the submission of every training round and the release of
    each of its results, in the scheduler's order."""

    name = "sktune-round-order"

    def start(self, scheduler):
        self.events = []

    def update_graph(self, scheduler, **kwargs):
        keys = sorted(str(k) for k in kwargs.get("keys", ())
                      if str(k).startswith("local_round"))
        if keys:
            self.events.append(("submit", keys))

    def transition(self, key, start, finish, *args, **kwargs):
        if str(key).startswith("local_round") and start == "memory":
            self.events.append(("release", str(key)))


def test_a_rounds_results_are_released_after_the_next_round_is_submitted(
        client, data_parallel_reference, monkeypatch):
    # rounds as tasks (results too big for actors): released first, their
    # message went ahead of the next round's in the client's batched stream
    # (10 ms apart) and the scheduler's (5 ms): a round's tasks started
    # 11-17 ms after their submission, 2-4 ms since
    monkeypatch.setattr(_estimators, "_LOCAL_REDUCE_BYTES", 0)
    events = _recorded_fits(client, _RoundOrder(), "events", data_parallel_reference)
    # each round's tasks in one message: (its place in the events, its keys)
    rounds = [(at, keys) for at, (kind, keys) in enumerate(events) if kind == "submit"]
    assert len(rounds) == 2 * 2 * 3  # fits x rounds x epochs
    assert all(len(keys) == 4 for _, keys in rounds)  # one task per partition
    released = {key: at for at, (kind, key) in enumerate(events) if kind == "release"}
    for i, (_, keys) in enumerate(rounds[:-1]):
        if i % 6 != 5:  # a fit's last round goes with its fit
            assert min(released[k] for k in keys) > rounds[i + 1][0], i


@pytest.mark.parametrize("persist", [True, False])
def test_results_summed_on_the_workers_have_the_same_bits(client, data_parallel_reference,
                                                          monkeypatch, persist):
    # big partial results are summed by a tree of tasks on the workers, small
    # ones on the client (persisted partitions take tasks submitted to their
    # futures, others a graph of delayed calls): the same pairwise tree
    monkeypatch.setattr(_estimators, "_LOCAL_REDUCE_BYTES", 0)
    est = DaskLinearRegressor(learning_rate=0.05, batch_size=20, max_iter=3, tol=None,
                              sync_every=2, random_state=0, client=client, persist=persist)
    est.fit(*_data())
    ref = data_parallel_reference[0]
    np.testing.assert_array_equal(est._train_state.params, ref._train_state.params)
    assert est.loss_curve_ == ref.loss_curve_


def _kill_a_worker(client, killed):
    pids = client.run(os.getpid)
    address = sorted(pids)[0]
    os.kill(pids[address], signal.SIGKILL)
    killed.append(address)


def test_data_parallel_fit_survives_a_killed_worker(client, data_parallel_reference,
                                                    monkeypatch):
    # killed while the second round's calls are in flight: they fail, dask
    # makes the lost partitions again, new actors are made and the round
    # runs again from the same synchronised state
    call, start = _estimators._Rounds._call, _estimators._Rounds._start_actors
    calls, killed, starts = [], [], []

    def kill_one_worker_mid_round(self, func, args):
        futures = call(self, func, args)
        calls.append(1)
        if len(calls) == 2:
            _kill_a_worker(client, killed)
        return futures

    def counted_start(self):
        starts.append(1)
        return start(self)

    monkeypatch.setattr(_estimators._Rounds, "_call", kill_one_worker_mid_round)
    monkeypatch.setattr(_estimators._Rounds, "_start_actors", counted_start)
    linear, mlp = _data_parallel_fits(client)
    assert killed and len(starts) == 3  # one per fit, one after the loss
    assert len(calls) == 2 * 2 * 3 + 1  # fits x rounds x epochs, one round again
    for est, ref in zip((linear, mlp), data_parallel_reference):
        np.testing.assert_array_equal(est._train_state.params, ref._train_state.params)
        assert est.loss_curve_ == ref.loss_curve_
    client.wait_for_workers(N_WORKERS, timeout=60)


def test_rounds_as_tasks_survive_a_killed_worker(client, data_parallel_reference,
                                                 monkeypatch):
    # results too big for actors: tasks, rescheduled by dask
    monkeypatch.setattr(_estimators, "_LOCAL_REDUCE_BYTES", 0)
    compute = _estimators._DaskMixin._compute
    calls, killed = [], []

    def kill_one_worker_mid_fit(self, obj, client_):
        calls.append(1)
        if len(calls) == 3:  # the second round of the first epoch
            _kill_a_worker(client, killed)
        return compute(self, obj, client_)

    monkeypatch.setattr(_estimators._DaskMixin, "_compute", kill_one_worker_mid_fit)
    linear, mlp = _data_parallel_fits(client)
    assert killed and len(calls) > 3
    for est, ref in zip((linear, mlp), data_parallel_reference):
        np.testing.assert_array_equal(est._train_state.params, ref._train_state.params)
        assert est.loss_curve_ == ref.loss_curve_
    client.wait_for_workers(N_WORKERS, timeout=60)


def test_interrupted_fit_on_actors_keeps_the_last_synchronised_weights(client,
                                                                        monkeypatch):
    # Ctrl-C while the first round of epoch 2 is in flight: the fit keeps
    # epoch 1's weights, as in memory, and lets its actors go
    Xd, yd = _data()
    kw = dict(learning_rate=0.05, batch_size=20, tol=None, sync_every=2, random_state=0,
              client=client)
    one_epoch = DaskLinearRegressor(max_iter=1, **kw).fit(Xd, yd)
    call, calls = _estimators._Rounds._call, []

    def interrupted(self, func, args):
        futures = call(self, func, args)
        calls.append(1)
        if len(calls) == 3:  # two rounds an epoch
            raise KeyboardInterrupt
        return futures

    monkeypatch.setattr(_estimators._Rounds, "_call", interrupted)
    est = DaskLinearRegressor(max_iter=3, **kw)
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(Xd, yd)
    assert est.n_iter_ == 1
    np.testing.assert_array_equal(est.coef_, one_epoch.coef_)

    def actors(dask_scheduler):
        return [k for k in dask_scheduler.tasks if str(k).startswith("sktune-partition")]

    for _ in range(100):  # the release reaches the scheduler asynchronously
        if not client.run_on_scheduler(actors):
            break
        time.sleep(0.05)
    assert client.run_on_scheduler(actors) == []
    monkeypatch.undo()
    again = DaskLinearRegressor(max_iter=1, **kw).fit(Xd, yd)
    np.testing.assert_array_equal(again.coef_, one_epoch.coef_)


def _sleepy(model, block, index):
    """A partition's round that only sleeps: when it ran."""
    start = time.monotonic()
    time.sleep(0.3)
    return start, time.monotonic()


def test_partition_actors_train_on_the_workers_threads():
    # a worker of 2 threads holding 2 partitions trains both at once, as it
    # runs 2 tasks (dask runs an actor's plain methods on one thread a
    # worker: 1.45x the tasks' time for a 2-partition fit on such a worker)
    from sktune.dask._tasks import PartitionActor

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        futures = [client.submit(PartitionActor, None, i, actor=True, pure=False)
                   for i in range(2)]
        with client.as_current():  # the module's client is up too
            actors = [future.result() for future in futures]
        calls = [actor.run(_sleepy, (i,)) for i, actor in enumerate(actors)]
        (s0, e0), (s1, e1) = [call.result() for call in calls]
    assert s1 < e0 and s0 < e1


def test_fit_on_its_client_while_another_client_is_the_latest(client,
                                                              data_parallel_reference):
    # the actors' handles call through the estimator's client: through the
    # latest client (another cluster's scheduler) the rounds never answered
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster):
        fits = _data_parallel_fits(client)
    for est, ref in zip(fits, data_parallel_reference):
        np.testing.assert_array_equal(est._train_state.params, ref._train_state.params)
