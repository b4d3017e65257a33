"""The optimizer table.

For a parameter ``w`` with mini-batch gradient ``g`` (penalty included),
learning rate ``lr`` and step count ``t``:

============  ==================================================================
``sgd``       ``w -= lr * g``
``momentum``  ``u = momentum * u - lr * g;  w += u``
``nesterov``  ``u = momentum * u - lr * g;  w += momentum * u - lr * g``
``adam``      ``m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g**2;``
              ``w -= lr * (m / (1-b1**t)) / (sqrt(v / (1-b2**t)) + epsilon)``
``adamw``     as ``adam``, with the L2 part of the penalty (``alpha`` for
              ``"l2"``, ``alpha * (1 - l1_ratio)`` for ``"elasticnet"``) applied
              as decoupled weight decay ``w -= lr * l2 * w_old`` (``w_old``:
              the weight before this step) instead of in ``g``
``rmsprop``   ``v = b2*v + (1-b2)*g**2;  w -= lr * g / (sqrt(v) + epsilon)``
``adagrad``   ``v += g**2;  w -= lr * g / (sqrt(v) + epsilon)``
============  ==================================================================

``b1`` is ``beta_1`` and ``b2`` is ``beta_2`` (also RMSprop's decay). The
moment buffers ``u``/``m`` and ``v`` and the step count ``t`` are fitted state,
kept between ``partial_fit`` calls.
"""
from .._engine.encode import OPTIMIZERS, optimizer_code

__all__ = ["OPTIMIZERS", "optimizer_code"]
