"""Exceptions raised by sktune."""


class DivergenceError(ValueError, FloatingPointError):
    """Training produced a non-finite loss or weight.

    The estimator keeps finite weights (those with the lowest training loss
    of the failed call), so it still predicts; scale the features, lower
    ``learning_rate`` or set ``clip_norm`` and fit again. Inherits from
    ``ValueError`` so that model-selection tools treat it as a failed fit.
    """
