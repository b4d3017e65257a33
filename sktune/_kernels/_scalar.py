"""Per-element math shared by the CPU and CUDA kernels.

Every function here is scalar in, scalar out (or works on one row), so the
same definitions compile for ``numba.njit`` and ``numba.cuda.jit(device=True)``.
"""
import math

import numpy as np
from numba import njit

from ._codes import (
    ADAGRAD,
    ADAM,
    ADAMW,
    HINGE,
    HUBER,
    LEAKY_RELU,
    LEAKY_SLOPE,
    LOGISTIC,
    LOGISTIC_ACT,
    MOMENTUM,
    NESTEROV,
    POISSON,
    RELU,
    RMSPROP,
    SOFTMAX,
    SQUARED_ERROR,
    TANH,
)


@njit(cache=True, inline="always")
def sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit(cache=True, inline="always")
def elem_loss_grad(code, y, p, delta):
    """Loss and d loss / d p for an element-wise loss.

    ``p`` is the raw model output (the log-mean for Poisson, the logit for
    the logistic and hinge losses). Returns ``(loss, grad)``.
    """
    if code == SQUARED_ERROR:
        r = p - y
        return 0.5 * r * r, r
    if code == HUBER:
        r = p - y
        a = abs(r)
        if a <= delta:
            return 0.5 * r * r, r
        g = delta if r > 0.0 else -delta
        return delta * (a - 0.5 * delta), g
    if code == POISSON:
        # clip the exponent so a wild step is caught as divergence, not inf*0
        mu = math.exp(min(p, 700.0))
        return mu - y * p, mu - y
    if code == LOGISTIC:
        # log(1 + exp(p)) and sigmoid(p) from one exp(-|p|): the same bits
        # as the two computed apart, one transcendental call fewer a row
        e = math.exp(-abs(p))
        softplus = math.log1p(e)
        if p > 0.0:
            softplus = p + softplus
        prob = 1.0 / (1.0 + e) if p >= 0.0 else e / (1.0 + e)
        return softplus - y * p, prob - y
    if code == HINGE:
        s = 2.0 * y - 1.0
        margin = s * p
        if margin < 1.0:
            return 1.0 - margin, -s
        return 0.0, 0.0
    return 0.0, 0.0


#: float32's smallest normal number. Stored parameters and optimizer moments
#: below it in magnitude are flushed to zero: a subnormal operand costs a
#: CPU ~100 cycles per operation, and Adam's moments and weights that only
#: decay (a dead unit's, a weight the L2 term pulls to zero) become subnormal
#: after some 10^4 steps (measured: epochs of a float32 MLP on 1M rows went
#: 0.4 s -> 1.9 s -> 9.9 s as they did). The same threshold for float64 keeps
#: one rule for both dtypes and devices; below it a value changes no output.
TINY = 1.1754943508222875e-38


@njit(cache=True, inline="always")
def flush(x):
    """``x``, or 0 when ``|x| < TINY`` (NaN and inf pass unchanged)."""
    return 0.0 if abs(x) < TINY else x


@njit(cache=True, inline="always")
def optimizer_step(code, w, g, m, v, lr, momentum, beta_1, beta_2, eps, c1, c2):
    """One optimizer update of a single parameter.

    ``c1 = 1 / (1 - beta_1**t)`` and ``c2 = 1 / sqrt(1 - beta_2**t)`` are
    Adam's bias corrections as factors (products, not divisions, per weight:
    the divisions cost as much as the rest of the step).
    Returns ``(w, m, v, step)`` where ``step`` is the effective per-parameter
    step size, which scales the L1 proximal threshold so that the fixed point
    is the penalized optimum. With momentum a steady gradient ``g`` moves ``w``
    by ``lr * g / (1 - momentum)`` per step, hence that step.
    """
    if code == MOMENTUM:
        m = momentum * m - lr * g
        return w + m, m, v, lr / (1.0 - momentum)
    if code == NESTEROV:
        m = momentum * m - lr * g
        return w + momentum * m - lr * g, m, v, lr / (1.0 - momentum)
    if code == ADAM or code == ADAMW:
        m = beta_1 * m + (1.0 - beta_1) * g
        v = beta_2 * v + (1.0 - beta_2) * g * g
        step = lr / (math.sqrt(v) * c2 + eps)
        return w - step * (m * c1), m, v, step
    if code == RMSPROP:
        v = beta_2 * v + (1.0 - beta_2) * g * g
        step = lr / (math.sqrt(v) + eps)
        return w - step * g, m, v, step
    if code == ADAGRAD:
        v = v + g * g
        step = lr / (math.sqrt(v) + eps)
        return w - step * g, m, v, step
    return w - lr * g, m, v, lr


