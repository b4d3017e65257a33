"""Losses: kernel gradients against finite differences and numpy references.

Every reference here is written from the formulas in :mod:`sktune.losses`
and the estimator docstrings, independently of the kernels.
"""
import itertools
import math

import numpy as np
import pytest
from scipy.special import expit, logsumexp, softmax

from sktune import LinearClassifier, LinearRegressor
from sktune._kernels import _codes as C
from sktune._kernels._scalar import elem_loss_grad
from sktune._kernels._scalar import row_loss_grad as _row_loss_grad
from sktune._engine.encode import encode
from sktune.losses import CLASSIFICATION_LOSSES, REGRESSION_LOSSES, loss_code

# ---------------------------------------------------------------------------
# element-wise losses: value and derivative


def _ref_loss(name, y, p, delta):
    """Loss of one output, from the table in sktune/losses.py."""
    if name == "squared_error":
        return 0.5 * (p - y) ** 2
    if name == "huber":
        r = p - y
        if abs(r) <= delta:
            return 0.5 * r * r
        return delta * (abs(r) - 0.5 * delta)
    if name == "poisson":
        return math.exp(p) - y * p
    if name == "logistic":
        return float(np.logaddexp(0.0, p)) - y * p
    if name == "hinge":
        s = 2.0 * y - 1.0
        return max(0.0, 1.0 - s * p)
    raise AssertionError(name)


_CODE = {
    "squared_error": C.SQUARED_ERROR,
    "huber": C.HUBER,
    "poisson": C.POISSON,
    "logistic": C.LOGISTIC,
    "hinge": C.HINGE,
}

_DELTA = 1.0

# (name, y values, p values); each grid is checked on its full product
_GRIDS = [
    ("squared_error", [-2.0, -0.3, 0.0, 1.5, 4.0], [-3.0, -0.7, 0.0, 0.4, 2.5]),
    # residuals p - y on both sides of delta = 1 and never within 0.05 of it
    ("huber", [-1.0, 0.0, 0.5, 2.0], [-2.7, -0.8, -0.2, 0.3, 0.75, 1.9, 3.6]),
    ("poisson", [0.0, 0.5, 1.0, 3.0, 10.0], [-2.0, -0.5, 0.0, 0.8, 2.3]),
    ("logistic", [0.0, 0.25, 1.0], [-30.0, -3.0, -0.5, 0.0, 0.5, 3.0, 30.0]),
    # margins s * p are never near the kink at 1
    ("hinge", [0.0, 1.0], [-2.0, -0.5, 0.0, 0.5, 0.8, 1.3, 2.0]),
]

_CASES = [
    pytest.param(name, y, p, id=f"{name}-y{y}-p{p}")
    for name, ys, ps in _GRIDS
    for y, p in itertools.product(ys, ps)
]


def _central_difference(name, y, p, h):
    lp, _ = elem_loss_grad(_CODE[name], y, p + h, _DELTA)
    lm, _ = elem_loss_grad(_CODE[name], y, p - h, _DELTA)
    return (lp - lm) / (2.0 * h)


@pytest.mark.parametrize("name, y, p", _CASES)
def test_elem_loss_grad_matches_finite_difference(name, y, p):
    loss, grad = elem_loss_grad(_CODE[name], y, p, _DELTA)
    h = 1e-6 * max(1.0, abs(p))
    fd = _central_difference(name, y, p, h)
    # truncation error O(h^2 * f''') plus rounding O(eps * |f| / h)
    assert grad == pytest.approx(fd, rel=1e-6, abs=1e-7)
    # and the loss itself is the documented one
    assert loss == pytest.approx(_ref_loss(name, y, p, _DELTA), rel=1e-12, abs=1e-14)


