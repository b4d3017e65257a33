"""sktune.dask: one model trained data-parallel on dask collections.

Reproducibility across clusters is checked on in-process clusters of 1, 2
and 4 single-threaded workers (cheap to start) against dask's default
scheduler; worker processes and a killed worker are in tests/test_dask.py,
which already starts a process cluster.
"""
import pickle
import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster

from sktune import LinearRegressor, MLPRegressor
from sktune.dask import (
    DaskLinearClassifier,
    DaskLinearRegressor,
    DaskMLPClassifier,
    DaskMLPRegressor,
    _estimators,
    _tasks,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N, D, CHUNK = 240, 4, 60


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(N, D)
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 + 0.1 * rng.randn(N)
    return X, y


def _dask(X, y):
    return da.from_array(X, chunks=(CHUNK, D)), da.from_array(y, chunks=CHUNK)


# each model: several rounds per epoch (3 batches of 20 rows per partition)
MODELS = {
    "linear": lambda **kw: DaskLinearRegressor(learning_rate=0.05, batch_size=20,
                                               max_iter=3, sync_every=2, random_state=0,
                                               **kw),
    "mlp": lambda **kw: DaskMLPRegressor(hidden_layer_sizes=(6,), learning_rate=0.01,
                                         batch_size=20, max_iter=3, sync_every=2,
                                         random_state=0, **kw),
    "full batch": lambda **kw: DaskMLPRegressor(hidden_layer_sizes=(6,),
                                                batch_size="full", max_iter=3,
                                                random_state=0, **kw),
}


@pytest.fixture(scope="module")
def default_fits(data):
    """The fits on dask's default scheduler (threads of this process)."""
    Xd, yd = _dask(*data)
    return {name: make().fit(Xd, yd) for name, make in MODELS.items()}


@pytest.mark.parametrize("n_workers", [1, 2, 4])
def test_same_bits_on_any_number_of_workers(data, default_fits, n_workers):
    Xd, yd = _dask(*data)
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        for name, make in MODELS.items():
            est = make(client=client).fit(Xd, yd)
            ref = default_fits[name]
            np.testing.assert_array_equal(est._train_state.params,
                                          ref._train_state.params)
            np.testing.assert_array_equal(est._train_state.v, ref._train_state.v)
            assert est.loss_curve_ == ref.loss_curve_
            # 3 epochs of 2 rounds (2 steps, then 1), or of one full-batch step
            assert est.t_ == ref.t_ == (3 if name == "full batch" else 9)


def test_training_lowers_the_loss_and_predicts_dask_arrays(data, default_fits):
    X, y = data
    Xd, yd = _dask(X, y)
    for est in default_fits.values():
        assert est.loss_curve_[-1] < est.loss_curve_[0]
        pred = est.predict(Xd)
        assert isinstance(pred, da.Array) and pred.chunks == ((CHUNK,) * 4,)
        local = est.to_local()
        np.testing.assert_array_equal(pred.compute(), local.predict(X))
        assert est.score(Xd, yd) == pytest.approx(local.score(X, y), rel=1e-12)


def test_to_local_is_the_plain_estimator(data, default_fits):
    X, _ = data
    for name, local_cls in (("linear", LinearRegressor), ("mlp", MLPRegressor)):
        est = default_fits[name]
        local = pickle.loads(pickle.dumps(est.to_local()))
        assert type(local) is local_cls
        assert "client" not in local.get_params() and "sync_every" not in local.get_params()
        assert local.get_params()["max_iter"] == est.max_iter
        assert local.n_iter_ == est.n_iter_ and local.loss_curve_ == est.loss_curve_
        np.testing.assert_array_equal(local.predict(X), est.predict(X).compute())
    # the local copy continues training in memory
    local = default_fits["linear"].to_local()
    local.partial_fit(X, data[1])
    assert local.n_iter_ == 4


def test_full_batch_mode_is_the_in_memory_full_batch_fit(data):
    X, y = data
    kw = dict(learning_rate=0.1, batch_size="full", max_iter=4, random_state=0)
    est = DaskLinearRegressor(**kw).fit(*_dask(X, y))
    ref = LinearRegressor(**kw).fit(X, y)
    # the same steps; only the order of the gradient sums differs
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-10)
    assert est.t_ == ref.t_ == 4
    np.testing.assert_allclose(est.gradient_norms_, ref.gradient_norms_, rtol=1e-8)


def test_partial_fit_continues_the_schedule(data, default_fits):
    Xd, yd = _dask(*data)
    est = MODELS["linear"]()
    for _ in range(3):
        est.partial_fit(Xd, yd)
    ref = default_fits["linear"]
    np.testing.assert_array_equal(est.coef_, ref.coef_)
    assert est.t_ == ref.t_ and est.n_iter_ == 3


