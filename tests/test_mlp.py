"""MLPRegressor and MLPClassifier: gradients, scikit-learn parity, dropout, shared engine."""
import pickle
import warnings
from itertools import pairwise

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits, load_iris, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import StandardScaler

from sktune import DivergenceError, MLPClassifier, MLPRegressor
from sktune._kernels import _codes as C
from sktune._kernels._rng import hash_prefix
from sktune._kernels.cpu import mlp_pass
from sktune._kernels._rng import dropout_keep as _dropout_keep
from sktune._kernels._rng import dropout_keep_after as _dropout_keep_after

ACTIVATIONS = ["relu", "tanh", "logistic", "identity", "leaky_relu"]
ACT_CODES = {"identity": C.IDENTITY, "relu": C.RELU, "tanh": C.TANH,
             "logistic": C.LOGISTIC_ACT, "leaky_relu": C.LEAKY_RELU}


# ---------------------------------------------------------------- numpy reference

def _np_act(name, z):
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "tanh":
        return np.tanh(z)
    if name == "logistic":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    return z


def _unpack(params, sizes):
    """Split the flat buffer: every layer's weights (fan_in x fan_out), then biases."""
    Ws, Bs = [], []
    off = 0
    for a, b in pairwise(sizes):
        Ws.append(params[off: off + a * b].reshape(a, b))
        off += a * b
    for b in sizes[1:]:
        Bs.append(params[off: off + b])
        off += b
    assert off == params.size
    return Ws, Bs


def _np_forward(X, Ws, Bs, act, keep=None):
    """Raw outputs and hidden pre-activations; ``keep(layer_unit0, n_units)``
    returns the (rows x units) dropout factors of a hidden layer."""
    A = X
    pre = []
    unit0 = 0
    for layer, (W, b) in enumerate(zip(Ws, Bs)):
        Z = A @ W + b
        if layer == len(Ws) - 1:
            return Z, pre
        pre.append(Z)
        A = _np_act(act, Z)
        if keep is not None:
            A = A * keep(unit0, Z.shape[1])
        unit0 += Z.shape[1]


def _np_loss(code, P, Y, delta):
    """Per-row loss (summed over outputs)."""
    if code == C.SQUARED_ERROR:
        return 0.5 * ((P - Y) ** 2).sum(axis=1)
    if code == C.HUBER:
        r = np.abs(P - Y)
        return np.where(r <= delta, 0.5 * r ** 2, delta * (r - 0.5 * delta)).sum(axis=1)
    if code == C.POISSON:
        return (np.exp(P) - Y * P).sum(axis=1)
    if code == C.LOGISTIC:
        return (np.logaddexp(0.0, P) - Y * P).sum(axis=1)
    if code == C.SOFTMAX:
        mx = P.max(axis=1, keepdims=True)
        lse = mx + np.log(np.exp(P - mx).sum(axis=1, keepdims=True))
        return (Y * (lse - P)).sum(axis=1)
    if code == C.HINGE:
        return np.maximum(0.0, 1.0 - (2 * Y - 1) * P).sum(axis=1)
    raise AssertionError(code)


# ---------------------------------------------------------------- direct kernel harness

class _Batch:
    """Buffers for one direct call of ``mlp_pass``.

    ``bs_max`` (icodes[I_BATCH]) is larger than the batch, as for an epoch's
    last, partial batch; the scratch buffers start as NaN so that a read of
    an unwritten slot shows up in the result.
    """

    def __init__(self, X, Y, sw, idx, sizes, act, loss_code, *, rate=0.0, delta=1.35,
                 seed=12345, epoch=3, bs_max=None):
        self.X, self.Y, self.sw = X, Y, sw
        self.idx = np.asarray(idx, dtype=np.int64)
        self.sizes = np.asarray(sizes, dtype=np.int64)
        bs = len(idx) if bs_max is None else bs_max
        self.acts = np.full(bs * int(self.sizes.sum()), np.nan)
        # the estimators' layout: two ping-pong parts and one for D.T
        self.deltas = np.full(3 * bs * int(self.sizes[1:].max()), np.nan)
        self.hyper = np.zeros(C.N_HYPER)
        self.hyper[C.H_DROPOUT] = rate
        self.hyper[C.H_HUBER] = delta
        self.icodes = np.zeros(C.N_ICODES, dtype=np.int64)
        self.icodes[C.I_LOSS] = loss_code
        self.icodes[C.I_BATCH] = bs
        self.icodes[C.I_SEED] = seed
        self.icodes[C.I_EPOCH] = epoch
        self.icodes[C.I_ACTIVATION] = ACT_CODES[act]
        self.icodes[C.I_OPTIMIZER] = C.ADAM

    def n_params(self):
        s = self.sizes
        return int((s[:-1] * s[1:]).sum() + s[1:].sum())

    def __call__(self, params):
        grad = np.full(params.size, np.nan)
        loss = mlp_pass(self.X, self.Y, self.sw, self.idx, params, grad,
                                   self.sizes, self.acts, self.deltas, self.hyper,
                                   self.icodes, np.empty((0, 0)), 0)
        return loss, grad

    def keep(self, unit0, n_units):
        rate = self.hyper[C.H_DROPOUT]
        if rate == 0.0:
            return 1.0
        seed, epoch = int(self.icodes[C.I_SEED]), int(self.icodes[C.I_EPOCH])
        return np.array([[_dropout_keep(seed, epoch, int(i), unit0 + j, rate)
                          for j in range(n_units)] for i in self.idx])

    def reference_loss(self, params, act):
        Ws, Bs = _unpack(params, self.sizes)
        P, pre = _np_forward(self.X[self.idx], Ws, Bs, act, self.keep)
        rows = _np_loss(int(self.icodes[C.I_LOSS]), P, self.Y[self.idx],
                        self.hyper[C.H_HUBER])
        return float((self.sw[self.idx] * rows).sum()), P, pre


