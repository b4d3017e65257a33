"""The learning-rate range test: :func:`lr_find` and :class:`LRFinderResult`.

One short run from the initial weights raises the learning rate
exponentially at every mini-batch step and records the loss; a rate
somewhat below the one where the loss is lowest is a good learning rate to
train with (the "LR range test" of Smith, 2017, as popularised by fastai).

The run reuses the engine of a fit: :meth:`~sktune.base.BaseGradientEstimator._prepare_fit`
validates the data and initialises the weights, and the estimator's epoch
runner trains each step as a one-batch "epoch" at that step's rate, so every
optimizer, loss, penalty and device behaves exactly as in ``fit``.
"""
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import Interval, validate_params

from .. import _config
from .._kernels import _codes as C
from ..base import BaseGradientEstimator

#: Decay of the exponential moving average of the step losses.
SMOOTHING = 0.98
#: The run stops once the smoothed loss exceeds this many times its minimum.
EXPLOSION = 4.0
#: Width (steps) of the centred moving average the suggestion is read from.
WINDOW = 11
#: The suggestion is the rate at the loss minimum divided by this margin.
#: Plain SGD's step shrinks with the gradient, so a rate close to the edge
#: still settles; with momentum the step accumulates, and an adaptive
#: optimizer's step stays about ``learning_rate`` long after the gradient
#: has shrunk, so these need a wider margin. Measured on the five tasks of
#: ``benchmarks/bench_lr_find.py`` (see docs/learning_rate.md).
MARGINS = {"sgd": 2.0, "momentum": 5.0, "nesterov": 5.0, "rmsprop": 5.0,
           "adagrad": 5.0, "adam": 10.0, "adamw": 10.0}


class LRFinderResult:
    """What :func:`lr_find` recorded: the loss at each tried learning rate.

    Parameters
    ----------
    learning_rates : array-like of shape (n_run,)
        Rate of each step that ran.
    losses : array-like of shape (n_run,)
        Smoothed loss of each step.
    raw_losses : array-like of shape (n_run,)
        Mini-batch loss of each step, before its update.
    suggestion : float
        The suggested learning rate.
    n_steps : int
        Steps asked for; ``n_run < n_steps`` when the run stopped early.
    estimator_name : str, default=None
        Name of the estimator, shown in plots.

    Attributes
    ----------
    learning_rates_ : ndarray of shape (n_run,)
        ``min_lr * (max_lr / min_lr) ** (k / (n_steps - 1))`` for the steps
        ``k = 0, 1, ...`` that ran.
    losses_ : ndarray of shape (n_run,)
        The bias-corrected exponential moving average (decay 0.98) of
        ``raw_losses_``.
    raw_losses_ : ndarray of shape (n_run,)
        Mean sample-weighted training loss of each step's mini-batch at the
        weights before that step's update (the penalty not included).
    suggestion_ : float
        The rate at the minimum of an 11-step centred moving average of
        ``raw_losses_`` over the optimizer's margin (2 for SGD, 5 with
        momentum or RMSprop/Adagrad, 10 for Adam), within
        ``[min_lr, max_lr]``; see :func:`lr_find`.
    stopped_early_ : bool
        True when the smoothed loss exploded (or a loss or weight became
        non-finite) before ``n_steps`` steps.
    estimator_name : str or None
        Class name of the estimator that was run.

    See Also
    --------
    lr_find : Runs the test and returns this object.
    sktune.plot.LearningRateFinderDisplay : The plot of the result.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import LinearRegressor
    >>> from sktune.model_selection import lr_find
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 3)
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> result = lr_find(LinearRegressor(batch_size=10, random_state=0), X, y,
    ...                  n_steps=30)
    >>> len(result.learning_rates_) == len(result.losses_) <= 30
    True
    >>> 1e-6 <= result.suggestion_ <= 1.0
    True
    """

    def __init__(self, learning_rates, losses, raw_losses, suggestion, n_steps,
                 estimator_name=None):
        self.learning_rates_ = np.asarray(learning_rates, dtype=float)
        self.losses_ = np.asarray(losses, dtype=float)
        self.raw_losses_ = np.asarray(raw_losses, dtype=float)
        self.suggestion_ = float(suggestion)
        self.stopped_early_ = len(self.learning_rates_) < n_steps
        self.estimator_name = estimator_name

    def __repr__(self):
        return (f"LRFinderResult(suggestion_={self.suggestion_:.3g}, "
                f"steps={len(self.learning_rates_)}, "
                f"stopped_early_={self.stopped_early_})")

    def plot(self, ax=None, **kwargs):
        """Draw the smoothed loss against the learning rate.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; None makes a new figure.
        **kwargs
            Passed to :meth:`sktune.plot.LearningRateFinderDisplay.plot`.

        Returns
        -------
        display : sktune.plot.LearningRateFinderDisplay
            The display holding the figure, its axes and the loss line.

        Examples
        --------
        >>> from sktune.model_selection import LRFinderResult
        >>> result = LRFinderResult([1e-3, 1e-2, 1e-1], [1.0, 0.5, 2.0],
        ...                         [1.0, 0.4, 2.5], 1e-2, n_steps=3)
        >>> result.plot().ax_.get_xscale()
        'log'
        """
        from .._lr_display import LearningRateFinderDisplay

        return LearningRateFinderDisplay.from_result(self, ax=ax, **kwargs)


