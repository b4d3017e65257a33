"""Learning-rate schedules, evaluated on the host.

Before each epoch the estimator asks :func:`learning_rates` for the rate of
every optimizer step in it. ``t`` is the global step number (1 for the first
update ever) and ``e`` the fractional epoch (0 at the start of the first
epoch, ``k + i / n_batches`` within epoch ``k``); both keep counting across
``partial_fit`` calls and ``warm_start`` fits, so a schedule resumes where it
stopped. With ``lr = learning_rate`` and ``lr_min = min_learning_rate``:

===============  ============================================================
``constant``     ``lr``
``invscaling``   ``lr / t**power_t``
``exponential``  ``lr * decay_rate**e``
``step``         ``lr * decay_rate**floor(e / step_size)``
``linear``       ``lr_min + (lr - lr_min) * max(0, 1 - e / max_iter)``
``cosine``       ``lr_min + (lr - lr_min) * (1 + cos(pi * e_i / T_i)) / 2``, with
                 restarts: period ``T_i = restart_period * restart_mult**i`` and
                 ``e_i`` the epochs since the ``i``-th restart (SGDR)
``plateau``      ``lr``, multiplied by ``decay_rate`` each time the monitored
                 score (validation score with ``early_stopping``, else the
                 training loss) fails to improve by ``tol`` for
                 ``n_iter_no_change`` epochs; training stops once the rate
                 cannot go lower than ``max(lr_min, 1e-6)``
===============  ============================================================
"""
import numpy as np

SCHEDULES = ("constant", "invscaling", "exponential", "step", "linear",
             "cosine", "plateau")


def learning_rates(schedule, learning_rate, t, e, *, power_t=0.25,
                   decay_rate=0.9, step_size=10, min_learning_rate=0.0,
                   restart_period=10, restart_mult=1.0, max_iter=100,
                   current=None):
    """Compute the learning rate of each step under a schedule.

    The formulas of the schedules are in :mod:`sktune.optim`; the
    estimators call this before each epoch for the steps of that epoch.

    Parameters
    ----------
    schedule : str
        One of :data:`SCHEDULES`.
    learning_rate : float
        The initial (peak) rate.
    t : array-like of int
        Global step numbers, starting at 1.
    e : array-like of float
        Fractional epochs at those steps, starting at 0.
    power_t : float, default=0.25
        Exponent of ``"invscaling"``.
    decay_rate : float, default=0.9
        Factor of ``"exponential"`` (per epoch) and ``"step"``.
    step_size : int, default=10
        Epochs between the decays of ``"step"``.
    min_learning_rate : float, default=0.0
        Final rate of ``"linear"`` and minimum of ``"cosine"``.
    restart_period : float, default=10
        Epochs in the first cycle of ``"cosine"``.
    restart_mult : float, default=1.0
        Growth factor of each further cycle of ``"cosine"``.
    max_iter : int, default=100
        Epochs over which ``"linear"`` decays.
    current : float, default=None
        The ``"plateau"`` schedule's current rate (None means
        ``learning_rate``); other schedules ignore it.

    Returns
    -------
    rates : ndarray of float64 of the shape of ``t``
        One rate per step.

    Raises
    ------
    ValueError
        If ``schedule`` is unknown.

    See Also
    --------
    plateau_decay : The next rate of the ``"plateau"`` schedule.

    Examples
    --------
    >>> from sktune.optim import learning_rates
    >>> learning_rates("step", 0.1, t=[1, 2, 3], e=[0.0, 1.0, 2.0],
    ...                decay_rate=0.5, step_size=1).tolist()
    [0.1, 0.05, 0.025]
    """
    t = np.asarray(t, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    lr, lo = float(learning_rate), float(min_learning_rate)
    if schedule in ("constant", "plateau"):
        value = lr if current is None or schedule == "constant" else current
        return np.full(t.shape, value)
    if schedule == "invscaling":
        return lr / np.power(np.maximum(t, 1.0), power_t)
    if schedule == "exponential":
        return lr * np.power(decay_rate, e)
    if schedule == "step":
        return lr * np.power(decay_rate, np.floor(e / step_size))
    if schedule == "linear":
        return lo + (lr - lo) * np.clip(1.0 - e / max_iter, 0.0, 1.0)
    if schedule == "cosine":
        T0, mult = float(restart_period), float(restart_mult)
        if mult == 1.0:
            period = np.full(e.shape, T0)
            since = np.mod(e, T0)
        else:
            i = np.floor(np.log1p(e / T0 * (mult - 1.0)) / np.log(mult))
            period = T0 * mult**i
            since = e - T0 * (mult**i - 1.0) / (mult - 1.0)
        # an epoch within rounding error of a cycle's end is the next restart
        late = since >= period - 1e-12 * np.maximum(e, 1.0)
        since = np.where(late, np.maximum(since - period, 0.0), since)
        period = np.where(late, period * mult, period)
        return lo + (lr - lo) * 0.5 * (1.0 + np.cos(np.pi * since / period))
    raise ValueError(f"Unknown lr_schedule {schedule!r}; expected one of {SCHEDULES}.")


def plateau_decay(current, decay_rate, min_learning_rate):
    """Return the ``"plateau"`` schedule's next rate, or None when it cannot decay.

    The rate is multiplied by ``decay_rate`` but never goes below
    ``max(min_learning_rate, 1e-6)``; when it is already there (or
    ``decay_rate=1``) the answer is None and training stops.

    Parameters
    ----------
    current : float
        The current learning rate.
    decay_rate : float
        Factor applied at each plateau.
    min_learning_rate : float
        Floor of the rate (at least 1e-6 is used).

    Returns
    -------
    rate : float or None
        The decayed rate, or None when it would not be lower.

    See Also
    --------
    learning_rates : Rates of every schedule.

    Examples
    --------
    >>> from sktune.optim import plateau_decay
    >>> plateau_decay(0.1, 0.5, 0.0)
    0.05
    >>> plateau_decay(1e-6, 0.5, 0.0) is None
    True
    """
    floor = max(float(min_learning_rate), 1e-6)
    new = max(current * decay_rate, floor)
    if new >= current:  # at the floor, or decay_rate=1: nothing left to try
        return None
    return new
