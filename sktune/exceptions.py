"""Exceptions raised by sktune."""


class DivergenceError(ValueError, FloatingPointError):
    """Training produced a non-finite loss or weight.

    The estimator keeps the last finite weights (those from before the
    failing epoch), so it still predicts; scale the features, lower
    ``learning_rate`` or set ``clip_norm`` and fit again. Inherits from
    ``ValueError`` so that model-selection tools treat it as a failed fit.
    """
