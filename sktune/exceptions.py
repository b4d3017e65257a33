"""Exceptions raised by sktune."""


class DivergenceError(ValueError, FloatingPointError):
    """Training produced a non-finite loss or weight.

    The estimator keeps finite weights (those with the lowest training loss
    of the failed call), so it still predicts; scale the features, lower
    ``learning_rate`` or set ``clip_norm`` and fit again. Inherits from
    ``ValueError`` so that model-selection tools treat it as a failed fit.
    """


class GradientWarning(UserWarning):
    """A layer's gradients vanish or explode (see ``gradient_norms_``).

    Issued with ``verbose >= 1`` when, for ``GRADIENT_PATIENCE`` epochs in
    a row, a layer's gradient norm stays below ``VANISHING`` times the
    largest layer's, or when it grows to ``EXPLODING`` times its first
    epoch's norm (the constants of :mod:`sktune._engine.loop`).
    """
