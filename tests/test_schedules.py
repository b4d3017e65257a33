"""Learning-rate schedules against their formulas, and their use in training.

The references are written from the table in ``sktune/optim/_schedules.py``,
scalar by scalar, with the cosine restarts found by walking the cycles.
"""
import math

import numpy as np
import pytest

from sktune import LinearRegressor
from sktune.optim import SCHEDULES, learning_rates, plateau_decay

LR = 0.2


def _cosine_ref(e, lr, lo, T0, mult):
    start, period = 0.0, float(T0)
    while e >= start + period:
        start += period
        period *= mult
    return lo + (lr - lo) * (1 + math.cos(math.pi * (e - start) / period)) / 2


def _ref(schedule, t, e, *, lr=LR, power_t=0.25, decay_rate=0.9, step_size=10,
         min_learning_rate=0.0, restart_period=10, restart_mult=1.0, max_iter=100,
         current=None):
    lo = min_learning_rate
    if schedule == "constant":
        return lr
    if schedule == "plateau":
        return lr if current is None else current
    if schedule == "invscaling":
        return lr / t**power_t
    if schedule == "exponential":
        return lr * decay_rate**e
    if schedule == "step":
        return lr * decay_rate ** math.floor(e / step_size)
    if schedule == "linear":
        return lo + (lr - lo) * max(0.0, 1 - e / max_iter)
    if schedule == "cosine":
        return _cosine_ref(e, lr, lo, restart_period, restart_mult)
    raise AssertionError(schedule)


def _grid(n_epochs=40, n_batches=4, first_step=1, first_epoch=0):
    k = np.arange(n_epochs * n_batches)
    t = first_step + k
    e = first_epoch + k / n_batches  # k + i / n_batches, as the docstring says
    return t, e


_CASES = [
    ("constant", {}),
    ("invscaling", {}),
    ("invscaling", dict(power_t=0.5)),
    ("invscaling", dict(power_t=1.0)),
    ("exponential", {}),
    ("exponential", dict(decay_rate=0.5)),
    ("step", {}),
    ("step", dict(step_size=3, decay_rate=0.5)),
    ("step", dict(step_size=1, decay_rate=0.7)),
    ("linear", dict(max_iter=25)),
    ("linear", dict(max_iter=25, min_learning_rate=0.01)),
    ("cosine", dict(restart_period=5)),
    ("cosine", dict(restart_period=5, min_learning_rate=0.02)),
    ("cosine", dict(restart_period=2, restart_mult=2.0)),
    ("cosine", dict(restart_period=3, restart_mult=1.5, min_learning_rate=0.01)),
    ("cosine", dict(restart_period=2.5, restart_mult=3.0)),
    ("cosine", dict(restart_period=100)),
    ("plateau", {}),
    ("plateau", dict(current=0.0125)),
]


def test_cases_cover_every_schedule():
    assert {name for name, _ in _CASES} == set(SCHEDULES)


@pytest.mark.parametrize("first", [(1, 0), (37, 7)], ids=["start", "resumed"])
@pytest.mark.parametrize("schedule, kw", _CASES,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(_CASES)])
def test_learning_rates_match_formula(schedule, kw, first):
    t, e = _grid(first_step=first[0], first_epoch=first[1])
    got = learning_rates(schedule, LR, t, e, **kw)
    expected = np.array([_ref(schedule, ti, ei, **kw) for ti, ei in zip(t, e)])
    assert got.shape == t.shape
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    lo = kw.get("min_learning_rate", 0.0)
    assert np.all(got <= LR * (1 + 1e-12)) and np.all(got >= lo * (1 - 1e-12))


@pytest.mark.parametrize("T0, mult, n_cycles", [(5, 1.0, 6), (2, 2.0, 5), (3, 1.5, 6),
                                                (2.5, 3.0, 4), (4, 1.0, 3)])
