"""Every scikit-learn search (and scikit-optimize's) over sktune pipelines,
and the default search spaces of :func:`sktune.model_selection.search_space`.
"""
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.base import is_classifier
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    KFold,
    RandomizedSearchCV,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from skopt import BayesSearchCV
from skopt.space import Categorical, Integer, Real

from sktune import LinearClassifier, LinearRegressor, MLPClassifier, MLPRegressor
from sktune.model_selection import search_space
from sktune.optim import OPTIMIZERS, SCHEDULES

ESTIMATORS = [LinearRegressor, LinearClassifier, MLPRegressor, MLPClassifier]
MLPS = (MLPRegressor, MLPClassifier)
CV = KFold(3, shuffle=True, random_state=0)


def make_data(cls):
    """120 x 5 DataFrame on unscaled columns; a regression or 3-class target."""
    rng = np.random.RandomState(0)
    Z = rng.randn(120, 5)
    X = pd.DataFrame(Z * [1, 10, 100, 0.1, 5] + [0, 50, -20, 1, 0],
                     columns=[f"x{i}" for i in range(5)])
    signal = Z @ np.array([1.0, -2.0, 0.5, 0.0, 1.5])
    if is_classifier(cls()):
        y = pd.Series(np.digitize(signal, [-1.0, 1.0]), name="y")  # classes 0, 1, 2
    else:
        y = pd.Series(signal + 0.1 * rng.randn(120), name="y")
    return X, y


def make_pipe(cls, **kw):
    params = dict(max_iter=10, tol=None, random_state=0, penalty="elasticnet")
    if cls in MLPS:
        params["hidden_layer_sizes"] = (8,)
    params.update(kw)
    return make_pipeline(StandardScaler(), cls(**params))


def step(cls):
    return cls.__name__.lower() + "__"


def hand_space(cls, kind):
    """A space over every searchable hyperparameter, for each search class."""
    mlp = cls in MLPS
    if kind == "grid":
        space = {
            "optimizer": ["sgd", "adam"],
            "learning_rate": [0.01, 0.05],
            "lr_schedule": ["constant", "cosine"],
            "alpha": [1e-4],
            "l1_ratio": [0.15, 0.9],
            "batch_size": [16, "full"],
        }
        if mlp:
            space.update(dropout=[0.0, 0.2], hidden_layer_sizes=[(8,), (6, 4)])
    elif kind == "random":
        space = {
            "optimizer": ["sgd", "momentum", "adam", "rmsprop"],
            "learning_rate": stats.loguniform(1e-3, 5e-2),
            "lr_schedule": list(SCHEDULES),
            "alpha": stats.loguniform(1e-5, 1e-2),
            "l1_ratio": stats.uniform(0, 1),
            "batch_size": [8, 16, 32, "auto"],
        }
        if mlp:
            space.update(dropout=stats.uniform(0, 0.4),
                         hidden_layer_sizes=[(8,), (6, 4), 5])
    else:
        space = {
            "optimizer": Categorical(["sgd", "nesterov", "adam", "adagrad"]),
            "learning_rate": Real(1e-3, 5e-2, prior="log-uniform"),
            "lr_schedule": Categorical(["constant", "exponential", "linear"]),
            "alpha": Real(1e-5, 1e-2, prior="log-uniform"),
            "l1_ratio": Real(0.0, 1.0),
            "batch_size": Integer(8, 64),
        }
        if mlp:
            space.update(dropout=Real(0.0, 0.4), hidden_layer_sizes=Integer(3, 12))
    return {step(cls) + name: values for name, values in space.items()}


def make_search(kind, cls, space, n_jobs=1):
    pipe = make_pipe(cls)
    if kind == "grid":
        return GridSearchCV(pipe, space, cv=CV, n_jobs=n_jobs)
    if kind == "random":
        return RandomizedSearchCV(pipe, space, n_iter=6, cv=CV, n_jobs=n_jobs, random_state=0)
    if kind == "bayes":
        return BayesSearchCV(pipe, space, n_iter=4, cv=CV, n_jobs=n_jobs, random_state=0)
    resource = step(cls) + "max_iter"
    common = dict(resource=resource, min_resources=2, max_resources=18, factor=3, cv=CV,
                  n_jobs=n_jobs)
    if kind == "halving_grid":
        return HalvingGridSearchCV(pipe, space, **common)
    return HalvingRandomSearchCV(pipe, space, n_candidates=9, random_state=0, **common)


