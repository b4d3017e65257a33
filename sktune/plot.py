"""Plots of training curves and hyperparameter searches.

Both displays follow scikit-learn's Display API (as
:class:`sklearn.metrics.RocCurveDisplay` does): a class method builds the
display from a fitted object and draws it, :meth:`plot` draws (or redraws) it
on given axes, and the matplotlib artists are kept as attributes ending in
``_`` so that a plot can be restyled afterwards.

- :class:`LossCurveDisplay`: the training loss of each epoch, the validation
  score of each epoch (with ``early_stopping``) and the learning rate of each
  epoch, from a fitted sktune estimator (alone or at the end of a
  :class:`~sklearn.pipeline.Pipeline`).
- :class:`SearchDisplay`: the cross-validated score against each searched
  hyperparameter, from the ``cv_results_`` of ``GridSearchCV``,
  ``RandomizedSearchCV``, ``HalvingGridSearchCV``, ``HalvingRandomSearchCV``
  or scikit-optimize's ``BayesSearchCV``.

matplotlib is imported only when something is drawn; install it with
``pip install "sktune[plot]"``.
"""
import numbers
import weakref
from collections.abc import Mapping

import numpy as np

from ._lr_display import LearningRateFinderDisplay

__all__ = ["LearningRateFinderDisplay", "LossCurveDisplay", "SearchDisplay"]


def _import_pyplot():
    """Return ``matplotlib.pyplot``, or raise a helpful ImportError."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "sktune.plot needs matplotlib, which is not installed. Install it "
            "with `pip install \"sktune[plot]\"` (or `pip install matplotlib`)."
        ) from exc
    return plt


def _is_axes(obj):
    from matplotlib.axes import Axes

    return isinstance(obj, Axes)


def _check_bounding_ax(ax):
    # an Axes turned off by an earlier plot() was used as a bounding box
    if not ax.axison:
        raise ValueError(
            "The ax was already used as a bounding box by another plot; pass "
            "display.axes_ of that plot instead."
        )


def _split_axes(ax, n_rows, n_cols, **gridspec_kw):
    """Turn ``ax`` off and fill its box with an ``n_rows`` x ``n_cols`` grid.

    scikit-learn's convention (``PartialDependenceDisplay``) for a display
    that needs several axes but was given one.
    """
    _check_bounding_ax(ax)
    fig = ax.figure
    spec = ax.get_subplotspec()
    ax.set_axis_off()
    if spec is not None:
        grid = spec.subgridspec(n_rows, n_cols, **gridspec_kw)
        cells = [grid[i, j] for i in range(n_rows) for j in range(n_cols)]
        return [fig.add_subplot(cell) for cell in cells]
    # an Axes placed with fig.add_axes: split its rectangle by hand
    x0, y0, width, height = ax.get_position().bounds
    w, h = width / n_cols, height / n_rows
    return [
        fig.add_axes([x0 + j * w + 0.08 * w, y0 + (n_rows - 1 - i) * h + 0.1 * h,
                      0.84 * w, 0.8 * h])
        for i in range(n_rows) for j in range(n_cols)
    ]


# ----------------------------------------------------------------------
# LossCurveDisplay


def _unwrap_estimator(estimator):
    """The fitted model that holds ``loss_curve_``: the last step of a
    pipeline, or the refitted best model of a search."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted

    while True:
        if isinstance(estimator, Pipeline):
            estimator = estimator.steps[-1][1]
        elif hasattr(estimator, "cv_results_") or (
            hasattr(estimator, "fit") and hasattr(estimator, "best_estimator_")
        ):
            if not hasattr(estimator, "best_estimator_"):
                raise TypeError(
                    f"{type(estimator).__name__} has no best_estimator_ (was it "
                    "fitted with refit=False?); pass a fitted estimator instead."
                )
            estimator = estimator.best_estimator_
        else:
            break
    if not hasattr(estimator, "fit"):
        raise TypeError(
            f"Expected a fitted sktune estimator or a Pipeline ending with one, "
            f"got {type(estimator).__name__}."
        )
    if _is_search_like(estimator):
        check_is_fitted(estimator, "cv_results_")
    check_is_fitted(estimator)
    if getattr(estimator, "loss_curve_", None) is None:
        raise TypeError(
            f"{type(estimator).__name__} does not record a loss curve "
            "(no loss_curve_ attribute); LossCurveDisplay needs an sktune "
            "estimator or another estimator trained epoch by epoch."
        )
    return estimator


def _epoch_learning_rates(estimator):
    """The learning rate at the end of each epoch of ``loss_curve_``, or None.

    Reads ``learning_rates_`` when the estimator records it. Otherwise the
    rates of sktune's closed-form schedules are recomputed from the
    estimator's parameters, with the same formula the training loop uses
    (:func:`sktune.optim.learning_rates` at the last step of each epoch);
    the ``"plateau"`` schedule depends on the training history and gives None.
    """
    rates = getattr(estimator, "learning_rates_", None)
    if rates is not None:
        return [float(r) for r in rates]
    from .optim import SCHEDULES, learning_rates

    schedule = getattr(estimator, "lr_schedule", None)
    curve = getattr(estimator, "loss_curve_", None)
    n_iter = getattr(estimator, "n_iter_", None)
    n_steps = getattr(estimator, "t_", None)
    if (not isinstance(schedule, str) or schedule not in SCHEDULES
            or schedule == "plateau" or not curve or not n_iter or not n_steps):
        return None
    steps_per_epoch = n_steps / n_iter
    n_batches = max(round(steps_per_epoch), 1)
    epoch = np.arange(n_iter - len(curve), n_iter)
    t_end = np.round((epoch + 1) * steps_per_epoch)
    e_end = epoch + (n_batches - 1) / n_batches
    rates = learning_rates(
        schedule, estimator.learning_rate, t_end, e_end,
        power_t=getattr(estimator, "power_t", 0.25),
        decay_rate=getattr(estimator, "decay_rate", 0.9),
        step_size=getattr(estimator, "step_size", 10),
        min_learning_rate=getattr(estimator, "min_learning_rate", 0.0),
        restart_period=getattr(estimator, "restart_period", 10),
        restart_mult=getattr(estimator, "restart_mult", 1.0),
        max_iter=getattr(estimator, "max_iter", 100),
    )
    return rates.tolist()


