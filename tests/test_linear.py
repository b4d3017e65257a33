"""LinearRegressor and LinearClassifier against closed forms and scikit-learn."""
import pickle
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (
    Lasso,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
)
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from sktune import DivergenceError, LinearClassifier, LinearRegressor
from sktune.optim import OPTIMIZERS

# A learning rate per optimizer that suits standardized data.
LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adam": 0.5, "adamw": 0.5,
      "rmsprop": 0.5, "adagrad": 5.0}


def full_batch(**kw):
    return dict(batch_size="full", tol=None, random_state=0, **kw)


def annealed(max_iter):
    """Full-batch training with the rate annealed to zero: converges exactly."""
    return full_batch(max_iter=max_iter, lr_schedule="cosine", restart_period=max_iter)


# ---------------------------------------------------------------- accuracy

@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_reaches_ols_r2(diabetes, optimizer):
    X, y = diabetes
    ols = LinearRegression().fit(X, y).score(X, y)
    lr = LR[optimizer] if optimizer in ("adam", "adamw", "rmsprop", "adagrad") else 0.01
    model = LinearRegressor(optimizer=optimizer, learning_rate=lr, batch_size=32,
                            max_iter=200, lr_schedule="invscaling", random_state=0)
    model.fit(X, y)
    assert model.score(X, y) > ols - 0.01


# AdamW's decoupled weight decay is by design not an L2 term in the gradient,
# so its fixed point is not Ridge's; it has its own test below.
@pytest.mark.parametrize("optimizer", sorted(set(OPTIMIZERS) - {"adamw"}))
def test_l2_matches_ridge(diabetes, optimizer):
    X, y = diabetes
    alpha = 0.1
    # mean(loss)/2 + alpha ||w||^2 / 2  <=>  ||y - Xw||^2 + (n alpha) ||w||^2
    ridge = Ridge(alpha=alpha * len(y)).fit(X, y)
    model = LinearRegressor(optimizer=optimizer, learning_rate=LR[optimizer],
                            penalty="l2", alpha=alpha, **annealed(3000)).fit(X, y)
    np.testing.assert_allclose(model.coef_, ridge.coef_, atol=1e-3)
    np.testing.assert_allclose(model.intercept_, ridge.intercept_, atol=1e-3)


def test_adamw_decay_is_decoupled(diabetes):
    X, y = diabetes
    kw = dict(learning_rate=0.1, max_iter=300, **full_batch())
    free = LinearRegressor(optimizer="adamw", **kw).fit(X, y)
    decayed = LinearRegressor(optimizer="adamw", penalty="l2", alpha=0.1, **kw).fit(X, y)
    coupled = LinearRegressor(optimizer="adam", penalty="l2", alpha=0.1, **kw).fit(X, y)
    assert np.linalg.norm(decayed.coef_) < np.linalg.norm(free.coef_)
    assert not np.allclose(decayed.coef_, coupled.coef_, atol=1e-3)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_l1_zero_pattern_matches_lasso(diabetes, optimizer):
    X, y = diabetes
    lasso = Lasso(alpha=1.0).fit(X, y)
    assert 0 < np.sum(lasso.coef_ == 0) < X.shape[1]
    # momentum keeps moving after an annealed rate reaches zero: keep it constant
    fit_kw = full_batch(max_iter=3000) if optimizer in ("momentum", "nesterov") \
        else annealed(3000)
    model = LinearRegressor(optimizer=optimizer, learning_rate=LR[optimizer],
                            penalty="l1", alpha=1.0, **fit_kw).fit(X, y)
    np.testing.assert_array_equal(model.coef_ == 0, lasso.coef_ == 0)
    np.testing.assert_allclose(model.coef_, lasso.coef_, atol=1e-2)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "momentum"])