def suggest(learning_rates, raw_losses, min_lr, max_lr, margin=10.0):
    """The suggested rate: the rate at the lowest loss over ``margin``.

    The loss is read from a centred moving average of ``raw_losses`` over
    :data:`WINDOW` steps (fewer at the ends), which, unlike the
    exponential average of ``losses_``, does not lag behind the rate: with
    decay 0.98 over 100 steps that average reaches its minimum about a
    decade of rate after the mini-batch losses do. The result is clipped
    to ``[min_lr, max_lr]``.
    """
    raw = np.asarray(raw_losses, dtype=float)
    half = WINDOW // 2
    centred = [raw[max(k - half, 0):k + half + 1].mean() for k in range(len(raw))]
    rate = learning_rates[int(np.argmin(centred))] / margin
    return float(np.clip(rate, min_lr, max_lr))


def _final_estimator(estimator, X, y):
    """A clone of ``estimator``'s sktune model and the data it trains on.

    A pipeline's steps before its last are cloned and ``fit_transform``-ed
    once (nested pipelines are unwrapped the same way).
    """
    model = clone(estimator)
    while isinstance(model, Pipeline):
        if len(model.steps) > 1:
            X = model[:-1].fit_transform(X, y)
        model = model.steps[-1][1]
    if not isinstance(model, BaseGradientEstimator):
        raise TypeError(
            "lr_find needs an sktune estimator (LinearRegressor, "
            "LinearClassifier, MLPRegressor, MLPClassifier) or a Pipeline "
            f"ending with one; got {type(model).__name__}."
        )
    return model, X


