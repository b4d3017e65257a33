"""Optimizers: the scalar update rule and full training runs vs numpy references.

The references implement the table in ``sktune/optim/_optimizers.py`` and the
penalty / clipping rules of ``sktune/penalties.py`` directly in numpy.
"""
import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from sktune import LinearRegressor
from sktune._kernels import _codes as C
from sktune._kernels._scalar import optimizer_step
from sktune.optim import OPTIMIZERS, optimizer_code

NAMES = sorted(OPTIMIZERS)


def test_optimizer_table():
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adam", "adamw",
                               "rmsprop", "adagrad"}
    assert len(set(OPTIMIZERS.values())) == len(OPTIMIZERS)
    for name in OPTIMIZERS:
        assert optimizer_code(name) == OPTIMIZERS[name]


# ---------------------------------------------------------------------------
# numpy reference of one update (vectorised over the parameters)


class _Ref:
    """Reference optimizer: the formulas of the module docstring."""

    def __init__(self, name, shape, *, momentum, beta_1, beta_2, epsilon,
                 m0=0.0, v0=0.0):
        self.name = name
        self.mom, self.b1, self.b2, self.eps = momentum, beta_1, beta_2, epsilon
        self.m = np.full(shape, m0, dtype=float)  # u for (nesterov) momentum
        self.v = np.full(shape, v0, dtype=float)
        self.t = 0

    def step(self, w, g, lr):
        """Return ``(new_w, effective_step)``; the step scales the L1 threshold."""
        self.t += 1
        name = self.name
        if name == "sgd":
            return w - lr * g, np.full_like(w, lr)
        # with momentum a steady gradient g moves w by lr * g / (1 - momentum)
        # per step, which is the effective step (``optimizer_step`` docstring)
        if name == "momentum":
            self.m = self.mom * self.m - lr * g
            return w + self.m, np.full_like(w, lr / (1 - self.mom))
        if name == "nesterov":
            self.m = self.mom * self.m - lr * g
            return w + self.mom * self.m - lr * g, np.full_like(w, lr / (1 - self.mom))
        if name in ("adam", "adamw"):
            self.m = self.b1 * self.m + (1 - self.b1) * g
            self.v = self.b2 * self.v + (1 - self.b2) * g**2
            m_hat = self.m / (1 - self.b1**self.t)
            v_hat = self.v / (1 - self.b2**self.t)
            step = lr / (np.sqrt(v_hat) + self.eps)
            return w - step * m_hat, step
        if name == "rmsprop":
            self.v = self.b2 * self.v + (1 - self.b2) * g**2
            step = lr / (np.sqrt(self.v) + self.eps)
            return w - step * g, step
        if name == "adagrad":
            self.v = self.v + g**2
            step = lr / (np.sqrt(self.v) + self.eps)
            return w - step * g, step
        raise AssertionError(name)


# ---------------------------------------------------------------------------
# the update split into parameter slices (what the parallel MLP kernel runs on
# its threads) is bitwise the whole update

@pytest.mark.parametrize("penalty", ["l2", "elasticnet"])
def test_update_in_slices_is_bitwise_the_whole_update(penalty):
    from sktune._kernels import _step, cpu

    rng = np.random.RandomState(0)
    n, n_pen, n_batch, lr = 101, 80, 7, 0.05
    hyper = np.zeros(C.N_HYPER)
    hyper[[C.H_MOMENTUM, C.H_BETA_1, C.H_BETA_2, C.H_EPSILON]] = 0.8, 0.85, 0.95, 1e-3
    hyper[C.H_L2] = 0.02
    hyper[C.H_L1] = 0.01 if penalty == "elasticnet" else 0.0
    for name in NAMES:
        icodes = np.zeros(C.N_ICODES, dtype=np.int64)
        icodes[C.I_OPTIMIZER] = OPTIMIZERS[name]
        icodes[C.I_N_PENALIZED] = n_pen
        icodes[C.I_DECOUPLED] = int(name == "adamw")
        icodes[C.I_AVERAGE_START] = 0
        start = [rng.randn(n), rng.randn(n) * n_batch, 0.1 * rng.randn(n), rng.rand(n),
                 rng.randn(n), np.array([3, 21, 2], dtype=np.int64)]
        runs = []
        # cuts: none (what the end of batch does), and one inside the penalized part
        for cuts in ((0, n), (0, 37, 90, n)):
            state = [a.copy() for a in start]
            params, grad, m, v, avg, counters = state
            scale, c1, c2, decay = _step.update_scalars(params, grad, v, lr, hyper, icodes,
                                                        counters, n_batch)
            bad = 0
            for lo, hi in zip(cuts[:-1], cuts[1:]):
                step = cpu.step_unit(icodes[C.I_OPTIMIZER], params.dtype, grad.dtype,
                                     cpu.needs_prox(hyper, icodes))
                bad += step(lo, hi, params, grad, m, v, lr, hyper, icodes, n_batch, scale,
                            c1, c2, decay)
            _step.update_average(params, avg, icodes, counters, n_batch)
            assert bad == 0
            runs.append(state)
        whole, split = runs
        for a, b, what in zip(whole, split, ("params", "grad", "m", "v", "avg",
                                             "counters")):
            np.testing.assert_array_equal(a, b, err_msg=f"{name}: {what}")
        assert not np.array_equal(whole[0], start[0]), name
        assert not grad.any()  # consumed