def test_mini_batch_l1_gives_exact_zeros(optimizer):
    rng = np.random.RandomState(0)
    X = rng.randn(500, 20)
    y = X[:, :3] @ np.array([2.0, -1.0, 0.5]) + 0.1 * rng.randn(500)
    model = LinearRegressor(penalty="elasticnet", alpha=0.05, l1_ratio=0.95,
                            optimizer=optimizer, batch_size=16, learning_rate=0.01,
                            max_iter=30, random_state=0, tol=None).fit(X, y)
    assert np.sum(model.coef_[3:] == 0) >= 8
    assert np.all(model.coef_[:3] != 0)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_binary_log_loss_matches_logistic_regression(breast_cancer, optimizer):
    X, y = breast_cancer
    ref = LogisticRegression(C=1.0, max_iter=10000, tol=1e-10).fit(X, y)
    lr = {"sgd": 4.0, "adam": 0.05, "rmsprop": 0.05}[optimizer]
    model = LinearClassifier(optimizer=optimizer, learning_rate=lr, penalty="l2",
                             alpha=1.0 / len(y), **annealed(4000)).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, atol=1e-3)
    assert np.mean(model.predict(X) == ref.predict(X)) >= 0.99
    np.testing.assert_allclose(model.predict_proba(X), ref.predict_proba(X), atol=0.01)


def test_multinomial_matches_logistic_regression():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    ref = LogisticRegression(C=1.0, max_iter=10000, tol=1e-10).fit(X, y)
    model = LinearClassifier(optimizer="sgd", learning_rate=0.5, penalty="l2",
                             alpha=1.0 / len(y), max_iter=5000, **full_batch()).fit(X, y)
    assert model.coef_.shape == (3, 4)
    # softmax weights are defined up to a constant per feature; sklearn's are centred
    coef = model.coef_ - model.coef_.mean(axis=0)
    np.testing.assert_allclose(coef, ref.coef_, atol=0.02)
    np.testing.assert_allclose(model.predict_proba(X), ref.predict_proba(X), atol=0.01)


def test_poisson_matches_poisson_regressor():
    rng = np.random.RandomState(0)
    X = rng.randn(300, 3)
    y = rng.poisson(np.exp(X @ np.array([0.3, -0.2, 0.1]) + 0.5)).astype(float)
    ref = PoissonRegressor(alpha=0.01, tol=1e-10, max_iter=1000).fit(X, y)
    model = LinearRegressor(loss="poisson", optimizer="adam", learning_rate=0.05,
                            penalty="l2", alpha=0.01, max_iter=2000,
                            lr_schedule="invscaling", power_t=0.5,
                            **full_batch()).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, atol=1e-3)
    assert np.all(model.predict(X) > 0)


def test_hinge_classifier():
    X, y = make_classification(200, 5, random_state=0)
    clf = LinearClassifier(loss="hinge", random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.85
    assert not hasattr(clf, "predict_proba")
    assert clf.decision_function(X).shape == (200,)


def test_huber_is_robust_to_outliers():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 2)
    y = X @ np.array([2.0, -1.0]) + 0.1 * rng.randn(200)
    y[:10] += 100.0
    kw = dict(optimizer="adam", learning_rate=0.05, max_iter=500, **full_batch())
    huber = LinearRegressor(loss="huber", huber_delta=1.0, **kw).fit(X, y)
    squared = LinearRegressor(**kw).fit(X, y)
    err_h = np.abs(huber.coef_ - [2.0, -1.0]).max()
    err_s = np.abs(squared.coef_ - [2.0, -1.0]).max()
    assert err_h < 0.2 < err_s


def test_multi_output_equals_separate_fits(small_regression):
    X, y = small_regression
    Y = np.column_stack([y, -2 * y + 1])
    kw = dict(optimizer="adam", batch_size=8, max_iter=20, random_state=3, tol=None)
    both = LinearRegressor(**kw).fit(X, Y)
    assert both.coef_.shape == (2, 4) and both.predict(X).shape == (60, 2)
    for k in range(2):
        one = LinearRegressor(**kw).fit(X, Y[:, k])
        np.testing.assert_allclose(both.coef_[k], one.coef_, rtol=1e-12)


