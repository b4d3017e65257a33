"""Loss names, their kernel codes and which estimators accept them.

Regression losses act on each output; the raw model output is the prediction
itself, except for ``"poisson"`` where it is the log of the predicted mean.

=================  ==============================================  ===========================
name               loss of one output (raw output ``p``)           gradient ``dL/dp``
=================  ==============================================  ===========================
``squared_error``  ``(p - y)**2 / 2``                               ``p - y``
``huber``          ``r**2/2`` if ``|r| <= delta`` else              ``clip(r, -delta, delta)``
                   ``delta * (|r| - delta/2)``, ``r = p - y``
``poisson``        ``exp(p) - y * p``                               ``exp(p) - y``
``log_loss``       binary: ``log(1 + exp(p)) - y * p``;             ``sigmoid(p) - y`` /
                   multiclass: ``logsumexp(p) - p[y]``              ``softmax(p) - onehot(y)``
``hinge``          ``max(0, 1 - s * p)``, ``s = 2 * y - 1``          ``-s`` inside the margin
=================  ==============================================  ===========================
"""
from ._engine.encode import CLASSIFICATION_LOSSES, REGRESSION_LOSSES, loss_code

__all__ = ["CLASSIFICATION_LOSSES", "REGRESSION_LOSSES", "loss_code"]