def _score_name(estimator):
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(estimator):
        return "accuracy"
    if is_regressor(estimator):
        return "R²"
    return None


def _end_aligned_epochs(n_values, n_epochs):
    """Epoch numbers of a per-epoch list that ends with the last epoch.

    ``validation_scores_`` covers only the last ``fit`` of a warm-started
    estimator, while ``loss_curve_`` covers every epoch.
    """
    if n_values > n_epochs:
        return np.arange(1, n_values + 1)
    return np.arange(n_epochs - n_values + 1, n_epochs + 1)


# the learning-rate twin of each loss axes, shared by overlaid displays
_LR_TWINS = weakref.WeakKeyDictionary()


class LossCurveDisplay:
    """Training loss, validation loss and score, and learning rate per epoch.

    Build it with :meth:`from_estimator` from a fitted estimator, or directly
    from the recorded lists and then call :meth:`plot`. The training loss
    is drawn against the epoch number (1 to ``n_iter_``), with the learning
    rate on a second y axis on the right (log scale when it spans more than
    one decade). When recorded (``early_stopping=True``), the validation
    loss is drawn dotted on the same axes as the training loss (the same
    objective, so the two compare), and the validation score gets its own
    axes below, sharing the epoch axis: the loss and the score are on
    unrelated scales.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
        Training loss of each epoch (an estimator's ``loss_curve_``).
    validation_scores : array-like of shape (n_val,), default=None
        Validation score of each epoch (``validation_scores_``). When it is
        shorter than ``loss_curve``, it is aligned with the last epochs (a
        warm-started fit records the scores of its last ``fit`` only).
    learning_rates : array-like of shape (n_lr,), default=None
        Learning rate at the end of each epoch (``learning_rates_``),
        aligned with the last epochs like ``validation_scores``.
    estimator_name : str, default=None
        Name used in the legend; useful to overlay several estimators.
    loss_name : str, default=None
        Name of the loss, shown in the y label (e.g. ``"squared_error"``).
    score_name : str, default=None
        Name of the validation score, shown in its y label (e.g. ``"R²"``).
    gradient_norms : array-like of shape (n_epochs, n_layers), default=None
        Per-layer gradient norm of each epoch (``gradient_norms_``), drawn
        in a panel of its own with ``plot(show_gradients=True)``.
    validation_loss_curve : array-like of shape (n_val,), default=None
        Loss on the validation split of each epoch
        (``validation_loss_curve_``), aligned like ``validation_scores``.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The training loss.
    validation_loss_line_ : matplotlib Line2D or None
        The validation loss (on ``ax_``), None when there is none.
    validation_line_ : matplotlib Line2D or None
        The validation score, None when there is none.
    lr_line_ : matplotlib Line2D or None
        The learning rate, None when unknown or not shown.
    ax_ : matplotlib Axes
        Axes of the training loss.
    validation_ax_ : matplotlib Axes or None
        Axes of the validation score.
    lr_ax_ : matplotlib Axes or None
        The right-hand twin of ``ax_`` that holds the learning rate.
    gradient_ax_ : matplotlib Axes or None
        Axes of the per-layer gradient norms (``show_gradients=True``).
    gradient_lines_ : list of matplotlib Line2D
        One gradient-norm line per layer (empty without that panel).
    axes_ : ndarray of matplotlib Axes
        The panels drawn, top to bottom: ``ax_``, then ``validation_ax_``
        and ``gradient_ax_`` when present; pass it as ``ax`` to overlay
        another estimator.
    bounding_ax_ : matplotlib Axes or None
        The single Axes given as ``ax`` whose box was split into the panels
        (loss above, then validation and gradient norms), else None.
    figure_ : matplotlib Figure
        The figure of the plot.

    See Also
    --------
    SearchDisplay : Scores of a hyperparameter search.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> import sktune
    >>> from sktune.plot import LossCurveDisplay
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), sktune.LinearRegressor(
    ...     lr_schedule="cosine", early_stopping=True, max_iter=30, tol=None,
    ...     random_state=0)).fit(X, y)
    >>> display = LossCurveDisplay.from_estimator(model)
    >>> display.line_.get_ydata().tolist() == model[-1].loss_curve_
    True
    """

    def __init__(self, loss_curve, validation_scores=None, learning_rates=None,
                 estimator_name=None, *, loss_name=None, score_name=None,
                 gradient_norms=None, validation_loss_curve=None):
        self.loss_curve = loss_curve
        self.validation_loss_curve = validation_loss_curve
        self.gradient_norms = gradient_norms
        self.validation_scores = validation_scores
        self.learning_rates = learning_rates
        self.estimator_name = estimator_name
        self.loss_name = loss_name
        self.score_name = score_name

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, log_loss=False, name=None,
                       **kwargs):
        """Plot the training curves of a fitted estimator.

        Parameters
        ----------
        estimator : estimator
            A fitted sktune estimator, a fitted
            :class:`~sklearn.pipeline.Pipeline` whose last step is one, or a
            fitted search (its ``best_estimator_`` is plotted). Any estimator
            with ``loss_curve_`` (e.g. scikit-learn's ``MLPRegressor``) works.
        ax : matplotlib Axes or array-like of two Axes, default=None
            Where to draw; see :meth:`plot`.
        log_loss : bool, default=False
            Draw the training loss on a log scale.
        name : str, default=None
            Name in the legend; defaults to the estimator's class name.
        **kwargs
            Passed to :meth:`plot` (``show_learning_rate``, ``loss_kw``,
            ``validation_kw``, ``lr_kw``, ``show_gradients``, ``gradient_kw``).

        Returns
        -------
        display : LossCurveDisplay

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        TypeError
            If it records no loss curve.

        Examples
        --------
        >>> import numpy as np
        >>> import sktune
        >>> from sktune.plot import LossCurveDisplay
        >>> rng = np.random.RandomState(0)
        >>> X = rng.randn(100, 3)
        >>> y = X @ [1.0, -2.0, 0.5]
        >>> model = sktune.LinearRegressor(lr_schedule="exponential",
        ...                                decay_rate=0.5, max_iter=10,
        ...                                tol=None).fit(X, y)
        >>> display = LossCurveDisplay.from_estimator(model, log_loss=True)
        >>> display.lr_ax_.get_yscale()
        'log'
        """
        fitted = _unwrap_estimator(estimator)
        loss = getattr(fitted, "loss", None)
        display = cls(
            list(fitted.loss_curve_),
            validation_scores=getattr(fitted, "validation_scores_", None),
            learning_rates=_epoch_learning_rates(fitted),
            estimator_name=type(fitted).__name__ if name is None else name,
            loss_name=loss if isinstance(loss, str) else None,
            score_name=_score_name(fitted),
            gradient_norms=getattr(fitted, "gradient_norms_", None),
            validation_loss_curve=getattr(fitted, "validation_loss_curve_", None),
        )
        return display.plot(ax=ax, log_loss=log_loss, **kwargs)

    def _make_axes(self, plt, ax, kinds):
        """Axes for the panels ``kinds`` (``"loss"``, then ``"validation"``
        and ``"gradients"`` when drawn), stacked on a shared epoch axis:
        ``{kind: Axes}``."""
        self.bounding_ax_ = None
        n = len(kinds)
        ratios = [3] + [2] * (n - 1)
        if ax is None:
            if n == 1:
                _, loss_ax = plt.subplots(layout="constrained")
                axes = [loss_ax]
            else:
                _, axes = plt.subplots(
                    n, 1, sharex=True, figsize=(6.4, 6.4 if n == 2 else 8.0),
                    layout="constrained", gridspec_kw={"height_ratios": ratios})
        elif _is_axes(ax):
            if n == 1:
                _check_bounding_ax(ax)
                axes = [ax]
            else:
                axes = _split_axes(ax, n, 1, height_ratios=ratios, hspace=0.1)
                for other in axes[1:]:
                    other.sharex(axes[0])
                for upper in axes[:-1]:
                    upper.tick_params(labelbottom=False)
                self.bounding_ax_ = ax
        else:
            axes = list(np.ravel(np.asarray(ax, dtype=object)))
            if len(axes) == 1 and _is_axes(axes[0]):
                return self._make_axes(plt, axes[0], kinds)
            if len(axes) != n or not all(_is_axes(a) for a in axes):
                names = {"loss": "loss", "validation": "validation score",
                         "gradients": "gradient norms"}
                raise ValueError(
                    f"ax must be None, a matplotlib Axes, or {n} Axes "
                    f"({', '.join(names[k] for k in kinds)}); got {ax!r}."
                )
        return dict(zip(kinds, axes))

    def plot(self, ax=None, *, log_loss=False, show_learning_rate=True, name=None,
             loss_kw=None, validation_kw=None, lr_kw=None, show_gradients=False,
             gradient_kw=None):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes or array-like of two Axes, default=None
            None draws on a new figure (two stacked axes when there are
            validation scores). One Axes receives the loss; with validation
            scores its box is split in two, loss above and score below
            (``bounding_ax_``). Two Axes (such as another display's
            ``axes_``) receive the loss and the validation score: that is how
            several estimators are overlaid. Overlaid displays also share
            one learning-rate axis.
        log_loss : bool, default=False
            Draw the training loss on a log scale.
        show_learning_rate : bool, default=True
            Draw the learning rate on a second y axis, when it is known.
        name : str, default=None
            Legend name, overriding ``estimator_name``.
        loss_kw, validation_kw, lr_kw : dict, default=None
            Keyword arguments for :meth:`matplotlib.axes.Axes.plot` of the
            training loss, the validation curves (score and loss) and the
            learning rate.
        show_gradients : bool, default=False
            Add a panel below with each layer's gradient norm per epoch
            (``gradient_norms``, log scale): layers whose line sinks far
            below the others have vanishing gradients.
        gradient_kw : dict, default=None
            Keyword arguments for :meth:`matplotlib.axes.Axes.plot` of the
            gradient-norm lines.

        Returns
        -------
        display : LossCurveDisplay
            This object, with the ``ax_``, ``figure_``, ``line_``,
            ``validation_line_`` and ``lr_line_`` attributes set.

        Examples
        --------
        >>> from sktune.plot import LossCurveDisplay
        >>> display = LossCurveDisplay([1.0, 0.5, 0.3], learning_rates=[0.1, 0.01, 0.001])
        >>> display = display.plot()
        >>> display.line_.get_xdata().tolist()
        [1, 2, 3]
        """
        plt = _import_pyplot()
        from matplotlib.ticker import MaxNLocator

        name = self.estimator_name if name is None else name
        loss = np.asarray(self.loss_curve, dtype=float).ravel()
        n = len(loss)
        val = self.validation_scores
        val = None if val is None or len(val) == 0 else np.asarray(val, float).ravel()
        rates = self.learning_rates
        if not show_learning_rate or rates is None or len(rates) == 0:
            rates = None
        else:
            rates = np.asarray(rates, dtype=float).ravel()

        grads = self.gradient_norms if show_gradients else None
        if grads is not None:
            grads = np.asarray(grads, dtype=float)
            grads = None if grads.size == 0 else grads.reshape(len(grads), -1)
        if show_gradients and grads is None:
            raise ValueError("show_gradients=True needs gradient_norms (an "
                             "estimator's gradient_norms_); none were recorded.")
        kinds = (["loss"] + (["validation"] if val is not None else [])
                 + (["gradients"] if grads is not None else []))
        panels = self._make_axes(plt, ax, kinds)
        loss_ax, val_ax = panels["loss"], panels.get("validation")
        grad_ax = panels.get("gradients")
        prefix = "" if name is None else f"{name}: "

        kw = {"label": f"{prefix}training loss", **(loss_kw or {})}
        (self.line_,) = loss_ax.plot(np.arange(1, n + 1), loss, **kw)
        color = self.line_.get_color()
        val_loss = self.validation_loss_curve
        self.validation_loss_line_ = None
        if val_loss is not None and len(val_loss):
            val_loss = np.asarray(val_loss, dtype=float).ravel()
            kw = {"color": color, "linestyle": ":", "label": f"{prefix}validation loss",
                  **(validation_kw or {})}
            (self.validation_loss_line_,) = loss_ax.plot(
                _end_aligned_epochs(len(val_loss), n), val_loss, **kw)
        what = "training loss" if self.validation_loss_line_ is None else "loss"
        loss_ax.set_ylabel(what + (f" ({self.loss_name})" if self.loss_name else ""))
        loss_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if log_loss:
            loss_ax.set_yscale("log")

        self.validation_line_ = None
        if val is not None:
            kw = {"color": color, "label": f"{prefix}validation score",
                  **(validation_kw or {})}
            (self.validation_line_,) = val_ax.plot(
                _end_aligned_epochs(len(val), n), val, **kw)
            val_ax.set_ylabel("validation " + (self.score_name or "score"))
            val_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if len(_labelled_lines(val_ax)) > 1:
                val_ax.legend()

        self.gradient_lines_ = []
        if grad_ax is not None:
            epochs = _end_aligned_epochs(len(grads), n)
            for k in range(grads.shape[1]):
                kw = {"label": f"{prefix}layer {k + 1}", **(gradient_kw or {})}
                self.gradient_lines_.extend(grad_ax.plot(epochs, grads[:, k], **kw))
            grad_ax.set_yscale("log")
            grad_ax.set_ylabel("gradient norm")
            grad_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            grad_ax.legend(fontsize="small", ncols=min(4, grads.shape[1]))
        (grad_ax or val_ax or loss_ax).set_xlabel("epoch")

        self.lr_line_ = None
        self.lr_ax_ = None
        if rates is not None:
            lr_ax = _LR_TWINS.get(loss_ax)
            if lr_ax is None:
                lr_ax = loss_ax.twinx()
                _LR_TWINS[loss_ax] = lr_ax
            kw = {"color": color, "linestyle": "--", "alpha": 0.8,
                  "label": f"{prefix}learning rate", **(lr_kw or {})}
            (self.lr_line_,) = lr_ax.plot(_end_aligned_epochs(len(rates), n), rates, **kw)
            lr_ax.set_ylabel("learning rate")
            every_rate = np.concatenate(
                [np.asarray(line.get_ydata(), float) for line in lr_ax.get_lines()])
            every_rate = every_rate[np.isfinite(every_rate)]
            spans_decade = (every_rate.size and every_rate.min() > 0
                            and every_rate.max() / every_rate.min() > 10)
            lr_ax.set_yscale("log" if spans_decade else "linear")
            self.lr_ax_ = lr_ax

        # one legend for the loss and learning-rate lines, on the top axes
        handles = _labelled_lines(loss_ax)
        if self.lr_ax_ is not None:
            handles += _labelled_lines(self.lr_ax_)
        top = self.lr_ax_ if self.lr_ax_ is not None else loss_ax
        if len(handles) > 1:
            top.legend(handles=handles, loc="best")

        self.ax_ = loss_ax
        self.validation_ax_ = val_ax
        self.gradient_ax_ = grad_ax
        self.axes_ = np.array([panels[k] for k in kinds], dtype=object)
        self.figure_ = loss_ax.figure
        return self


def _labelled_lines(ax):
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


# ----------------------------------------------------------------------
# SearchDisplay

# scipy.stats distributions whose samples are spread over orders of magnitude
_LOG_DISTRIBUTIONS = {"loguniform", "reciprocal", "lognorm"}
_LINEAR_DISTRIBUTIONS = {"uniform", "randint", "norm", "truncnorm", "triang", "beta",
                         "binom", "poisson"}


def _is_search_like(obj):
    from sklearn.model_selection._search import BaseSearchCV

    return isinstance(obj, BaseSearchCV) or any(
        hasattr(obj, name) for name in ("param_grid", "param_distributions", "search_spaces"))


def _dimension_scale(dimension, bayes):
    """"log", "linear" or None (unknown) for one entry of a search space."""
    prior = getattr(dimension, "prior", None)
    if hasattr(dimension, "low") and hasattr(dimension, "high") and isinstance(prior, str):
        # scikit-optimize Real / Integer
        return "log" if prior == "log-uniform" else "linear"
    dist_name = getattr(getattr(dimension, "dist", None), "name", None)
    if dist_name in _LOG_DISTRIBUTIONS:
        return "log"
    if dist_name in _LINEAR_DISTRIBUTIONS:
        return "linear"
    if (bayes and isinstance(dimension, tuple) and 2 <= len(dimension) <= 4
            and all(isinstance(v, numbers.Real) for v in dimension[:2])):
        # scikit-optimize's (low, high[, prior[, base]]) shorthand
        return "log" if "log-uniform" in dimension[2:] else "linear"
    return None


def _search_scales(search):
    """Axis scales implied by a search's distributions, by parameter name."""
    bayes = hasattr(search, "search_spaces")
    for attr in ("search_spaces", "param_distributions", "param_grid"):
        spaces = getattr(search, attr, None)
        if spaces is not None:
            break
    else:
        return {}
    if isinstance(spaces, Mapping):
        spaces = [spaces]
    verdicts = {}
    for space in spaces:
        if isinstance(space, tuple) and len(space) == 2 and isinstance(space[0], Mapping):
            space = space[0]  # scikit-optimize's (space, n_iter)
        if not isinstance(space, Mapping):
            continue
        for name, dimension in space.items():
            verdicts.setdefault(name, set()).add(_dimension_scale(dimension, bayes))
    scales = {}
    for name, found in verdicts.items():
        found.discard(None)
        if len(found) == 1:
            scales[name] = found.pop()
    return scales


