"""Batched searches (:mod:`sktune.model_selection._batched`): the same results
as scikit-learn's searches with the same seeds, trained in batches.

Every test runs scikit-learn's search and ours on the same problem and
compares ``cv_results_`` key by key (times excepted), ``best_params_`` and
the refitted ``best_estimator_``.
"""
import os
import subprocess
import sys
import textwrap
import warnings
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import stats
from sklearn import model_selection as skms
from sklearn.base import clone
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import Ridge
from sklearn.metrics import make_scorer, mean_absolute_error
from sklearn.model_selection import GroupKFold, KFold, ParameterGrid, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sktune import (
    DivergenceError,
    LinearClassifier,
    LinearRegressor,
    MLPClassifier,
    MLPRegressor,
)
from sktune._kernels import population
from sktune.model_selection._batched import GridSearchCV, RandomizedSearchCV

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CLASSIFIERS = (LinearClassifier, MLPClassifier)


def make_data(classifier, n=90, n_features=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, n_features) * [1.0, 3.0, 0.5, 2.0][:n_features]
    signal = X @ np.array([1.0, -0.5, 2.0, 0.3][:n_features])
    if classifier:
        return X, np.digitize(signal, [-1.0, 1.0])  # 3 classes
    return X, signal + 0.1 * rng.randn(n)


def make_estimator(cls, **params):
    base = {"max_iter": 4, "tol": None, "random_state": 0, "batch_size": 16}
    if cls in (MLPRegressor, MLPClassifier):
        base["hidden_layer_sizes"] = (5,)
    base.update(params)
    return cls(**base)


def assert_same_results(ours, ref):
    """The two fitted searches agree on everything but timings."""
    a, b = ours.cv_results_, ref.cv_results_
    assert sorted(a) == sorted(b)
    for key in b:
        if key.endswith("_time"):
            continue
        va, vb = a[key], b[key]
        if key == "params":
            assert va == vb
        elif isinstance(vb, np.ma.MaskedArray):
            assert np.array_equal(va.mask, vb.mask), key
            assert list(va.compressed()) == list(vb.compressed()), key
        elif np.asarray(vb).dtype.kind == "f":
            np.testing.assert_allclose(va, vb, rtol=1e-9, atol=0, err_msg=key)
        else:
            np.testing.assert_array_equal(va, vb, err_msg=key)
    for attr in ("best_index_", "best_params_", "best_score_", "n_splits_", "multimetric_"):
        if hasattr(ref, attr):
            va, vb = getattr(ours, attr), getattr(ref, attr)
            if isinstance(vb, float):
                np.testing.assert_allclose(va, vb, rtol=1e-9, err_msg=attr)
            else:
                assert va == vb, attr
        else:
            assert not hasattr(ours, attr), attr


def assert_same_refit(ours, ref, X):
    assert type(ours.best_estimator_) is type(ref.best_estimator_)
    best = ours.best_estimator_
    final = best[-1] if isinstance(best, Pipeline) else best
    assert type(final).__module__.startswith(("sktune.", "sklearn."))
    assert "_sktune_candidate" not in vars(final)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))


def run_both(search_cls, estimator, space, X, y, fit_params=None, **kw):
    fit_params = fit_params or {}
    ours = search_cls(estimator, space, **kw).fit(X, y, **fit_params)
    sk_cls = getattr(skms, search_cls.__name__)
    ref = sk_cls(estimator, space, **kw).fit(X, y, **fit_params)
    return ours, ref


# ---------------------------------------------------------------------------
# same results as scikit-learn


GRIDS = {
    LinearRegressor: {"learning_rate": [0.01, 0.1], "optimizer": ["adam", "sgd"],
                      "penalty": ["l2", "elasticnet"]},
    LinearClassifier: {"learning_rate": [0.01, 0.1], "optimizer": ["adam", "momentum"],
                       "average": [False, True]},
    MLPRegressor: {"learning_rate": [0.01, 0.05], "dropout": [0.0, 0.3],
                   "activation": ["relu", "tanh"]},
    MLPClassifier: {"learning_rate": [0.01, 0.05], "batch_size": [8, 200],
                    "optimizer": ["adam", "rmsprop"]},
}