@validate_params(
    {
        "estimator": "no_validation",
        "X": ["array-like", "sparse matrix"],
        "y": ["array-like"],
        "min_lr": [Interval(Real, 0, None, closed="neither")],
        "max_lr": [Interval(Real, 0, None, closed="neither")],
        "n_steps": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def lr_find(estimator, X, y, *, min_lr=1e-6, max_lr=1.0, n_steps=100,
            random_state=None):
    """Learning-rate range test: the loss as the rate grows step by step.

    A copy of the estimator starts from its initial weights and takes up to
    ``n_steps`` mini-batch steps (of its ``batch_size``, optimizer, penalty
    and loss), the rate of step ``k`` being
    ``min_lr * (max_lr / min_lr) ** (k / (n_steps - 1))``; the batches come
    from a shuffle of the data, drawn again after each pass over it. Each
    step's mini-batch loss, at the weights before its update, is recorded
    and smoothed by an exponential moving average (decay 0.98, corrected for
    its start at zero, as in fastai's range test). The run stops early,
    without raising, once the smoothed loss exceeds 4 times its minimum so
    far, or a loss or weight becomes non-finite.

    The suggested rate is the rate at which the loss is lowest, the loss
    being read from an 11-step centred moving average of the raw step
    losses (the exponential average lags behind the rate by about a
    decade), divided by a margin that depends on the optimizer: 2 for
    ``"sgd"``, 5 for ``"momentum"``, ``"nesterov"``, ``"rmsprop"`` and
    ``"adagrad"``, 10 for ``"adam"`` and ``"adamw"``. At the minimum the
    rate is already near the edge of stability; the margin grows with how
    little an optimizer's step shrinks as the gradient does (see
    :data:`MARGINS`). On the benchmark ``benchmarks/bench_lr_find.py`` this
    rule came within tolerance of the best of a 7-rate grid more often than
    a fixed tenth, the steepest descent of either curve, or the exponential
    average's minimum.

    Parameters
    ----------
    estimator : sktune estimator or Pipeline
        The model to test, unfitted or fitted; a
        :class:`~sklearn.pipeline.Pipeline` whose last step is an sktune
        estimator has its other steps fitted once with ``fit_transform``.
        It is not modified: the test runs on a clone (``learning_rate``,
        ``lr_schedule``, ``max_iter`` and ``early_stopping`` are unused).
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Training data.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets.
    min_lr : float, default=1e-6
        Rate of the first step.
    max_lr : float, default=1.0
        Rate of the last step; larger than ``min_lr``.
    n_steps : int, default=100
        Number of steps (mini-batches) at most.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights and the shuffles; None keeps the
        estimator's own ``random_state``.

    Returns
    -------
    result : LRFinderResult
        The rates, raw and smoothed losses, and ``suggestion_``; its
        :meth:`~LRFinderResult.plot` draws them.

    See Also
    --------
    sktune.plot.LearningRateFinderDisplay : Runs the test and plots it.

    Notes
    -----
    Every step is one call of the compiled epoch kernel on one mini-batch,
    so a 100-step test costs about as much as 100 mini-batch updates of a
    fit, plus a small per-call overhead.

    References
    ----------
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks",
    WACV 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import MLPRegressor
    >>> from sktune.model_selection import lr_find
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 5)
    >>> y = X @ [1.0, -2.0, 0.5, 0.0, 1.0]
    >>> model = MLPRegressor(hidden_layer_sizes=(8,), batch_size=16)
    >>> result = lr_find(model, X, y, min_lr=1e-5, max_lr=10.0, random_state=0)
    >>> bool(result.learning_rates_[0] == 1e-5)
    True
    >>> model = MLPRegressor(hidden_layer_sizes=(8,), learning_rate=result.suggestion_)
    """
    if not min_lr < max_lr:
        raise ValueError(f"min_lr must be smaller than max_lr; got min_lr={min_lr} "
                         f"and max_lr={max_lr}.")
    model, X = _final_estimator(estimator, X, y)
    if random_state is not None:
        model.set_params(random_state=random_state)
    model.set_params(early_stopping=False, warm_start=False, verbose=0)
    model._validate_params()
    loop = model._prepare_fit(X, y, None, incremental=False)
    state, order, stats = loop.state, loop.order, loop.stats
    bs = int(loop.icodes[C.I_BATCH])
    steps = np.arange(n_steps)
    rates = min_lr * (max_lr / min_lr) ** (steps / (n_steps - 1))
    run = model._epoch_runner(loop.X, loop.Y, loop.sw, state,
                              _config.effective_threads(model.n_threads))

    raw, smoothed = [], []
    avg, best = 0.0, np.inf
    with model._training_context():
        for k in steps:
            epoch, b = divmod(int(k), loop.n_batches)
            if b == 0:  # a new pass over the data: shuffle as a fit's epoch does
                if model.shuffle:
                    loop.permute(state.seed, epoch, order)
                else:
                    order[:] = np.arange(loop.n)
                loop.icodes[C.I_EPOCH] = epoch  # keys the dropout masks
            rows = np.ascontiguousarray(order[b * bs:(b + 1) * bs])
            stats[:] = 0.0
            run(rows, rates[k:k + 1], loop.hyper, loop.icodes, stats)
            loss = stats[C.S_LOSS] / max(stats[C.S_WEIGHT], 1e-300)
            if stats[C.S_DIVERGED] or not np.isfinite(loss):
                break
            avg = SMOOTHING * avg + (1.0 - SMOOTHING) * loss
            value = avg / (1.0 - SMOOTHING ** (k + 1))
            raw.append(loss)
            smoothed.append(value)
            best = min(best, value)
            if value > EXPLOSION * best:
                break
    n_run = len(raw)
    # the very first step may have overflowed already: then min_lr
    margin = MARGINS[model.optimizer]
    suggestion = suggest(rates[:n_run], raw, min_lr, max_lr, margin) if n_run else min_lr
    return LRFinderResult(rates[:n_run], smoothed, raw, suggestion, n_steps,
                          estimator_name=type(model).__name__)