def test_grids_cover_both_huber_regimes_and_both_hinge_sides():
    # the grids above must exercise every branch they claim to
    _, ys, ps = _GRIDS[1]
    r = np.subtract.outer(np.array(ps), np.array(ys)).ravel()
    assert (np.abs(r) < _DELTA).any() and (r > _DELTA).any() and (r < -_DELTA).any()
    assert np.min(np.abs(np.abs(r) - _DELTA)) > 0.04
    _, ys, ps = _GRIDS[4]
    margins = np.multiply.outer(2 * np.array(ys) - 1, np.array(ps)).ravel()
    assert (margins < 1).any() and (margins > 1).any()
    assert np.min(np.abs(margins - 1)) > 0.1


@pytest.mark.parametrize("r", [-5.0, -1.5, 1.5, 5.0])
def test_huber_gradient_is_clipped_outside_delta(r):
    _, g = elem_loss_grad(C.HUBER, 0.0, r, _DELTA)
    assert g == math.copysign(_DELTA, r)


@pytest.mark.parametrize("y, p", [(1.0, 1.5), (1.0, 7.0), (0.0, -1.2), (0.0, -9.0)])
def test_hinge_is_flat_outside_the_margin(y, p):
    loss, g = elem_loss_grad(C.HINGE, y, p, _DELTA)
    assert loss == 0.0 and g == 0.0


@pytest.mark.parametrize("p", [-800.0, -50.0, 50.0, 800.0])
def test_logistic_is_finite_for_extreme_logits(p):
    for y in (0.0, 1.0):
        loss, g = elem_loss_grad(C.LOGISTIC, y, p, _DELTA)
        assert math.isfinite(loss) and math.isfinite(g)
        assert loss == pytest.approx(_ref_loss("logistic", y, p, _DELTA), rel=1e-12)
        assert g == pytest.approx(float(expit(p)) - y, abs=1e-15)


# ---------------------------------------------------------------------------
# the row loss of the kernel: softmax and the element-wise sum


def _row(code, Yrow, prow, wi=1.0, delta=_DELTA, c=1):
    """Call the kernel's row loss on row 0 of ``Yrow`` with outputs in chunk ``c``."""
    Y = np.asarray(Yrow, dtype=np.float64).reshape(1, -1)
    K = Y.shape[1]
    P = np.full((3, K), np.nan)
    P[c] = prow
    G = np.full((3, K), np.nan)
    loss = _row_loss_grad(code, Y, 0, P, c, delta, wi, G)
    return loss, G[c].copy(), P, G


_SOFTMAX_ROWS = [
    ([1.0, 0.0, 0.0], [0.2, -1.0, 0.7]),
    ([0.0, 1.0, 0.0], [0.0, 0.0, 0.0]),
    ([0.0, 0.0, 1.0], [3.0, -2.0, 1.0]),
    ([0.0, 1.0, 0.0, 0.0], [-0.4, 2.2, 0.1, -3.0]),
    ([0.3, 0.7, 0.0], [1.0, 0.5, -0.5]),  # soft labels
]


@pytest.mark.parametrize("wi", [1.0, 0.25, 3.0])
@pytest.mark.parametrize("Yrow, prow", _SOFTMAX_ROWS)
def test_softmax_row_loss_and_gradient(Yrow, prow, wi):
    y = np.array(Yrow)
    p = np.array(prow)
    loss, g, _, G = _row(C.SOFTMAX, y, p, wi)
    # multinomial log loss: sum_k y_k * (logsumexp(p) - p_k)
    assert loss == pytest.approx(wi * float(np.sum(y * (logsumexp(p) - p))), rel=1e-12)
    np.testing.assert_allclose(g, wi * (softmax(p) - y), rtol=1e-12, atol=1e-15)
    # finite differences of the returned loss, one output at a time
    h = 1e-6
    for k in range(len(p)):
        e = np.zeros_like(p)
        e[k] = h
        fd = (_row(C.SOFTMAX, y, p + e, wi)[0] - _row(C.SOFTMAX, y, p - e, wi)[0]) / (2 * h)
        assert g[k] == pytest.approx(fd, rel=1e-6, abs=1e-8)
    # only chunk c of the scratch is written
    assert np.isnan(G[0]).all() and np.isnan(G[2]).all()