def test_lazy_data_without_persist_gives_the_same_bits(data, default_fits):
    X, y = data
    # a lazily computed collection: each partition recomputed when used
    Xd, yd = _dask(X, y)
    Xl, yl = Xd * 1.0, yd + 0.0
    est = MODELS["linear"](persist=False).fit(Xl, yl)
    np.testing.assert_array_equal(est.coef_, default_fits["linear"].coef_)


def test_dataframe_input(data):
    import dask.dataframe as dd
    import pandas as pd
    X, y = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(D)])
    Xf = dd.from_pandas(frame, npartitions=3)
    yf = dd.from_pandas(pd.Series(y), npartitions=3)
    est = DaskLinearRegressor(learning_rate=0.05, batch_size=20, max_iter=2,
                              random_state=0).fit(Xf, yf)
    assert est.feature_names_in_.tolist() == list(frame.columns)
    pred = est.predict(Xf)
    assert isinstance(pred, da.Array)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no feature-name warnings
        # per partition: the matrix product's rounding may differ in the last bit
        np.testing.assert_allclose(pred.compute(), est.to_local().predict(frame),
                                   rtol=1e-12, atol=1e-15)


def test_classifiers(data):
    X, _ = data
    y = np.digitize(X[:, 0] - X[:, 1], [-1.0, 1.0])  # three classes
    Xd, yd = da.from_array(X, chunks=(CHUNK, D)), da.from_array(y, chunks=CHUNK)
    for est in (DaskLinearClassifier(learning_rate=0.1, batch_size=20, max_iter=5,
                                     class_weight="balanced", random_state=0),
                DaskMLPClassifier(hidden_layer_sizes=(6,), learning_rate=0.03,
                                  batch_size="full", max_iter=3, random_state=0)):
        est.fit(Xd, yd)
        assert est.classes_.tolist() == [0, 1, 2]
        proba = est.predict_proba(Xd)
        assert proba.shape == (N, 3)
        np.testing.assert_allclose(proba.compute().sum(axis=1), 1.0)
        local = est.to_local()
        np.testing.assert_array_equal(est.predict(Xd).compute(), local.predict(X))
        assert est.score(Xd, yd) == pytest.approx(local.score(X, y))
    assert est.score(Xd, yd) > 0.5
    # class_weight="balanced" weighs by the counts of all partitions
    lin = DaskLinearClassifier(class_weight="balanced").fit(Xd, yd, )
    counts = np.bincount(y)
    np.testing.assert_allclose(list(lin._balanced_weights.values()), N / (3 * counts))