def test_average_is_mean_of_iterates(small_regression):
    X, y = small_regression
    kw = dict(optimizer="sgd", learning_rate=0.05, **full_batch())
    iterates = [LinearRegressor(max_iter=k, **kw).fit(X, y).coef_ for k in range(1, 6)]
    averaged = LinearRegressor(max_iter=5, average=True, **kw).fit(X, y)
    np.testing.assert_allclose(averaged.coef_, np.mean(iterates, axis=0), rtol=1e-10)
    late = LinearRegressor(max_iter=5, average=3 * len(y), **kw).fit(X, y)
    np.testing.assert_allclose(late.coef_, np.mean(iterates[3:], axis=0), rtol=1e-10)


# ---------------------------------------------------------------- data types

def test_sparse_equals_dense(small_regression):
    X, y = small_regression
    X = X.copy()
    X[X < 0.3] = 0.0
    kw = dict(batch_size=7, max_iter=5, random_state=0, tol=None)
    dense = LinearRegressor(**kw).fit(X, y)
    sparse = LinearRegressor(**kw).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-12)
    np.testing.assert_allclose(sparse.predict(sp.csr_matrix(X)), dense.predict(X))
    clf_kw = dict(kw, batch_size=10)
    yc = (y > np.median(y)).astype(int)
    d = LinearClassifier(**clf_kw).fit(X, yc)
    s = LinearClassifier(**clf_kw).fit(sp.csr_matrix(X), yc)
    np.testing.assert_allclose(s.coef_, d.coef_, rtol=1e-12)


@pytest.mark.parametrize("Est", [LinearRegressor, LinearClassifier])
def test_dtypes(Est, small_regression):
    X, y = small_regression
    if Est is LinearClassifier:
        y = (y > 0).astype(int)
    m32 = Est(max_iter=3, random_state=0).fit(X.astype(np.float32), y)
    assert m32.coef_.dtype == np.float32
    assert m32.decision_function(X.astype(np.float32)).dtype == np.float32 \
        if Est is LinearClassifier else m32.predict(X.astype(np.float32)).dtype == np.float32
    m64 = Est(max_iter=3, random_state=0).fit(X, y)
    assert m64.coef_.dtype == np.float64
    mint = Est(max_iter=3, random_state=0).fit(np.round(X * 10).astype(np.int64), y)
    assert mint.coef_.dtype == np.float64
    np.testing.assert_allclose(m32.coef_, m64.coef_, rtol=1e-3, atol=2e-3)


def test_readonly_and_fortran_input(small_regression):
    X, y = small_regression
    ref = LinearRegressor(max_iter=3, random_state=0).fit(X, y)
    Xr = X.copy()
    Xr.flags.writeable = False
    yr = y.copy()
    yr.flags.writeable = False
    ro = LinearRegressor(max_iter=3, random_state=0).fit(Xr, yr)
    fo = LinearRegressor(max_iter=3, random_state=0).fit(np.asfortranarray(X), y)
    np.testing.assert_array_equal(ro.coef_, ref.coef_)
    np.testing.assert_array_equal(fo.coef_, ref.coef_)


def test_feature_names_from_dataframe(small_regression):
    pd = pytest.importorskip("pandas")
    X, y = small_regression
    df = pd.DataFrame(X, columns=list("abcd"))
    model = LinearRegressor(max_iter=2).fit(df, y)
    assert list(model.feature_names_in_) == list("abcd")


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_raises(small_regression, bad):
    X, y = small_regression
    X = X.copy()
    X[0, 0] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        LinearRegressor().fit(X, y)
    with pytest.raises(ValueError, match="NaN|infinity"):
        LinearRegressor().fit(small_regression[0], np.r_[y[:-1], bad])


def test_wrong_feature_count_at_predict(small_regression):
    X, y = small_regression
    model = LinearRegressor(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :3])


def test_wrong_y_length(small_regression):
    X, y = small_regression
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        LinearRegressor().fit(X, y[:-1])


def test_zero_samples():
    with pytest.raises(ValueError, match="0 sample"):
        LinearRegressor().fit(np.empty((0, 3)), np.empty(0))


