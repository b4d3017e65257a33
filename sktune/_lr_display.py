"""The plot of a learning-rate range test: :class:`LearningRateFinderDisplay`.

Exported by :mod:`sktune.plot`; it follows the same Display conventions
(a class method that computes and draws, :meth:`plot` to redraw, artists
kept as attributes ending in ``_``). matplotlib is imported only when
something is drawn.
"""
import numpy as np


class LearningRateFinderDisplay:
    """Loss against learning rate from :func:`sktune.model_selection.lr_find`.

    The smoothed loss is drawn against the learning rate on a log x axis,
    the raw mini-batch losses faintly behind it, and the suggested rate is
    marked by a dashed vertical line and a point on the curve, with its
    value in the legend. Build it with :meth:`from_estimator` (which runs
    the test) or from a result with ``result.plot()``.

    Parameters
    ----------
    learning_rates : array-like of shape (n_steps,)
        Rate of each step.
    losses : array-like of shape (n_steps,)
        Smoothed loss of each step.
    suggestion : float, default=None
        The rate to mark; None marks nothing.
    raw_losses : array-like of shape (n_steps,), default=None
        Mini-batch loss of each step, drawn faintly when given.
    estimator_name : str, default=None
        Name shown in the legend.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The smoothed loss.
    raw_line_ : matplotlib Line2D or None
        The raw losses, None when not drawn.
    suggestion_line_ : matplotlib Line2D or None
        The vertical line at the suggested rate.
    suggestion_marker_ : matplotlib Line2D or None
        The point of the curve at the suggested rate.
    ax_ : matplotlib Axes
        The axes of the plot.
    figure_ : matplotlib Figure
        The figure of the plot.

    See Also
    --------
    sktune.model_selection.lr_find : Runs the test.
    LossCurveDisplay : Loss per epoch of a fitted estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import LinearClassifier
    >>> from sktune.plot import LearningRateFinderDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 5)
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> display = LearningRateFinderDisplay.from_estimator(
    ...     LinearClassifier(batch_size=8), X, y, n_steps=50, random_state=0)
    >>> display.ax_.get_xscale()
    'log'
    """

    def __init__(self, learning_rates, losses, suggestion=None, *, raw_losses=None,
                 estimator_name=None):
        self.learning_rates = learning_rates
        self.losses = losses
        self.suggestion = suggestion
        self.raw_losses = raw_losses
        self.estimator_name = estimator_name

    @classmethod
    def from_result(cls, result, *, ax=None, **kwargs):
        """Plot an :class:`~sktune.model_selection.LRFinderResult`.

        Parameters
        ----------
        result : LRFinderResult
            What :func:`~sktune.model_selection.lr_find` returned.
        ax : matplotlib Axes, default=None
            Where to draw; None makes a new figure.
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : LearningRateFinderDisplay

        Examples
        --------
        >>> from sktune.model_selection import LRFinderResult
        >>> from sktune.plot import LearningRateFinderDisplay
        >>> result = LRFinderResult([1e-3, 1e-2, 1e-1], [1.0, 0.5, 2.0],
        ...                         [1.0, 0.4, 2.5], 1e-3, n_steps=3)
        >>> display = LearningRateFinderDisplay.from_result(result)
        >>> display.suggestion_line_.get_xdata()[0]
        0.001
        """
        display = cls(result.learning_rates_, result.losses_, result.suggestion_,
                      raw_losses=result.raw_losses_,
                      estimator_name=result.estimator_name)
        return display.plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimator, X, y, *, min_lr=1e-6, max_lr=1.0, n_steps=100,
                       random_state=None, ax=None, **kwargs):
        """Run :func:`~sktune.model_selection.lr_find` and plot it.

        Parameters
        ----------
        estimator : sktune estimator or Pipeline
            The model to test (not modified); see
            :func:`~sktune.model_selection.lr_find`.
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        min_lr : float, default=1e-6
            Rate of the first step.
        max_lr : float, default=1.0
            Rate of the last step.
        n_steps : int, default=100
            Number of steps at most.
        random_state : int, RandomState instance or None, default=None
            Seeds the initial weights and the shuffles; None keeps the
            estimator's own.
        ax : matplotlib Axes, default=None
            Where to draw; None makes a new figure.
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : LearningRateFinderDisplay
            With the test's result in ``result_``.

        Examples
        --------
        >>> import numpy as np
        >>> from sktune import LinearRegressor
        >>> from sktune.plot import LearningRateFinderDisplay
        >>> rng = np.random.RandomState(0)
        >>> X = rng.randn(200, 5)
        >>> y = X @ [1.0, 2.0, 0.0, -1.0, 0.5]
        >>> display = LearningRateFinderDisplay.from_estimator(
        ...     LinearRegressor(batch_size=8), X, y, n_steps=40, random_state=0)
        >>> bool(1e-6 <= display.suggestion <= 1.0)
        True
        """
        from .model_selection import lr_find

        result = lr_find(estimator, X, y, min_lr=min_lr, max_lr=max_lr,
                         n_steps=n_steps, random_state=random_state)
        display = cls.from_result(result, ax=ax, **kwargs)
        display.result_ = result
        return display

    def plot(self, ax=None, *, name=None, show_raw=True, line_kw=None, raw_kw=None,
             suggestion_kw=None):
        """Draw the loss against the learning rate.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; None makes a new figure. Curves drawn on the same
            Axes overlay (e.g. two optimizers).
        name : str, default=None
            Legend name, overriding ``estimator_name``.
        show_raw : bool, default=True
            Also draw the raw mini-batch losses, when known.
        line_kw, raw_kw, suggestion_kw : dict, default=None
            Keyword arguments for :meth:`matplotlib.axes.Axes.plot` of the
            smoothed loss and the raw losses, and for
            :meth:`matplotlib.axes.Axes.axvline` of the suggestion.

        Returns
        -------
        display : LearningRateFinderDisplay
            This object, with ``ax_``, ``figure_``, ``line_``, ``raw_line_``,
            ``suggestion_line_`` and ``suggestion_marker_`` set.

        Examples
        --------
        >>> from sktune.plot import LearningRateFinderDisplay
        >>> display = LearningRateFinderDisplay([1e-4, 1e-3, 1e-2], [2.0, 1.0, 3.0],
        ...                                     suggestion=1e-4).plot()
        >>> display.line_.get_ydata().tolist()
        [2.0, 1.0, 3.0]
        """
        # sktune.plot imports this module: its helpers are imported here
        from .plot import _check_bounding_ax, _import_pyplot

        plt = _import_pyplot()
        if ax is None:
            _, ax = plt.subplots(layout="constrained")
        else:
            _check_bounding_ax(ax)
        name = self.estimator_name if name is None else name
        prefix = "" if name is None else f"{name}: "
        rates = np.asarray(self.learning_rates, dtype=float).ravel()
        losses = np.asarray(self.losses, dtype=float).ravel()

        kw = {"label": f"{prefix}smoothed loss", **(line_kw or {})}
        (self.line_,) = ax.plot(rates, losses, **kw)
        color = self.line_.get_color()
        self.raw_line_ = None
        if show_raw and self.raw_losses is not None:
            kw = {"color": color, "alpha": 0.25, "linewidth": 0.8, **(raw_kw or {})}
            (self.raw_line_,) = ax.plot(rates, np.asarray(self.raw_losses, float).ravel(),
                                        **kw)
        self.suggestion_line_ = self.suggestion_marker_ = None
        if self.suggestion is not None and len(rates):
            lr = float(self.suggestion)
            kw = {"color": color, "linestyle": "--", "linewidth": 1.0,
                  "label": f"{prefix}suggestion {lr:.2g}", **(suggestion_kw or {})}
            self.suggestion_line_ = ax.axvline(lr, **kw)
            # the smoothed loss at the suggestion, on the log-rate axis
            at = np.interp(np.log(lr), np.log(rates), losses)
            (self.suggestion_marker_,) = ax.plot([lr], [at], "o", color=color)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss")
        ax.legend(loc="best")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