def test_mlp_batches_split_into_chunks_match_sklearn():
    # 600 training rows a fold: batches of 128, 200 and 600 rows, which the
    # MLP cohort kernel trains in 2, 3 and 8 chunks (the most it holds) of
    # at least 64 rows for 64 hidden units
    from sktune._kernels.population import (
        COHORT_CHUNK_ROWS,
        COHORT_MAX_CHUNKS,
        COHORT_PASS_BYTES,
    )

    assert max(COHORT_CHUNK_ROWS, COHORT_PASS_BYTES // (4 * 64 * 8)) == 64
    assert COHORT_MAX_CHUNKS == 8 < 600 // 64
    X, y = make_data(False, n=900)
    est = make_estimator(MLPRegressor, hidden_layer_sizes=(64,), max_iter=3)
    ours, ref = run_both(GridSearchCV, est, {"batch_size": [128, 200, 600],
                                             "learning_rate": [0.01, 0.05]}, X, y, cv=3)
    assert_same_results(ours, ref)
    assert ours.batched_info_["fits_restored"] == 18


@pytest.mark.parametrize("cls", list(GRIDS), ids=lambda c: c.__name__)
def test_grid_search_matches_sklearn(cls):
    X, y = make_data(cls in CLASSIFIERS)
    est = make_estimator(cls)
    ours, ref = run_both(GridSearchCV, est, GRIDS[cls], X, y, cv=3,
                         return_train_score=True)
    assert_same_results(ours, ref)
    assert_same_refit(ours, ref, X)
    n_fits = len(ref.cv_results_["params"]) * 3
    assert ours.batched_info_["fits_restored"] == n_fits
    assert ours.batched_info_["fits_unbatched"] == 0
    # the search's own estimator is left untouched
    assert type(ours.estimator) is cls and ours.estimator.get_params() == est.get_params()


@pytest.mark.parametrize("cls", [MLPRegressor, MLPClassifier], ids=lambda c: c.__name__)
def test_mlp_cohorts_wider_than_a_vector_run_each_models_own_pass(cls):
    # a first layer at least a vector wide trains in each model's own pass
    # (the (5,) models of the other tests share one fused product); dropout,
    # activations, optimizers and batch sizes through that path too
    from sktune._kernels.population import cohort_fuses

    assert cohort_fuses(3, np.float64) and cohort_fuses(3, np.float32)
    assert not cohort_fuses(16, np.float64) and not cohort_fuses(16, np.float32)
    X, y = make_data(cls in CLASSIFIERS)
    est = make_estimator(cls, hidden_layer_sizes=(16,))
    space = dict(GRIDS[cls], dropout=[0.0, 0.3])
    ours, ref = run_both(GridSearchCV, est, space, X, y, cv=3)
    assert_same_results(ours, ref)
    assert ours.batched_info_["fits_restored"] == len(ref.cv_results_["params"]) * 3


def test_randomized_search_matches_sklearn():
    X, y = make_data(False)
    space = {"learning_rate": stats.loguniform(1e-3, 1e-1),
             "alpha": stats.loguniform(1e-5, 1e-1),
             "optimizer": ["adam", "sgd", "nesterov"], "penalty": ["l2", "l1"]}
    ours, ref = run_both(RandomizedSearchCV, make_estimator(LinearRegressor), space, X, y,
                         n_iter=7, cv=KFold(3, shuffle=True, random_state=1),
                         random_state=0)
    assert_same_results(ours, ref)
    assert_same_refit(ours, ref, X)
    assert ours.batched_info_["fits_restored"] == 21


def test_random_states_drawn_once_like_sklearn():
    """A RandomState instance (search and splitter) is drawn exactly as sklearn draws it."""
    X, y = make_data(False)
    space = {"learning_rate": stats.loguniform(1e-3, 1e-1)}
    est = make_estimator(LinearRegressor)
    ours = RandomizedSearchCV(est, space, n_iter=3, random_state=np.random.RandomState(3),
                              cv=KFold(3, shuffle=True, random_state=np.random.RandomState(4))
                              ).fit(X, y)
    ref = skms.RandomizedSearchCV(est, space, n_iter=3,
                                  random_state=np.random.RandomState(3),
                                  cv=KFold(3, shuffle=True,
                                           random_state=np.random.RandomState(4))).fit(X, y)
    assert_same_results(ours, ref)
    assert ours.batched_info_["fits_restored"] == 9


@pytest.mark.parametrize("scoring, refit", [
    ("neg_mean_absolute_error", True),
    (make_scorer(mean_absolute_error, greater_is_better=False), True),
    (lambda est, X, y: -np.mean(np.abs(est.predict(X) - y)), True),
    ({"r2": "r2", "mae": "neg_mean_absolute_error"}, "r2"),
    (["r2", "neg_mean_squared_error"], "neg_mean_squared_error"),
    (lambda est, X, y: {"a": est.score(X, y), "b": -est.n_iter_}, "a"),
    ({"r2": "r2", "mae": "neg_mean_absolute_error"}, False),
], ids=["string", "make_scorer", "callable", "dict", "list", "callable-dict", "no-refit"])
def test_scoring_and_refit_like_sklearn(scoring, refit):
    X, y = make_data(False)
    grid = {"learning_rate": [0.01, 0.1], "alpha": [1e-4, 1e-1], "penalty": ["l2"]}
    ours, ref = run_both(GridSearchCV, make_estimator(MLPRegressor), grid, X, y, cv=3,
                         scoring=scoring, refit=refit, return_train_score=True)
    assert_same_results(ours, ref)
    if refit:
        assert_same_refit(ours, ref, X)
    else:
        assert not hasattr(ours, "best_estimator_")


def test_callable_refit_and_classifier_scoring():
    X, y = make_data(True)
    grid = {"learning_rate": [0.01, 0.1], "loss": ["log_loss", "hinge"]}

    def pick_last(results):
        return len(results["params"]) - 1

    ours, ref = run_both(GridSearchCV, make_estimator(LinearClassifier), grid, X, y,
                         cv=StratifiedKFold(3), scoring=["accuracy", "f1_macro"],
                         refit=pick_last)
    assert_same_results(ours, ref)
    assert_same_refit(ours, ref, X)


def test_early_stopping_per_model():
    """Each candidate stops on its own; n_iter_ differs across candidates."""
    X, y = make_data(False, n=150)
    est = make_estimator(MLPRegressor, max_iter=40, tol=1e-2, n_iter_no_change=2,
                         early_stopping=True, validation_fraction=0.2)
    grid = {"learning_rate": [0.003, 0.03, 0.1], "optimizer": ["adam", "sgd"]}
    scoring = {"r2": "r2", "n_iter": lambda est, X, y: est.n_iter_}
    ours, ref = run_both(GridSearchCV, est, grid, X, y, cv=3, scoring=scoring, refit="r2")
    assert_same_results(ours, ref)
    assert_same_refit(ours, ref, X)
    n_iter = ref.cv_results_["split0_test_n_iter"]
    assert len(set(n_iter)) > 2 and n_iter.min() < 40  # stopped early, at different epochs
    assert ours.best_estimator_.validation_scores_ == ref.best_estimator_.validation_scores_


def test_pipeline_with_scaler_fits_it_once_per_fold():
    X, y = make_data(False)
    X = pd.DataFrame(X * [1, 10, 100, 0.1], columns=["a", "b", "c", "d"])
    fits = []

    class CountingScaler(StandardScaler):
        def fit(self, X, y=None, sample_weight=None):
            fits.append(len(X))
            return super().fit(X, y, sample_weight)

    pipe = Pipeline([("scale", CountingScaler()),
                     ("model", make_estimator(LinearRegressor))])
    grid = {"model__learning_rate": [0.01, 0.1], "model__alpha": [1e-4, 1e-1],
            "model__penalty": ["l2"]}
    ours = GridSearchCV(pipe, grid, cv=3, return_train_score=True).fit(X, y)
    n_ours = len(fits)
    ref = skms.GridSearchCV(pipe, grid, cv=3, return_train_score=True).fit(X, y)
    assert_same_results(ours, ref)
    assert_same_refit(ours, ref, X)
    assert n_ours == 3 + 1  # once per fold, once for the refit
    assert len(fits) - n_ours == 4 * 3 + 1  # scikit-learn: once per candidate and fold
    assert list(ours.best_estimator_.feature_names_in_) == ["a", "b", "c", "d"]


def test_pipeline_pandas_output_keeps_feature_names():
    X, y = make_data(True)
    X = pd.DataFrame(X, columns=list("abcd"))
    pipe = make_pipeline(StandardScaler().set_output(transform="pandas"),
                         make_estimator(MLPClassifier))
    grid = {"mlpclassifier__learning_rate": [0.01, 0.1]}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "X has feature names, but ..."
        ours, ref = run_both(GridSearchCV, pipe, grid, X, y, cv=3)
    assert_same_results(ours, ref)
    assert list(ours.best_estimator_[-1].feature_names_in_) == list("abcd")


def test_sample_weight_and_groups():
    X, y = make_data(False, n=60)
    rng = np.random.RandomState(1)
    fit_params = {"sample_weight": rng.uniform(0.1, 2.0, 60),
                  "groups": np.repeat(np.arange(6), 10)}
    grid = {"learning_rate": [0.01, 0.1], "optimizer": ["adam", "adagrad"]}
    ours, ref = run_both(GridSearchCV, make_estimator(LinearRegressor), grid, X, y,
                         fit_params=fit_params, cv=GroupKFold(3))
    assert_same_results(ours, ref)
    assert_same_refit(ours, ref, X)
    assert ours.batched_info_["fits_restored"] == 12


def test_several_shapes_and_float32():
    X, y = make_data(True)
    X = X.astype(np.float32)
    grid = {"hidden_layer_sizes": [(3,), (4, 3)], "learning_rate": [0.01, 0.1]}
    ours, ref = run_both(GridSearchCV, make_estimator(MLPClassifier), grid, X, y, cv=3)
    assert_same_results(ours, ref)
    assert_same_refit(ours, ref, X)
    assert ours.best_estimator_.coefs_[0].dtype == np.float32


def test_diverging_candidate_gets_error_score():
    X, y = make_data(False)
    X = X * 1e3
    grid = {"learning_rate": [1e-9, 1e9], "optimizer": ["sgd"]}
    est = make_estimator(LinearRegressor)
    with pytest.warns(FitFailedWarning, match="DivergenceError"):
        ours = GridSearchCV(est, grid, cv=3, error_score=-123.0).fit(X, y)
    with pytest.warns(FitFailedWarning, match="DivergenceError"):
        ref = skms.GridSearchCV(est, grid, cv=3, error_score=-123.0).fit(X, y)
    assert_same_results(ours, ref)
    assert list(ours.cv_results_["mean_test_score"])[1] == -123.0
    with pytest.raises(DivergenceError):
        GridSearchCV(est, grid, cv=3, error_score="raise").fit(X, y)


@pytest.mark.parametrize("grid, template", [
    ({"learning_rate": [0.01, -1.0]}, {}),
    ({"learning_rate": [0.01, "invscaling"], "alpha": [1e-4, -1.0]}, {}),
])
def test_invalid_candidate_value_is_a_failed_fit_like_sklearn(grid, template):
    """Only the candidates' parameters are checked per candidate once the
    search's estimator is known valid: the same failures and messages."""
    X, y = make_data(False)
    est = make_estimator(LinearRegressor, **template)
    with pytest.warns(FitFailedWarning) as ours_warned:
        ours = GridSearchCV(est, grid, cv=3, error_score=np.nan).fit(X, y)
    with pytest.warns(FitFailedWarning) as ref_warned:
        ref = skms.GridSearchCV(est, grid, cv=3, error_score=np.nan).fit(X, y)
    assert_same_results(ours, ref)
    assert _error_lines(ours_warned) == _error_lines(ref_warned) != []


def _error_lines(warned):
    """The errors' lines of FitFailedWarnings, not their tracebacks'."""
    return [line for w in warned.list for line in str(w.message).splitlines()
            if "Error:" in line]


def test_invalid_search_estimator_fails_every_fit_like_sklearn():
    X, y = make_data(False)
    est = make_estimator(LinearRegressor, momentum=-3.0)
    grid = {"learning_rate": [0.01, 0.1]}
    messages = []
    for search in (GridSearchCV, skms.GridSearchCV):
        with pytest.raises(ValueError, match="fits failed") as info:
            search(est, grid, cv=3).fit(X, y)
        messages.append([line for line in str(info.value).splitlines() if "Error:" in line])
    assert messages[0] == messages[1] != []


# ---------------------------------------------------------------------------
# batching really happens


def test_one_kernel_call_per_epoch_shape_and_fold(monkeypatch):
    calls = {"linear": 0, "mlp": 0}
    for name in ("linear", "mlp"):
        kernel = getattr(population, name + "_population")

        def counted(*args, _kernel=kernel, _name=name):
            calls[_name] += 1
            return _kernel(*args)

        monkeypatch.setattr(population, name + "_population", counted)

    X, y = make_data(False)
    grid = {"learning_rate": [0.01, 0.03, 0.1], "optimizer": ["adam", "sgd"],
            "batch_size": [8, 32]}
    search = GridSearchCV(make_estimator(LinearRegressor, max_iter=5), grid, cv=4).fit(X, y)
    # 12 candidates x 4 folds = 48 models, 5 epochs: one call per epoch and fold
    assert calls["linear"] == 5 * 4 == search.batched_info_["kernel_calls"]
    assert search.batched_info_["fits_restored"] == 48

    grid = {"hidden_layer_sizes": [(3,), (4,)], "learning_rate": [0.01, 0.1]}
    GridSearchCV(make_estimator(MLPRegressor, max_iter=3), grid, cv=3).fit(X, y)
    assert calls["mlp"] == 3 * 2 * 3  # epochs x compiled shapes x folds


def test_pretrained_fits_are_evaluated_without_scikit_learns_fit_and_score(monkeypatch):
    """The fits trained ahead are scored by the registry's lean evaluation
    (same results); a failed fit and any other estimator's fit go through
    scikit-learn's ``_fit_and_score``."""
    from sklearn.model_selection import _search

    from sktune.model_selection import _batched

    assert _search._fit_and_score is _batched._fit_and_score
    calls = []
    original = _batched._SK_FIT_AND_SCORE

    def counted(estimator, X, y, **kw):
        calls.append(type(estimator).__name__)
        return original(estimator, X, y, **kw)

    monkeypatch.setattr(_batched, "_SK_FIT_AND_SCORE", counted)
    X, y = make_data(True)
    est = make_estimator(MLPClassifier)
    grid = {"learning_rate": [0.01, 0.05], "alpha": [1e-4, 1e-2]}
    kw = {"cv": 3, "scoring": ["accuracy", "neg_log_loss"], "refit": "accuracy",
          "return_train_score": True}
    ours = GridSearchCV(est, grid, **kw).fit(X, y)
    assert calls == [] and ours.batched_info_["fits_restored"] == 12
    ref = skms.GridSearchCV(est, grid, **kw).fit(X, y)
    assert len(calls) == 12  # scikit-learn's search with its own estimator
    assert_same_results(ours, ref)
    assert_same_refit(ours, ref, X)

    calls.clear()
    X, y = make_data(False)
    grid = {"learning_rate": [1e-9, 1e9], "optimizer": ["sgd"]}
    with pytest.warns(FitFailedWarning):
        GridSearchCV(make_estimator(LinearRegressor), grid, cv=3).fit(X * 1e3, y)
    assert calls == ["LinearRegressor"] * 3  # the diverged candidate's folds


@pytest.mark.parametrize("early_stopping", [False, True])
def test_data_held_once_per_fold(monkeypatch, early_stopping):
    """The kernels see one copy of each fold's training rows, not one per
    candidate (each fold's populations hold their fold's)."""
    seen = []
    kernel = population.linear_population

    def spy(*args):
        seen.append(tuple(a.size for a in args[0]))  # the distinct training sets
        return kernel(*args)

    monkeypatch.setattr(population, "linear_population", spy)
    X, y = make_data(False, n=90)
    est = make_estimator(LinearRegressor, early_stopping=early_stopping,
                         validation_fraction=0.2)
    grid = {"learning_rate": [0.01, 0.03, 0.1], "optimizer": ["adam", "sgd"]}
    GridSearchCV(est, grid, cv=3).fit(X, y)
    if early_stopping:
        n_train = 60 - 12  # 2/3 of 90, minus the held-out 20%
        assert set(seen) == {(n_train * X.shape[1],)}
    else:  # the folds' rows are read from the whole X, held once for all
        assert set(seen) == {(X.size,)}


def test_folds_reading_the_whole_X_stay_apart_when_their_targets_agree():
    """Folds gathering their rows from the whole X are told apart by their
    rows even where their targets and weights, scattered to the whole's
    rows, are equal arrays: folds 0 and 1 below differ only in rows of zero
    weight and target, yet their weighted rows fall at other places of
    their sample orders, so each must train on its own."""
    X, _ = make_data(False, n=92)
    cv = KFold(4, shuffle=True, random_state=0)
    tests = [test for _, test in cv.split(X)]
    weighted = np.concatenate(tests[2:])
    y, sw = np.zeros(X.shape[0]), np.zeros(X.shape[0])
    y[weighted] = np.random.default_rng(0).standard_normal(weighted.size)
    sw[weighted] = 1.0
    est = make_estimator(LinearRegressor, batch_size=8)
    grid = {"learning_rate": [0.01, 0.03], "optimizer": ["adam", "sgd"]}

    def unweighted_mse(estimator, X, y, **ignored):  # (zero weights on folds 0, 1)
        return -np.mean((estimator.predict(X) - y) ** 2)

    kw = {"cv": cv, "scoring": unweighted_mse}
    # (one thread: no cohort is split into units to balance threads)
    ours = GridSearchCV(est, grid, n_jobs=1, **kw).fit(X, y, sample_weight=sw)
    assert ours.batched_info_["fits_restored"] == 16
    ref = skms.GridSearchCV(est, grid, **kw).fit(X, y, sample_weight=sw)
    assert_same_results(ours, ref)


def test_fit_times_are_shares_of_the_batched_training():
    X, y = make_data(False)
    search = GridSearchCV(make_estimator(LinearRegressor),
                          {"learning_rate": [0.01, 0.1]}, cv=3).fit(X, y)
    times = search.cv_results_["mean_fit_time"]
    assert times.shape == (2,) and np.all(times > 0)


# ---------------------------------------------------------------------------
# fallbacks: scikit-learn's own path


def test_fallback_for_a_scikit_learn_estimator():
    X, y = make_data(False)
    ours, ref = run_both(GridSearchCV, Ridge(), {"alpha": [0.1, 1.0]}, X, y, cv=3)
    assert ours.batched_info_ is None and "sktune" in ours._batched_reason
    assert_same_results(ours, ref)
    assert_same_refit(ours, ref, X)


def test_fallback_when_a_preceding_step_is_searched():
    X, y = make_data(False)
    pipe = make_pipeline(StandardScaler(), make_estimator(LinearRegressor))
    grid = {"standardscaler__with_mean": [True, False],
            "linearregressor__learning_rate": [0.01, 0.1]}
    ours, ref = run_both(GridSearchCV, pipe, grid, X, y, cv=3)
    assert ours.batched_info_ is None and "standardscaler__with_mean" in ours._batched_reason
    assert_same_results(ours, ref)
    assert_same_refit(ours, ref, X)


def test_fallback_for_sparse_X():
    X, y = make_data(False)
    search = GridSearchCV(make_estimator(LinearRegressor), {"learning_rate": [0.01, 0.1]})
    assert search._batched_plan(sp.csr_matrix(X), y, {}) == "X is sparse"
    assert search._batched_plan(X, y, {}) is None


@pytest.mark.parametrize("estimator, grid", [
    (make_estimator(LinearRegressor, device="cuda"), {"alpha": [1e-4]}),
    (make_estimator(LinearRegressor), {"device": ["cpu", "cuda"]}),
])
def test_fallback_for_other_devices(estimator, grid):
    X, y = make_data(False)
    search = GridSearchCV(estimator, grid)
    assert "device" in search._batched_plan(X, y, {})


def test_estimator_is_restored_after_an_error():
    X, y = make_data(False)
    est = make_estimator(LinearRegressor, optimizer="sgd")
    search = GridSearchCV(est, {"learning_rate": [0.01, 1e9]}, cv=3, n_jobs=2,
                          error_score="raise")
    with pytest.raises(DivergenceError):
        search.fit(X * 1e3, y)
    assert search.estimator is est and search.n_jobs == 2
    # and a later fit works
    search.set_params(param_grid={"learning_rate": [0.01]}).fit(X, y)
    assert search.batched_info_["fits_restored"] == 3


def test_clone_and_params_like_sklearn():
    est = make_estimator(LinearRegressor)
    search = GridSearchCV(est, {"alpha": [1e-4, 1e-3]}, cv=3, n_jobs=2)
    ref = skms.GridSearchCV(est, {"alpha": [1e-4, 1e-3]}, cv=3, n_jobs=2)
    assert search.get_params().keys() == ref.get_params().keys()
    assert type(clone(search)) is GridSearchCV


@pytest.mark.parametrize("unit_bytes", [1, 5000])
def test_mlp_units_capped_by_memory_give_the_same_results(monkeypatch, unit_bytes):
    """Candidates share first-layer products in units of at most _UNIT models,
    fewer when their side-by-side buffers would pass _UNIT_BYTES (one model
    per unit, or two): the search still matches scikit-learn's."""
    from sktune.model_selection import _batched

    monkeypatch.setattr(_batched, "_UNIT_BYTES", unit_bytes)
    X, y = make_data(False)
    est = make_estimator(MLPRegressor, dropout=0.2)
    grid = {"learning_rate": [0.01, 0.03, 0.1], "optimizer": ["adam", "sgd"]}
    ours = GridSearchCV(est, grid, cv=3).fit(X, y)
    assert ours.batched_info_["fits_restored"] == 18
    assert_same_results(ours, skms.GridSearchCV(est, grid, cv=3).fit(X, y))


def test_unbatched_search_lists_scikit_learns_attributes_only():
    """A search that ran scikit-learn's path (here: not a sktune estimator)
    reads batched_info_ as None but does not list it, so it has the same
    public attributes as scikit-learn's search (scikit-learn's own test of
    a custom search compares them)."""
    from sklearn.tree import DecisionTreeRegressor

    from sktune.model_selection import GridSearchCV as BatchedGridSearchCV

    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 3), rng.randn(60)
    search = BatchedGridSearchCV(DecisionTreeRegressor(random_state=0),
                                 {"max_depth": [1, 2]}, cv=3).fit(X, y)
    assert search.batched_info_ is None
    assert "batched_info_" not in dir(search)
    assert "best_params_" in dir(search)