# (name, kernel code, number of outputs)
LOSSES = [
    ("squared_error", C.SQUARED_ERROR, 2),
    ("huber", C.HUBER, 2),
    ("poisson", C.POISSON, 2),
    ("log_loss_binary", C.LOGISTIC, 1),
    ("log_loss_multilabel", C.LOGISTIC, 3),
    ("log_loss_softmax", C.SOFTMAX, 3),
    ("hinge", C.HINGE, 3),
]


def _problem(loss_name, code, n_out, act, rate, seed=0):
    rng = np.random.RandomState(seed)
    sizes = [4, 5, 3, n_out]
    n_rows = 10
    X = rng.randn(n_rows, 4)
    sw = rng.uniform(0.5, 2.0, n_rows)
    idx = [7, 2, 9, 0, 4, 5]  # six rows, unsorted, of a larger X
    n_params = sum(a * b for a, b in pairwise(sizes)) + sum(sizes[1:])
    params = 0.8 * rng.randn(n_params)
    if code == C.POISSON:
        Y = rng.poisson(2.0, (n_rows, n_out)).astype(float)
    elif code == C.SOFTMAX:
        Y = np.eye(n_out)[rng.randint(0, n_out, n_rows)]
    elif code in (C.LOGISTIC, C.HINGE):
        Y = rng.randint(0, 2, (n_rows, n_out)).astype(float)
    else:
        Y = np.zeros((n_rows, n_out))
    batch = _Batch(X, Y, sw, idx, sizes, act, code, rate=rate, delta=0.5, bs_max=8)
    if code in (C.SQUARED_ERROR, C.HUBER):
        # residuals both inside and outside the Huber zone, well away from the kink
        _, P, _ = batch.reference_loss(params, act)
        noise = np.where(np.arange(P.size).reshape(P.shape) % 2 == 0, 0.2, 2.0)
        noise *= np.where(rng.rand(*P.shape) < 0.5, -1.0, 1.0)
        Y[batch.idx] = P + noise
    if code == C.HINGE:
        # output biases that put some margins beyond 1 (zero loss and gradient)
        params[-n_out:] = 2.0 * (-1.0) ** np.arange(n_out)
    return batch, params


@pytest.mark.parametrize("rate", [0.0, 0.3])
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("loss_name, code, n_out", LOSSES, ids=[x[0] for x in LOSSES])
def test_batch_gradient_matches_finite_differences(loss_name, code, n_out, act, rate):
    batch, params = _problem(loss_name, code, n_out, act, rate)
    loss, grad = batch(params)
    ref_loss, P, pre = batch.reference_loss(params, act)

    # the fixed point away from kinks: finite differences are valid
    if act in ("relu", "leaky_relu"):
        assert min(np.abs(z).min() for z in pre) > 1e-4
    if code == C.HINGE:
        margins = (2 * batch.Y[batch.idx] - 1) * P
        assert np.abs(margins - 1.0).min() > 1e-4
        assert (margins < 1).any() and (margins > 1).any()
    if code == C.HUBER:
        r = np.abs(P - batch.Y[batch.idx])
        assert (r < 0.5).any() and (r > 0.5).any()

    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert loss == pytest.approx(ref_loss, rel=1e-12)

    h = 1e-6
    fd = np.empty_like(params)
    for j in range(params.size):
        p = params.copy()
        p[j] += h
        up = batch(p)[0]
        p[j] -= 2 * h
        down = batch(p)[0]
        fd[j] = (up - down) / (2 * h)
    assert np.abs(fd).max() > 1e-2
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7 * np.abs(fd).max())


@pytest.mark.parametrize("loss_name, code, n_out",
                         [LOSSES[0], LOSSES[2], LOSSES[5]], ids=["squared_error", "poisson",
                                                                 "log_loss_softmax"])