def test_softmax_row_loss_is_stable_for_huge_logits():
    p = np.array([1000.0, 990.0, -1000.0])
    loss, g, _, _ = _row(C.SOFTMAX, [0.0, 1.0, 0.0], p)
    assert loss == pytest.approx(float(logsumexp(p) - p[1]), rel=1e-12)
    np.testing.assert_allclose(g, softmax(p) - [0.0, 1.0, 0.0], atol=1e-15)


def test_mlp_vector_exp_is_within_one_ulp_of_numpy():
    from sktune._kernels.mlp import exp_nonpositive

    rng = np.random.default_rng(0)
    x = np.concatenate([-rng.exponential(20.0, 20000), -rng.uniform(0, 1e-3, 1000),
                        np.linspace(-745.5, -700.0, 500),
                        [0.0, -0.0, -1e-300, -5e-324, -708.4, -744.4, -745.2, -800.0]])
    out = np.empty_like(x)
    exp_nonpositive(x, out)
    ref = np.exp(x)
    normal = ref >= np.finfo(np.float64).tiny
    ulp = np.spacing(ref[normal])
    assert np.max(np.abs(out[normal] - ref[normal]) / ulp) <= 1.0
    # subnormal results: an absolute error of at most two subnormal steps
    assert np.max(np.abs(out[~normal] - ref[~normal])) <= 2 * 5e-324
    assert out[x == 0.0].tolist() == [1.0, 1.0]
    special = np.array([-np.inf, np.nan])
    exp_nonpositive(special, special)
    assert special[0] == 0.0 and np.isnan(special[1])
    x32 = np.linspace(-80.0, 0.0, 1001).astype(np.float32)
    out32 = np.empty_like(x32)
    exp_nonpositive(x32, out32)
    np.testing.assert_array_equal(out32, np.exp(x32.astype(np.float64)).astype(np.float32))


def _block_case(n, K, seed=1):
    rng = np.random.default_rng(seed)
    P0 = rng.normal(0, 3, (n, K))
    P0[5] = [1000.0, 990.0, -1000.0, 0.0][:K] if K > 1 else 1000.0
    P0[6] = 0.0
    P0[7] = [-800.0, 0.0, 50.0, -3.0][:K] if K > 1 else -800.0
    return rng, P0


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 1e-5)])
@pytest.mark.parametrize("code", [C.SOFTMAX, C.LOGISTIC], ids=["softmax", "logistic"])
def test_mlp_block_log_loss_and_gradient(code, dtype, rtol):
    """The MLP's loss unit over a block of rows (a vector exp over the block)
    against scipy: weighted rows in the order ``order``, soft labels, logits
    far apart (exp underflows) and equal."""
    from sktune._kernels.mlp import loss_rows

    n, K = 37, (4 if code == C.SOFTMAX else 1)
    rng, P0 = _block_case(n, K)
    if code == C.SOFTMAX:
        Y = np.eye(K)[rng.integers(0, K, n)]
        Y[3] = [0.25, 0.25, 0.5, 0.0]
    else:
        Y = rng.integers(0, 2, (n, 1)).astype(float)
        Y[3] = 0.3
    bias = rng.normal(0, 1, K)
    sw = rng.uniform(0.2, 3.0, n + 5).astype(dtype)
    order = rng.permutation(n + 5)[:n + 2]
    lo = 2
    Yi = np.zeros((n + 5, K))
    Yi[order[lo:lo + n]] = Y
    P = P0.astype(dtype)
    D = np.full((n, K), np.nan, dtype=dtype)
    loss = loss_rows(code, P, D, Yi.astype(dtype), sw, order, lo, 1.0, bias)
    Z = P0.astype(dtype).astype(np.float64) + bias
    w = sw[order[lo:lo + n]].astype(np.float64)
    if code == C.SOFTMAX:
        rows = np.sum(Y * (logsumexp(Z, axis=1, keepdims=True) - Z), axis=1)
        grad = softmax(Z, axis=1) - Y
    else:
        rows = (np.logaddexp(0.0, Z) - Y * Z)[:, 0]
        grad = expit(Z) - Y
    assert loss == pytest.approx(np.sum(w * rows), rel=rtol)
    np.testing.assert_allclose(D, w[:, None] * grad, rtol=rtol, atol=10 * np.finfo(dtype).eps)