def test_slots_run_in_python_threads_without_numbas_threading_layer():
    """The thread slots of a population run in Python threads (the cohort
    epochs release the GIL), so a search gives the same scores at any thread
    count and leaves Numba's threading layer unstarted: a later first fit
    may still compile in a forked process (GNU OpenMP forbids it once
    started)."""
    script = textwrap.dedent("""
        import threading
        import numpy as np
        from numba.np.ufunc import parallel
        from sktune import LinearRegressor, MLPRegressor
        from sktune._kernels import population
        from sktune.model_selection._batched import GridSearchCV

        seen = set()  # the threads that ran a cohort
        in_slots = population._in_slots

        def spy(slots, units, unit_start, cohort):
            def traced(s, mem):
                seen.add(threading.get_ident())
                return cohort(s, mem)
            return in_slots(slots, units, unit_start, traced)

        population._in_slots = spy
        rng = np.random.RandomState(0)
        X = rng.randn(120, 4)
        y = X @ np.arange(4.0) + 0.1 * rng.randn(120)
        for est, grid in ((LinearRegressor, {"learning_rate": [0.01, 0.1], "batch_size": [4, 8]}),
                          (MLPRegressor, {"learning_rate": [0.01, 0.1], "batch_size": [4, 8]})):
            scores = []
            for threads in (1, 2):
                search = GridSearchCV(est(max_iter=3, tol=None, random_state=0,
                                          n_threads=threads), grid, cv=3).fit(X, y)
                assert search.batched_info_["kernel_calls"] == 3 * 3  # epochs x folds
                scores.append(search.cv_results_["mean_test_score"])
            assert np.array_equal(scores[0], scores[1]), scores
        assert len(seen) == 2, seen
        assert not parallel._is_initialized
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=600, check=False)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_search_in_a_forked_child_after_one_in_the_parent():
    """The slot threads' pool is not inherited by a forked child (it would
    hold none of the threads): a search there runs as in the parent."""
    import multiprocessing

    X, y = make_data(False)
    grid = {"learning_rate": [0.01, 0.1], "batch_size": [4, 8]}
    est = make_estimator(LinearRegressor, max_iter=2, n_threads=2)
    here = _search_scores(est, grid, X, y)  # the pool is made here
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        there = pool.apply_async(_search_scores, (est, grid, X, y)).get(timeout=60)
    assert np.array_equal(here, there)


def _search_scores(est, grid, X, y):
    return GridSearchCV(est, grid, cv=3, refit=False).fit(X, y).cv_results_["mean_test_score"]


def test_threads_take_every_unit_once_costliest_first():
    units = np.arange(10, dtype=np.int64)
    unit_start = np.array([0, 3, 4, 6, 10], dtype=np.int64)  # four units
    for n_slots in (1, 2, 3):
        ran = []
        slots = np.zeros((n_slots, 1), dtype=np.int64)
        population._in_slots(slots, units, unit_start,
                             lambda s, mem: ran.append((s, mem.tolist())))
        assert sorted(m for _, m in ran) == [[0, 1, 2], [3], [4, 5], [6, 7, 8, 9]]
        assert all(0 <= s < n_slots for s, _ in ran)
        if n_slots == 1:  # in the listed order (the caller lists the costliest first)
            assert [m for _, m in ran] == [[0, 1, 2], [3], [4, 5], [6, 7, 8, 9]]


def _fake_population(name, epochs, costs, ran, sent, unit=None):
    """A population step for :func:`population.flow`: ``epochs`` epochs,
    each queuing one unit per cost; ``ran`` logs (name, epoch, unit) as the
    units end, ``sent`` the seconds each step is sent."""
    slots = np.zeros((2, 1), dtype=np.int64)
    units = np.arange(len(costs), dtype=np.int64)
    unit_start = np.arange(len(costs) + 1, dtype=np.int64)
    for e in range(epochs):
        def cohort(s, mem, e=e):
            if unit is not None:
                unit(name, e, int(mem[0]))
            ran.append((name, e, int(mem[0])))
        population.queue_costs(costs)
        population._in_slots(slots, units, unit_start, cohort)
        sent.append((name, (yield sum(costs))))


def test_flow_on_one_thread_steps_first_then_costliest_units():
    """On one thread a population's next step runs as soon as its units are
    done, before any unit queued; the units run costliest first across the
    populations queued, each once, and each step is sent its units' time."""
    ran, sent = [], []
    population.flow([_fake_population("a", 2, [5.0, 1.0], ran, sent),
                     _fake_population("b", 1, [3.0, 9.0], ran, sent)], 1)
    assert ran == [("b", 0, 1), ("a", 0, 0), ("b", 0, 0), ("a", 0, 1),
                   ("a", 1, 0), ("a", 1, 1)]
    # b's epoch ended before a's: it was sent its seconds first
    assert [name for name, _ in sent] == ["b", "a", "a"]
    assert all(seconds >= 0.0 for _, seconds in sent)