@njit(cache=True, inline="always")
def update_factors(code, beta_1, beta_2, t, sq_norm, clip):
    """The per-batch factors of an update: ``(scale, c1, c2)``, the clipping
    factor of a gradient whose squared norm is ``sq_norm`` (1 unless
    ``clip > 0`` and the norm exceeds it) and, for Adam/AdamW at step ``t``,
    the bias corrections ``c1 = 1 / (1 - beta_1**t)`` and
    ``c2 = 1 / sqrt(1 - beta_2**t)`` (1 for the other optimizers)."""
    scale = 1.0
    if clip > 0.0:
        norm = math.sqrt(sq_norm)
        if norm > clip:
            scale = clip / norm
    c1 = 1.0
    c2 = 1.0
    if code == ADAM or code == ADAMW:
        c1 = 1.0 / (1.0 - beta_1**t)
        c2 = 1.0 / math.sqrt(1.0 - beta_2**t)
    return scale, c1, c2


@njit(cache=True, inline="always")
def soft_threshold(w, thresh):
    """Proximal operator of ``thresh * |w|``: exact zeros for small weights."""
    if w > thresh:
        return w - thresh
    if w < -thresh:
        return w + thresh
    return 0.0


@njit(cache=True, inline="always")
def activation(code, z):
    """Hidden-unit activation of pre-activation ``z``."""
    if code == RELU:
        return z if z > 0.0 else 0.0
    if code == TANH:
        return math.tanh(z)
    if code == LOGISTIC_ACT:
        return sigmoid(z)
    if code == LEAKY_RELU:
        return z if z > 0.0 else LEAKY_SLOPE * z
    return z


@njit(cache=True, inline="always")
def activation_grad(code, a):
    """Derivative of the activation, written in terms of its output ``a``."""
    if code == RELU:
        return 1.0 if a > 0.0 else 0.0
    if code == TANH:
        return 1.0 - a * a
    if code == LOGISTIC_ACT:
        return a * (1.0 - a)
    if code == LEAKY_RELU:
        return 1.0 if a > 0.0 else LEAKY_SLOPE
    return 1.0


@njit(cache=True, inline="always")
def row_loss_grad(code, Y, i, P, c, delta, wi, G):
    """Loss of row ``i`` (times its weight ``wi``) and its output gradient
    (times ``wi``) into ``G[c]``, from the raw outputs ``P[c]``; softmax is
    over the whole row, the other losses per output."""
    n_out = Y.shape[1]
    loss = 0.0
    if code == SOFTMAX:
        mx = -np.inf
        for k in range(n_out):
            mx = max(mx, P[c, k])
        s = 0.0
        for k in range(n_out):  # the exponentials, held in G, give the probabilities
            e = math.exp(P[c, k] - mx)
            G[c, k] = e
            s += e
        lse = mx + math.log(s)
        inv = 1.0 / s
        for k in range(n_out):
            y = np.float64(Y[i, k])
            loss += y * (lse - P[c, k])
            G[c, k] = wi * (G[c, k] * inv - y)
    else:
        for k in range(n_out):
            lk, gk = elem_loss_grad(code, np.float64(Y[i, k]), P[c, k], delta)
            loss += lk
            G[c, k] = wi * gk
    return wi * loss