def check_fitted_search(search, X, y):
    scores = np.asarray(search.cv_results_["mean_test_score"], dtype=float)
    assert np.all(np.isfinite(scores)), scores
    assert np.isfinite(search.best_score_)
    best = search.best_estimator_
    for name, value in search.best_params_.items():
        assert best.get_params()[name] == value
    pred = best.predict(X)
    assert pred.shape == (len(X),)
    if is_classifier(best):
        assert set(np.unique(pred)) <= set(np.unique(y))
        proba = best.predict_proba(X)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    else:
        assert np.all(np.isfinite(pred))
    # refit trains on all of X: its score is that of the best parameters
    assert np.isfinite(search.score(X, y))
    np.testing.assert_array_equal(search.predict(X), pred)
    return scores


# ------------------------------------------------------------ every search


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kind", ["grid", "random", "bayes"])
def test_search_over_every_hyperparameter(kind, cls):
    X, y = make_data(cls)
    space = hand_space(cls, kind)
    search = make_search(kind, cls, space).fit(X, y)
    scores = check_fitted_search(search, X, y)
    if kind == "grid":
        n_values = [len(v) for v in space.values()]
        assert len(scores) == np.prod(n_values)
    else:
        assert len(scores) == (6 if kind == "random" else 4)
    # every searched parameter reached the estimator
    params = search.cv_results_["params"]
    for name in space:
        assert all(name in p for p in params)
    best = search.best_estimator_[-1]
    assert best.n_iter_ == 10
    assert list(search.best_estimator_.feature_names_in_) == list(X.columns)
    if cls in MLPS:
        hidden = search.best_params_[step(cls) + "hidden_layer_sizes"]
        hidden = [hidden] if np.isscalar(hidden) else list(hidden)
        assert [W.shape[1] for W in best.coefs_[:-1]] == hidden


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kind", ["halving_grid", "halving_random"])
def test_halving_with_max_iter_as_resource(kind, cls):
    X, y = make_data(cls)
    space = hand_space(cls, "grid" if kind == "halving_grid" else "random")
    if kind == "halving_grid":
        # 9 candidates: 9 -> 3 -> 1 over 2, 6, 18 epochs
        keep = ("optimizer", "learning_rate")
        space = {k: v for k, v in space.items() if k.split("__")[1] in keep}
        space[step(cls) + "learning_rate"] = [0.005, 0.02, 0.05]
        space[step(cls) + "optimizer"] = ["sgd", "momentum", "adam"]
    search = make_search(kind, cls, space).fit(X, y)
    check_fitted_search(search, X, y)
    resource = step(cls) + "max_iter"
    assert search.n_resources_ == [2, 6, 18]
    assert search.n_candidates_ == [9, 3, 1]
    assert sorted(set(search.cv_results_["n_resources"])) == [2, 6, 18]
    for p, n in zip(search.cv_results_["params"], search.cv_results_["n_resources"]):
        assert p[resource] == n
    # the refit model trained for the last iteration's number of epochs
    assert search.best_params_[resource] == 18
    assert search.best_estimator_[-1].max_iter == 18
    assert search.best_estimator_[-1].n_iter_ == 18


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kind", ["grid", "random", "bayes", "halving_random"])
def test_n_jobs_gives_the_same_scores(kind, cls):
    X, y = make_data(cls)
    space = hand_space(cls, "random" if kind == "halving_random" else kind)
    if kind == "grid":  # a smaller grid: the point is the parallel run
        space = {k: v[:1] if k.endswith(("l1_ratio", "lr_schedule", "dropout")) else v
                 for k, v in space.items()}
    serial = make_search(kind, cls, space, n_jobs=1).fit(X, y)
    parallel = make_search(kind, cls, space, n_jobs=2).fit(X, y)
    assert serial.cv_results_["params"] == parallel.cv_results_["params"]
    for key in ("mean_test_score", "std_test_score", "split0_test_score"):
        np.testing.assert_allclose(parallel.cv_results_[key], serial.cv_results_[key],
                                   rtol=1e-10)
    assert serial.best_params_ == parallel.best_params_
    np.testing.assert_allclose(parallel.predict(X), serial.predict(X), rtol=1e-10)


# ---------------------------------------------------------- search_space


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kind", ["grid", "random", "bayes"])
def test_search_space_works_in_its_search_class(kind, cls):
    X, y = make_data(cls)
    pipe = make_pipe(cls, penalty=None)
    space = search_space(pipe, kind)
    assert all(k.startswith(step(cls)) for k in space)
    if kind == "grid":
        search = GridSearchCV(pipe, space, cv=CV)
    elif kind == "random":
        search = RandomizedSearchCV(pipe, space, n_iter=5, cv=CV, random_state=0)
    else:
        search = BayesSearchCV(pipe, space, n_iter=4, cv=CV, random_state=0)
    search.fit(X, y)
    check_fitted_search(search, X, y)
    # the searched penalty is set, so alpha and l1_ratio take effect
    assert search.best_params_[step(cls) + "penalty"] in ("l1", "l2", "elasticnet")


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_search_space_halving(cls):
    X, y = make_data(cls)
    pipe = make_pipe(cls)
    space = search_space(pipe, "random")
    search = HalvingRandomSearchCV(pipe, space, n_candidates=4, factor=2,
                                   resource=step(cls) + "max_iter", min_resources=3,
                                   max_resources=12, cv=CV, random_state=0).fit(X, y)
    assert search.n_resources_ == [3, 6, 12]
    assert np.isfinite(search.best_score_)
    assert search.best_estimator_[-1].n_iter_ == 12