def _check_search(search):
    from sklearn.exceptions import NotFittedError

    if hasattr(search, "cv_results_"):
        return
    if isinstance(search, Mapping):
        raise TypeError(
            "from_search expects a fitted search object; for a cv_results_ "
            "dict, use SearchDisplay(cv_results) instead."
        )
    if _is_search_like(search):
        raise NotFittedError(
            f"This {type(search).__name__} instance is not fitted yet. Call "
            "'fit' with appropriate arguments before using this display."
        )
    raise TypeError(
        "from_search expects a fitted hyperparameter search (GridSearchCV, "
        "RandomizedSearchCV, HalvingGridSearchCV, HalvingRandomSearchCV, "
        f"BayesSearchCV) with cv_results_; got {type(search).__name__}."
    )


def _default_score_key(search, results):
    refit = getattr(search, "refit", True)
    if isinstance(refit, str) and f"mean_test_{refit}" in results:
        return f"mean_test_{refit}"
    if "mean_test_score" in results:
        return "mean_test_score"
    keys = [k for k in results if k.startswith("mean_test_")]
    if len(keys) == 1:
        return keys[0]
    raise ValueError(f"Several scores were recorded ({keys}); pass score_key.")


def _best_index(results, scores):
    """The refit rule of scikit-learn: the best mean score, among the
    candidates of the last iteration for successive halving (of the largest
    resource for Hyperband)."""
    candidates = np.arange(len(scores))
    if "bracket" in results and "n_resources" in results:
        # Hyperband: the full-budget rows of every bracket
        resources = np.asarray(results["n_resources"])
        candidates = np.flatnonzero(resources == resources.max())
    elif "iter" in results:
        iters = np.asarray(results["iter"])
        candidates = np.flatnonzero(iters == iters.max())
    chosen = scores[candidates]
    if np.all(np.isnan(chosen)):
        return None
    return int(candidates[np.nanargmax(chosen)])


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _resource_names(results):
    """Parameters whose values are the rung's ``n_resources`` (the halving
    resource, e.g. ``max_iter``)."""
    resources = results.get("n_resources")
    if resources is None:
        return set()
    names = set()
    for key in results:
        if not key.startswith("param_"):
            continue
        column = results[key]
        mask = np.ma.getmaskarray(column)
        if mask.all():
            continue
        values = np.ma.getdata(column)[~mask]
        if (all(_is_number(v) for v in values)
                and np.array_equal(np.asarray(values, float),
                                   np.asarray(resources, float)[~mask])):
            names.add(key[len("param_"):])
    return names