def test_cosine_restarts(T0, mult, n_cycles):
    lo = 0.01
    # restart epochs: 0, T0, T0 + T0*mult, ...
    starts = [0.0]
    for i in range(n_cycles):
        starts.append(starts[-1] + T0 * mult**i)
    starts = np.array(starts)
    kw = dict(min_learning_rate=lo, restart_period=T0, restart_mult=mult)
    at = learning_rates("cosine", LR, np.arange(1, len(starts) + 1), starts, **kw)
    # at every restart the rate is back to learning_rate
    np.testing.assert_allclose(at, LR, rtol=1e-12)
    # just before a restart it is at the minimum; halfway through it is the mean
    before = learning_rates("cosine", LR, np.arange(1, n_cycles + 1), starts[1:] - 1e-9, **kw)
    np.testing.assert_allclose(before, lo, rtol=0, atol=1e-9)
    periods = np.diff(starts)
    mid = learning_rates("cosine", LR, np.arange(1, n_cycles + 1),
                         starts[:-1] + periods / 2, **kw)
    np.testing.assert_allclose(mid, (LR + lo) / 2, rtol=1e-12)
    # within each cycle the rate only decreases
    for a, b in zip(starts[:-1], starts[1:]):
        e = np.linspace(a, b, 50, endpoint=False)
        r = learning_rates("cosine", LR, np.arange(1, 51), e, **kw)
        assert np.all(np.diff(r) < 0)


@pytest.mark.parametrize(
    "T0, mult, n_batches, restart_steps",
    [
        # restart_period 0.7 with 10 batches per epoch: a restart every 7
        # steps, at e = 0.7, 1.4, ..., 7.0, ...
        (0.7, 1.0, 10, np.arange(0, 400, 7)),
        (0.3, 1.0, 10, np.arange(0, 400, 3)),
        (0.2, 1.0, 5, np.arange(0, 300, 1)),  # every step is a restart
        # periods 0.3, 0.9, 2.7, 8.1, 24.3: restarts at 0.3, 1.2, 3.9, 12, 36.3
        (0.3, 3.0, 10, np.array([0, 3, 12, 39, 120, 363])),
    ],
)
def test_cosine_restarts_at_non_dyadic_periods(T0, mult, n_batches, restart_steps):
    # the epochs are formed as the estimator forms them: k / n_batches
    e = restart_steps / n_batches
    r = learning_rates("cosine", LR, restart_steps + 1, e, restart_period=T0,
                       restart_mult=mult, min_learning_rate=0.01)
    # a restart is a restart, whatever the rounding of e / T0: the rate is the
    # peak, never the minimum
    np.testing.assert_allclose(r, LR, rtol=1e-9)


def test_cosine_restart_mult_changes_the_cycles():
    e = np.array([6.0])
    same = learning_rates("cosine", LR, [1], e, restart_period=2, restart_mult=1.0)
    grow = learning_rates("cosine", LR, [1], e, restart_period=2, restart_mult=2.0)
    assert same[0] == pytest.approx(LR)  # restart at 6 with period 2
    assert grow[0] == pytest.approx(LR)  # restarts at 2 and 6 with periods 2, 4
    e = np.array([4.0])
    same = learning_rates("cosine", LR, [1], e, restart_period=2, restart_mult=1.0)
    grow = learning_rates("cosine", LR, [1], e, restart_period=2, restart_mult=2.0)
    assert same[0] == pytest.approx(LR)
    assert grow[0] == pytest.approx(LR / 2)  # halfway through the 2nd cycle


@pytest.mark.parametrize("lo", [0.0, 0.03])
@pytest.mark.parametrize("max_iter", [1, 7, 50])
def test_linear_reaches_min_learning_rate_at_max_iter(max_iter, lo):
    e = np.array([0.0, max_iter / 2, max_iter, max_iter + 0.5, 3 * max_iter])
    r = learning_rates("linear", LR, np.arange(1, 6), e, min_learning_rate=lo,
                       max_iter=max_iter)
    assert r[0] == pytest.approx(LR, rel=1e-12)
    assert r[1] == pytest.approx((LR + lo) / 2, rel=1e-12)
    np.testing.assert_allclose(r[2:], lo, rtol=0, atol=1e-15)  # and stays there


@pytest.mark.parametrize("power_t", [0.0, 0.25, 0.5, 1.0])
def test_invscaling_uses_the_global_step(power_t):
    t = np.array([1, 2, 16, 81, 10000])
    r = learning_rates("invscaling", LR, t, np.zeros(5), power_t=power_t)
    np.testing.assert_allclose(r, LR / t.astype(float) ** power_t, rtol=1e-12)


