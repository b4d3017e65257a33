"""Pruning: the ``sparsity`` parameter (gradual magnitude pruning while
training, ``sktune._engine.sparsity`` and the masked optimizer step) and
:func:`sktune.compress._prune.prune` after training. The GPU side is in
``test_cuda.py`` (its ``sparsity-*`` configurations)."""
import copy

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktune import LinearClassifier, LinearRegressor, MLPClassifier, MLPRegressor
from sktune._engine.sparsity import prune_to, target_sparsity, weight_ranges
from sktune.compress import prune
from sktune.model_selection import GridSearchCV

ESTIMATORS = [LinearRegressor, LinearClassifier, MLPRegressor, MLPClassifier]
COMMON = dict(max_iter=4, tol=None, batch_size=16, random_state=0)


def _data(est, n=80, d=6, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    signal = X[:, 0] - 2 * X[:, 1] + X[:, 2] * X[:, 3]
    if isinstance(est, (LinearClassifier, MLPClassifier)):
        return X, np.digitize(signal, [-1.0, 1.0])
    return X, signal


def _make(cls, **kw):
    if cls in (MLPRegressor, MLPClassifier):
        kw.setdefault("hidden_layer_sizes", (10,))
    return cls(**{**COMMON, **kw})


def _weights(est):
    """Each layer's weight matrix (the biases excluded)."""
    return list(est.coefs_) if hasattr(est, "coefs_") else [est.coef_]


def _intercepts(est):
    return list(est.intercepts_) if hasattr(est, "intercepts_") else [est.intercept_]


def _n_zero(est):
    return sum(int(np.count_nonzero(W == 0)) for W in _weights(est))


def _n_target(est, sparsity):
    return int(np.floor(sparsity * sum(W.size for W in _weights(est)) + 0.5))


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_sparsity_prunes_the_fraction_of_the_weights(cls):
    est = _make(cls, sparsity=0.7)
    X, y = _data(est)
    est.fit(X, y)
    assert _n_zero(est) == _n_target(est, 0.7) > 0
    # each layer keeps at least a weight per output unit; biases are kept
    assert all(np.count_nonzero(W) >= b.size for W, b in zip(_weights(est), _intercepts(est)))
    assert all(np.count_nonzero(b) > 0 for b in _intercepts(est))
    assert np.all(np.isfinite(est.predict(X)))
    # the cubic schedule after a dense fifth of max_iter: nothing before
    # t_0 = 0.2 * max_iter, all of it at max_iter
    assert target_sparsity(0.7, 0, 10) == target_sparsity(0.7, 2, 10) == 0.0
    assert target_sparsity(0.7, 6, 10) == pytest.approx(0.7 * (1 - 0.5 ** 3))
    assert target_sparsity(0.7, 2, 4) == pytest.approx(0.7 * (1 - (1 - 1.2 / 3.2) ** 3))
    assert target_sparsity(0.7, 4, 4) == target_sparsity(0.7, 9, 4) == 0.7
    assert target_sparsity(0.7, 1, 1) == 0.7
    # prune's ramp over fine-tuning epochs starts at once
    assert target_sparsity(0.7, 2, 4, dense_share=0.0) == pytest.approx(0.7 * (1 - 0.5 ** 3))


def test_global_pruning_spares_the_narrow_layer():
    # a layer of near-zero weights goes first; the other keeps its weights
    # except those of units left without inputs (stranded)
    est = _make(MLPRegressor, hidden_layer_sizes=(4,), max_iter=1)
    X, y = _data(est)
    est.fit(X, y)
    state = est._train_state
    state.params[:24] *= 1e-3  # the first layer (6 x 4)
    ranges = weight_ranges(est, state.params.shape[0], state.n_penalized)
    assert ranges == [(0, 24, 4), (24, 28, 1)]
    # at 0.9 the floor (each layer keeps one weight per output unit while
    # it has unmarked ones) holds back some of the asked 25
    for fraction, low, high in ((0.7, 20, 20), (0.9, 23, 25)):
        prune_to(state, ranges, fraction)
        W1 = state.params[:24].reshape(6, 4)
        W2 = state.params[24:28]
        assert low <= int((W1 == 0).sum() + (W2 == 0).sum()) <= high
        np.testing.assert_array_equal((W1 != 0).any(axis=0), W2 != 0)
        assert (state.v[:28][state.params[:28] == 0] < 0).all()
    # the narrow layer kept what the wide one could feed
    assert (W2 != 0).sum() >= 1


def test_pruning_leaves_no_stranded_unit():
    # after every epoch of a sparse fit, each hidden unit has kept weights
    # on both sides or on neither
    est = _make(MLPRegressor, hidden_layer_sizes=(12, 6), sparsity=0.85, max_iter=6)
    X, y = _data(est)
    est.fit(X, y)
    for W_in, W_out in zip(est.coefs_[:-1], est.coefs_[1:]):
        np.testing.assert_array_equal((W_in != 0).any(axis=0), (W_out != 0).any(axis=1))
    assert _n_zero(est) == _n_target(est, 0.85)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_pruned_weights_and_moments_stay_zero(optimizer):
    # max_iter=1 prunes fully after the first epoch; partial_fit and a warm
    # start then train on with the mask
    est = _make(MLPRegressor, sparsity=0.5, max_iter=1, optimizer=optimizer,
                learning_rate=0.05, clip_norm=1.0, warm_start=True)
    X, y = _data(est)
    est.fit(X, y)
    zeros = [W == 0 for W in est.coefs_]
    before = copy.deepcopy(est.coefs_)
    for _ in range(2):
        est.partial_fit(X, y)
    est.fit(X, y)
    assert est.n_iter_ == 4
    for W, Z, W0 in zip(est.coefs_, zeros, before):
        np.testing.assert_array_equal(W == 0, Z)
        assert not np.array_equal(W, W0)  # the rest trained on
    state = est._train_state
    pruned = state.v < 0
    assert pruned.sum() == sum(Z.sum() for Z in zeros)
    assert not state.m[pruned].any() and not state.params[pruned].any()
    # sparsity=0 lifts the mask: a warm start trains every weight again
    # (a linear model: an MLP's pruned units have no gradient to come back)
    est.set_params(sparsity=0.0).fit(X, y)
    assert not (est._train_state.v < 0).any()
    lin = _make(LinearRegressor, sparsity=0.5, max_iter=1, optimizer=optimizer,
                learning_rate=0.05, warm_start=True).fit(X, y)
    n_pruned = int((lin._train_state.v < 0).sum())
    assert n_pruned == 3
    lin.set_params(sparsity=0.0).fit(X, y)
    assert not (lin._train_state.v < 0).any() and np.count_nonzero(lin.coef_ == 0) < n_pruned


def test_sparse_fits_take_the_general_path():
    # per-sample plain SGD and lazy sparse updates have paths without the
    # mask: a pruned fit takes the exact one instead, the same zeros
    import scipy.sparse as sp

    X, y = _data(LinearRegressor())
    per_sample = _make(LinearRegressor, sparsity=0.5, optimizer="sgd", batch_size=1,
                       learning_rate=0.01).fit(X, y)
    lazy = _make(LinearRegressor, sparsity=0.5, lazy_updates=True).fit(sp.csr_matrix(X), y)
    exact = _make(LinearRegressor, sparsity=0.5).fit(X, y)
    for est in (per_sample, lazy):
        assert np.count_nonzero(est.coef_ == 0) == 3
    np.testing.assert_allclose(lazy.coef_, exact.coef_, rtol=1e-12)


def test_thread_count_does_not_change_the_weights(force_parallel):
    # batches and a network big enough for the parallel kernel and the
    # update split in two parameter ranges
    rng = np.random.RandomState(1)
    X = rng.randn(512, 32)
    y = X[:, 0] - np.tanh(X[:, 1] * X[:, 2])
    kw = dict(hidden_layer_sizes=(128,), batch_size=256, max_iter=4, tol=None,
              sparsity=0.8, random_state=3)
    a = MLPRegressor(n_threads=1, **kw).fit(X, y)
    b = MLPRegressor(n_threads=2, **kw).fit(X, y)
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(wa, wb)
    assert _n_zero(a) == _n_target(a, 0.8)


def test_early_stopping_keeps_the_final_mask():
    est = _make(MLPClassifier, sparsity=0.6, max_iter=8, early_stopping=True,
                validation_fraction=0.25)
    X, y = _data(est, n=120)
    est.fit(X, y)
    assert _n_zero(est) == _n_target(est, 0.6)
    # the best weights can only be those of the last epoch, at full sparsity
    assert est.n_iter_ == 8
    assert est.best_validation_score_ == est.validation_scores_[-1]


@pytest.mark.parametrize("bad", [-0.1, 1.0, "a"])
def test_bad_sparsity_is_refused(bad):
    X, y = _data(LinearRegressor())
    with pytest.raises(ValueError, match="sparsity"):
        LinearRegressor(sparsity=bad).fit(X, y)
    fitted = _make(LinearRegressor).fit(X, y)
    with pytest.raises(ValueError, match="sparsity"):
        prune(fitted, X, y, sparsity=bad)


def test_batched_grid_search_over_sparsity_matches_sklearn():
    X, y = _data(LinearRegressor())
    est = _make(LinearRegressor)
    grid = {"sparsity": [0.0, 0.5], "alpha": [1e-4, 1e-2]}
    ours = GridSearchCV(est, grid, cv=3).fit(X, y)
    ref = SkGridSearchCV(est, grid, cv=3).fit(X, y)
    assert ours.batched_info_["kernel_calls"] == COMMON["max_iter"] * 3  # batched, per fold
    np.testing.assert_array_equal(ours.cv_results_["mean_test_score"],
                                  ref.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(ours.best_estimator_.coef_, ref.best_estimator_.coef_)


# ---------------------------------------------------------------- prune()


@pytest.mark.parametrize("cls", [LinearClassifier, MLPRegressor], ids=lambda c: c.__name__)
def test_prune_magnitude(cls):
    est = _make(cls)
    X, y = _data(est)
    est.fit(X, y)
    kept = copy.deepcopy(est)
    pruned = prune(est, X, y, sparsity=0.75, fine_tune_epochs=2)
    assert type(pruned) is cls and pruned is not est
    # the input is untouched
    for a, b in zip(_weights(est) + _intercepts(est), _weights(kept) + _intercepts(kept)):
        np.testing.assert_array_equal(a, b)
    assert est.get_params() == kept.get_params() and est.n_iter_ == kept.n_iter_
    assert _n_zero(pruned) == _n_target(pruned, 0.75)
    assert pruned.n_iter_ == est.n_iter_ + 2
    assert pruned.sparsity == 0.75 and pruned.max_iter == est.max_iter
    assert pruned.predict(X).shape == est.predict(X).shape


@pytest.mark.parametrize("cls", [MLPRegressor, MLPClassifier], ids=lambda c: c.__name__)
def test_prune_magnitude_refits_the_kept_weights(cls):
    # the refit brings the pruned network's outputs closer to the dense
    # network's than zeroing the same weights alone does
    est = _make(cls, hidden_layer_sizes=(12,), max_iter=30)
    X, y = _data(est, n=200)
    est.fit(X, y)
    pruned = prune(est, X, y, sparsity=0.8, fine_tune_epochs=0)
    zeroed = copy.deepcopy(est)
    for W, P in zip(zeroed.coefs_, pruned.coefs_):
        W[P == 0] = 0.0

    def outputs(model):
        A = X
        for i, (W, b) in enumerate(zip(model.coefs_, model.intercepts_)):
            A = A @ W + b
            if i < len(model.coefs_) - 1:
                A = np.maximum(A, 0.0)
        return A

    target = outputs(est)
    err_refit = np.mean((outputs(pruned) - target) ** 2)
    err_zeroed = np.mean((outputs(zeroed) - target) ** 2)
    assert err_refit < 0.9 * err_zeroed
    assert _n_zero(pruned) == _n_target(pruned, 0.8)


@pytest.mark.parametrize("cls", [LinearRegressor, MLPClassifier], ids=lambda c: c.__name__)
def test_prune_ramps_the_sparsity_over_the_fine_tuning(cls):
    zeros = []
    est = _make(cls, callbacks=[lambda model, info: zeros.append(_n_zero(model))])
    X, y = _data(est, d=12)
    est.fit(X, y)
    zeros.clear()
    pruned = prune(est, X, y, sparsity=0.8, fine_tune_epochs=3)
    n = sum(W.size for W in _weights(pruned))
    # before epoch e of 3: 0.8 * (1 - (1 - e / 3) ** 3) of the weights
    expected = [int(np.floor(0.8 * (1 - (1 - e / 3) ** 3) * n + 0.5)) for e in (1, 2, 3)]
    assert zeros == expected and expected[0] < expected[1] < expected[2]
    assert _n_zero(pruned) == _n_target(pruned, 0.8)


@pytest.mark.parametrize("method", ["magnitude", "units"])
def test_prune_fine_tunes_in_small_batches(method):
    # "auto": at most 16 rows a step (more steps in the same epochs), None:
    # the estimator's own batch; the returned model keeps the input's
    est = _make(MLPRegressor, hidden_layer_sizes=(8,), max_iter=3, batch_size=40)
    X, y = _data(est, n=80)
    est.fit(X, y)
    steps = {}
    for size, per_epoch in (("auto", 5), (None, 2), (20, 4)):
        out = prune(est, X, y, sparsity=0.5, method=method, fine_tune_epochs=2,
                    fine_tune_batch_size=size)
        steps[size] = out.t_ - est.t_
        assert steps[size] == 2 * per_epoch
        assert out.batch_size == 40
    assert est.batch_size == 40 and not est.warm_start


@pytest.mark.parametrize("method", ["magnitude", "units"])
def test_prune_fine_tunes_toward_the_unpruned_model(method):
    # a regressor's targets are distill_alpha * its own predictions +
    # (1 - distill_alpha) * y: alpha=1 is fine-tuning on the predictions
    est = _make(MLPRegressor, hidden_layer_sizes=(8,), max_iter=3)
    X, y = _data(est)
    est.fit(X, y)
    kw = {"sparsity": 0.5, "method": method, "fine_tune_epochs": 2}
    taught = prune(est, X, y, distill_alpha=1.0, **kw)
    copied = prune(est, X, est.predict(X), distill_alpha=0.0, **kw)
    mixed = prune(est, X, y, **kw)
    for A, B in zip(taught.coefs_ + taught.intercepts_, copied.coefs_ + copied.intercepts_):
        np.testing.assert_array_equal(A, B)
    assert not np.array_equal(mixed.coefs_[0], taught.coefs_[0])
    # a classifier learns the softened probabilities; with hinge loss there
    # are none, and it fine-tunes on y alone
    clf = _make(MLPClassifier).fit(*_data(MLPClassifier()))
    Xc, yc = _data(clf)
    soft = prune(clf, Xc, yc, **kw)
    hard = prune(clf, Xc, yc, distill_alpha=0.0, **kw)
    assert not np.array_equal(soft.coefs_[0], hard.coefs_[0])
    hinge = _make(LinearClassifier, loss="hinge").fit(Xc, yc)
    a = prune(hinge, Xc, yc, sparsity=0.5, fine_tune_epochs=2)
    b = prune(hinge, Xc, yc, sparsity=0.5, fine_tune_epochs=2, distill_alpha=0.0)
    np.testing.assert_array_equal(a.coef_, b.coef_)


@pytest.mark.parametrize("optimizer, factor", [("adam", 2.0), ("rmsprop", 2.0),
                                               ("sgd", 1.0), ("momentum", 1.0)])
def test_prune_fine_tuning_rate(optimizer, factor):
    # "auto" doubles an adaptive optimizer's rate and keeps SGD's; the
    # returned model's learning_rate is the input's
    est = _make(MLPRegressor, hidden_layer_sizes=(8,), optimizer=optimizer,
                learning_rate=0.01)
    X, y = _data(est)
    est.fit(X, y)
    auto = prune(est, X, y, sparsity=0.5, fine_tune_epochs=2)
    given = prune(est, X, y, sparsity=0.5, fine_tune_epochs=2,
                  fine_tune_learning_rate=0.01 * factor)
    for A, B in zip(auto.coefs_ + auto.intercepts_, given.coefs_ + given.intercepts_):
        np.testing.assert_array_equal(A, B)
    own = prune(est, X, y, sparsity=0.5, fine_tune_epochs=2, fine_tune_learning_rate=None)
    assert np.array_equal(own.coefs_[0], auto.coefs_[0]) == (factor == 1.0)
    assert auto.learning_rate == own.learning_rate == est.learning_rate == 0.01


def test_prune_refit_weighs_the_rows():
    # rows of weight 0 count for nothing in the refit: the same as without them
    est = _make(MLPRegressor, hidden_layer_sizes=(8,), max_iter=10)
    X, y = _data(est, n=100)
    est.fit(X, y)
    weight = np.r_[np.ones(60), np.zeros(40)]
    weighted = prune(est, X, y, sparsity=0.7, fine_tune_epochs=0, sample_weight=weight)
    subset = prune(est, X[:60], y[:60], sparsity=0.7, fine_tune_epochs=0)
    everything = prune(est, X, y, sparsity=0.7, fine_tune_epochs=0)
    for A, B in zip(weighted.coefs_ + weighted.intercepts_,
                    subset.coefs_ + subset.intercepts_):
        np.testing.assert_allclose(A, B, rtol=1e-7, atol=1e-10)
    assert not np.allclose(weighted.coefs_[0], everything.coefs_[0])


def test_prune_magnitude_strands_no_unit():
    # no weight is spent on a hidden unit that receives nothing (its
    # constant output goes into the next biases) or sends nothing
    est = _make(MLPRegressor, hidden_layer_sizes=(16, 8), max_iter=20)
    X, y = _data(est, n=120)
    est.fit(X, y)
    pruned = prune(est, X, y, sparsity=0.9, fine_tune_epochs=0)
    for W_in, W_out in zip(pruned.coefs_[:-1], pruned.coefs_[1:]):
        has_in = (W_in != 0).any(axis=0)
        has_out = (W_out != 0).any(axis=1)
        np.testing.assert_array_equal(has_in, has_out)
    assert has_in.any()
    assert _n_zero(pruned) == _n_target(pruned, 0.9)
    # what the state holds is what the model predicts with
    again = prune(pruned, X, y, sparsity=0.9, fine_tune_epochs=1)
    for W, P in zip(pruned.coefs_, again.coefs_):
        assert np.all(P[W == 0] == 0)


def test_prune_units_shrinks_the_network():
    est = _make(MLPClassifier, hidden_layer_sizes=(12, 6), max_iter=20, learning_rate=0.03)
    X, y = _data(est)
    est.fit(X, y)
    small = prune(est, X, y, sparsity=0.5, method="units", fine_tune_epochs=2)
    assert small.hidden_layer_sizes == (6, 3)
    assert [W.shape for W in small.coefs_] == [(6, 6), (6, 3), (3, 3)]
    assert [b.shape for b in small.intercepts_] == [(6,), (3,), (3,)]
    assert est.hidden_layer_sizes == (12, 6) and est.coefs_[0].shape == (6, 12)
    assert small.predict_proba(X).shape == (80, 3)
    assert est.score(X, y) == 1.0 and small.score(X, y) > 0.95
    # no fine-tuning: the kept units' weights, unchanged, and the network
    # computes as the original one whose removed units output their mean
    cut = prune(est, X, y, sparsity=0.5, method="units", fine_tune_epochs=0)
    first = [j for j in range(12) if any(np.array_equal(est.coefs_[0][:, j], c)
                                         for c in cut.coefs_[0].T)]
    second = [j for j in range(6) if any(np.array_equal(est.coefs_[1][first, j], c)
                                         for c in cut.coefs_[1].T)]
    assert len(first) == 6 and len(second) == 3
    np.testing.assert_array_equal(cut.intercepts_[0], est.intercepts_[0][first])
    keeps = [first, second]
    means, A = [], X
    for W, b in zip(est.coefs_[:-1], est.intercepts_[:-1]):
        A = np.maximum(A @ W + b, 0)
        means.append(A.mean(axis=0))
    A = X
    for k, (W, b) in enumerate(zip(est.coefs_[:-1], est.intercepts_[:-1])):
        A = np.maximum(A @ W + b, 0)
        gone = np.setdiff1d(np.arange(A.shape[1]), keeps[k])
        A[:, gone] = means[k][gone]
    np.testing.assert_allclose(cut.decision_function(X),
                               A @ est.coefs_[-1] + est.intercepts_[-1], rtol=1e-10)
    # and it trains on, keeping its shape
    small.partial_fit(X, y)
    assert small.coefs_[1].shape == (6, 3)


def test_prune_errors_and_pipelines():
    X, y = _data(LinearRegressor())
    with pytest.raises(NotFittedError):
        prune(MLPRegressor(), X, y)
    linear = _make(LinearRegressor).fit(X, y)
    with pytest.raises(ValueError, match="units"):
        prune(linear, X, y, method="units")
    with pytest.raises(ValueError, match="method"):
        prune(linear, X, y, method="random")
    with pytest.raises(ValueError, match="fine_tune_epochs"):
        prune(linear, X, y, fine_tune_epochs=-1)
    for bad in (0, 2.5, "full", True):
        with pytest.raises(ValueError, match="fine_tune_batch_size"):
            prune(linear, X, y, fine_tune_batch_size=bad)
    for bad in (0, -0.1, "fast", True, float("nan")):
        with pytest.raises(ValueError, match="fine_tune_learning_rate"):
            prune(linear, X, y, fine_tune_learning_rate=bad)
    for bad in (-0.1, 1.5, None, "half"):
        with pytest.raises(ValueError, match="distill_alpha"):
            prune(linear, X, y, distill_alpha=bad)
    for bad in (0, -1.0, None):
        with pytest.raises(ValueError, match="distill_temperature"):
            prune(linear, X, y, distill_temperature=bad)
    with pytest.raises(ValueError, match="sample_weight"):
        prune(_make(MLPRegressor).fit(X, y), X, y, sample_weight=np.ones(7))
    pipe = make_pipeline(StandardScaler(), _make(MLPRegressor)).fit(X, y)
    before = pipe[-1].coefs_[0].copy()
    out = prune(pipe, X, y, sparsity=0.5, method="units", fine_tune_epochs=1)
    assert out is not pipe and out[-1].hidden_layer_sizes == (5,)
    np.testing.assert_array_equal(pipe[-1].coefs_[0], before)
    assert out[0] is not pipe[0]
    np.testing.assert_array_equal(out[0].mean_, pipe[0].mean_)
    assert out.predict(X).shape == (80,)