@pytest.mark.parametrize("param, value", [
    ("optimizer", "adamm"), ("lr_schedule", "cosin"), ("penalty", "l3"),
    ("loss", "squared"), ("batch_size", "half"), ("learning_rate", -1.0),
])
def test_unknown_options_name_the_valid_ones(small_regression, param, value):
    X, y = small_regression
    with pytest.raises(InvalidParameterError, match=param):
        LinearRegressor(**{param: value}).fit(X, y)


def test_string_targets_for_regressor(small_regression):
    X, _ = small_regression
    with pytest.raises(ValueError):
        LinearRegressor().fit(X, np.array(["a", "b"] * 30))


def test_poisson_rejects_negative_targets(small_regression):
    X, y = small_regression
    with pytest.raises(ValueError, match="negative"):
        LinearRegressor(loss="poisson").fit(X, y - 10)


def test_classifier_needs_classes_on_first_partial_fit(small_regression):
    X, y = small_regression
    with pytest.raises(ValueError, match="classes"):
        LinearClassifier().partial_fit(X, y > 0)


def test_multilabel_rejected(small_regression):
    X, _ = small_regression
    Y = np.random.RandomState(0).randint(0, 2, (60, 3))
    with pytest.raises(ValueError, match="1d array|label type"):
        LinearClassifier().fit(X, Y)


# ---------------------------------------------------------------- resilience

def test_divergence_restores_finite_weights(small_regression):
    X, y = small_regression
    model = LinearRegressor(optimizer="sgd", learning_rate=1e6, max_iter=100, tol=None,
                            penalty=None)
    with pytest.raises(DivergenceError, match="learning_rate") as info:
        model.fit(X * 1e3, y)
    assert isinstance(info.value, ValueError)
    assert np.all(np.isfinite(model.coef_)) and np.all(np.isfinite(model.intercept_))
    assert np.all(np.isfinite(model.predict(X)))
    assert all(np.isfinite(model.loss_curve_))
    # the kept weights are those of the lowest loss reached, not the last
    # finite (and possibly astronomically large) ones
    residual = model.predict(X * 1e3) - y
    assert 0.5 * np.mean(residual ** 2) == pytest.approx(min(model.loss_curve_), rel=1e-6)


