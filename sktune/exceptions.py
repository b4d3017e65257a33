"""Exceptions raised by sktune."""


class DivergenceError(ValueError, FloatingPointError):
    """Training produced a non-finite or runaway loss.

    Raised by ``fit`` and ``partial_fit`` when the training loss or a weight
    becomes NaN or infinite, or when a finite epoch loss exceeds 1e4 times
    the loss of the first epoch since the weights were initialised. The
    estimator keeps finite weights (those with the lowest training loss of
    the failed call), so it still predicts; scale the features, lower
    ``learning_rate`` or set ``clip_norm`` and fit again. It inherits from
    ``ValueError`` so that model-selection tools treat it as a failed fit
    (``error_score``), and from ``FloatingPointError``.

    See Also
    --------
    sklearn.preprocessing.StandardScaler : Scale features before training.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import DivergenceError, LinearRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 5)
    >>> y = X @ [1.0, -2.0, 0.5, 0.0, 3.0]
    >>> reg = LinearRegressor(optimizer="sgd", learning_rate=10.0, max_iter=5,
    ...                       random_state=0)
    >>> try:
    ...     reg.fit(X, y)
    ... except DivergenceError as exc:
    ...     print(str(exc)[:35])
    LinearRegressor diverged in epoch 4
    """


class GradientWarning(UserWarning):
    """A layer's gradients vanish or explode (see ``gradient_norms_``).

    Issued with ``verbose >= 1`` when, for ``GRADIENT_PATIENCE`` epochs in
    a row, a layer's gradient norm stays below ``VANISHING`` times the
    largest layer's, or when it grows to ``EXPLODING`` times its first
    epoch's norm (the constants of :mod:`sktune._engine.loop`).
    
    See Also
    --------
    sktune.model_selection.lr_find : Pick a learning rate by a range test.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from sktune import GradientWarning, MLPRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 5)
    >>> y = X[:, 0] - X[:, 1]
    >>> reg = MLPRegressor((8,) * 6, activation="logistic", init="glorot",
    ...                    optimizer="sgd", max_iter=4, random_state=0, verbose=0)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     reg = reg.fit(X, y)
    >>> reg.gradient_norms_.shape
    (4, 7)
    >>> bool(reg.gradient_norms_[-1, 0] < 1e-3 * reg.gradient_norms_[-1].max())
    True
    """