def test_search_space_contents():
    linear = search_space(LinearRegressor, "random")
    mlp = search_space(MLPClassifier, "random")
    assert set(mlp) - set(linear) == {"hidden_layer_sizes", "activation", "dropout"}
    assert set(linear) == {"optimizer", "learning_rate", "lr_schedule", "batch_size",
                           "penalty", "alpha", "l1_ratio", "sparsity"}
    assert 0.0 in linear["sparsity"] and max(linear["sparsity"]) < 1
    assert linear["optimizer"] == list(OPTIMIZERS)
    assert linear["lr_schedule"] == list(SCHEDULES)
    # log-uniform where scale matters; ranges differ between families
    for name, low, high in [("learning_rate", 1e-4, 1.0), ("alpha", 1e-6, 1e-1)]:
        dist = linear[name]
        assert dist.dist.name == "loguniform"
        np.testing.assert_allclose(dist.support(), (low, high))
    np.testing.assert_allclose(mlp["learning_rate"].support(), (1e-4, 1e-1))
    assert linear["l1_ratio"].dist.name == "uniform"
    np.testing.assert_allclose(linear["l1_ratio"].support(), (0.0, 1.0))
    assert mlp["dropout"].dist.name == "uniform"
    low, high = mlp["dropout"].support()
    assert low == 0 and high < 1
    rng = np.random.RandomState(0)
    draws = linear["learning_rate"].rvs(2000, random_state=rng)
    # log-uniform: about a quarter of the draws in each quarter of the decades
    assert 0.2 < np.mean(draws < 1e-3) < 0.3

    bayes = search_space(MLPRegressor(), "bayes")
    assert bayes["learning_rate"].prior == "log-uniform"
    assert (bayes["learning_rate"].low, bayes["learning_rate"].high) == (1e-4, 1e-1)
    assert bayes["alpha"].prior == "log-uniform"
    assert isinstance(bayes["hidden_layer_sizes"], Integer)
    assert isinstance(bayes["batch_size"], Integer)
    assert isinstance(bayes["optimizer"], Categorical)
    assert search_space(LinearClassifier, "bayes")["learning_rate"].high == 1.0

    grid = search_space(LinearClassifier(), "grid")
    assert all(isinstance(v, list) and v for v in grid.values())
    mlp_grid = search_space(MLPRegressor, "grid")
    assert "hidden_layer_sizes" in mlp_grid and "dropout" in mlp_grid
    # pruning is tunable for every estimator
    for cls in ESTIMATORS:
        assert "sparsity" in search_space(cls, "grid")
    # fresh objects at every call: a search may not mutate another's space
    assert search_space(LinearRegressor, "random")["alpha"] is not linear["alpha"]


def test_search_space_prefix():
    pipe = make_pipe(MLPRegressor)
    assert set(search_space(pipe, "grid")) == {
        "mlpregressor__" + k for k in search_space(MLPRegressor, "grid")}
    # an explicit prefix wins, for estimators and pipelines alike
    assert set(search_space(MLPRegressor(), "grid", prefix="model__")) == {
        "model__" + k for k in search_space(MLPRegressor, "grid")}
    assert set(search_space(pipe, "bayes", prefix="")) == set(search_space(MLPRegressor, "bayes"))
    named = Pipeline([("scale", StandardScaler()), ("net", LinearClassifier())])
    assert all(k.startswith("net__") for k in search_space(named, "random"))
    nested = Pipeline([("outer", named)])
    assert all(k.startswith("outer__net__") for k in search_space(nested, "random"))
    # the nested keys are valid parameters of the pipeline
    assert set(search_space(nested, "grid")) <= set(nested.get_params())


def test_search_space_errors():
    with pytest.raises(ValueError, match="'grid', 'random', 'bayes'"):
        search_space(LinearRegressor, "halving")
    with pytest.raises(TypeError, match="LinearRegressor, LinearClassifier, MLPRegressor"):
        search_space(StandardScaler(), "grid")
    with pytest.raises(TypeError, match="StandardScaler"):
        search_space(make_pipeline(LinearRegressor(), StandardScaler()), "grid")
    with pytest.raises(TypeError, match="dict"):
        search_space(dict, "grid")