def test_keyboard_interrupt_keeps_a_usable_model(small_regression, monkeypatch):
    X, y = small_regression
    model = LinearRegressor(max_iter=50, tol=None, random_state=0)
    original = type(model)._run_epoch
    calls = []

    def interrupted(self, *args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(type(model), "_run_epoch", interrupted)
    with pytest.warns(UserWarning, match="interrupted"):
        model.fit(X, y)
    assert model.n_iter_ == 3 and len(model.loss_curve_) == 3
    assert np.all(np.isfinite(model.predict(X)))


def test_early_stopping_restores_best_weights(diabetes):
    X, y = diabetes
    model = LinearRegressor(optimizer="sgd", learning_rate=0.3, batch_size=4,
                            early_stopping=True, validation_fraction=0.2,
                            n_iter_no_change=4, max_iter=200, random_state=0)
    model.fit(X, y)
    assert model.n_iter_ < 200
    assert len(model.validation_scores_) == model.n_iter_
    assert model.best_validation_score_ == max(model.validation_scores_)
    # recompute the score of the fitted weights on the held-out split
    seed = model._train_state.seed
    idx = np.arange(len(y))
    _, val = train_test_split(idx, test_size=int(np.ceil(0.2 * len(y))), random_state=seed)
    assert model.score(X[val], y[val]) == pytest.approx(model.best_validation_score_, abs=1e-12)


def test_early_stopping_split_is_stratified():
    X, y = make_classification(300, 4, weights=[0.95], random_state=0)
    clf = LinearClassifier(early_stopping=True, validation_fraction=0.1, random_state=0)
    clf.fit(X, y)
    assert clf.best_validation_score_ > 0.9


def test_convergence_warning_when_max_iter_reached(small_regression):
    X, y = small_regression
    with pytest.warns(ConvergenceWarning):
        LinearRegressor(max_iter=2, tol=1e-12).fit(X, y)


def test_tol_stops_training(small_regression):
    X, y = small_regression
    model = LinearRegressor(max_iter=1000, tol=1e-3, n_iter_no_change=3,
                            learning_rate=0.1, random_state=0).fit(X, y)
    assert model.n_iter_ < 1000


# ---------------------------------------------------------------- state

def test_partial_fit_continues_schedule_and_state(small_regression):
    X, y = small_regression
    kw = dict(optimizer="adam", lr_schedule="cosine", restart_period=2,
              batch_size=16, random_state=0, tol=None)
    full = LinearRegressor(max_iter=4, **kw).fit(X, y)
    inc = LinearRegressor(max_iter=4, **kw)
    for _ in range(4):
        inc.partial_fit(X, y)
    np.testing.assert_array_equal(inc.coef_, full.coef_)
    assert inc.t_ == full.t_ == 4 * 4
    assert inc.n_iter_ == 4


def test_classifier_partial_fit_matches_fit():
    X, y = make_classification(120, 4, n_classes=3, n_informative=3, n_redundant=0,
                               random_state=0)
    kw = dict(batch_size=20, random_state=0, tol=None)
    full = LinearClassifier(max_iter=3, **kw).fit(X, y)
    inc = LinearClassifier(**kw)
    for _ in range(3):
        inc.partial_fit(X, y, classes=[0, 1, 2])
    np.testing.assert_array_equal(inc.coef_, full.coef_)
    with pytest.raises(ValueError, match="classes"):
        inc.partial_fit(X, y, classes=[0, 1, 2, 3])


def test_warm_start_continues(small_regression):
    X, y = small_regression
    kw = dict(batch_size=16, random_state=0, tol=None)
    full = LinearRegressor(max_iter=5, **kw).fit(X, y)
    warm = LinearRegressor(max_iter=2, warm_start=True, **kw).fit(X, y)
    warm.set_params(max_iter=3).fit(X, y)
    np.testing.assert_array_equal(warm.coef_, full.coef_)
    cold = LinearRegressor(max_iter=2, **kw).fit(X, y)
    cold.set_params(max_iter=3).fit(X, y)
    assert not np.array_equal(cold.coef_, full.coef_)


def test_class_weight_equals_sample_weight():
    X, y = make_classification(100, 3, n_redundant=0, random_state=0)
    kw = dict(max_iter=5, random_state=0, tol=None)
    cw = LinearClassifier(class_weight={0: 1.0, 1: 3.0}, **kw).fit(X, y)
    sw = LinearClassifier(**kw).fit(X, y, sample_weight=np.where(y == 1, 3.0, 1.0))
    np.testing.assert_allclose(cw.coef_, sw.coef_, rtol=1e-12)
    bal = LinearClassifier(class_weight="balanced", **kw).fit(X[:70], y[:70])
    assert np.all(np.isfinite(bal.coef_))


def test_verbose_prints_one_line_per_epoch(small_regression, capsys):
    X, y = small_regression
    LinearRegressor(max_iter=3, verbose=1, tol=None).fit(X, y)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Epoch")]
    assert len(lines) == 3
    assert "loss" in lines[0] and "learning rate" in lines[0] and " s" in lines[0]


# ---------------------------------------------------------------- determinism, threads

def _parallel_sized_data():
    rng = np.random.RandomState(1)
    X = rng.randn(3000, 40)
    return X, X @ rng.randn(40) + rng.randn(3000)


@pytest.mark.parametrize("batch_size", [1, 64, "full"])
def test_deterministic_across_runs_and_threads(batch_size, force_parallel):
    X, y = _parallel_sized_data()
    kw = dict(batch_size=batch_size, max_iter=2, random_state=7, tol=None)
    a = LinearRegressor(n_threads=1, **kw).fit(X, y)
    b = LinearRegressor(n_threads=1, **kw).fit(X, y)
    c = LinearRegressor(n_threads=2, **kw).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.coef_, c.coef_)
    other = LinearRegressor(n_threads=1, **dict(kw, random_state=8)).fit(X, y)
    if batch_size != "full":
        assert not np.array_equal(a.coef_, other.coef_)


