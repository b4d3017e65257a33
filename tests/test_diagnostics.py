"""Gradient diagnostics (``gradient_norms_``, ``update_norms_``, the
vanishing / exploding warning) and the defaults that do what they say
(``penalty="l2"``, scikit-learn's schedule names, a runaway loss)."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_friedman1

from sktune import (DivergenceError, LinearClassifier, LinearRegressor, MLPClassifier,
                    MLPRegressor)
from sktune.exceptions import GradientWarning


def _data(n=64, d=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    return X, X[:, 0] - X[:, 1] ** 2 + 0.1 * rng.randn(n)


def _numeric_grad(loss, params, eps=1e-6):
    """Central finite differences of ``loss`` at each array of ``params``."""
    grads = []
    for k, arr in enumerate(params):
        g = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            hi = [p.copy() for p in params]
            lo = [p.copy() for p in params]
            hi[k][idx] += eps
            lo[k][idx] -= eps
            g[idx] = (loss(*hi) - loss(*lo)) / (2 * eps)
        grads.append(g)
    return grads


def test_gradient_norms_equal_finite_difference_norms_of_a_tiny_network():
    X, y = _data()
    kw = dict(hidden_layer_sizes=(4,), batch_size="full", tol=None, random_state=0,
              optimizer="sgd", penalty=None)
    start = MLPRegressor(max_iter=1, learning_rate=1e-300, **kw).fit(X, y)  # the init
    model = MLPRegressor(max_iter=1, learning_rate=1e-3, **kw).fit(X, y)

    def loss(W1, W2, b1, b2):
        H = np.maximum(X @ W1 + b1, 0.0)
        return 0.5 * np.mean(((H @ W2 + b2).ravel() - y) ** 2)

    gW1, gW2, gb1, gb2 = _numeric_grad(loss, start.coefs_ + start.intercepts_)
    expected = [np.sqrt(np.sum(gW1 ** 2) + np.sum(gb1 ** 2)),
                np.sqrt(np.sum(gW2 ** 2) + np.sum(gb2 ** 2))]
    assert model.gradient_norms_.shape == (1, 2)
    np.testing.assert_allclose(model.gradient_norms_[0], expected, rtol=1e-6)
    # one full-batch SGD step: the update is the learning rate times the gradient
    updates = [np.sqrt(np.sum((a - b) ** 2) + np.sum((c - d) ** 2)) for a, b, c, d in
               zip(model.coefs_, start.coefs_, model.intercepts_, start.intercepts_)]
    np.testing.assert_allclose(model.update_norms_[0], updates, rtol=1e-9)
    np.testing.assert_allclose(model.update_norms_[0], 1e-3 * np.array(expected), rtol=1e-5)


def test_gradient_norms_of_a_linear_model_are_the_mean_batch_gradient():
    X, y = _data(n=40)
    model = LinearRegressor(optimizer="sgd", batch_size=10, learning_rate=1e-300,
                            max_iter=2, tol=None, shuffle=False, penalty=None).fit(X, y)
    # the weights never move: the mean of the 4 batch gradients at zero
    # weights (and the baseline intercept) is the full gradient
    w = np.concatenate([model.coef_.ravel(), np.ravel(model.intercept_)])
    r = X @ w[:-1] + w[-1] - y
    full = np.concatenate([X.T @ r, [r.sum()]]) / len(y)
    assert model.gradient_norms_.shape == (2, 1)
    np.testing.assert_allclose(model.gradient_norms_[:, 0], np.linalg.norm(full), rtol=1e-9)


@pytest.mark.parametrize("batch_size, penalty", [(1, "l2"), (4, "l2"), (1, None)])
def test_sparse_sgd_records_the_dense_gradient_norms(batch_size, penalty):
    # per sample without L2 at a constant rate, the sparse kernel reads the
    # gradient sum from the weights' change instead of adding it per non-zero
    rng = np.random.RandomState(1)
    X = sp.random(60, 200, density=0.02, random_state=rng, format="csr")
    y = rng.randn(60)
    kw = dict(optimizer="sgd", batch_size=batch_size, max_iter=2, tol=None, random_state=0,
              learning_rate=0.01, penalty=penalty)
    sparse = LinearRegressor(**kw).fit(X, y)
    dense = LinearRegressor(**kw).fit(X.toarray(), y)
    np.testing.assert_allclose(sparse.gradient_norms_, dense.gradient_norms_, rtol=1e-8)
    np.testing.assert_allclose(sparse.update_norms_, dense.update_norms_, rtol=1e-6)


def test_diagnostics_follow_warm_start_and_reset_on_a_new_fit():
    X, y = _data()
    model = MLPRegressor((5, 3), max_iter=3, tol=None, random_state=0, warm_start=True)
    model.fit(X, y)
    assert model.gradient_norms_.shape == model.update_norms_.shape == (3, 3)
    model.fit(X, y)
    assert model.gradient_norms_.shape == (6, 3)
    model.partial_fit(X, y)
    assert model.gradient_norms_.shape == (7, 3) == (model.n_iter_, 3)
    model.set_params(warm_start=False).fit(X, y)
    assert model.gradient_norms_.shape == (3, 3)
    assert np.all(model.gradient_norms_ > 0) and np.all(np.isfinite(model.update_norms_))


def test_vanishing_gradients_warn_on_a_deep_sigmoid_network_only():
    X, y = make_friedman1(300, random_state=0)
    X = (X - X.mean(0)) / X.std(0)
    kw = dict(hidden_layer_sizes=(16,) * 6, optimizer="sgd", learning_rate=0.01,
              max_iter=5, tol=None, random_state=0, verbose=1)

    def warned(**more):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = MLPRegressor(**kw, **more).fit(X, y)
        return model, [str(w.message) for w in caught if w.category is GradientWarning]

    deep, messages = warned(activation="logistic", init="glorot")
    assert len(messages) == 1 and "vanishing gradients in layer(s) 1" in messages[0]
    assert "clip_norm" in messages[0] and 'optimizer="adam"' in messages[0]
    assert deep.gradient_norms_[-1, 0] < 1e-3 * deep.gradient_norms_[-1].max()
    _, messages = warned(activation="relu")
    assert messages == []


def test_default_penalty_makes_alpha_count():
    X, y = _data(n=80, d=4)
    yc = (y > np.median(y)).astype(int)
    for Est, target, extra in ((LinearRegressor, y, {}), (LinearClassifier, yc, {}),
                               (MLPRegressor, y, {"hidden_layer_sizes": (4,)}),
                               (MLPClassifier, yc, {"hidden_layer_sizes": (4,)})):
        assert Est().penalty == "l2"
        kw = dict(max_iter=5, tol=None, random_state=0, **extra)
        weak = Est(alpha=0.0, **kw).fit(X, target)
        strong = Est(alpha=10.0, **kw).fit(X, target)
        first = (lambda m: m.coef_) if hasattr(weak, "coef_") else (lambda m: m.coefs_[0])
        assert not np.allclose(first(weak), first(strong)), Est.__name__
        # the strong penalty shrinks the weights
        assert np.abs(first(strong)).sum() < np.abs(first(weak)).sum()


@pytest.mark.parametrize("name, hint", [("adaptive", 'lr_schedule="plateau"'),
                                        ("invscaling", 'lr_schedule="invscaling"'),
                                        ("optimal", "lr_schedule")])
def test_sklearn_schedule_names_in_learning_rate_point_to_lr_schedule(name, hint):
    X, y = _data()
    with pytest.raises(ValueError, match="lr_schedule") as info:
        LinearRegressor(learning_rate=name).fit(X, y)
    assert hint in str(info.value) and repr(name) in str(info.value)


def test_a_finite_runaway_loss_raises_divergence_error():
    X, y = make_friedman1(1000, random_state=0)
    X = (X - X.mean(0)) / X.std(0)
    model = LinearRegressor(optimizer="sgd", learning_rate=10, random_state=0)
    with pytest.raises(DivergenceError, match="first epoch") as info:
        model.fit(X, y)
    assert "learning_rate" in str(info.value)
    assert np.all(np.isfinite(model.coef_))
    assert all(np.isfinite(model.loss_curve_))