# ---------------------------------------------------------------------------
# (a) the scalar kernel function, three steps from a nonzero state

_HP = dict(momentum=0.8, beta_1=0.85, beta_2=0.95, epsilon=0.05)


@pytest.mark.parametrize("name", NAMES)
def test_optimizer_step_three_steps(name):
    code = OPTIMIZERS[name]
    w, m, v = 0.7, 0.3, 0.2
    ref = _Ref(name, (), m0=m, v0=v, **_HP)
    w_ref = np.float64(w)
    grads = [0.5, -1.2, 0.05]
    lrs = [0.1, 0.05, 0.02]
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        c1 = 1.0 / (1.0 - _HP["beta_1"] ** t)
        c2 = 1.0 / np.sqrt(1.0 - _HP["beta_2"] ** t)
        m_before, v_before = m, v
        w, m, v, step = optimizer_step(code, w, g, m, v, lr, _HP["momentum"],
                                       _HP["beta_1"], _HP["beta_2"],
                                       _HP["epsilon"], c1, c2)
        w_ref, step_ref = ref.step(w_ref, np.float64(g), lr)
        assert w == pytest.approx(float(w_ref), rel=1e-12, abs=1e-15), f"w, step {t}"
        assert step == pytest.approx(float(step_ref), rel=1e-12), f"step size, step {t}"
        # state buffers: updated when the rule uses them, passed through otherwise
        if name in ("momentum", "nesterov", "adam", "adamw"):
            assert m == pytest.approx(float(ref.m), rel=1e-12), f"m, step {t}"
        else:
            assert m == m_before
        if name in ("adam", "adamw", "rmsprop", "adagrad"):
            assert v == pytest.approx(float(ref.v), rel=1e-12), f"v, step {t}"
        else:
            assert v == v_before
    # the nonzero initial state must have mattered: a fresh start differs
    fresh = _Ref(name, (), **_HP)
    w_fresh = np.float64(0.7)
    for g, lr in zip(grads, lrs):
        w_fresh, _ = fresh.step(w_fresh, np.float64(g), lr)
    if name != "sgd":
        assert abs(w - float(w_fresh)) > 1e-6


def test_adam_and_adamw_share_the_scalar_rule():
    args = (0.4, -0.3, 0.1, 0.05, 0.01, 0.0, 0.9, 0.999, 1e-8, 0.1, 0.001)
    assert optimizer_step(C.ADAM, *args) == optimizer_step(C.ADAMW, *args)


# ---------------------------------------------------------------------------
# (b) end to end: three full-batch epochs of LinearRegressor

N, D = 40, 3