def test_pickle_round_trip(small_regression):
    X, y = small_regression
    model = LinearRegressor(max_iter=3, random_state=0).fit(X, y)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))
    # the optimizer state travels too: training resumes identically
    model.partial_fit(X, y)
    clone.partial_fit(X, y)
    np.testing.assert_array_equal(clone.coef_, model.coef_)


@pytest.mark.parametrize("n_threads", [None, 2])
def test_concurrent_fits_from_threads(n_threads):
    X, y = _parallel_sized_data()
    kw = dict(batch_size="full", max_iter=3, random_state=0, tol=None, n_threads=n_threads)
    expected = LinearRegressor(**kw).fit(X, y).coef_
    results, errors = [None] * 4, []

    def work(i):
        try:
            results[i] = LinearRegressor(**kw).fit(X, y).coef_
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for coef in results:
        np.testing.assert_array_equal(coef, expected)


def test_grid_search_with_loky_workers_matches_serial(diabetes):
    X, y = diabetes
    grid = {"optimizer": ["sgd", "adam"], "learning_rate": [0.01, 0.1]}
    est = LinearRegressor(max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        serial = GridSearchCV(est, grid, cv=3).fit(X, y)
        parallel = GridSearchCV(est, grid, cv=3, n_jobs=2).fit(X, y)
    np.testing.assert_allclose(parallel.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"], rtol=1e-12)


def test_average_zero_is_off(small_regression):
    X, y = small_regression
    kw = dict(max_iter=3, random_state=0, tol=None)
    np.testing.assert_array_equal(LinearRegressor(average=0, **kw).fit(X, y).coef_,
                                  LinearRegressor(average=False, **kw).fit(X, y).coef_)


def test_plateau_patience_carries_across_partial_fit(small_regression, capsys):
    X, y = small_regression
    model = LinearRegressor(lr_schedule="plateau", n_iter_no_change=2, tol=1e3,
                            decay_rate=0.5, verbose=1, random_state=0)
    for _ in range(5):
        model.partial_fit(X, y)
    # the first epoch improves on nothing; each later one misses the (huge)
    # tol, so the rate halves after calls 3 and 5
    assert capsys.readouterr().out.count("Plateau") == 2
    assert model._train_state.plateau_lr == pytest.approx(0.01 / 4)


def test_plateau_without_decay_stops(small_regression):
    X, y = small_regression
    model = LinearRegressor(lr_schedule="plateau", decay_rate=1.0, tol=1e3,
                            n_iter_no_change=2, max_iter=100).fit(X, y)
    assert model.n_iter_ == 3  # one improving epoch, then two stalls


def test_balanced_class_weight_refused_by_partial_fit():
    X, y = make_classification(50, 3, n_redundant=0, random_state=0)
    with pytest.raises(ValueError, match="balanced"):
        LinearClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1])


def test_n_iter_accumulates_with_warm_start(small_regression):
    X, y = small_regression
    model = LinearRegressor(max_iter=3, warm_start=True, tol=None).fit(X, y)
    model.fit(X, y)
    assert model.n_iter_ == 6 == len(model.loss_curve_)


@pytest.mark.parametrize("n_threads", [0, 1.5])
def test_invalid_n_threads(small_regression, n_threads):
    X, y = small_regression
    with pytest.raises(InvalidParameterError, match="n_threads"):
        LinearRegressor(n_threads=n_threads).fit(X, y)


def _wide_sparse(n=300, d=400, nnz=5, seed=0):
    rng = np.random.RandomState(seed)
    indptr = np.arange(n + 1) * nnz
    X = sp.csr_matrix((rng.rand(n * nnz), rng.randint(0, d, n * nnz), indptr), shape=(n, d))
    X.sum_duplicates()
    w = rng.randn(d)
    return X, X @ w + 0.01 * rng.randn(n)


