"""Halving searches (:mod:`sktune.model_selection._halving`): scikit-learn's
results, with survivors resumed from their last rung and rungs batched.

Each comparison runs scikit-learn's halving search and ours with the same
arguments and compares ``cv_results_`` key by key (times excepted),
``best_params_`` and the refitted model.
"""
import copy

import numpy as np
import pytest
from scipy import stats
from sklearn import model_selection as skms
from sklearn.base import clone
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktune import LinearRegressor, MLPClassifier, MLPRegressor
from sktune.model_selection import (
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    HyperbandSearchCV,
    _batched,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def make_data(classifier, n=90, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 4) * [1.0, 3.0, 0.5, 2.0]
    signal = X @ np.array([1.0, -0.5, 2.0, 0.3])
    if classifier:
        return X, np.digitize(signal, [-1.0, 1.0])  # 3 classes
    return X, signal + 0.1 * rng.randn(n)


def assert_same_results(ours, ref):
    a, b = ours.cv_results_, ref.cv_results_
    assert sorted(a) == sorted(b)
    for key in b:
        if key.endswith("_time"):
            continue
        va, vb = a[key], b[key]
        if key == "params":
            assert va == vb
        elif isinstance(vb, np.ma.MaskedArray):
            assert list(va.compressed()) == list(vb.compressed()), key
        elif np.asarray(vb).dtype.kind == "f":
            np.testing.assert_allclose(va, vb, rtol=1e-9, atol=0, err_msg=key)
        else:
            np.testing.assert_array_equal(va, vb, err_msg=key)
    for attr in ("best_index_", "best_params_", "n_resources_", "n_candidates_",
                 "n_iterations_", "n_possible_iterations_", "n_required_iterations_",
                 "min_resources_", "max_resources_", "n_remaining_candidates_"):
        assert getattr(ours, attr) == getattr(ref, attr), attr
    np.testing.assert_allclose(ours.best_score_, ref.best_score_, rtol=1e-9)


def run_both(search_cls, estimator, space, X, y, **kw):
    ours = search_cls(estimator, space, **kw).fit(X, y)
    ref = getattr(skms, search_cls.__name__)(estimator, space, **kw).fit(X, y)
    return ours, ref


def fresh_epochs(search, n_splits):
    """Model-epochs scikit-learn trains: every rung from the first epoch."""
    return sum(r * c * n_splits for r, c in zip(search.n_resources_, search.n_candidates_))


def test_grid_regressor_resumes_and_matches_sklearn():
    X, y = make_data(False)
    est = LinearRegressor(tol=None, random_state=0, batch_size=16)
    grid = {"learning_rate": [0.001, 0.01, 0.1], "optimizer": ["adam", "sgd", "momentum"]}
    ours, ref = run_both(HalvingGridSearchCV, est, grid, X, y, resource="max_iter",
                         max_resources=9, cv=3)
    assert_same_results(ours, ref)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    assert ours.n_resources_ == [1, 3, 9] and ours.n_candidates_ == [9, 3, 1]
    info = ours.batched_info_
    assert info["fits_unbatched"] == 0
    # each survivor trains only the epochs its last rung had not
    assert info["epochs_trained"] == 3 * (9 * 1 + 3 * 2 + 1 * 6)
    assert info["epochs_resumed"] == fresh_epochs(ours, 3) - info["epochs_trained"]


def test_grid_classifier_pipeline_early_stopping_matches_sklearn():
    # early stopping and the tol rule stop some fits before their budget:
    # a resumed fit must stop (or go on) exactly where a fresh one would
    X, y = make_data(True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(
        hidden_layer_sizes=(5,), tol=1e-3, n_iter_no_change=2, early_stopping=True,
        random_state=0, batch_size=16))
    grid = {"mlpclassifier__learning_rate": [0.001, 0.01, 0.1],
            "mlpclassifier__alpha": [1e-4, 1e-1]}
    ours, ref = run_both(HalvingGridSearchCV, pipe, grid, X, y,
                         resource="mlpclassifier__max_iter", max_resources=12,
                         factor=2, cv=3, return_train_score=True)
    assert_same_results(ours, ref)
    np.testing.assert_array_equal(ours.predict_proba(X), ref.predict_proba(X))
    assert ours.batched_info_["epochs_resumed"] > 0
    assert type(ours.best_estimator_[-1]) is MLPClassifier


def test_random_regressor_matches_sklearn_without_refit():
    X, y = make_data(False)
    est = MLPRegressor(hidden_layer_sizes=(5,), tol=None, random_state=0, batch_size=16)
    space = {"learning_rate": stats.loguniform(1e-3, 1e-1),
             "alpha": stats.loguniform(1e-5, 1e-1)}
    ours, ref = run_both(HalvingRandomSearchCV, est, space, X, y, resource="max_iter",
                         max_resources=8, factor=2, n_candidates=6, cv=3,
                         random_state=0, refit=False, return_train_score=False)
    assert_same_results(ours, ref)
    assert not hasattr(ours, "best_estimator_")
    assert ours.batched_info_["epochs_resumed"] > 0


def test_resumed_survivors_are_bitwise_straight_fits(monkeypatch):
    X, y = make_data(False)
    train, test = np.arange(60), np.arange(60, 90)
    est = LinearRegressor(tol=1e-3, n_iter_no_change=2, early_stopping=True,
                          lr_schedule="plateau", random_state=0, batch_size=16)
    restored = []
    original = _batched._restore

    def spy(trained, target):
        original(trained, target)
        restored.append(copy.deepcopy(target))

    monkeypatch.setattr(_batched, "_restore", spy)
    search = HalvingGridSearchCV(est, {"learning_rate": [0.003, 0.01, 0.03, 0.1]},
                                 resource="max_iter", max_resources=8, factor=2,
                                 cv=[(train, test)], refit=False).fit(X, y)
    assert len(restored) == sum(search.n_candidates_)
    assert search.batched_info_["epochs_resumed"] > 0
    for model in restored:
        straight = clone(est).set_params(**model.get_params()).fit(X[train], y[train])
        assert model.n_iter_ == straight.n_iter_
        np.testing.assert_array_equal(model.coef_, straight.coef_)
        np.testing.assert_array_equal(model.intercept_, straight.intercept_)
        assert model.loss_curve_ == straight.loss_curve_
        assert model.validation_scores_ == straight.validation_scores_


@pytest.mark.parametrize("extra, grid, resumes", [
    # "linear" decays to max_iter itself: continuing it would not be the
    # fit with the larger max_iter, so those candidates start over
    (dict(min_learning_rate=0.001),
     {"lr_schedule": ["constant", "linear"], "learning_rate": [0.01, 0.1]},
     lambda params: params["lr_schedule"] == "constant"),
    # sparsity's pruning ramp spans max_iter: a pruned candidate starts over
    ({}, {"sparsity": [0.0, 0.5], "learning_rate": [0.01, 0.1]},
     lambda params: params["sparsity"] == 0.0),
])
def test_candidates_whose_path_depends_on_max_iter_are_trained_afresh(extra, grid, resumes):
    X, y = make_data(False)
    est = LinearRegressor(tol=None, random_state=0, batch_size=16, **extra)
    ours, ref = run_both(HalvingGridSearchCV, est, grid, X, y, resource="max_iter",
                         max_resources=8, factor=2, cv=3)
    assert_same_results(ours, ref)
    results = ours.cv_results_
    resumed = 0
    for itr in range(1, ours.n_iterations_):
        rows = np.flatnonzero(results["iter"] == itr)
        previous = ours.n_resources_[itr - 1]
        resumed += 3 * previous * sum(resumes(results["params"][k]) for k in rows)
    assert ours.batched_info_["epochs_resumed"] == resumed
    assert ours.batched_info_["epochs_trained"] == fresh_epochs(ours, 3) - resumed


def test_n_samples_resource_and_fallback_match_sklearn():
    X, y = make_data(False, n=120)
    est = LinearRegressor(max_iter=3, tol=None, random_state=0, batch_size=16)
    grid = {"learning_rate": [0.003, 0.01, 0.03, 0.1]}
    ours, ref = run_both(HalvingGridSearchCV, est, grid, X, y, factor=2, cv=3,
                         random_state=0)
    assert_same_results(ours, ref)
    assert "epochs_resumed" in ours.batched_info_
    assert ours.batched_info_["epochs_resumed"] == 0
    # not a sktune estimator: scikit-learn's path, unchanged
    ours, ref = run_both(HalvingGridSearchCV, Ridge(), {"alpha": [0.1, 1.0, 10.0]}, X,
                         y, factor=2, cv=3, random_state=0)
    assert_same_results(ours, ref)
    assert ours.batched_info_ is None


def test_hyperband_brackets_and_scores_of_straight_fits():
    X, y = make_data(False)
    est = LinearRegressor(tol=None, random_state=0, batch_size=16)
    space = {"learning_rate": stats.loguniform(1e-3, 1e-1),
             "optimizer": ["adam", "sgd"]}
    cv = KFold(3, shuffle=True, random_state=0)
    search = HyperbandSearchCV(est, space, max_resources=9, cv=cv,
                               random_state=0).fit(X, y)
    again = HyperbandSearchCV(est, space, max_resources=9, cv=cv,
                              random_state=0).fit(X, y)
    assert search.n_brackets_ == 3
    assert search.n_resources_ == [1, 3, 9, 3, 9, 9]
    assert search.n_candidates_ == [9, 3, 1, 5, 2, 3]
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"],
                                  again.cv_results_["mean_test_score"])
    assert search.cv_results_["params"] == again.cv_results_["params"]
    # the best is taken among the full-budget rows of every bracket
    results = search.cv_results_
    full = np.flatnonzero(results["n_resources"] == 9)
    assert search.best_index_ == full[np.argmax(results["mean_test_score"][full])]
    # a resumed row scores what a straight fit with its max_iter scores
    for k in (search.best_index_, full[0]):
        straight = cross_val_score(clone(est).set_params(**results["params"][k]), X, y,
                                   cv=cv)
        np.testing.assert_allclose(results["mean_test_score"][k], straight.mean(),
                                   rtol=1e-9)
    assert search.batched_info_["epochs_resumed"] > 0
    np.testing.assert_array_equal(search.predict(X), again.predict(X))