@pytest.mark.parametrize("name", ["squared_error", "huber", "poisson", "logistic", "hinge"])
def test_elementwise_row_loss_sums_outputs(name):
    y = np.array([1.0, 0.0, 1.0]) if name in ("logistic", "hinge") else np.array([0.5, 2.0, 3.0])
    p = np.array([0.3, -2.4, 1.1])
    wi = 0.7
    loss, g, _, _ = _row(_CODE[name], y, p, wi)
    ref = [elem_loss_grad(_CODE[name], y[k], p[k], _DELTA) for k in range(3)]
    assert loss == pytest.approx(wi * sum(_ref_loss(name, y[k], p[k], _DELTA) for k in range(3)),
                                 rel=1e-12)
    np.testing.assert_allclose(g, [wi * r[1] for r in ref], rtol=1e-14)


# ---------------------------------------------------------------------------
# loss names -> kernel codes


@pytest.mark.parametrize(
    "name, n_classes, expected",
    [
        ("squared_error", None, C.SQUARED_ERROR),
        ("huber", None, C.HUBER),
        ("poisson", None, C.POISSON),
        ("log_loss", None, C.LOGISTIC),
        ("log_loss", 2, C.LOGISTIC),
        ("log_loss", 3, C.SOFTMAX),
        ("log_loss", 10, C.SOFTMAX),
        ("hinge", None, C.HINGE),
        ("hinge", 2, C.HINGE),
        ("hinge", 3, C.HINGE),  # one-vs-rest, never softmax
    ],
)
def test_loss_code_mapping(name, n_classes, expected):
    assert loss_code(name, n_classes) == expected


def test_loss_codes_are_distinct_and_tables_complete():
    codes = [C.SQUARED_ERROR, C.HUBER, C.POISSON, C.LOGISTIC, C.SOFTMAX, C.HINGE]
    assert len(set(codes)) == len(codes)
    assert set(REGRESSION_LOSSES) == {"squared_error", "huber", "poisson"}
    assert set(CLASSIFICATION_LOSSES) == {"log_loss", "hinge"}


@pytest.mark.parametrize("n_classes, expected", [(2, C.LOGISTIC), (3, C.SOFTMAX), (4, C.SOFTMAX)])
def test_classifier_uses_softmax_for_multiclass_log_loss(n_classes, expected):
    X, _ = _data()
    y = np.arange(X.shape[0]) % n_classes
    clf = LinearClassifier(max_iter=1, tol=None).fit(X, y)
    _, icodes = encode(clf, clf._train_state, 8)
    assert icodes[C.I_LOSS] == expected


def test_unknown_loss_code_raises():
    with pytest.raises(KeyError):
        loss_code("absolute_error")


# ---------------------------------------------------------------------------
# one full-batch SGD step through the estimators vs a numpy reference