def test_flow_steps_may_start_populations():
    """A step may start another population (the search's first step sets
    each fold up and starts its populations): it runs after the steps ready
    then, in the same flow, to its end; outside a flow it runs at once."""
    ran, sent = [], []

    def lead():
        population.start(_fake_population("b", 2, [1.0], ran, sent))
        yield 0.0  # no units: ready again, after b's first step
        ran.append(("lead", 1, 0))
        population.start(_fake_population("c", 1, [2.0], ran, sent))
        yield 0.0

    population.flow([lead()], 1)
    # b's first step queued its unit before the lead's second step ran;
    # then the units, costliest first: c's, then b's (and b's next epoch)
    assert ran == [("lead", 1, 0), ("c", 0, 0), ("b", 0, 0), ("b", 1, 0)]
    assert [name for name, _ in sent] == ["c", "b", "b"]
    ran.clear()
    population.start(_fake_population("d", 2, [1.0], ran, sent))
    assert ran == [("d", 0, 0), ("d", 1, 0)]


def test_flow_lets_a_population_go_on_while_another_still_trains():
    """No barrier between populations: with two threads, population "b"
    trains three epochs while "a"'s one unit still runs (it waits for them;
    with a barrier an epoch this would wait forever)."""
    import threading

    b_done = threading.Event()
    ran, sent = [], []

    def unit(name, epoch, u):
        if name == "a":
            assert b_done.wait(30), "b did not go on while a trained"
        elif epoch == 2:
            b_done.set()

    population.flow([_fake_population("a", 1, [1.0], ran, sent, unit),
                     _fake_population("b", 3, [1.0], ran, sent, unit)], 2)
    assert sorted(ran) == [("a", 0, 0), ("b", 0, 0), ("b", 1, 0), ("b", 2, 0)]
    assert ran[-1] == ("a", 0, 0)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("where", ["unit", "step"])