@pytest.mark.filterwarnings("ignore:The total space of parameters")
def test_hyperband_rejects_a_searched_resource():
    X, y = make_data(False, n=30)
    est = LinearRegressor(tol=None, random_state=0)
    with pytest.raises(ValueError, match="max_iter as the resource"):
        HyperbandSearchCV(est, {"max_iter": [1, 2]}, max_resources=3, cv=2).fit(X, y)


def test_hyperband_params_like_a_scikit_learn_search():
    est = LinearRegressor(tol=None)
    search = HyperbandSearchCV(est, {"alpha": [1e-4, 1e-3]}, max_resources=9)
    params = search.get_params(deep=False)
    assert sorted(params) == sorted(
        ["estimator", "param_distributions", "factor", "resource", "max_resources",
         "min_resources", "cv", "scoring", "refit", "error_score",
         "return_train_score", "random_state", "n_jobs", "verbose"])
    assert clone(search).get_params(deep=False).keys() == params.keys()
    X, y = make_data(False, n=30)
    with pytest.raises(ValueError, match="'factor' parameter"):
        HyperbandSearchCV(est, {"alpha": [1e-4]}, factor=1, max_resources=9).fit(X, y)
    with pytest.raises(ValueError, match="'min_resources' parameter"):
        HyperbandSearchCV(est, {"alpha": [1e-4]}, min_resources="exhaust",
                          max_resources=9).fit(X, y)