def test_classifier_partial_fit_needs_the_classes(data):
    X, _ = data
    Xd = da.from_array(X, chunks=(CHUNK, D))
    yd = da.from_array((X[:, 0] > 0).astype(int), chunks=CHUNK)
    est = DaskLinearClassifier(batch_size=20, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(Xd, yd)
    est.partial_fit(Xd, yd, classes=[0, 1]).partial_fit(Xd, yd)
    assert est.n_iter_ == 2
    with pytest.raises(ValueError, match="is not the same"):
        est.partial_fit(Xd, yd, classes=[0, 1, 2])


def test_bad_input(data):
    X, y = data
    Xd, yd = _dask(X, y)
    est = DaskLinearRegressor(max_iter=1)
    unknown = Xd[Xd[:, 0] > -10]  # row count unknown until computed
    with pytest.raises(ValueError, match="unknown partition sizes"):
        est.fit(unknown, yd)
    with pytest.raises(ValueError, match="partitioned differently"):
        est.fit(Xd, yd.rechunk(80))
    with pytest.raises(ValueError, match="sync_every"):
        DaskLinearRegressor(sync_every=0).fit(Xd, yd)
    with pytest.raises(ValueError, match="average"):
        DaskLinearRegressor(average=True).fit(Xd, yd)
    with pytest.raises(ValueError, match="validation_fraction"):
        DaskLinearRegressor(early_stopping=True, validation_fraction=1e-9,
                            random_state=0).fit(Xd, yd)
    with pytest.raises(ValueError, match="device"):
        DaskLinearRegressor(device="cuda").fit(Xd, yd)
    # NumPy input is one partition: it trains, as in a single task
    est = DaskLinearRegressor(batch_size=20, max_iter=2, random_state=0).fit(X, y)
    assert est.n_iter_ == 2 and isinstance(est.predict(X), da.Array)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_refused(data, bad, monkeypatch):
    # checked by blocks of rows: several blocks in each partition here, the
    # bad value in the last row of the last partition
    monkeypatch.setattr(_tasks, "FINITE_ROWS", 7)
    X, y = data
    X = X.copy()
    X[-1, -1] = bad
    with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
        MODELS["linear"]().fit(*_dask(X, y))
    assert _tasks.all_finite(data[0]) and not _tasks.all_finite(X)


def test_interrupt_keeps_the_last_synchronised_weights(data, monkeypatch):
    Xd, yd = _dask(*data)
    one_epoch = MODELS["linear"]().set_params(max_iter=1).fit(Xd, yd)
    calls = []
    compute = _estimators._DaskMixin._compute

    def interrupted(self, obj, client):
        calls.append(1)
        # call 1 is the pass before training; 2-3 the rounds of epoch 1
        if len(calls) == 4:
            raise KeyboardInterrupt
        return compute(self, obj, client)

    monkeypatch.setattr(_estimators._DaskMixin, "_compute", interrupted)
    est = MODELS["linear"]()
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(Xd, yd)
    assert est.n_iter_ == 1
    np.testing.assert_array_equal(est.coef_, one_epoch.coef_)


def test_default_scheduler_examples_use_no_cluster(data):
    # no client anywhere: dask's default (threaded) scheduler runs the fit
    from distributed import default_client

    with pytest.raises(ValueError):
        default_client()
    with dask.config.set(scheduler="synchronous"):
        est = MODELS["mlp"]().fit(*_dask(*data))
    assert est.n_iter_ == 3


def test_sample_weight_partitioned_as_X(data, default_fits):
    Xd, yd = _dask(*data)
    ones = da.ones(N, chunks=CHUNK)
    est = MODELS["linear"]().fit(Xd, yd, sample_weight=ones)
    np.testing.assert_array_equal(est.coef_, default_fits["linear"].coef_)
    halves = da.from_array(np.r_[np.zeros(N // 2), np.ones(N // 2)], chunks=CHUNK)
    assert not np.array_equal(MODELS["linear"]().fit(Xd, yd, sample_weight=halves).coef_,
                              est.coef_)
    with pytest.raises(ValueError, match="partitioned differently"):
        MODELS["linear"]().fit(Xd, yd, sample_weight=ones.rechunk(80))


def test_clone_shares_the_client():
    from sklearn.base import clone

    class Uncopyable:
        def __deepcopy__(self, memo):
            raise TypeError("a client cannot be copied")

    client = Uncopyable()
    est = DaskMLPRegressor(client=client, hidden_layer_sizes=(3,), sync_every=7)
    copy_ = clone(est)
    assert copy_.client is client
    assert copy_.get_params()["sync_every"] == 7
    assert copy_.get_params()["hidden_layer_sizes"] == (3,)


def test_two_outputs_warm_start_and_divergence(data):
    from sktune import DivergenceError

    X, y = data
    Y = np.column_stack([y, -y])
    Xd = da.from_array(X, chunks=(CHUNK, D))
    Yd = da.from_array(Y, chunks=(CHUNK, 1))  # column chunks are merged
    est = DaskLinearRegressor(batch_size=20, max_iter=2, tol=None, warm_start=True,
                              random_state=0).fit(Xd, Yd)
    assert est.coef_.shape == (2, D) and est.predict(Xd).shape == (N, 2)
    np.testing.assert_allclose(est.coef_[0], -est.coef_[1], rtol=1e-12)
    est.fit(Xd, Yd)  # warm start: two more epochs from there
    assert est.n_iter_ == 4 and est.t_ == 4 * 3
    bad = DaskLinearRegressor(optimizer="sgd", learning_rate=1e3, batch_size=20,
                              max_iter=5, random_state=0)
    with pytest.raises(DivergenceError):
        bad.fit(Xd, Yd)
    assert np.isfinite(bad.coef_).all()


def test_early_stopping_scores_the_rows_each_partition_holds_out(data):
    from sktune.dask._tasks import validation_mask

    X, y = data
    Xd, yd = _dask(X, y)
    est = DaskLinearRegressor(learning_rate=0.05, batch_size=20, max_iter=40,
                              early_stopping=True, validation_fraction=0.25,
                              n_iter_no_change=2, tol=1e-2, random_state=0).fit(Xd, yd)
    assert est.n_iter_ < 40 and len(est.validation_scores_) == est.n_iter_
    assert len(est.validation_loss_curve_) == est.n_iter_
    assert est.best_validation_score_ == max(est.validation_scores_)
    # the score is R^2 on the held-out rows, at the kept (best) weights
    seed = est._train_state.seed
    val = np.concatenate([validation_mask(seed, i, CHUNK, 0.25) for i in range(4)])
    assert est.best_validation_score_ == pytest.approx(
        est.to_local().score(X[val], y[val]), rel=1e-9)
    # the validation loss: squared error / 2 on those rows, plus the L2 penalty
    best = int(np.argmax(est.validation_scores_))
    resid = est.to_local().predict(X[val]) - y[val]
    penalty = 0.5 * est.alpha * np.sum(est.coef_ ** 2)
    assert est.validation_loss_curve_[best] == pytest.approx(
        0.5 * np.mean(resid ** 2) + penalty, rel=1e-9)
    # the training rows are the others
    assert est._train_state.counters[1] == est.n_iter_ * (N - val.sum())  # samples seen