def test_flow_error_drops_what_is_queued_and_is_raised(where, error):
    ran, sent = [], []

    def unit(name, epoch, u):
        if where == "unit" and (name, epoch, u) == ("a", 0, 0):
            raise error("unit failed")

    def failing_step():
        yield from _fake_population("b", 1, [20.0], ran, sent)
        if where == "step":
            raise error("step failed")

    with pytest.raises(error, match=f"{where} failed"):
        population.flow([_fake_population("a", 3, [9.0, 8.0], ran, sent, unit),
                         failing_step()], 1)
    # b's costlier unit ran first; then a's failed, or b's next step raised:
    # nothing else ran, a's queued units were dropped
    assert ran == [("b", 0, 0)]


def test_search_interrupted_mid_training_leaves_the_next_one_exact(monkeypatch):
    """Ctrl-C in a unit (the main thread's, or a helper's, whichever ran
    it) ends the search's fit with KeyboardInterrupt; the threads are left
    as they were, and the next search gives scikit-learn's results."""
    kernel_of = population.cohort_kernel
    calls = []

    def interrupting(*args, **kw):
        kernel = kernel_of(*args, **kw)

        def run(*a):
            calls.append(1)
            if len(calls) == 5:
                raise KeyboardInterrupt
            return kernel(*a)

        return run

    X, y = make_data(False)
    grid = {"hidden_layer_sizes": [(3,), (4,)], "learning_rate": [0.01, 0.1]}
    est = make_estimator(MLPRegressor, max_iter=4)
    monkeypatch.setattr(population, "cohort_kernel", interrupting)
    with pytest.raises(KeyboardInterrupt):
        GridSearchCV(est, grid, cv=3).fit(X, y)
    # nothing started after it (but the other thread's unit, if it had just begun)
    assert 5 <= len(calls) <= 6
    assert getattr(population._QUEUE, "tasks", None) is None
    monkeypatch.setattr(population, "cohort_kernel", kernel_of)
    ours, ref = run_both(GridSearchCV, est, grid, X, y, cv=3)
    assert_same_results(ours, ref)