def _data(n=40, d=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    return X, rng


def _dloss(name, Y, P, delta):
    """d loss / d raw output, per sample and output (numpy, from the docs)."""
    if name == "squared_error":
        return P - Y
    if name == "huber":
        return np.clip(P - Y, -delta, delta)
    if name == "poisson":
        return np.exp(P) - Y
    if name == "logistic":
        return expit(P) - Y
    if name == "softmax":
        return softmax(P, axis=1) - Y
    if name == "hinge":
        s = 2 * Y - 1
        return np.where(s * P < 1, -s, 0.0)
    raise AssertionError(name)


def _one_step_reference(name, X, Y, sw, W0, b0, lr, delta=1.35):
    """W, b after one SGD step on ``mean(sw * loss)`` from ``(W0, b0)``."""
    n = X.shape[0]
    P = X @ W0 + b0
    G = sw[:, None] * _dloss(name, Y, P, delta)
    return W0 - lr * (X.T @ G) / n, b0 - lr * G.sum(axis=0) / n


def _one_step(est):
    est.set_params(optimizer="sgd", batch_size="full", max_iter=1, shuffle=False,
                   tol=None)
    return est


def _regression_targets(loss, X, rng):
    if loss == "poisson":
        return rng.poisson(np.exp(0.3 * X[:, 0] - 0.2 * X[:, 1] + 0.5)).astype(float)
    return 2.0 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2] + 0.3 + rng.randn(X.shape[0])


_REGRESSION = ["squared_error", "huber", "poisson"]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("loss", _REGRESSION)
def test_regressor_one_sgd_step(loss, weighted):
    X, rng = _data()
    y = _regression_targets(loss, X, rng)
    sw = rng.uniform(0.2, 3.0, X.shape[0]) if weighted else np.ones(X.shape[0])
    lr, delta = 0.05, 0.8
    est = _one_step(LinearRegressor(loss=loss, learning_rate=lr, huber_delta=delta))
    est.fit(X, y, sample_weight=sw if weighted else None)

    mean = np.sum(sw * y) / np.sum(sw)
    b0 = np.array([np.log(mean) if loss == "poisson" else mean])
    if loss == "huber":
        r = b0[0] - y  # residuals at the start: both Huber regimes must occur
        assert (np.abs(r) < delta).any() and (np.abs(r) > delta).any()
    W, b = _one_step_reference(loss, X, y[:, None], sw, np.zeros((3, 1)), b0, lr, delta)
    assert est.coef_.shape == (3,)
    np.testing.assert_allclose(est.coef_, W[:, 0], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(est.intercept_, b, rtol=1e-10, atol=1e-14)
    assert est.t_ == 1 and est.n_iter_ == 1


def _classifier_start(loss, Y, sw):
    """Initial intercept of LinearClassifier (see ``_baseline``)."""
    if loss == "hinge":
        return np.zeros(Y.shape[1])
    p = np.clip(sw @ Y / sw.sum(), 1e-6, 1 - 1e-6)
    if Y.shape[1] == 1:
        return np.log(p / (1 - p))
    return np.log(p) - np.log(p).mean()


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("loss, n_classes", [("log_loss", 2), ("log_loss", 3),
                                             ("hinge", 2), ("hinge", 3)])
def test_classifier_one_sgd_step(loss, n_classes, weighted):
    X, rng = _data()
    n = X.shape[0]
    y = rng.permutation(np.arange(n) % n_classes)
    y[:n_classes + 3] = np.arange(n_classes + 3) % n_classes  # unbalanced, all present
    y = np.where(rng.rand(n) < 0.3, 0, y)
    sw = rng.uniform(0.2, 3.0, n) if weighted else np.ones(n)
    lr = 0.1
    clf = _one_step(LinearClassifier(loss=loss, learning_rate=lr))
    clf.fit(X, y, sample_weight=sw if weighted else None)

    K = 1 if n_classes == 2 else n_classes
    Y = (y[:, None] == np.arange(n_classes)[None, :]).astype(float)
    if K == 1:
        Y = Y[:, 1:]
    b0 = _classifier_start(loss, Y, sw)
    if loss == "log_loss" and K > 1:
        # centred log frequencies: softmax(b0) is the weighted class frequency
        np.testing.assert_allclose(softmax(b0), sw @ Y / sw.sum(), rtol=1e-12)
        name = "softmax"
    else:
        name = "logistic" if loss == "log_loss" else "hinge"
    W, b = _one_step_reference(name, X, Y, sw, np.zeros((3, K)), b0, lr)
    assert clf.coef_.shape == (K, 3)
    np.testing.assert_allclose(clf.coef_, W.T, rtol=1e-10, atol=1e-14)
    # the intercept gradient vanishes at the log-odds start up to rounding
    np.testing.assert_allclose(clf.intercept_, b, rtol=1e-10, atol=1e-14)
    assert np.abs(W).max() > 1e-3  # the step actually moved the weights


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_sample_weight_is_a_multiplier(loss):
    X, rng = _data(seed=3)
    y = _regression_targets(loss, X, rng)
    sw = rng.uniform(0.0, 2.0, X.shape[0])
    lr = 0.05
    est = _one_step(LinearRegressor(loss=loss, learning_rate=lr)).fit(X, y, sample_weight=sw)
    # start from the same point, but weights 1: the step must differ ...
    mean = np.sum(sw * y) / sw.sum()
    b0 = np.array([np.log(mean) if loss == "poisson" else mean])
    W1, _ = _one_step_reference(loss, X, y[:, None], np.ones(X.shape[0]), np.zeros((3, 1)), b0, lr)
    assert not np.allclose(est.coef_, W1[:, 0], rtol=1e-3)
    # ... and the data gradient is the sample-weighted sum over n (not sum(sw))
    G = _dloss(loss, y[:, None], np.broadcast_to(b0, (X.shape[0], 1)), 1.35)
    expected = -lr * (X * sw[:, None]).T @ G[:, 0] / X.shape[0]
    np.testing.assert_allclose(est.coef_, expected, rtol=1e-10)


def test_zero_weight_samples_do_not_matter():
    X, rng = _data(seed=4)
    y = _regression_targets("squared_error", X, rng)
    sw = np.ones(X.shape[0])
    sw[:5] = 0.0
    X2, y2 = X.copy(), y.copy()
    X2[:5] = rng.randn(5, 3) * 100
    y2[:5] = rng.randn(5) * 100
    kw = dict(learning_rate=0.05, max_iter=3)
    a = _one_step(LinearRegressor(**kw)).set_params(max_iter=3).fit(X, y, sample_weight=sw)
    b = _one_step(LinearRegressor(**kw)).set_params(max_iter=3).fit(X2, y2, sample_weight=sw)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.intercept_, b.intercept_)


