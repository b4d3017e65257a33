"""Gradual magnitude pruning (``sparsity > 0``): the schedule and the mask.

Host side, between epochs. A pruned weight is held at zero by the
optimizer step's masked variant; the mask itself is the sign of the
weight's second moment (``_codes.PRUNED``), so it lives in the optimizer
state and resumes with it.

The schedule is the cubic one of Zhu & Gupta (2017, "To prune, or not to
prune"): after epoch ``t`` (counted since the weights were initialised)
the target is

    s_t = s * (1 - (1 - min(t, T) / T) ** 3),    T = max_iter,

pruning fast while the weights are still moving and slowly near the end,
when the last epochs train an (almost) final sparse network (after 80 % of
the epochs, 99 % of the target is pruned). Measured on digits with a (64,)
MLP at s = 0.9 (3 seeds, 200 epochs): ending the ramp at T = max_iter lost
1.2 accuracy points against the dense model, at 3/4 of it 1.7, at half
2.1: the later pruning ends, the longer the dense network learns.

Pruning is by magnitude over *all* the weights at once (global): the
``round(s_t * n)`` smallest ``|w|`` of the ``n`` weights (biases never) are
zero. Global rather than per layer because layers differ in redundancy:
it strips most from the layers whose weights stay small (a first layer
over many weak or constant inputs) and spares the narrow output layer
(measured as above: 1.2 points lost globally, 1.6 per layer; after
training, one-shot pruning to 0.9 plus 5 epochs of fine-tuning lost 8
points globally against 25 per layer, 2 seeds). So that no layer is cut off, each keeps at
least as many weights as it has output units (its largest). The mask only
grows: a pruned weight never comes back while ``sparsity > 0``.
"""
import math

import numpy as np

from .._kernels import _codes as C


def ramp_epochs(max_iter):
    """Epochs over which the sparsity rises to its target, ``T``."""
    return max(1, int(max_iter))


def target_sparsity(sparsity, epoch, max_iter):
    """The fraction of the weights pruned after ``epoch`` epochs."""
    ramp = ramp_epochs(max_iter)
    done = min(int(epoch), ramp) / ramp
    return float(sparsity) * (1.0 - (1.0 - done) ** 3)


def weight_ranges(est, n_params, n_penalized):
    """``[(lo, hi, n_out), ...]``: each layer's weights (no biases) in the
    flat parameter buffer (the weights are its first ``n_penalized``
    entries) and its number of output units (of biases)."""
    ranges = []
    for layer in est._layer_slices():
        weights, n_out = None, 0
        for part in layer:
            lo, hi, _ = part.indices(n_params)
            if lo < min(hi, n_penalized):
                weights = (lo, min(hi, n_penalized))
            n_out += max(0, hi - max(lo, n_penalized))
        if weights is not None:
            ranges.append(weights + (max(1, n_out),))
    return ranges


def prune_to(state, ranges, fraction):
    """Prune the smallest weights of ``ranges`` (already pruned ones first)
    until ``round(fraction * n)`` of their ``n`` are pruned, each range
    keeping at least its ``n_out`` largest: weight, moments and running
    average set to zero, the second moment to ``PRUNED``. The order is a
    stable sort of ``|w|``, so ties fall the same way on every run."""
    index = np.concatenate([np.arange(lo, hi) for lo, hi, _ in ranges])
    pruned = state.v[index] < 0.0
    k = int(math.floor(fraction * index.shape[0] + 0.5))
    if k <= int(pruned.sum()):
        return
    key = np.where(pruned, -1.0, np.abs(state.params[index].astype(np.float64)))
    start = 0
    for lo, hi, n_out in ranges:
        part = key[start:start + hi - lo]  # a view: protect the layer's largest
        part[np.argsort(part, kind="stable")[max(0, part.shape[0] - n_out):]] = np.inf
        start += hi - lo
    k = min(k, int(np.count_nonzero(key < np.inf)))
    cut = index[np.argsort(key, kind="stable")[:k]]
    state.params[cut] = 0.0
    state.m[cut] = 0.0
    state.avg[cut] = 0.0
    state.v[cut] = C.PRUNED
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