def test_search_of_several_shapes_trains_them_side_by_side(monkeypatch):
    """Every population (shape and fold) of a search trains in one flow,
    the populations of one dtype share the arenas of the folds' data, and
    those of one shape the thread slots' scratch."""
    flows, started, arenas = [], [], set()
    flow, start = population.flow, population.start

    def counted(steps, n_slots):
        flows.append(len(steps))
        return flow(steps, n_slots)

    def counted_start(step):
        started.append(step)
        return start(step)

    kernel = population.mlp_population
    scratch = defaultdict(set)  # layer sizes -> the scratch's addresses

    def spy(*args):
        arenas.add(tuple(a.ctypes.data for a in args[0]))  # the folds' X (read-only views)
        sizes = args[20]
        scratch[tuple(sizes)].add(tuple(a.ctypes.data for a in args[21:]))
        return kernel(*args)

    monkeypatch.setattr(population, "flow", counted)
    monkeypatch.setattr(population, "start", counted_start)
    monkeypatch.setattr(population, "mlp_population", spy)
    X, y = make_data(False)
    grid = {"hidden_layer_sizes": [(3,), (4,), (5,)], "learning_rate": [0.01, 0.1]}
    est = make_estimator(MLPRegressor, max_iter=3)
    ours, ref = run_both(GridSearchCV, est, grid, X, y, cv=3)
    assert_same_results(ours, ref)
    assert ours.batched_info_["kernel_calls"] == 3 * 3 * 3  # epochs x shapes x folds
    # one flow, whose first step sets the folds up and starts the three
    # shapes' populations of each
    assert flows == [1] and len(started) == 3 * 3
    assert len(arenas) == 1
    assert len(scratch) == 3 and all(len(a) == 1 for a in scratch.values())


@pytest.mark.parametrize("cls, scoring, pipe, ahead", [
    (MLPClassifier, None, False, True), (LinearRegressor, None, False, True),
    (MLPClassifier, "accuracy", False, False), (MLPClassifier, None, True, False)])
def test_default_score_reads_outputs_predicted_on_the_threads(monkeypatch, cls, scoring,
                                                              pipe, ahead):
    """With the estimator's own score, each fit's test outputs are computed
    on the training threads as it ends, and the evaluation scores those:
    the same results as scikit-learn's search. A scorer given or a pipeline
    evaluates the normal way."""
    from sktune.model_selection import _batched

    queued, read = [], []
    queue_task, predict = population.queue_task, _batched._predict

    def spy_queue(task, cost=0.0):
        queued.append(1)
        return queue_task(task, cost)

    def spy_predict(estimator, X, validated, raw=None):
        read.append(raw is not None)
        return predict(estimator, X, validated, raw)

    monkeypatch.setattr(population, "queue_task", spy_queue)
    monkeypatch.setattr(_batched, "_predict", spy_predict)
    X, y = make_data(cls in CLASSIFIERS)
    est = make_estimator(cls, max_iter=3)
    grid = {"learning_rate": [0.01, 0.05], "alpha": [1e-4, 1e-2]}
    if pipe:
        est = make_pipeline(StandardScaler(), est)
        grid = {f"{type(est[-1]).__name__.lower()}__{k}": v for k, v in grid.items()}
    ours, ref = run_both(GridSearchCV, est, grid, X, y, cv=3, scoring=scoring,
                         return_train_score=True)
    assert_same_results(ours, ref)
    assert ours.batched_info_["fits_restored"] == 12
    if ahead:
        assert len(queued) == 12  # one per fit
        assert sorted(read) == [False] * 12 + [True] * 12  # the train parts: not ahead
    else:
        assert queued == [] and not any(read)


@pytest.mark.parametrize("shape, dtype", [((1, 1), np.float64), ((3,), np.bool_),
                                          ((2, 4, 5), np.float32), ((7,), np.int64)])
def test_slot_scratch_shares_no_cache_line_between_threads(shape, dtype):
    from sktune.model_selection._batched import _per_slot

    a = _per_slot(3, shape, dtype)
    assert a.shape == (3,) + shape and a.dtype == dtype and not a.any()
    for s in range(3):
        assert a[s].flags["C_CONTIGUOUS"]  # what the kernels' signatures take
    # from the last byte of one slot's part to the first of the next: a whole
    # line pair apart, so no 64-byte line holds both
    first = a[0].__array_interface__["data"][0]
    second = a[1].__array_interface__["data"][0]
    assert second - (first + a[0].nbytes) >= 128


# ---------------------------------------------------------------------------
# the default scorer's score, computed on the predictions


class _Predicts:
    """An estimator whose predictions are given (``pred``)."""

    def __init__(self, pred):
        self.pred = pred

    def fit(self, X, y):
        return self

    def predict(self, X):
        if isinstance(self.pred, Exception):
            raise self.pred
        return self.pred


def _predicting(mixin, pred):
    from sklearn.base import BaseEstimator

    return type("Fixed", (mixin, _Predicts, BaseEstimator), {})(pred)