def test_float32_batch_gradient_matches_float64(loss_name, code, n_out):
    batch, params = _problem(loss_name, code, n_out, "tanh", 0.3)
    loss, grad = batch(params)
    f32 = _Batch(batch.X.astype(np.float32), batch.Y.astype(np.float32),
                 batch.sw.astype(np.float32), batch.idx, batch.sizes, "tanh", code,
                 rate=0.3, delta=0.5, bs_max=8)
    f32.acts = f32.acts.astype(np.float32)
    f32.deltas = f32.deltas.astype(np.float32)
    p32 = params.astype(np.float32)
    grad32 = np.full(p32.size, np.nan, dtype=np.float32)
    loss32 = mlp_pass(f32.X, f32.Y, f32.sw, f32.idx, p32, grad32, f32.sizes,
                                 f32.acts, f32.deltas, f32.hyper, f32.icodes,
                                 np.empty((0, 0), dtype=np.float32), 0)
    assert loss32 == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(grad32, grad, rtol=1e-4, atol=1e-5 * np.abs(grad).max())


def test_batch_gradient_independent_of_buffer_size_and_row_order():
    batch, params = _problem("log_loss_softmax", C.SOFTMAX, 3, "tanh", 0.3)
    loss, grad = batch(params)
    tight = _Batch(batch.X, batch.Y, batch.sw, batch.idx[::-1], batch.sizes, "tanh",
                   C.SOFTMAX, rate=0.3, delta=0.5, bs_max=6)
    loss2, grad2 = tight(params)
    assert loss2 == pytest.approx(loss, rel=1e-13)
    np.testing.assert_allclose(grad2, grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_backward_product_tiles_match_blas(dtype):
    """``D @ W.T`` through the vector tiles (three-part ``deltas``) and
    through BLAS (two parts) give the same gradient to rounding, with layers
    wider and narrower than a vector and an edge of rows."""
    rng = np.random.RandomState(3)
    sizes = [6, 19, 10, 2]
    n_rows = 13
    X = rng.randn(n_rows, 6).astype(dtype)
    Y = rng.randn(n_rows, 2).astype(dtype)
    sw = np.ones(n_rows, dtype)
    n_params = sum(a * b for a, b in pairwise(sizes)) + sum(sizes[1:])
    params = (0.5 * rng.randn(n_params)).astype(dtype)
    batch = _Batch(X, Y, sw, np.arange(n_rows)[::-1], sizes, "tanh", C.SQUARED_ERROR,
                   rate=0.3, bs_max=16)
    batch.acts = batch.acts.astype(dtype)
    grads = []
    for parts in (3, 2):
        deltas = np.full(parts * 16 * 19, np.nan, dtype)
        grad = np.full(n_params, np.nan, dtype)
        loss = mlp_pass(X, Y, sw, batch.idx, params, grad, batch.sizes,
                                   batch.acts, deltas, batch.hyper, batch.icodes,
                                   np.empty((0, 0), dtype=dtype), 0)
        assert np.isfinite(loss) and np.all(np.isfinite(grad))
        grads.append(grad)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(grads[0], grads[1], rtol=tol,
                               atol=tol * np.abs(grads[1]).max())


def test_dropout_mask_depends_on_seed_and_epoch():
    batch, params = _problem("squared_error", C.SQUARED_ERROR, 2, "tanh", 0.3)
    loss = batch(params)[0]
    base = {"seed": batch.icodes[C.I_SEED], "epoch": batch.icodes[C.I_EPOCH]}
    for slot, key in ((C.I_SEED, "seed"), (C.I_EPOCH, "epoch")):
        batch.icodes[slot] = base[key] + 1
        other = batch(params)[0]
        assert other == pytest.approx(batch.reference_loss(params, "tanh")[0], rel=1e-12)
        assert other != loss
        batch.icodes[slot] = base[key]
    assert batch(params)[0] == loss
    batch.hyper[C.H_DROPOUT] = 0.0
    assert batch(params)[0] != loss


@pytest.mark.parametrize("rate", [0.0, 0.3])
def test_fused_first_layer_pass_equals_the_whole_pass(rate):
    """A batched search computes the first layer's products for many models
    at once: given ``X[idx] @ W1`` the pass returns the same loss and deeper
    gradients, and hands back the first layer's output gradient, whose
    product with ``X[idx]`` is the first weight block's gradient."""
    batch, params = _problem("squared_error", C.SQUARED_ERROR, 2, "tanh", rate)
    loss, grad = batch(params)
    F, H = (int(n) for n in batch.sizes[:2])
    nb, bs = len(batch.idx), int(batch.icodes[C.I_BATCH])
    XB = batch.X[batch.idx]
    acts = np.full_like(batch.acts, np.nan)
    acts[bs * F: bs * F + nb * H] = (XB @ params[: F * H].reshape(F, H)).ravel()
    D1 = np.full((nb, H + 3), np.nan)
    fused = np.full(params.size, np.nan)
    loss2 = mlp_pass(batch.X, batch.Y, batch.sw, batch.idx, params, fused,
                                batch.sizes, acts, np.full_like(batch.deltas, np.nan),
                                batch.hyper, batch.icodes, D1, 2)
    assert loss2 == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(fused[F * H:], grad[F * H:], rtol=1e-10, atol=1e-12)
    assert np.isnan(fused[: F * H]).all()  # the caller's product
    assert np.isnan(D1[:, :2]).all() and np.isnan(D1[:, 2 + H:]).all()
    np.testing.assert_allclose(XB.T @ D1[:, 2:2 + H], grad[: F * H].reshape(F, H),
                               rtol=1e-10, atol=1e-12)


def test_dropout_keep_from_hash_prefix_is_the_same_draw():
    # the kernels hoist the per-sample rounds of the hash out of the unit loop
    for seed, epoch, sample in [(0, 0, 0), (17, 2, 5), (2**40 + 3, 9, 123456)]:
        prefix = np.uint64(hash_prefix(seed, epoch, sample))
        for unit in range(50):
            for rate in (0.1, 0.5):
                assert (_dropout_keep_after(prefix, unit, rate)
                        == _dropout_keep(seed, epoch, sample, unit, rate))


# ---------------------------------------------------------------- dropout statistics

@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.8])
def test_dropout_keep_rate_and_scale(rate):
    n_samples, n_units = 600, 100
    keep = np.array([[_dropout_keep(17, 2, i, j, rate) for j in range(n_units)]
                     for i in range(n_samples)])
    n = keep.size
    assert set(np.unique(keep)) == {0.0, 1.0 / (1.0 - rate)}
    dropped = np.mean(keep == 0.0)
    assert abs(dropped - rate) < 3 * np.sqrt(rate * (1 - rate) / n)
    # inverted dropout: E[keep] = 1, so the mean activation keeps its scale
    assert abs(keep.mean() - 1.0) < 3 * np.sqrt(rate / (1 - rate) / n)
    # no structure by unit or by sample
    per_unit = (keep == 0.0).mean(axis=0)
    per_sample = (keep == 0.0).mean(axis=1)
    assert np.abs(per_unit - rate).max() < 5 * np.sqrt(rate * (1 - rate) / n_samples)
    assert np.abs(per_sample - rate).max() < 5 * np.sqrt(rate * (1 - rate) / n_units)
    # another epoch draws a fresh, independent mask
    keep2 = np.array([[_dropout_keep(17, 3, i, j, rate) for j in range(n_units)]
                      for i in range(n_samples)])
    agree = np.mean((keep == 0) == (keep2 == 0))
    expected = rate ** 2 + (1 - rate) ** 2
    assert abs(agree - expected) < 3 * np.sqrt(expected * (1 - expected) / n)
    assert _dropout_keep(17, 2, 5, 7, rate) == keep[5, 7]  # a pure function