def test_class_weight_multiplies_sample_weight():
    X, rng = _data(seed=5)
    y = (X[:, 0] + 0.5 * rng.randn(X.shape[0]) > 0).astype(int)
    sw = rng.uniform(0.5, 2.0, X.shape[0])
    cw = {0: 1.0, 1: 3.0}
    a = _one_step(LinearClassifier(learning_rate=0.1, class_weight=cw)).fit(X, y, sample_weight=sw)
    b = _one_step(LinearClassifier(learning_rate=0.1)).fit(
        X, y, sample_weight=sw * np.where(y == 1, 3.0, 1.0))
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.intercept_, b.intercept_)


@pytest.mark.parametrize("y", [0.0, 1.0, 0.3])
def test_logistic_loss_has_the_bits_of_softplus_and_sigmoid_apart(y):
    # one exp(-|p|) serves both: the same bits as computing each on its own
    def softplus(z):
        return z + math.log1p(math.exp(-z)) if z > 0.0 else math.log1p(math.exp(z))

    def sigmoid(z):
        if z >= 0.0:
            return 1.0 / (1.0 + math.exp(-z))
        return math.exp(z) / (1.0 + math.exp(z))

    ps = [0.0, -0.0, 1e-300, -1e-300, 0.5, -0.5, 3.7, -3.7, 40.0, -40.0, 700.0, -745.0]
    ps += list(np.random.default_rng(0).normal(0.0, 5.0, 200))
    for p in ps:
        loss, grad = elem_loss_grad(C.LOGISTIC, y, float(p), 0.0)
        assert loss == softplus(p) - y * p
        assert grad == sigmoid(p) - y