def test_default_score_is_scikit_learns_accuracy_and_r2_to_the_bit():
    from sklearn.base import ClassifierMixin, RegressorMixin
    from sklearn.metrics._scorer import _PassthroughScorer

    from sktune.model_selection._batched import _default_score

    rng = np.random.RandomState(0)
    X = np.zeros((50, 2))
    y = rng.randn(50)
    cases = [(RegressorMixin, y, y + 0.3 * rng.randn(50)),
             (RegressorMixin, y, y.copy()),  # perfect: 1.0
             (RegressorMixin, np.full(50, 2.0), np.full(50, 2.0)),  # 1.0
             (RegressorMixin, np.full(50, 2.0), rng.randn(50)),  # constant y: 0.0
             (RegressorMixin, 1e8 + y, 1e8 + y[::-1])]
    labels = rng.randint(0, 3, 50)
    for kind in (np.int64, np.int8, np.bool_, np.float64, str):
        y_true = labels.astype(kind)
        cases.append((ClassifierMixin, y_true, rng.permutation(y_true)))
    for mixin, y_true, pred in cases:
        est = _predicting(mixin, pred)
        got = _default_score(est, X, y_true, _PassthroughScorer(est))
        want = est.score(X, y_true)
        assert type(got) is float and got == want, (mixin, y_true.dtype)


def test_default_score_leaves_what_it_does_not_handle_to_scikit_learn():
    from sklearn.base import ClassifierMixin, RegressorMixin
    from sklearn.metrics import get_scorer
    from sklearn.metrics._scorer import _PassthroughScorer

    from sktune.model_selection._batched import _default_score

    X = np.zeros((6, 1))
    y = np.arange(6.0)

    def default(mixin, y_true, pred):
        est = _predicting(mixin, pred)
        return _default_score(est, X, y_true, _PassthroughScorer(est))

    assert default(RegressorMixin, y, y[::-1]) is not None
    assert default(RegressorMixin, y.astype(np.float32), y[::-1].astype(np.float32)) is None
    assert default(RegressorMixin, y, y.astype(np.float32)) is None
    assert default(RegressorMixin, np.c_[y, y], np.c_[y, y]) is None  # multi-output
    assert default(RegressorMixin, y[:1], y[:1]) is None  # R^2 undefined: warns
    assert default(RegressorMixin, list(y), y) is None
    assert default(RegressorMixin, y, ValueError("bad X")) is None
    assert default(ClassifierMixin, y.astype(object), y.astype(object)) is None
    assert default(ClassifierMixin, y.astype(int), y) is None  # dtypes differ
    est = _predicting(RegressorMixin, y)
    assert _default_score(est, X, y, get_scorer("r2")) is None
    own = type("OwnScore", (RegressorMixin, _Predicts), {"score": lambda s, X, y: 0.5})(y)
    assert _default_score(own, X, y, _PassthroughScorer(own)) is None


def test_batched_search_scores_default_scorer_itself(monkeypatch):
    from sktune.model_selection import _batched

    calls = []
    real = _batched._sk_score
    monkeypatch.setattr(_batched, "_sk_score", lambda *a: calls.append(a) or real(*a))
    X, y = make_data(True)
    est = make_estimator(MLPClassifier)
    ours, ref = run_both(GridSearchCV, est, {"learning_rate": [0.01, 0.05]}, X, y, cv=3,
                         return_train_score=True)
    assert_same_results(ours, ref)
    assert calls == []  # accuracy on the predictions, 12 times
    ours = GridSearchCV(est, {"learning_rate": [0.01, 0.05]}, cv=3,
                        scoring="accuracy").fit(X, y)
    assert len(calls) == 6  # a named scorer: scikit-learn's call
    np.testing.assert_array_equal(ours.cv_results_["mean_test_score"],
                                  ref.cv_results_["mean_test_score"])


def test_batched_search_validates_each_splits_parts_once(monkeypatch):
    """The default scorer's predictions validate a split's test (and train)
    part once for all candidates; the scores stay scikit-learn's."""
    from sktune.base import BaseGradientEstimator

    calls = []
    real = BaseGradientEstimator._validate_X
    monkeypatch.setattr(BaseGradientEstimator, "_validate_X",
                        lambda self, X: calls.append(X.shape) or real(self, X))
    space = {"learning_rate": [0.01, 0.05], "alpha": [1e-4, 1e-2]}
    for cls, classification in ((MLPClassifier, True), (LinearRegressor, False)):
        X, y = make_data(classification)
        calls.clear()
        ref = skms.GridSearchCV(make_estimator(cls), space, cv=3, return_train_score=True,
                                refit=False).fit(X, y)
        assert len(calls) == 4 * 3 * 2  # candidates x folds x (test, train)
        calls.clear()
        ours = GridSearchCV(make_estimator(cls), space, cv=3, return_train_score=True,
                            refit=False).fit(X, y)
        assert len(calls) == 3 * 2
        assert_same_results(ours, ref)


def test_prediction_of_an_own_predict_is_not_cached():
    """A subclass with its own ``predict`` is asked for every prediction."""
    from sklearn.metrics._scorer import _PassthroughScorer

    from sktune.model_selection._batched import _default_score

    class Shifted(LinearRegressor):
        def predict(self, X):
            return super().predict(X) + 1.0

    X, y = make_data(False)
    est = Shifted(max_iter=3, random_state=0).fit(X, y)
    validated = {}
    got = _default_score(est, X, y, _PassthroughScorer(est), validated)
    assert got == est.score(X, y) and validated == {}
    plain = LinearRegressor(max_iter=3, random_state=0).fit(X, y)
    assert _default_score(plain, X, y, _PassthroughScorer(plain), validated) == plain.score(X, y)
    assert list(validated) == [LinearRegressor]


@pytest.mark.parametrize("cls, classification", [(LinearRegressor, False),
                                                   (MLPClassifier, True)])
def test_training_data_validated_once_per_fold(monkeypatch, cls, classification):
    """The candidates of a fold share one validation of its training data
    (scikit-learn's search validates it in every fit), with the same
    results; sample weights too."""
    from sktune.base import BaseGradientEstimator

    calls = []
    real = BaseGradientEstimator._validate_data_xy
    monkeypatch.setattr(BaseGradientEstimator, "_validate_data_xy",
                        lambda self, X, y, reset: calls.append(X.shape)
                        or real(self, X, y, reset))
    X, y = make_data(classification)
    sw = np.random.RandomState(1).uniform(0.5, 2.0, X.shape[0])
    space = {"learning_rate": [0.01, 0.05], "alpha": [1e-4, 1e-2]}
    ours = GridSearchCV(make_estimator(cls), space, cv=3).fit(X, y, sample_weight=sw)
    assert len(calls) == 3 + 1  # a fold each, and the refit
    ref = skms.GridSearchCV(make_estimator(cls), space, cv=3).fit(X, y, sample_weight=sw)
    assert_same_results(ours, ref)
    assert_same_refit(ours, ref, X)