def test_step_decays_only_at_multiples_of_step_size():
    e = np.array([0.0, 2.99, 3.0, 5.5, 6.0, 8.999, 9.0])
    r = learning_rates("step", LR, np.arange(1, 8), e, step_size=3, decay_rate=0.5)
    np.testing.assert_allclose(r, LR * np.array([1, 1, 0.5, 0.5, 0.25, 0.25, 0.125]),
                               rtol=1e-12)


def test_exponential_decays_per_epoch_fractionally():
    e = np.array([0.0, 0.5, 1.0, 2.0, 2.25])
    r = learning_rates("exponential", LR, np.arange(1, 6), e, decay_rate=0.25)
    np.testing.assert_allclose(r, LR * np.array([1, 0.5, 0.25, 0.0625, 0.0625 / 2**0.5]),
                               rtol=1e-12)


def test_plateau_rate_and_constant_ignore_each_other():
    t, e = _grid(3)
    np.testing.assert_array_equal(learning_rates("plateau", LR, t, e, current=0.05), 0.05)
    np.testing.assert_array_equal(learning_rates("plateau", LR, t, e), LR)
    np.testing.assert_array_equal(learning_rates("constant", LR, t, e, current=0.05), LR)


def test_unknown_schedule_raises():
    with pytest.raises(ValueError, match="lr_schedule"):
        learning_rates("warmup", LR, [1], [0.0])


@pytest.mark.parametrize(
    "current, decay_rate, lo, expected",
    [
        (0.1, 0.5, 0.0, 0.05),
        (0.1, 0.9, 0.0, 0.09),
        (0.1, 0.5, 0.08, 0.08),  # clamped to min_learning_rate
        (0.08, 0.5, 0.08, None),  # at the floor: cannot decay
        (0.05, 0.5, 0.08, None),  # below the floor
        (1.5e-6, 0.5, 0.0, 1e-6),  # absolute floor 1e-6
        (1e-6, 0.5, 0.0, None),
        (1e-6, 0.5, 1e-7, None),  # the floor is max(lo, 1e-6)
        (1e-3, 0.1, 1e-7, 1e-4),
    ],
)
def test_plateau_decay(current, decay_rate, lo, expected):
    new = plateau_decay(current, decay_rate, lo)
    if expected is None:
        assert new is None
    else:
        assert new == pytest.approx(expected, rel=1e-12)
        assert max(lo, 1e-6) <= new < current


def test_plateau_decay_sequence_reaches_floor_and_stops():
    rate, seq = 1.0, []
    while (rate := plateau_decay(rate, 0.3, 2e-3)) is not None:
        seq.append(rate)
        assert len(seq) < 100
    expected = [0.3, 0.09, 0.027, 0.0081, 0.00243, 0.002]
    np.testing.assert_allclose(seq, expected, rtol=1e-12)


# ---------------------------------------------------------------------------
# the estimator follows the schedule


