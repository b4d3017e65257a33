"""``lazy_updates``: on CSR data, stateful optimizers update only the
features present in each batch (and the intercepts)."""
import numpy as np
import pytest
import scipy.sparse as sp

from sktune import LinearClassifier, LinearRegressor


def _sparse_data(n=120, d=40, density=0.05, seed=0, absent=()):
    rng = np.random.RandomState(seed)
    X = sp.random(n, d, density=density, random_state=rng, format="csr")
    X = X.tolil()
    for j in absent:
        X[:, j] = 0.0
    X = X.tocsr()
    X.eliminate_zeros()
    y = X @ rng.randn(d) + 0.1 * rng.randn(n)
    return X, y


def _state(model):
    s = model._train_state
    return s.params.copy(), s.m.copy(), s.v.copy()


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "adagrad", "momentum"])
def test_lazy_equals_exact_when_every_feature_is_in_every_batch(optimizer):
    # dense data stored as CSR: every feature is present in every batch
    rng = np.random.RandomState(0)
    X = rng.randn(90, 6)
    y = X @ rng.randn(6)
    kw = dict(optimizer=optimizer, batch_size=16, max_iter=3, tol=None, random_state=0,
              penalty=None, learning_rate=0.01)
    lazy = LinearRegressor(lazy_updates=True, **kw).fit(sp.csr_matrix(X), y)
    exact = LinearRegressor(**kw).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(lazy.coef_, exact.coef_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(lazy.intercept_, exact.intercept_, rtol=1e-12)
    np.testing.assert_allclose(lazy.loss_curve_, exact.loss_curve_, rtol=1e-12)
    np.testing.assert_allclose(lazy.gradient_norms_, exact.gradient_norms_, rtol=1e-10)
    assert lazy.t_ == exact.t_


def test_untouched_features_keep_their_state_exactly():
    absent = [3, 7, 11]
    X, y = _sparse_data(absent=absent)
    model = LinearRegressor(optimizer="adam", lazy_updates=True, penalty=None, batch_size=8,
                            max_iter=1, tol=None, random_state=0, warm_start=True)
    model.fit(X, y)
    before = _state(model)
    model.fit(X, y)
    after = _state(model)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a[absent], b[absent])
    # the present features did move
    assert not np.array_equal(before[0], after[0])
    assert np.all(after[1][absent] == before[1][absent])


def test_lazy_l2_scale_matches_an_eager_decay():
    """An absent feature's weight decays by (1 - lr * alpha) per step, applied
    lazily as one scale: equal to the eager product to 1e-12."""
    absent = [5]
    X, y = _sparse_data(absent=absent)
    kw = dict(optimizer="adam", lazy_updates=True, alpha=0.05, batch_size=10,
              learning_rate=0.02, lr_schedule="invscaling", random_state=0, tol=None)
    model = LinearRegressor(max_iter=1, warm_start=True, **kw).fit(X, y)
    w0 = model._train_state.params[5] = 0.75  # an absent feature's weight
    lrs = []
    original = type(model)._schedule_rates

    def recording(self, state, n_batches):
        rates = original(self, state, n_batches)
        lrs.extend(rates)
        return rates

    type(model)._schedule_rates = recording
    try:
        model.set_params(max_iter=2).fit(X, y)
    finally:
        type(model)._schedule_rates = original
    eager = w0 * np.prod(1.0 - 0.05 * np.asarray(lrs))
    assert len(lrs) == 2 * 12
    np.testing.assert_allclose(model.coef_[5], eager, rtol=1e-12)


def test_lazy_updates_are_faster_in_work_and_close_in_accuracy():
    X, y = _sparse_data(n=400, d=300, density=0.02, seed=1)
    kw = dict(optimizer="adam", batch_size=16, max_iter=20, tol=None, random_state=0,
              learning_rate=0.05)
    lazy = LinearRegressor(lazy_updates=True, **kw).fit(X, y)
    exact = LinearRegressor(**kw).fit(X, y)
    assert abs(lazy.score(X, y) - exact.score(X, y)) < 0.05
    assert not np.allclose(lazy.coef_, exact.coef_)  # a different algorithm


def test_lazy_updates_classifier_and_the_settings_it_refuses():
    X, y = _sparse_data()
    yc = (y > np.median(y)).astype(int)
    clf = LinearClassifier(lazy_updates=True, max_iter=3, tol=None, random_state=0)
    assert clf.fit(X, yc).score(X, yc) > 0.6
    for bad in (dict(penalty="l1"), dict(clip_norm=1.0), dict(average=True)):
        with pytest.raises(ValueError, match="lazy_updates=True"):
            LinearRegressor(lazy_updates=True, max_iter=1, **bad).fit(X, y)
    # plain SGD (already sparse) and dense X ignore it
    LinearRegressor(lazy_updates=True, optimizer="sgd", max_iter=1, penalty="l1").fit(X, y)
    LinearRegressor(lazy_updates=True, max_iter=1, clip_norm=1.0).fit(X.toarray(), y)