def test_shared_draws_are_read_from_the_row_that_holds_them():
    """An epoch's permutation is drawn into the first model's order and
    read from there by the others (not copied); unshuffled models keep
    their own; the search still equals scikit-learn's."""
    from sktune._kernels._rng import permutation
    from sktune.model_selection._batched import _SharedPermutations

    orders = np.zeros((3, 10), dtype=np.int64)
    shared = _SharedPermutations()
    buffers = [orders[k] for k in range(3)]
    row_of = {id(b): k for k, b in enumerate(buffers)}
    shared(7, 2, buffers[1])
    shared(7, 2, buffers[2])
    names, source = shared.drawn([1, 2], buffers, row_of)
    expected = permutation(7, 2, np.empty(10, dtype=np.int64))
    np.testing.assert_array_equal(orders[1], expected)
    assert not orders[2].any()  # not copied: it reads row 1
    assert names[1] == names[2] and source == {1: 1, 2: 1}
    shared(7, 3, buffers[2])  # a new epoch: the draws start over
    assert shared.drawn([1, 2], buffers, row_of)[1] == {2: 2}

    X, y = make_data(False)
    grid = {"shuffle": [True, False], "learning_rate": [0.01, 0.1]}
    ours, ref = run_both(GridSearchCV, make_estimator(LinearRegressor), grid, X, y, cv=3)
    assert ours.batched_info_["fits_restored"] == 12
    assert_same_results(ours, ref)


def test_evaluation_runs_with_single_threaded_blas():
    """The evaluation of the pre-trained fits caps BLAS at one thread (its
    spinning threads slowed the refit that follows), and only that."""
    from threadpoolctl import threadpool_info

    def blas_threads():
        return {lib["num_threads"] for lib in threadpool_info()
                if lib["user_api"] == "blas"}

    seen = []

    def scorer(est, X, y):
        seen.append(blas_threads())
        return -float(np.mean((est.predict(X) - y) ** 2))

    before = blas_threads()
    X, y = make_data(False)
    GridSearchCV(make_estimator(LinearRegressor), {"learning_rate": [0.01, 0.1]}, cv=3,
                 scoring=scorer).fit(X, y)
    assert len(seen) == 6 and all(s == {1} for s in seen)
    assert blas_threads() == before


@pytest.mark.parametrize("loss, n_targets", [("squared_error", 2), ("huber", 1),
                                             ("huber", 2), ("poisson", 1)])
def test_linear_cohorts_of_every_regression_loss_equal_single_fits(loss, n_targets):
    """The fused linear kernel's losses (one output or several) give the
    single fits' bits: scikit-learn's search, same estimator, same scores."""
    X, y = make_data(False)
    Y = np.column_stack([y, 0.5 * y + X[:, 0]])[:, :n_targets].squeeze()
    if loss == "poisson":
        Y = np.exp(0.3 * y)
    grid = {"learning_rate": [0.01, 0.05], "alpha": [1e-4, 1e-2]}
    if loss == "huber":  # deltas of both sides of the kink, per candidate
        grid["huber_delta"] = [0.3, 2.0]
    est = make_estimator(LinearRegressor, loss=loss)
    ours, ref = run_both(GridSearchCV, est, grid, X, Y, cv=3)
    assert ours.batched_info_["fits_restored"] == 3 * len(ParameterGrid(grid))
    assert_same_results(ours, ref)
    assert_same_refit(ours, ref, X)


def test_linear_cohorts_of_a_multiclass_classifier_equal_single_fits():
    X, y = make_data(True)
    y = np.digitize(X[:, 0], np.quantile(X[:, 0], [1 / 3, 2 / 3]))  # three classes
    grid = {"learning_rate": [0.01, 0.05], "alpha": [1e-4, 1e-2]}
    ours, ref = run_both(GridSearchCV, make_estimator(LinearClassifier), grid, X, y, cv=3,
                         scoring="neg_log_loss")
    assert ours.batched_info_["fits_restored"] == 12
    assert_same_results(ours, ref)
    assert_same_refit(ours, ref, X)


@pytest.mark.parametrize("hidden", [(16, 9), (5, 4)], ids=["own-pass", "fused"])
def test_cohort_models_share_dropout_masks_exactly(hidden):
    """Models of one seed and dropout rate in a cohort take the factors the
    first of them drew (two hidden layers: both layers' masks), models of
    another rate draw their own: scikit-learn's search, same scores."""
    X, y = make_data(False)
    est = make_estimator(MLPRegressor, hidden_layer_sizes=hidden)
    space = {"dropout": [0.1, 0.3], "learning_rate": [0.01, 0.05], "alpha": [1e-4, 1e-2]}
    ours, ref = run_both(GridSearchCV, est, space, X, y, cv=3)
    assert ours.batched_info_["fits_restored"] == 8 * 3
    assert_same_results(ours, ref)
    assert_same_refit(ours, ref, X)


def test_candidates_are_copies_of_the_template_like_clone():
    """A candidate's estimator equals ``clone(template).set_params(...)``:
    copied cheaply only where every parameter is immutable, else cloned
    (a list parameter is not shared between candidates)."""
    from sktune.model_selection._batched import _copier

    template = make_estimator(MLPRegressor, hidden_layer_sizes=(4, 3))
    new = _copier(template)
    a, b = new({"learning_rate": 0.1}), new({"learning_rate": 0.2, "alpha": 1e-3})
    expected = clone(template).set_params(learning_rate=0.2, alpha=1e-3)
    assert b.get_params() == expected.get_params() and type(b) is type(template)
    assert a.learning_rate == 0.1 and template.learning_rate != 0.1
    assert b.__dict__ == expected.__dict__
    with pytest.raises(ValueError, match="Invalid parameter"):
        new({"not_a_parameter": 1})

    class Recorder:
        def __call__(self, est, info):
            return False

    listed = make_estimator(MLPRegressor, callbacks=[Recorder()])
    new = _copier(listed)
    c = new({"learning_rate": 0.1})
    assert c.callbacks is not listed.callbacks and c.callbacks[0] is not listed.callbacks[0]


@pytest.mark.parametrize("sizes", [(8,), [8]])
def test_clones_made_by_the_search_are_scikit_learns(sizes):
    """scikit-learn clones the searched estimator for every candidate x fold;
    the pre-trained class copies the attributes where every one is a
    parameter with an immutable value (a tuple of sizes), and is
    scikit-learn's own clone otherwise (a list, copied deeply)."""
    from sktune.model_selection._batched import _pretrained_class

    est = MLPRegressor(hidden_layer_sizes=sizes, alpha=1e-3, random_state=0)
    est.__class__ = _pretrained_class(MLPRegressor, registry=None)
    copy = clone(est)
    assert type(copy) is type(est) and copy is not est
    assert copy.get_params() == est.get_params()
    if isinstance(sizes, list):
        assert copy.hidden_layer_sizes is not est.hidden_layer_sizes
    copy.set_params(alpha=0.5)
    assert est.alpha == 1e-3