def _data(seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(N, D)
    X[:, 2] *= 0.05  # a feature with a tiny gradient: L1 zeroes it
    # integer targets whose mean is an integer: at the start (coef 0,
    # intercept mean(y)) the intercept gradient is exactly 0 in any summation
    # order, so the scale-free optimizers cannot amplify rounding noise
    y = np.round(3 * X[:, 0] - 2 * X[:, 1] + 4 + rng.randn(N))
    y[-1] -= y.sum() % N
    assert y.sum() % N == 0
    return X, y


_LR = {"sgd": 0.05, "momentum": 0.05, "nesterov": 0.05, "adam": 0.1,
       "adamw": 0.1, "rmsprop": 0.05, "adagrad": 0.2}
_EST_HP = dict(momentum=0.8, beta_1=0.85, beta_2=0.95, epsilon=0.01)

# name -> estimator parameters; the reference reads the same dict
_PENALTIES = {
    "none": dict(penalty=None),
    "l2": dict(penalty="l2", alpha=0.3),
    "l1": dict(penalty="l1", alpha=0.5),
    "elasticnet": dict(penalty="elasticnet", alpha=0.5, l1_ratio=0.4),
    "l2-clip": dict(penalty="l2", alpha=0.3, clip_norm=0.5),
    "clip": dict(penalty=None, clip_norm=0.5),
}


def _soft_threshold(w, thresh):
    return np.sign(w) * np.maximum(np.abs(w) - thresh, 0.0)


def _reference_fit(name, X, y, lr, n_steps, *, penalty=None, alpha=0.0,
                   l1_ratio=0.15, clip_norm=None, lr_per_step=None):
    """Full-batch training of a linear regressor, by the documented rules.

    Returns ``(coef, intercept, info)``; ``info`` records what happened.
    """
    n, d = X.shape
    w = np.zeros(d + 1)
    w[d] = y.mean()
    if penalty == "l2":
        l2, l1 = alpha, 0.0
    elif penalty == "l1":
        l2, l1 = 0.0, alpha
    elif penalty == "elasticnet":
        l2, l1 = alpha * (1 - l1_ratio), alpha * l1_ratio
    else:
        l2, l1 = 0.0, 0.0
    decoupled = name == "adamw"
    ref = _Ref(name, w.shape, **_EST_HP)
    info = {"clipped": 0, "zeros": 0}
    for s in range(n_steps):
        rate = lr if lr_per_step is None else lr_per_step[s]
        r = X @ w[:d] + w[d] - y
        g = np.append(X.T @ r / n, r.mean())
        if not decoupled:
            g[:d] += l2 * w[:d]
        if clip_norm is not None:
            norm = np.sqrt(g @ g)
            if norm > clip_norm:
                g = g * (clip_norm / norm)
                info["clipped"] += 1
        w_old = w.copy()
        w, step = ref.step(w, g, rate)
        if decoupled:
            w[:d] -= rate * l2 * w_old[:d]
        if l1 > 0:
            w[:d] = _soft_threshold(w[:d], step[:d] * l1)
            info["zeros"] += int(np.sum(w[:d] == 0))
    return w[:d], w[d:], info


def _estimator(name, max_iter=3, **params):
    return LinearRegressor(optimizer=name, learning_rate=_LR[name], batch_size="full",
                           shuffle=False, tol=None, max_iter=max_iter,
                           **_EST_HP, **params)


@pytest.mark.parametrize("config", list(_PENALTIES))
@pytest.mark.parametrize("name", NAMES)
def test_three_full_batch_epochs_match_reference(name, config):
    X, y = _data()
    params = _PENALTIES[config]
    est = _estimator(name, **params).fit(X, y)
    coef, intercept, info = _reference_fit(name, X, y, _LR[name], 3, **params)
    np.testing.assert_allclose(est.coef_, coef, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(est.intercept_, intercept, rtol=1e-10, atol=1e-13)
    assert est.t_ == 3 and est.n_iter_ == 3
    # the configuration must really exercise what it names
    if "clip" in config:
        assert info["clipped"] >= 1
    if config in ("l1", "elasticnet"):
        assert info["zeros"] >= 1
        # exact zeros from the proximal step, in the same places
        np.testing.assert_array_equal(est.coef_ == 0, coef == 0)


@pytest.mark.parametrize("config", ["l2", "l1", "l2-clip"])
@pytest.mark.parametrize("name", NAMES)
def test_penalty_changes_the_result(name, config):
    # guards the test above against a penalty silently doing nothing
    X, y = _data()
    plain = _estimator(name).fit(X, y)
    pen = _estimator(name, **_PENALTIES[config]).fit(X, y)
    assert not np.allclose(plain.coef_, pen.coef_, rtol=1e-6, atol=0)


def test_adamw_decay_is_decoupled_and_adam_l2_is_coupled():
    X, y = _data()
    adam = _estimator("adam", penalty="l2", alpha=0.3).fit(X, y)
    adamw = _estimator("adamw", penalty="l2", alpha=0.3).fit(X, y)
    assert not np.allclose(adam.coef_, adamw.coef_, rtol=1e-6)
    # the coupled reference must not fit adamw, and vice versa
    X_, y_ = _data()
    coupled, _, _ = _reference_fit("adam", X_, y_, _LR["adamw"], 3, penalty="l2", alpha=0.3)
    assert not np.allclose(adamw.coef_, coupled, rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_more_epochs_count_steps(name):
    X, y = _data()
    est = _estimator(name, max_iter=5).fit(X, y)
    assert est.t_ == 5
    est = _estimator(name, max_iter=2).set_params(batch_size=7).fit(X, y)
    assert est.t_ == 2 * int(np.ceil(N / 7))


@pytest.mark.parametrize("name", NAMES)
def test_partial_fit_continues_optimizer_state(name):
    X, y = _data(seed=1)
    params = dict(optimizer=name, learning_rate=_LR[name], batch_size=7, shuffle=True,
                  random_state=0, tol=None, penalty="elasticnet", alpha=0.01,
                  lr_schedule="invscaling", **_EST_HP)
    full = LinearRegressor(max_iter=3, **params).fit(X, y)
    inc = LinearRegressor(max_iter=3, **params)
    for _ in range(3):
        inc.partial_fit(X, y)
    np.testing.assert_array_equal(inc.coef_, full.coef_)
    np.testing.assert_array_equal(inc.intercept_, full.intercept_)
    assert inc.t_ == full.t_ == 3 * int(np.ceil(N / 7))
    assert inc.n_iter_ == 3
    # warm_start resumes the same state too
    warm = LinearRegressor(max_iter=1, warm_start=True, **params)
    for _ in range(3):
        warm.fit(X, y)
    np.testing.assert_array_equal(warm.coef_, full.coef_)
    np.testing.assert_array_equal(warm.intercept_, full.intercept_)
    assert warm.t_ == full.t_


@pytest.mark.parametrize("name", NAMES)
def test_partial_fit_full_batch_matches_reference(name):
    # three single-epoch calls are three steps of one optimizer run (the
    # reference keeps m, v and t), not three fresh starts
    X, y = _data()
    est = _estimator(name, **_PENALTIES["l2"])
    for _ in range(3):
        est.partial_fit(X, y)
    coef, intercept, _ = _reference_fit(name, X, y, _LR[name], 3, **_PENALTIES["l2"])
    np.testing.assert_allclose(est.coef_, coef, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(est.intercept_, intercept, rtol=1e-10, atol=1e-13)
    assert est.t_ == 3
    if name != "sgd":
        # a reference that restarts the optimizer at every call is different
        w = np.zeros(D + 1)
        w[D] = y.mean()
        for _ in range(3):
            ref = _Ref(name, w.shape, **_EST_HP)
            r = X @ w[:D] + w[D] - y
            g = np.append(X.T @ r / N, r.mean())
            g[:D] += 0.3 * w[:D]
            w_new, _ = ref.step(w, g, _LR[name])
            if name == "adamw":
                w_new[:D] -= _LR[name] * 0.3 * w[:D]
            w = w_new
        assert not np.allclose(est.coef_, w[:D], rtol=1e-6)


@pytest.mark.parametrize("bad", ["Adam", "lbfgs", "", "sgd "])
def test_invalid_optimizer_name(bad):
    X, y = _data()
    with pytest.raises(InvalidParameterError) as excinfo:
        LinearRegressor(optimizer=bad).fit(X, y)
    msg = str(excinfo.value)
    assert "optimizer" in msg
    for name in OPTIMIZERS:
        assert repr(name) in msg or name in msg


def test_invalid_optimizer_name_in_partial_fit():
    X, y = _data()
    with pytest.raises(InvalidParameterError, match="optimizer"):
        LinearRegressor(optimizer="adamax").partial_fit(X, y)


@pytest.mark.parametrize("name", ["adam", "momentum"])
def test_stored_state_is_never_subnormal(name):
    # A weight whose gradient is zero (here: a feature seen only in rows of
    # zero weight) only decays: its moment, and with it the weight, sinks
    # into float32's subnormal range, where every operation on it costs ~100
    # cycles. The step flushes what falls below float32's smallest normal
    # (the lazy epoch does not: see _kernels/linear.py).
    rng = np.random.RandomState(0)
    X = rng.randn(40, 3).astype(np.float32)
    X[10:, 1] = 0.0
    sw = np.ones(40)
    sw[:10] = 0.0
    y = (X[:, 0] - X[:, 2]).astype(np.float32)
    model = LinearRegressor(optimizer=name, penalty=None, batch_size=8, max_iter=1,
                            tol=None, warm_start=True, random_state=0)
    model.fit(X, y, sample_weight=sw)
    state = model._train_state
    tiny = np.finfo(np.float32).tiny
    state.params[1] = state.m[1] = np.float32(tiny / 4)  # subnormal
    model.fit(X, y, sample_weight=sw)
    for a in (state.params, state.m, state.v):
        assert a.dtype == np.float32
        assert not np.any((a != 0) & (np.abs(a) < tiny)), a
    assert state.m[1] == 0.0
    assert np.all(state.params[[0, 2]] != 0.0)  # the live weights moved on