@pytest.mark.parametrize("rate", [0.0, 0.3, 0.5])
def test_dropped_hidden_mean_keeps_scale_in_kernel(rate):
    """Hidden outputs all 1 before dropout; the output is their mean."""
    nb, H = 2000, 50
    X = np.ones((nb, 1))
    Y = np.zeros((nb, 1))
    sw = np.ones(nb)
    params = np.concatenate([np.ones(H), np.full(H, 1.0 / H), np.zeros(H + 1)])
    batch = _Batch(X, Y, sw, np.arange(nb), [1, H, 1], "identity", C.SQUARED_ERROR,
                   rate=rate, seed=99, epoch=0)
    loss, grad = batch(params)
    mean_out = grad[-1] / nb  # d(sum 0.5 p^2)/d(output bias) = sum p
    if rate == 0.0:
        assert mean_out == pytest.approx(1.0, rel=1e-12)
    else:
        sigma = np.sqrt(rate / (1 - rate) / (nb * H))
        assert abs(mean_out - 1.0) < 3 * sigma
        assert loss > 0.5 * nb  # E[p^2] > E[p]^2: the outputs do vary


# ---------------------------------------------------------------- scikit-learn parity

def _sk_kw(epochs, lr, hidden):
    return dict(hidden_layer_sizes=hidden, solver="adam", alpha=0.0, batch_size=32,
                learning_rate_init=lr, max_iter=epochs, tol=0.0,
                n_iter_no_change=epochs + 1)


def _st_kw(epochs, lr, hidden):
    return dict(hidden_layer_sizes=hidden, optimizer="adam", penalty=None, batch_size=32,
                learning_rate=lr, max_iter=epochs, tol=None)


def _standardized(X, y):
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


def _mean_scores(SkEst, Est, Xtr, ytr, Xte, yte, epochs, lr, hidden, seeds):
    ours, theirs = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in seeds:
            sk = SkEst(random_state=seed, **_sk_kw(epochs, lr, hidden)).fit(Xtr, ytr)
            st = Est(random_state=seed, **_st_kw(epochs, lr, hidden)).fit(Xtr, ytr)
            theirs.append(sk.score(Xte, yte))
            ours.append(st.score(Xte, yte))
    return np.mean(ours), np.mean(theirs)


def test_r2_matches_sklearn_on_diabetes(diabetes):
    X, y = diabetes
    X, y = _standardized(X, y)
    # the set is small and a wide net overfits chaotically: compare the fit
    # of a small net, averaged over initialisations
    ours, theirs = _mean_scores(SkMLPRegressor, MLPRegressor, X, y, X, y,
                                epochs=100, lr=0.01, hidden=(8,), seeds=range(5))
    assert theirs > 0.55
    assert abs(ours - theirs) < 0.02


