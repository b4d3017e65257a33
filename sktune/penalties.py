"""Penalty names and how ``alpha`` and ``l1_ratio`` split between L1 and L2.

The penalized objective is ``mean(sample_weight * loss) + alpha * R(w)`` with

* ``"l2"``: ``R(w) = ||w||_2**2 / 2``
* ``"l1"``: ``R(w) = ||w||_1``
* ``"elasticnet"``: ``R(w) = l1_ratio * ||w||_1 + (1 - l1_ratio) * ||w||_2**2 / 2``

as in scikit-learn's ``SGDRegressor``. Intercepts (biases) are never
penalized. The L2 part enters the gradient (or, for ``"adamw"``, is applied as
decoupled weight decay); the L1 part is applied by a proximal
(soft-thresholding) step after each update, which sets weights to exact zeros.
"""
import numpy as np

from ._engine.encode import PENALTIES, penalty_strengths

__all__ = ["PENALTIES", "penalty_strengths", "penalty_value"]


def penalty_value(weights, l2, l1):
    """Compute the penalty ``l2 * ||w||_2**2 / 2 + l1 * ||w||_1``.

    Parameters
    ----------
    weights : array-like of shape (n_weights,)
        The penalized weights (no intercepts).
    l2 : float
        Strength of the L2 part.
    l1 : float
        Strength of the L1 part.

    Returns
    -------
    value : float
        The penalty, 0.0 when both strengths are zero.

    See Also
    --------
    penalty_strengths : The strengths of an estimator's penalty.

    Examples
    --------
    >>> from sktune.penalties import penalty_value
    >>> penalty_value([3.0, -4.0], l2=0.1, l1=0.5)
    4.75
    """
    if l2 == 0.0 and l1 == 0.0:
        return 0.0
    w = np.asarray(weights, dtype=np.float64)
    # only the terms asked for: the epoch loop calls this for every model
    # of a batched search every epoch, and |w| is an array of its own
    value = 0.5 * l2 * float(w @ w) if l2 != 0.0 else 0.0
    if l1 != 0.0:
        value += l1 * float(np.abs(w).sum())
    return value