@pytest.mark.parametrize("batch_size", [1, 8])
@pytest.mark.parametrize("penalty", [None, "l2"])
def test_sparse_sgd_updates_only_touched_weights_exactly(batch_size, penalty):
    # plain SGD on wide CSR data takes the sparse-update path (L2 as a
    # running scale); it must match the dense computation on the same data
    X, y = _wide_sparse()
    kw = dict(optimizer="sgd", learning_rate=0.1, batch_size=batch_size, penalty=penalty,
              alpha=0.01, max_iter=3, tol=None, random_state=0)
    sparse = LinearRegressor(**kw).fit(X, y)
    dense = LinearRegressor(**kw).fit(X.toarray(), y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sparse.intercept_, dense.intercept_, rtol=1e-9)
    assert sparse.t_ == dense.t_


def test_sparse_sgd_multiclass_matches_dense():
    X, y = _wide_sparse()
    yc = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    kw = dict(optimizer="sgd", learning_rate=0.1, batch_size=4, penalty="l2", alpha=1e-3,
              max_iter=2, tol=None, random_state=0)
    sparse = LinearClassifier(**kw).fit(X, yc)
    dense = LinearClassifier(**kw).fit(X.toarray(), yc)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-9, atol=1e-12)


def test_sparse_sgd_divergence_is_caught():
    X, y = _wide_sparse()
    model = LinearRegressor(optimizer="sgd", learning_rate=1e8, batch_size=1, max_iter=5,
                            tol=None)
    with pytest.raises(DivergenceError):
        model.fit(X * 1e3, y)
    assert np.all(np.isfinite(model.coef_))


def test_learning_rates_recorded_per_epoch(small_regression):
    X, y = small_regression
    model = LinearRegressor(lr_schedule="step", step_size=1, decay_rate=0.5,
                            batch_size="full", max_iter=3, tol=None).fit(X, y)
    np.testing.assert_allclose(model.learning_rates_, [0.01, 0.005, 0.0025])


def test_verbose_2_draws_a_progress_bar(small_regression, capsys):
    X, y = small_regression
    LinearRegressor(max_iter=4, verbose=2, tol=None).fit(X, y)
    captured = capsys.readouterr()
    assert "Epoch" not in captured.out
    assert "4/4" in captured.err and "loss" in captured.err
    assert captured.err.count("\r") == 4


def test_progress_bar_in_a_notebook_updates_one_display(monkeypatch):
    from sktune import _progress

    shown = []

    class Handle:
        def update(self, text):
            shown.append(text)

    import sys
    import types

    fake = types.ModuleType("IPython.display")
    fake.display = lambda obj, display_id=None: shown.append(obj) or Handle()
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setitem(sys.modules, "IPython.display", fake)
    monkeypatch.setattr(_progress, "_in_notebook", lambda: True)
    bar = _progress.ProgressBar(3, "fit")
    for k in range(1, 4):
        bar.update(k, "loss 1")
    bar.close()
    assert len(shown) == 4 and shown[-1].startswith("fit [") and "3/3" in shown[-1]


@pytest.mark.parametrize("loss, dtype, average", [("squared_error", np.float64, False),
                                                  ("huber", np.float64, True),
                                                  ("squared_error", np.float32, 450)])