def test_r2_matches_sklearn_on_friedman1():
    X, y = make_friedman1(n_samples=1000, random_state=0)
    X, y = _standardized(X, y)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    ours, theirs = _mean_scores(SkMLPRegressor, MLPRegressor, Xtr, ytr, Xte, yte,
                                epochs=100, lr=0.01, hidden=(16,), seeds=range(3))
    assert theirs > 0.95
    assert abs(ours - theirs) < 0.02


def test_accuracy_matches_sklearn_on_digits():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, random_state=0, stratify=y)
    ours, theirs = _mean_scores(SkMLPClassifier, MLPClassifier, Xtr, ytr, Xte, yte,
                                epochs=50, lr=0.01, hidden=(32,), seeds=range(3))
    assert theirs > 0.95
    assert abs(ours - theirs) < 0.01


def _sklearn_start(SkEst, X, y, **kw):
    """A fitted sklearn MLP whose weights are still its initialisation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return SkEst(solver="sgd", momentum=0.0, learning_rate_init=1e-300, max_iter=1,
                     alpha=0.0, shuffle=False, **kw).fit(X, y)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_same_start_gives_sklearn_trajectory(kind, solver, monkeypatch):
    """From sklearn's initial weights, unshuffled training follows sklearn's."""
    if kind == "regressor":
        X, y = make_friedman1(n_samples=200, random_state=1)
        X, y = _standardized(X, y)
        SkEst, Est, hidden, act = SkMLPRegressor, MLPRegressor, (16, 8), "relu"
    else:
        X, y = load_iris(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        SkEst, Est, hidden, act = SkMLPClassifier, MLPClassifier, (8,), "tanh"
    start = _sklearn_start(SkEst, X, y, hidden_layer_sizes=hidden, activation=act,
                           random_state=0)
    flat = np.concatenate([w.ravel() for w in start.coefs_] + start.intercepts_)

    original = Est._init_params

    def sklearn_init(self, n_features, n_outputs, Y, sw, rng):
        params, n_weights = original(self, n_features, n_outputs, Y, sw, rng)
        assert params.shape == flat.shape
        assert n_weights == sum(w.size for w in start.coefs_)
        return flat.copy(), n_weights

    monkeypatch.setattr(Est, "_init_params", sklearn_init)
    epochs = 20
    # Adam's epsilon sits inside the bias correction in sktune and outside in
    # sklearn; a negligible epsilon makes the two updates the same.
    opt = dict(momentum=0.0, nesterovs_momentum=False) if solver == "sgd" else \
        dict(epsilon=1e-30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = start.set_params(solver=solver, learning_rate_init=0.01, batch_size=16,
                              max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1,
                              warm_start=True, **opt).fit(X, y)
    ours = Est(hidden_layer_sizes=hidden, activation=act, optimizer=solver,
               learning_rate=0.01, batch_size=16, max_iter=epochs, tol=None,
               shuffle=False, random_state=0, penalty=None,
               **({} if solver == "sgd" else {"epsilon": 1e-30})).fit(X, y)
    for mine, theirs in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_[1:], rtol=1e-9)
    if kind == "classifier":
        np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-10)
    else:
        np.testing.assert_allclose(ours.predict(X), sk.predict(X), atol=1e-10)


# ---------------------------------------------------------------- dropout through fit

def _reg_data(n=120, d=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + 0.1 * rng.randn(n)
    return X, y


def _clf_data(n=150, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 4)
    y = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])
    return X, y


def test_dropout_changes_training_not_prediction():
    X, y = _reg_data()
    kw = dict(hidden_layer_sizes=(16, 8), batch_size=16, max_iter=10, tol=None,
              learning_rate=0.01, random_state=0)
    plain = MLPRegressor(**kw).fit(X, y)
    dropped = MLPRegressor(dropout=0.5, **kw).fit(X, y)
    assert not np.array_equal(plain.coefs_[0], dropped.coefs_[0])
    # training loss is measured with dropout: it is noisier and higher
    assert dropped.loss_curve_[-1] > plain.loss_curve_[-1]
    pred = dropped.predict(X)
    np.testing.assert_array_equal(pred, dropped.predict(X))
    ref, _ = _np_forward(X, dropped.coefs_, dropped.intercepts_, "relu")
    np.testing.assert_allclose(pred, ref.ravel(), rtol=1e-12, atol=1e-12)


def test_classifier_proba_is_numpy_forward():
    X, y = _clf_data()
    clf = MLPClassifier(hidden_layer_sizes=(8, 6), activation="tanh", dropout=0.3,
                        max_iter=5, tol=None, random_state=0).fit(X, y)
    Z, _ = _np_forward(X, clf.coefs_, clf.intercepts_, "tanh")
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(clf.predict_proba(X), E / E.sum(axis=1, keepdims=True),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[Z.argmax(axis=1)])


@pytest.mark.parametrize("Est, size", [(MLPRegressor, "small"), (MLPClassifier, "small"),
                                       (MLPRegressor, "large")])
def test_deterministic_across_runs_and_threads(Est, size, force_parallel):
    if size == "small":
        X, y = _reg_data(300) if Est is MLPRegressor else _clf_data(300)
        kw = dict(hidden_layer_sizes=(16, 8), batch_size=32, max_iter=4)
    else:
        # batches big enough for the kernel to split them across threads
        X, y = _reg_data(1024, d=40)
        kw = dict(hidden_layer_sizes=(256, 64), batch_size=256, max_iter=2)
    kw.update(dropout=0.3, tol=None, random_state=5)
    a = Est(n_threads=1, **kw).fit(X, y)
    b = Est(n_threads=1, **kw).fit(X, y)
    c = Est(n_threads=2, **kw).fit(X, y)
    for wa, wb, wc in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_,
                          c.coefs_ + c.intercepts_):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(wa, wc)
    # the gradient diagnostics too (summed per parameter range on the threads)
    np.testing.assert_array_equal(a.gradient_norms_, c.gradient_norms_)
    np.testing.assert_array_equal(a.update_norms_, c.update_norms_)
    other = Est(n_threads=1, **dict(kw, random_state=6)).fit(X, y)
    assert not np.array_equal(a.coefs_[0], other.coefs_[0])


# ---------------------------------------------------------------- penalties and init

def test_l1_gives_exact_zeros():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 10)
    y = np.tanh(X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.randn(200)
    kw = dict(hidden_layer_sizes=(16,), learning_rate=0.01, batch_size=20, max_iter=100,
              tol=None, random_state=0)
    free = MLPRegressor(**kw).fit(X, y)
    sparse = MLPRegressor(penalty="l1", alpha=0.01, **kw).fit(X, y)
    assert sum(np.sum(w == 0.0) for w in free.coefs_) == 0
    n_zero = sum(np.sum(w == 0.0) for w in sparse.coefs_)
    n_total = sum(w.size for w in sparse.coefs_)
    assert n_zero > 0.5 * n_total
    # the eight irrelevant inputs are cut off almost entirely
    assert np.mean(sparse.coefs_[0][2:] == 0.0) > 0.9
    assert sparse.score(X, y) > 0.9
    # intercepts are not penalized: the output bias stays near the target mean
    assert sparse.intercepts_[-1][0] == pytest.approx(y.mean(), abs=0.5)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_init_he_for_relu_family_glorot_otherwise(act):
    rng = np.random.RandomState(0)
    X = rng.randn(40, 20)
    y = rng.randn(40) + 3.0
    model = MLPRegressor(hidden_layer_sizes=(200,), activation=act, learning_rate=1e-12,
                         batch_size="full", max_iter=1, tol=None, random_state=0).fit(X, y)
    W0, W1 = model.coefs_
    hidden_bound = np.sqrt(6.0 / 20) if act in ("relu", "leaky_relu") \
        else np.sqrt(6.0 / (20 + 200))
    out_bound = np.sqrt(6.0 / (200 + 1))  # the output layer is Glorot
    for W, bound in ((W0, hidden_bound), (W1, out_bound)):
        assert np.abs(W).max() <= bound + 1e-9
        assert np.abs(W).max() > 0.9 * bound
        assert abs(W.mean()) < 0.1 * bound  # symmetric
    # hidden biases start at zero, the output bias at the target mean
    np.testing.assert_allclose(model.intercepts_[0], 0.0, atol=1e-9)
    assert model.intercepts_[1][0] == pytest.approx(y.mean(), abs=1e-9)


# ---------------------------------------------------------------- shapes and attributes

def test_regressor_attributes_and_multi_output():
    X, y = _reg_data()
    Y = np.column_stack([y, -y, 2 * y + 1])
    model = MLPRegressor(hidden_layer_sizes=(7, 5), batch_size=25, max_iter=6, tol=None,
                         learning_rate=0.01, random_state=0).fit(X, Y)
    assert model.predict(X).shape == (120, 3)
    assert [w.shape for w in model.coefs_] == [(5, 7), (7, 5), (5, 3)]
    assert [b.shape for b in model.intercepts_] == [(7,), (5,), (3,)]
    assert model.n_layers_ == 4 and model.n_outputs_ == 3
    assert model.out_activation_ == "identity"
    assert model.n_iter_ == 6 == len(model.loss_curve_)
    assert model.t_ == 6 * 5
    assert model.loss_ == model.loss_curve_[-1]
    assert model.best_loss_ == min(model.loss_curve_)
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    assert model.validation_scores_ is None and model.best_validation_score_ is None
    assert model.n_features_in_ == 5
    one = MLPRegressor(hidden_layer_sizes=(7,), max_iter=2, tol=None).fit(X, y)
    assert one.predict(X).shape == (120,) and one.n_outputs_ == 1
    assert one.coefs_[-1].shape == (7, 1)


def test_poisson_output_is_exp():
    rng = np.random.RandomState(0)
    X = rng.randn(100, 3)
    y = rng.poisson(np.exp(0.5 * X[:, 0])).astype(float)
    model = MLPRegressor(hidden_layer_sizes=(6,), loss="poisson", max_iter=5, tol=None,
                         learning_rate=0.01, random_state=0).fit(X, y)
    assert model.out_activation_ == "exp"
    Z, _ = _np_forward(X, model.coefs_, model.intercepts_, "relu")
    np.testing.assert_allclose(model.predict(X), np.exp(Z).ravel(), rtol=1e-12)
    assert np.all(model.predict(X) > 0)


def test_binary_classifier():
    X, y = _clf_data()
    labels = np.where(y > 0, "yes", "no")
    clf = MLPClassifier(hidden_layer_sizes=(6,), learning_rate=0.01, batch_size=16,
                        max_iter=30, tol=None, random_state=0).fit(X, labels)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 1
    assert clf.coefs_[-1].shape == (6, 1)
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert set(clf.predict(X)) <= {"no", "yes"}
    assert clf.decision_function(X).shape == (150,)
    assert clf.score(X, labels) > 0.8


def test_multiclass_classifier():
    X, y = _clf_data()
    clf = MLPClassifier(hidden_layer_sizes=(6,), learning_rate=0.01, batch_size=16,
                        max_iter=30, tol=None, random_state=0).fit(X, y)
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 3
    assert clf.n_layers_ == 3
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all(proba >= 0)
    np.testing.assert_array_equal(clf.predict(X), proba.argmax(axis=1))
    assert clf.score(X, y) > 0.8
    hinge = MLPClassifier(hidden_layer_sizes=(6,), loss="hinge", max_iter=3,
                          tol=None, random_state=0).fit(X, y)
    assert not hasattr(hinge, "predict_proba")
    assert hinge.decision_function(X).shape == (150, 3)


def test_multilabel_classifier():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 4)
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] > 0.5]).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate=0.01, max_iter=50,
                        tol=None, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 3
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    pred = clf.predict(X)
    assert pred.shape == (200, 3) and set(np.unique(pred)) <= {0, 1}
    proba = clf.predict_proba(X)
    assert proba.shape == (200, 3)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    assert np.mean(pred == Y) > 0.85


# ---------------------------------------------------------------- shared engine

def test_early_stopping_restores_best_weights(diabetes):
    X, y = diabetes
    y = (y - y.mean()) / y.std()
    model = MLPRegressor(hidden_layer_sizes=(64,), learning_rate=0.03, batch_size=8,
                         early_stopping=True, validation_fraction=0.2,
                         n_iter_no_change=5, max_iter=200, random_state=0).fit(X, y)
    assert model.n_iter_ < 200
    assert len(model.validation_scores_) == model.n_iter_
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert model.validation_scores_[-1] < model.best_validation_score_
    assert model.best_loss_ is None
    seed = model._train_state.seed
    idx = np.arange(len(y))
    _, val = train_test_split(idx, test_size=int(np.ceil(0.2 * len(y))), random_state=seed)
    assert model.score(X[val], y[val]) == pytest.approx(model.best_validation_score_,
                                                        abs=1e-12)


def test_partial_fit_equals_fit():
    X, y = _clf_data()
    kw = dict(hidden_layer_sizes=(8, 4), dropout=0.2, batch_size=20, random_state=0,
              tol=None)
    full = MLPClassifier(max_iter=3, **kw).fit(X, y)
    inc = MLPClassifier(**kw)
    for _ in range(3):
        inc.partial_fit(X, y, classes=[0, 1, 2])
    for a, b in zip(inc.coefs_ + inc.intercepts_, full.coefs_ + full.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert inc.t_ == full.t_ == 3 * 8
    assert inc.n_iter_ == 3
    assert inc.loss_curve_ == full.loss_curve_


def test_warm_start_continues():
    X, y = _reg_data()
    kw = dict(hidden_layer_sizes=(8,), dropout=0.2, batch_size=16, random_state=0,
              tol=None)
    full = MLPRegressor(max_iter=5, **kw).fit(X, y)
    warm = MLPRegressor(max_iter=2, warm_start=True, **kw).fit(X, y)
    warm.set_params(max_iter=3).fit(X, y)
    for a, b in zip(warm.coefs_ + warm.intercepts_, full.coefs_ + full.intercepts_):
        np.testing.assert_array_equal(a, b)
    cold = MLPRegressor(max_iter=2, **kw).fit(X, y)
    cold.set_params(max_iter=3).fit(X, y)
    assert not np.array_equal(cold.coefs_[0], full.coefs_[0])


@pytest.mark.parametrize("Est", [MLPRegressor, MLPClassifier])
def test_float32_stays_float32(Est):
    X, y = _reg_data() if Est is MLPRegressor else _clf_data()
    kw = dict(hidden_layer_sizes=(8,), max_iter=3, tol=None, random_state=0)
    m32 = Est(**kw).fit(X.astype(np.float32), y)
    m64 = Est(**kw).fit(X, y)
    assert all(w.dtype == np.float32 for w in m32.coefs_ + m32.intercepts_)
    assert all(w.dtype == np.float64 for w in m64.coefs_ + m64.intercepts_)
    X32 = X.astype(np.float32)
    if Est is MLPRegressor:
        assert m32.predict(X32).dtype == np.float32
        np.testing.assert_allclose(m32.predict(X32), m64.predict(X), rtol=1e-3, atol=1e-3)
    else:
        assert m32.decision_function(X32).dtype == np.float32
        assert m32.predict_proba(X32).dtype == np.float32
        np.testing.assert_allclose(m32.predict_proba(X32), m64.predict_proba(X), atol=1e-3)
    for a, b in zip(m32.coefs_, m64.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)


def test_divergence_raises_and_keeps_finite_weights():
    X, y = _reg_data()
    # many steps per epoch: the first epoch overflows, and the weights from
    # before it (the initial ones) are kept
    model = MLPRegressor(hidden_layer_sizes=(8,), activation="identity", optimizer="sgd",
                         learning_rate=1e6, batch_size=4, max_iter=100, tol=None,
                         random_state=0)
    with pytest.raises(DivergenceError, match="learning_rate") as info:
        model.fit(X * 1e3, y * 1e3)
    assert isinstance(info.value, ValueError)
    assert all(np.all(np.isfinite(w)) for w in model.coefs_ + model.intercepts_)
    assert np.all(np.isfinite(model.predict(X)))
    assert all(np.isfinite(model.loss_curve_))


def test_pickle_round_trip():
    X, y = _clf_data()
    clf = MLPClassifier(hidden_layer_sizes=(8,), dropout=0.2, max_iter=3, tol=None,
                        random_state=0).fit(X, y)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clone.predict_proba(X), clf.predict_proba(X))
    clf.partial_fit(X, y)
    clone.partial_fit(X, y)
    for a, b in zip(clone.coefs_ + clone.intercepts_, clf.coefs_ + clf.intercepts_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("Est", [MLPRegressor, MLPClassifier])
def test_sparse_input_is_rejected(Est):
    X, y = _reg_data() if Est is MLPRegressor else _clf_data()
    with pytest.raises((TypeError, ValueError), match="(?i)dense|sparse"):
        Est(max_iter=2).fit(sp.csr_matrix(X), y)
    model = Est(hidden_layer_sizes=(4,), max_iter=2, tol=None).fit(X, y)
    with pytest.raises((TypeError, ValueError), match="(?i)dense|sparse"):
        model.predict(sp.csr_matrix(X))


def test_warm_start_with_changed_architecture_raises():
    rng = np.random.RandomState(0)
    X, y = rng.randn(40, 3), rng.randn(40)
    model = MLPRegressor(hidden_layer_sizes=(5,), max_iter=2, warm_start=True,
                         tol=None).fit(X, y)
    model.set_params(hidden_layer_sizes=(4, 3))
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        model.fit(X, y)


def test_hinge_output_activation_is_identity():
    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 3), rng.randint(0, 3, 60)
    clf = MLPClassifier(hidden_layer_sizes=(4,), loss="hinge", max_iter=2, tol=None)
    assert clf.fit(X, y).out_activation_ == "identity"


def test_glorot_init_reproduces_sklearn_training():
    # init="glorot" draws scikit-learn's initial weights from the same seed;
    # full-batch plain SGD then follows scikit-learn's MLP step for step
    X, y = make_friedman1(n_samples=120, random_state=0)
    kw = dict(hidden_layer_sizes=(7, 5), random_state=3)
    ours = MLPRegressor(init="glorot", optimizer="sgd", learning_rate=0.05,
                        batch_size="full", shuffle=False, max_iter=4, tol=None,
                        penalty=None, **kw)
    ours.fit(X, y)
    ref = SkMLPRegressor(solver="sgd", momentum=0.0, nesterovs_momentum=False,
                         learning_rate_init=0.05, batch_size=120, shuffle=False,
                         alpha=0.0, max_iter=4, tol=0.0, n_iter_no_change=100, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [0, 1, 300, 2500])
def test_forward_in_blocks_equals_the_plain_forward(dtype, n):
    """``predict``'s forward pass runs in row blocks, in place: the plain
    layer-by-layer numpy pass gives the same outputs (to rounding), in the
    same dtype, for every activation."""
    from sktune.neural_network._mlp import _NUMPY_ACTIVATIONS, _forward

    rng = np.random.RandomState(0)
    X = rng.randn(n, 6).astype(dtype)
    sizes = (6, 200, 30, 2)  # blocks of 163 rows (float64) on 2500 rows
    coefs = [(rng.randn(a, b) / np.sqrt(a)).astype(dtype) for a, b in pairwise(sizes)]
    intercepts = [rng.randn(b).astype(dtype) for b in sizes[1:]]
    for activation, act in _NUMPY_ACTIVATIONS.items():
        A = X
        for layer, (W, b) in enumerate(zip(coefs, intercepts)):
            A = A @ W + b
            A = act(A) if layer < len(coefs) - 1 else A
        got = _forward(X, coefs, intercepts, activation)
        assert got.dtype == A.dtype and got.shape == (n, 2)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, A, rtol=tol, atol=tol, err_msg=activation)