def _data(seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(40, 3)
    y = X @ np.array([1.5, -2.0, 0.5]) + 1.0 + 0.3 * rng.randn(40)
    return X, y


def _sgd_reference(X, y, rates, batch_size=None):
    """Plain SGD on squared error in sample order, one rate per step."""
    n, d = X.shape
    bs = n if batch_size is None else batch_size
    w, b = np.zeros(d), y.mean()
    rates = list(rates)
    k = 0
    while k < len(rates):
        for start in range(0, n, bs):
            Xb, yb = X[start:start + bs], y[start:start + bs]
            r = Xb @ w + b - yb
            w, b = w - rates[k] * (Xb.T @ r) / len(yb), b - rates[k] * r.mean()
            k += 1
    return w, b


def test_step_schedule_in_training():
    X, y = _data()
    lr = 0.1
    est = LinearRegressor(optimizer="sgd", penalty=None, lr_schedule="step", step_size=1,
                          decay_rate=0.5, learning_rate=lr, batch_size="full",
                          max_iter=3, tol=None, shuffle=False).fit(X, y)
    w, b = _sgd_reference(X, y, [lr, lr / 2, lr / 4])
    np.testing.assert_allclose(est.coef_, w, rtol=1e-10)
    np.testing.assert_allclose(est.intercept_, [b], rtol=1e-10)
    # and not the constant-rate run
    w_const, _ = _sgd_reference(X, y, [lr, lr, lr])
    assert not np.allclose(est.coef_, w_const, rtol=1e-4)


_TRAIN_CASES = [
    ("constant", {}),
    ("invscaling", dict(power_t=0.5)),
    ("exponential", dict(decay_rate=0.5)),
    ("step", dict(step_size=2, decay_rate=0.3)),
    ("linear", dict(min_learning_rate=0.01)),
    ("cosine", dict(restart_period=1.5, min_learning_rate=0.005)),
    ("cosine", dict(restart_period=1, restart_mult=2.0)),
]


@pytest.mark.parametrize("schedule, kw", _TRAIN_CASES,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(_TRAIN_CASES)])
def test_minibatch_training_uses_fractional_epochs_and_global_steps(schedule, kw):
    # 4 mini-batches per epoch: the rate of step k (from 1) in epoch j (from 0)
    # is evaluated at t = 4*j + k and e = j + (k - 1) / 4
    X, y = _data(1)
    lr, n_epochs, bs = 0.1, 4, 10
    est = LinearRegressor(optimizer="sgd", penalty=None, lr_schedule=schedule, learning_rate=lr,
                          batch_size=bs, max_iter=n_epochs, tol=None, shuffle=False,
                          **kw).fit(X, y)
    t = np.arange(1, n_epochs * 4 + 1)
    e = (t - 1) / 4
    rates = [_ref(schedule, ti, ei, lr=lr, max_iter=n_epochs, **kw) for ti, ei in zip(t, e)]
    w, b = _sgd_reference(X, y, rates, batch_size=bs)
    np.testing.assert_allclose(est.coef_, w, rtol=1e-10)
    np.testing.assert_allclose(est.intercept_, [b], rtol=1e-10)
    assert est.t_ == len(rates)


def test_schedule_resumes_across_partial_fit():
    X, y = _data(2)
    kw = dict(optimizer="sgd", penalty=None, lr_schedule="exponential", decay_rate=0.5,
              learning_rate=0.1, batch_size=10, tol=None, shuffle=False)
    inc = LinearRegressor(**kw)
    for _ in range(3):
        inc.partial_fit(X, y)
    t = np.arange(1, 13)
    rates = [_ref("exponential", ti, (ti - 1) / 4, lr=0.1, decay_rate=0.5) for ti in t]
    w, b = _sgd_reference(X, y, rates, batch_size=10)
    np.testing.assert_allclose(inc.coef_, w, rtol=1e-10)
    np.testing.assert_allclose(inc.intercept_, [b], rtol=1e-10)


def _plateau_rates(lr, decay_rate, lo, max_iter):
    """Rates per epoch when the loss never improves after the first epoch.

    Epoch 1 improves on +inf; every later epoch fails, so with patience 1 the
    rate decays after epochs 2, 3, ... until it reaches max(lo, 1e-6); the
    epoch after that stops training.
    """
    rates = [lr, lr]
    while len(rates) < max_iter:
        floor = max(lo, 1e-6)
        if rates[-1] <= floor:
            break
        rates.append(max(rates[-1] * decay_rate, floor))
    return rates


def test_plateau_schedule_in_training(capsys):
    X, y = _data(3)
    lr, decay, lo = 0.01, 0.5, 1e-3
    # a tol no epoch can beat: every epoch after the first is a plateau
    est = LinearRegressor(optimizer="sgd", penalty=None, lr_schedule="plateau", learning_rate=lr,
                          decay_rate=decay, min_learning_rate=lo, n_iter_no_change=1,
                          tol=1e6, batch_size="full", max_iter=30, shuffle=False,
                          verbose=1).fit(X, y)
    out = capsys.readouterr().out
    rates = _plateau_rates(lr, decay, lo, 30)
    assert rates == pytest.approx([0.01, 0.01, 0.005, 0.0025, 0.00125, 0.001])
    plateau_lines = [line for line in out.splitlines() if line.startswith("Plateau")]
    assert plateau_lines == [
        f"Plateau: learning rate {a:.3g} -> {b:.3g}" for a, b in zip(rates[1:-1], rates[2:])
    ]
    assert est.n_iter_ == len(rates)  # stopped once the rate hit its floor
    assert np.all(np.isfinite(est.coef_)) and np.all(np.isfinite(est.intercept_))
    w, b = _sgd_reference(X, y, rates)
    np.testing.assert_allclose(est.coef_, w, rtol=1e-10)
    np.testing.assert_allclose(est.intercept_, [b], rtol=1e-10)