def test_per_sample_sgd_kernel_equals_the_general_epoch(loss, dtype, average, monkeypatch):
    """Per-sample plain SGD on dense data runs its own kernel (a dot product
    and one fused update per sample, the L2 shrinkage kept as a scale): the
    same weights as the general epoch up to rounding, and the same
    diagnostics, counters and loss curve."""
    from sktune._kernels import linear

    rng = np.random.RandomState(0)
    X = rng.randn(300, 8).astype(dtype)
    y = (X @ rng.randn(8) + 0.1 * rng.randn(300)).astype(dtype)
    kw = dict(optimizer="sgd", batch_size=1, learning_rate=0.01, lr_schedule="invscaling",
              alpha=1e-3, loss=loss, max_iter=3, tol=None, random_state=0, average=average)
    chosen = []
    original = linear.dense_sgd_applies
    monkeypatch.setattr(linear, "dense_sgd_applies",
                        lambda *a: chosen.append(original(*a)) or chosen[-1])
    fast = LinearRegressor(**kw).fit(X, y)
    assert chosen and all(chosen)
    monkeypatch.setattr(linear, "dense_sgd_applies", lambda *a: False)
    general = LinearRegressor(**kw).fit(X, y)
    rtol = 1e-9 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(fast.coef_, general.coef_, rtol=rtol, atol=rtol * 1e-2)
    np.testing.assert_allclose(fast.intercept_, general.intercept_, rtol=rtol)
    np.testing.assert_allclose(fast.loss_curve_, general.loss_curve_, rtol=rtol)
    np.testing.assert_allclose(fast.gradient_norms_, general.gradient_norms_, rtol=rtol)
    assert fast.t_ == general.t_ == 900
    assert fast.coef_.dtype == general.coef_.dtype == dtype
    np.testing.assert_array_equal(fast._train_state.counters, general._train_state.counters)
    if average:  # the averaged weights are the ones published
        np.testing.assert_allclose(fast._train_state.avg, general._train_state.avg,
                                   rtol=rtol, atol=rtol * 1e-2)
        assert not np.allclose(fast.coef_, fast._train_state.params[:8])


@pytest.mark.parametrize("average, alpha, lr", [(True, 1e-3, 0.05), (150, 1e-3, 0.05),
                                                (True, 2.0, 0.05)])
def test_sparse_per_sample_averaging_equals_the_general_epoch(average, alpha, lr,
                                                              monkeypatch):
    """Averaged per-sample SGD on CSR data keeps O(non-zeros) updates (the
    average formed from a sparse sum once per epoch): the same averaged
    weights as the general CSR epoch up to rounding, also when averaging
    starts mid-epoch and when the L2 scale is folded in (alpha=2 shrinks
    it below 1e-6 within the epoch)."""
    from sktune._kernels import linear

    X, y = _wide_sparse()
    kw = dict(optimizer="sgd", batch_size=1, learning_rate=lr, alpha=alpha, max_iter=3,
              tol=None, random_state=0, average=average)
    chosen = []
    original = linear.sparse_sgd_applies
    monkeypatch.setattr(linear, "sparse_sgd_applies",
                        lambda *a: chosen.append(original(*a)) or chosen[-1])
    fast = LinearRegressor(**kw).fit(X, y)
    assert chosen and all(chosen)
    monkeypatch.setattr(linear, "sparse_sgd_applies", lambda *a: False)
    general = LinearRegressor(**kw).fit(X, y)
    np.testing.assert_allclose(fast.coef_, general.coef_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(fast.intercept_, general.intercept_, rtol=1e-8)
    np.testing.assert_allclose(fast.gradient_norms_, general.gradient_norms_, rtol=1e-8)
    np.testing.assert_array_equal(fast._train_state.counters, general._train_state.counters)
    assert not np.allclose(fast.coef_, fast._train_state.params[:-1])


@pytest.mark.parametrize("y", [
    np.array([0, 1, 1, 0, 1]), np.array([2, 0, 1, 2, 1, 0]),
    np.array(["b", "a", "c", "a"], dtype=object), np.array(["y", "x", "y"]),
    np.array([1.0, -2.0, 1.0, 3.0]),
], ids=["binary", "multiclass", "object", "str-binary", "float"])
def test_classifier_targets_encoded_as_label_binarizer(y):
    """The one-hot targets are LabelBinarizer's (binary: one column)."""
    from sklearn.preprocessing import LabelBinarizer

    clf = LinearClassifier()
    Y = clf._encode_targets(y, np.float32, reset=True)
    expected = LabelBinarizer().fit(clf.classes_).transform(y).astype(np.float32)
    assert Y.dtype == np.float32 and Y.flags.c_contiguous
    np.testing.assert_array_equal(Y, expected)
    # a later call with a subset of the classes encodes against all of them
    np.testing.assert_array_equal(clf._encode_targets(y[:2], np.float32, reset=False),
                                  expected[:2])
