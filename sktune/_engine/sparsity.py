"""Gradual magnitude pruning (``sparsity > 0``): the schedule and the mask.

Host side, between epochs. A pruned weight is held at zero by the
optimizer step's masked variant; the mask itself is the sign of the
weight's second moment (``_codes.PRUNED``), so it lives in the optimizer
state and resumes with it.

The schedule is the cubic one of Zhu & Gupta (2017, "To prune, or not to
prune"): after epoch ``t`` (counted since the weights were initialised)
each layer's target is

    s_t = s * (1 - (1 - min(t, R) / R) ** 3),    R = max(1, ceil(max_iter / 2)),

pruning fast while the weights are still moving and slowly near the end of
the ramp. The ramp takes the first half of ``max_iter`` so that the second
half trains the final sparse network (the paper's advice: reach the final
sparsity while the learning rate can still repair the damage).

Pruning is by magnitude *within each layer*: the ``round(s_t * n)``
smallest ``|w|`` of a layer of ``n`` weights (biases never). Per layer,
not global, because layers differ in scale (their initialisation bound
depends on their fan-in), so a global threshold would strip the layers
with small weights (often the output layer) to nothing; per layer, every
layer (and so the whole network) ends at the requested fraction. The mask
only grows: a pruned weight never comes back while ``sparsity > 0``.
"""
import math

import numpy as np

from .._kernels import _codes as C


def ramp_epochs(max_iter):
    """Epochs over which the sparsity rises to its target, ``R``."""
    return max(1, -(-int(max_iter) // 2))


def target_sparsity(sparsity, epoch, max_iter):
    """The fraction of each layer's weights pruned after ``epoch`` epochs."""
    ramp = ramp_epochs(max_iter)
    done = min(int(epoch), ramp) / ramp
    return float(sparsity) * (1.0 - (1.0 - done) ** 3)


def weight_ranges(est, n_params, n_penalized):
    """``[(lo, hi), ...]``: each layer's weights (no biases) in the flat
    parameter buffer (the weights are its first ``n_penalized`` entries)."""
    ranges = []
    for layer in est._layer_slices():
        for part in layer:
            lo, hi, _ = part.indices(n_params)
            hi = min(hi, n_penalized)
            if lo < hi:
                ranges.append((lo, hi))
    return ranges


def prune_to(state, ranges, fraction):
    """Prune each range's smallest weights (already pruned ones first) until
    ``round(fraction * n)`` of its ``n`` are pruned: weight, moments and
    running average set to zero, the second moment to ``PRUNED``. The
    order is a stable sort of ``|w|``, so ties fall the same way on every
    run."""
    for lo, hi in ranges:
        n = hi - lo
        k = min(n, int(math.floor(fraction * n + 0.5)))
        v = state.v[lo:hi]
        pruned = v < 0.0
        if k <= int(pruned.sum()):
            continue
        key = np.where(pruned, -1.0, np.abs(state.params[lo:hi].astype(np.float64)))
        idx = np.argsort(key, kind="stable")[:k]
        state.params[lo:hi][idx] = 0.0
        state.m[lo:hi][idx] = 0.0
        state.avg[lo:hi][idx] = 0.0
        v[idx] = C.PRUNED


def apply_mask(state):
    """Zero the weights, moments and averages the mask prunes (after the
    weights were replaced by an older copy)."""
    pruned = state.v < 0.0
    if pruned.any():
        for name in ("params", "m", "avg"):
            getattr(state, name)[pruned] = 0.0


def lift_mask(state):
    """Forget the mask (``sparsity=0`` on a resumed fit): pruned weights stay
    zero for now but train again."""
    np.maximum(state.v, 0.0, out=state.v)


def n_pruned(state):
    """Number of pruned weights."""
    return int(np.count_nonzero(state.v < 0.0))