def _candidate_paths(results):
    """Rows of each halving candidate, rung by rung: a candidate is its
    parameters without the resource (within its bracket for Hyperband)."""
    skip = _resource_names(results)
    brackets = results.get("bracket")
    iters = np.asarray(results["iter"])
    paths = {}
    for row, params in enumerate(results["params"]):
        key = repr(sorted((k, repr(v)) for k, v in params.items() if k not in skip))
        if brackets is not None:
            key = (int(brackets[row]), key)
        paths.setdefault(key, []).append(row)
    return [sorted(rows, key=lambda r: iters[r]) for rows in paths.values()]


def _category_label(value):
    return value if isinstance(value, str) else str(value)


class SearchDisplay:
    """Cross-validated score against each searched hyperparameter.

    One subplot per hyperparameter shows every candidate's score (a point,
    with an error bar of one standard deviation across the folds when
    ``std_*`` is recorded) against its value of that hyperparameter; the best
    candidate is marked with a star. Numeric values go on a numeric axis,
    which is logarithmic when the search drew the parameter from a log-scaled
    distribution (scipy's ``loguniform``, scikit-optimize's
    ``prior="log-uniform"``) or, without such information, when the values
    are positive and span two decades or more; other values (strings, None,
    tuples, booleans) are drawn as categories. The candidates of successive
    halving are colored by iteration (``cv_results_["iter"]``; by
    ``n_resources`` for :class:`~sktune.model_selection.HyperbandSearchCV`),
    the resource parameter of ``resource="max_iter"``-like searches is left
    out, and one more subplot draws the rungs: each candidate's score
    against ``n_resources``, a line through the rungs it survived to.
    Candidates whose score is not finite (a fit that raised with
    ``error_score=np.nan``, such as a :class:`~sktune.DivergenceError`) are
    not dropped: each is drawn as a red cross at the bottom of the subplots,
    above its parameter value, and the legend says how many failed
    (``n_failed_``).
    Pipeline prefixes (``"linearregressor__"``) are dropped from the axis
    labels when the short names are unambiguous.

    Parameters
    ----------
    cv_results : dict
        A search's ``cv_results_``.
    params : list of str, default=None
        Hyperparameters to plot, by full (``"linearregressor__alpha"``) or
        short (``"alpha"``) name. None plots every parameter of the results
        except the halving resource.
    score_key : str, default="mean_test_score"
        The ``cv_results`` column on the y axis, e.g. ``"mean_test_r2"`` for
        a multi-metric search or ``"mean_train_score"``. The error bars come
        from the matching ``std_*`` column.
    scales : dict, default=None
        ``{param: "log" | "linear"}`` forcing the x scale of numeric
        parameters.
    best_index : int, default=None
        Candidate to highlight; None takes the best score (among the last
        iteration of a halving search).

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes of shape (n_params,)
        One Axes per plotted parameter, in the order of ``params_``.
    params_ : list of str
        Full names of the plotted parameters.
    scales_ : dict
        ``"log"``, ``"linear"`` or ``"categorical"`` for each parameter.
    scatters_ : list of list of matplotlib PathCollection
        Per parameter, the points of each halving iteration (one group
        without halving).
    errorbars_ : list of list of matplotlib ErrorbarContainer
        Per parameter, the error bars of each group (empty without ``std``).
    best_markers_ : list of matplotlib PathCollection or None
        Per parameter, the marker of the best candidate.
    best_index_ : int or None
        Index of the highlighted candidate in ``cv_results``.
    n_failed_ : int
        Number of candidates whose score is NaN or infinite (failed fits).
    failed_indices_ : ndarray of int
        Their indices in ``cv_results``.
    failed_markers_ : list of matplotlib PathCollection or None
        Per parameter, the crosses of the failed candidates (None when no
        failed candidate has a value of that parameter).
    rungs_ax_ : matplotlib Axes or None
        The subplot of the halving rungs (score against ``n_resources``),
        None when not drawn.
    rung_lines_ : list of matplotlib Line2D
        One line per candidate through the rungs it reached (empty when the
        rungs are not drawn).
    bounding_ax_ : matplotlib Axes or None
        The single Axes given as ``ax`` whose box holds the subplots.
    figure_ : matplotlib Figure
        The figure of the plot.

    See Also
    --------
    LossCurveDisplay : Training curves of one estimator.

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.model_selection import RandomizedSearchCV
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> import sktune
    >>> from sktune.plot import SearchDisplay
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(),
    ...                       sktune.LinearRegressor(max_iter=20, tol=None))
    >>> search = RandomizedSearchCV(model, {
    ...     "linearregressor__learning_rate": loguniform(1e-3, 1e-1),
    ...     "linearregressor__optimizer": ["sgd", "adam"],
    ... }, n_iter=8, cv=3, random_state=0).fit(X, y)
    >>> display = SearchDisplay.from_search(search)
    >>> [ax.get_xlabel() for ax in display.axes_]
    ['learning_rate', 'optimizer']
    >>> display.axes_[0].get_xscale()
    'log'
    """

    def __init__(self, cv_results, params=None, score_key="mean_test_score", *,
                 scales=None, best_index=None):
        self.cv_results = cv_results
        self.params = params
        self.score_key = score_key
        self.scales = scales
        self.best_index = best_index

    @classmethod
    def from_search(cls, search, params=None, *, score_key=None, scales=None, ax=None,
                    n_cols=None, **kwargs):
        """Plot the scores of a fitted hyperparameter search.

        Parameters
        ----------
        search : fitted search object
            ``GridSearchCV``, ``RandomizedSearchCV``, ``HalvingGridSearchCV``,
            ``HalvingRandomSearchCV``, scikit-optimize's ``BayesSearchCV``,
            or any object with a scikit-learn style ``cv_results_``. Its
            distributions (``param_distributions`` / ``search_spaces``) set
            the x scales.
        params : list of str, default=None
            Hyperparameters to plot; see :class:`SearchDisplay`.
        score_key : str, default=None
            None uses the score the search refits on (``"mean_test_score"``,
            or ``"mean_test_<refit>"`` for a multi-metric search).
        scales : dict, default=None
            ``{param: "log" | "linear"}``, overriding the inferred scales.
        ax : matplotlib Axes or array-like of Axes, default=None
            Where to draw; see :meth:`plot`.
        n_cols : int, default=None
            Subplots per row; see :meth:`plot`.
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : SearchDisplay

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the search is not fitted.
        TypeError
            If ``search`` is not a hyperparameter search.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.model_selection import GridSearchCV
        >>> import sktune
        >>> from sktune.plot import SearchDisplay
        >>> rng = np.random.RandomState(0)
        >>> X = rng.randn(80, 3)
        >>> y = X @ [1.0, -2.0, 0.5]
        >>> search = GridSearchCV(sktune.LinearRegressor(max_iter=10, tol=None),
        ...                       {"learning_rate": [0.001, 0.01, 0.1],
        ...                        "optimizer": ["sgd", "adam"]}, cv=3).fit(X, y)
        >>> display = SearchDisplay.from_search(search)
        >>> display.scales_
        {'learning_rate': 'log', 'optimizer': 'categorical'}
        """
        _check_search(search)
        results = search.cv_results_
        default_key = _default_score_key(search, results)
        if score_key is None:
            score_key = default_key
        best_index = None
        if score_key == default_key:
            best_index = getattr(search, "best_index_", None)
        display = cls(
            results, params=params, score_key=score_key,
            scales={**_search_scales(search), **(scales or {})},
            best_index=best_index,
        )
        return display.plot(ax=ax, n_cols=n_cols, **kwargs)

    # -- helpers ---------------------------------------------------------

    def _resolve_params(self, results):
        available = [k[len("param_"):] for k in results if k.startswith("param_")]
        if self.params is None:
            skip = _resource_names(results)  # the resource of successive halving
            chosen = []
            for name in available:
                column = results[f"param_{name}"]
                if np.ma.getmaskarray(column).all() or name in skip:
                    continue
                chosen.append(name)
            if not chosen:
                raise ValueError("cv_results has no searched parameter to plot.")
            return chosen
        names = [self.params] if isinstance(self.params, str) else list(self.params)
        resolved = []
        for name in names:
            if name in available:
                resolved.append(name)
                continue
            matches = [a for a in available if a.endswith("__" + name)]
            if len(matches) != 1:
                why = "is ambiguous" if matches else "is not in cv_results"
                raise ValueError(
                    f"Parameter {name!r} {why}; searched parameters: {available}.")
            resolved.append(matches[0])
        return resolved

    def _scale_override(self, name):
        scales = self.scales or {}
        for key in (name, name.split("__")[-1]):
            if key in scales:
                if scales[key] not in ("log", "linear"):
                    raise ValueError(f"scales[{key!r}] must be 'log' or 'linear', "
                                     f"got {scales[key]!r}.")
                return scales[key]
        return None

    def _make_axes(self, plt, ax, n_params, n_cols):
        self.bounding_ax_ = None
        n_cols = min(n_params, 3 if n_cols is None else int(n_cols))
        n_rows = int(np.ceil(n_params / n_cols))
        if ax is None:
            fig, grid = plt.subplots(n_rows, n_cols, sharey=True, squeeze=False,
                                     figsize=(4.2 * n_cols, 3.6 * n_rows),
                                     layout="constrained")
            axes = list(grid.ravel())
            for extra in axes[n_params:]:
                fig.delaxes(extra)
            return axes[:n_params]
        if _is_axes(ax):
            if n_params == 1:
                _check_bounding_ax(ax)
                return [ax]
            axes = _split_axes(ax, n_rows, n_cols, wspace=0.3, hspace=0.45)
            self.bounding_ax_ = ax
            for extra in axes[n_params:]:
                ax.figure.delaxes(extra)
            return axes[:n_params]
        axes = list(np.ravel(np.asarray(ax, dtype=object)))
        if len(axes) < n_params or not all(_is_axes(a) for a in axes):
            raise ValueError(f"ax must hold at least {n_params} matplotlib Axes, "
                             f"one per parameter; got {ax!r}.")
        return axes[:n_params]

    # -- drawing ---------------------------------------------------------

    @staticmethod
    def _draw_failed(axis, x, rows, n_failed, n_candidates, failed_kw):
        """Crosses at the bottom of ``axis`` for the failed candidates."""
        if not rows.any():
            return None
        from matplotlib.transforms import blended_transform_factory

        # x in data coordinates, y a fixed fraction of the axes height: the
        # crosses stay at the bottom whatever the score range
        bottom = blended_transform_factory(axis.transData, axis.transAxes)
        kw = {"marker": "x", "color": "red", "s": 40, "linewidths": 1.5,
              "zorder": 3, "clip_on": False,
              "label": f"failed ({n_failed} of {n_candidates})", **(failed_kw or {})}
        marker = axis.scatter(x[rows], np.full(int(rows.sum()), 0.04),
                              transform=bottom, **kw)
        # the failed values count for the x range (the y range ignores them)
        axis.dataLim.update_from_data_x(x[rows], ignore=False)
        axis.autoscale_view(scaley=False)
        return marker

    def _draw_rungs(self, axis, results, scores, best, groups):
        """Score against ``n_resources``, one line per candidate's path."""
        resources = np.asarray(results["n_resources"], dtype=float)
        color_of = np.empty(len(scores), dtype=object)
        for members, color, _ in groups:
            for k in np.flatnonzero(members):
                color_of[k] = color
        for rows in _candidate_paths(results):
            rows = [r for r in rows if np.isfinite(scores[r])]
            if not rows:
                continue
            is_best = best is not None and best in rows
            # a path is drawn in the color of the last rung it reached
            kw = ({"color": "red", "linewidth": 2.0, "zorder": 3} if is_best else
                  {"color": color_of[rows[-1]], "linewidth": 1.0, "alpha": 0.7,
                   "zorder": 2})
            (line,) = axis.plot(resources[rows], scores[rows], marker="o",
                                markersize=3, **kw)
            self.rung_lines_.append(line)
        if resources.min() > 0 and resources.max() / resources.min() >= 10:
            axis.set_xscale("log")
        axis.set_xlabel("n_resources")
        axis.set_ylabel(self.score_key.replace("_", " "))
        axis.set_title("rungs", fontsize="medium")
        axis.grid(True, alpha=0.3)

    def plot(self, ax=None, *, n_cols=None, errorbar=True, scatter_kw=None,
             best_kw=None, failed_kw=None, rungs="auto"):
        """Draw one subplot per hyperparameter.

        Parameters
        ----------
        ax : matplotlib Axes or array-like of Axes, default=None
            None draws on a new figure. One Axes with a single parameter is
            drawn on; with several parameters its box is split into a grid
            (``bounding_ax_``). An array of Axes gives one Axes per parameter.
        n_cols : int, default=None
            Subplots per row (at most 3 by default).
        errorbar : bool, default=True
            Draw error bars of one ``std_*`` when the results have it.
        scatter_kw : dict, default=None
            Keyword arguments for :meth:`matplotlib.axes.Axes.scatter` of
            the candidates.
        best_kw : dict, default=None
            Keyword arguments for the marker of the best candidate.
        failed_kw : dict, default=None
            Keyword arguments for :meth:`matplotlib.axes.Axes.scatter` of
            the failed candidates (non-finite scores), drawn at the bottom
            of each subplot.
        rungs : bool or "auto", default="auto"
            For a halving or Hyperband search, one more subplot: the score
            against ``n_resources``, one line per candidate through the
            rungs it reached (so a survivor's line goes on, an eliminated
            candidate's ends), the best candidate's in red. ``"auto"``
            draws it for halving results unless ``ax`` holds one Axes per
            parameter only.

        Returns
        -------
        display : SearchDisplay
            This object, with ``axes_`` and ``figure_`` set.

        Examples
        --------
        >>> from sktune.plot import SearchDisplay
        >>> results = {"param_alpha": [1e-4, 1e-3, 1e-2, 1e-1],
        ...            "mean_test_score": [0.5, 0.6, 0.7, 0.4],
        ...            "std_test_score": [0.05, 0.04, 0.02, 0.1]}
        >>> display = SearchDisplay(results).plot()
        >>> display.axes_[0].get_xscale(), display.best_index_
        ('log', 2)
        """
        plt = _import_pyplot()
        results = self.cv_results
        if not isinstance(results, Mapping):
            raise TypeError(f"cv_results must be a dict (a search's cv_results_), "
                            f"got {type(results).__name__}.")
        if self.score_key not in results:
            keys = [k for k in results if k.startswith("mean_")]
            raise ValueError(f"score_key={self.score_key!r} is not in cv_results; "
                             f"available: {keys}.")
        scores = np.asarray(results[self.score_key], dtype=float)
        failed = ~np.isfinite(scores)
        n_failed = int(failed.sum())
        std = None
        if errorbar and self.score_key.startswith("mean_"):
            std_key = "std_" + self.score_key[len("mean_"):]
            if std_key in results:
                std = np.asarray(results[std_key], dtype=float)
        best = self.best_index
        if best is None:
            best = _best_index(results, scores)

        # groups of candidates: one per halving iteration (per resource for
        # Hyperband, whose brackets each count their iterations), else one
        halving = "iter" in results
        by_resource = "bracket" in results and "n_resources" in results
        if halving:
            iters = np.asarray(results["n_resources" if by_resource else "iter"])
            levels = np.unique(iters)
            cmap = plt.get_cmap("viridis")
            colors = cmap(np.linspace(0.0, 0.85, len(levels))) if len(levels) > 1 \
                else [cmap(0.0)]
            resources = results.get("n_resources")
            groups = []
            for level, color in zip(levels, map(tuple, colors)):
                members = iters == level
                if by_resource:
                    label = f"n_resources={level}"
                else:
                    label = f"iter {level}"
                    if resources is not None:
                        label += f" (n_resources={np.asarray(resources)[members][0]})"
                groups.append((members, color, label))
        else:
            groups = [(np.ones(len(scores), dtype=bool), "C0", "candidates")]

        names = self._resolve_params(results)
        short = [name.split("__")[-1] for name in names]
        labels = [s if short.count(s) == 1 else name for s, name in zip(short, names)]
        if rungs not in ("auto", True, False):
            raise ValueError(f"rungs must be True, False or 'auto', got {rungs!r}.")
        can_draw = halving and "n_resources" in results and "params" in results
        if rungs is True and not can_draw:
            raise ValueError("rungs=True needs the results of a halving search "
                             "(iter, n_resources and params in cv_results).")
        draw_rungs = can_draw and (rungs is True or (
            rungs == "auto" and (ax is None or _is_axes(ax)
                                 or len(np.ravel(np.asarray(ax, dtype=object)))
                                 > len(names))))
        axes = self._make_axes(plt, ax, len(names) + draw_rungs, n_cols)
        rung_axis = axes.pop() if draw_rungs else None

        self.params_ = names
        self.scales_ = {}
        self.scatters_, self.errorbars_, self.best_markers_ = [], [], []
        self.failed_markers_ = []
        for i, (name, label, axis) in enumerate(zip(names, labels, axes)):
            column = results[f"param_{name}"]
            present = ~np.ma.getmaskarray(column)
            values = np.ma.getdata(column)
            numeric = all(_is_number(v) for v in values[present])
            if numeric:
                x = np.full(len(scores), np.nan)
                x[present] = np.asarray(values[present], dtype=float)
                scale = self._scale_override(name)
                if scale is None:
                    scale = (self.scales or {}).get(name)
                if scale is None:
                    xs = x[present]
                    scale = ("log" if xs.size and xs.min() > 0
                             and xs.max() / xs.min() >= 100 else "linear")
                if scale == "log" and np.any(x[present] <= 0):
                    scale = "linear"
                axis.set_xscale(scale)
            else:
                categories, x = [], np.full(len(scores), np.nan)
                for k in np.flatnonzero(present):
                    key = _category_label(values[k])
                    if key not in categories:
                        categories.append(key)
                    x[k] = categories.index(key)
                scale = "categorical"
                axis.set_xticks(range(len(categories)))
                rotate = sum(len(c) for c in categories) > 30
                axis.set_xticklabels(categories, rotation=30 if rotate else 0,
                                     ha="right" if rotate else "center")
                axis.set_xlim(-0.5, len(categories) - 0.5)
            self.scales_[name] = scale

            scatters, bars = [], []
            for members, color, group_label in groups:
                rows = members & present & ~failed
                if std is not None:
                    bars.append(axis.errorbar(
                        x[rows], scores[rows], yerr=std[rows], fmt="none",
                        ecolor=color, alpha=0.4, zorder=1))
                kw = {"color": color, "s": 25, "alpha": 0.85, "zorder": 2,
                      "label": group_label, **(scatter_kw or {})}
                scatters.append(axis.scatter(x[rows], scores[rows], **kw))
            marker = None
            if best is not None and present[best]:
                kw = {"marker": "*", "s": 220, "facecolors": "none",
                      "edgecolors": "red", "linewidths": 1.5, "zorder": 3,
                      "label": f"best ({scores[best]:.4g})", **(best_kw or {})}
                marker = axis.scatter([x[best]], [scores[best]], **kw)
            self.scatters_.append(scatters)
            self.errorbars_.append(bars)
            self.best_markers_.append(marker)
            self.failed_markers_.append(
                self._draw_failed(axis, x, failed & present, n_failed, len(scores),
                                  failed_kw))

            axis.set_xlabel(label)
            if i == 0 or axis.get_subplotspec() is None \
                    or axis.get_subplotspec().is_first_col():
                axis.set_ylabel(self.score_key.replace("_", " "))
            axis.grid(True, alpha=0.3)

        self.rungs_ax_, self.rung_lines_ = rung_axis, []
        if rung_axis is not None:
            self._draw_rungs(rung_axis, results, scores, best, groups)

        handles, _ = axes[0].get_legend_handles_labels()
        if n_failed and self.failed_markers_[0] is None:
            # the first parameter is unset for the failed candidates: still
            # say how many failed
            handles += [m for m in self.failed_markers_ if m is not None][:1]
        axes[0].legend(handles=handles, loc="best", fontsize="small")
        self.best_index_ = best
        self.n_failed_ = n_failed
        self.failed_indices_ = np.flatnonzero(failed)
        self.axes_ = np.array(axes, dtype=object)
        self.figure_ = axes[0].figure
        return self
