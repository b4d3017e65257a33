"""Counter-based random numbers shared by every kernel.

A draw is a pure function of ``(seed, a, b, c)`` (for example seed, epoch,
sample, unit), so the stream does not depend on how work is split across
threads or devices: the same ``random_state`` gives the same shuffles and
dropout masks on one thread, many threads, and the GPU.
"""
import numpy as np
from numba import njit, types

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_INV_2_53 = 1.0 / 9007199254740992.0


@njit(cache=True, inline="always")
def splitmix64(x):
    """One splitmix64 round: a bijective, well-mixed 64-bit hash."""
    z = np.uint64(x) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def hash_prefix(seed, a, b):
    """The rounds of ``hash4(seed, a, b, c)`` that do not depend on ``c``:
    hoisted out of a loop over ``c`` (dropout's units), they cut its cost
    per draw from four rounds to one, with the same bits."""
    h = splitmix64(np.uint64(seed))
    h = splitmix64(h ^ np.uint64(a))
    return splitmix64(h ^ np.uint64(b))


@njit(cache=True, inline="always")
def hash4(seed, a, b, c):
    """Hash a seed and three counters to 64 random bits."""
    return splitmix64(hash_prefix(seed, a, b) ^ np.uint64(c))


@njit(cache=True, inline="always")
def uniform_after(prefix, c):
    """``uniform(seed, a, b, c)`` from ``prefix = hash_prefix(seed, a, b)``."""
    return np.float64(splitmix64(prefix ^ np.uint64(c)) >> np.uint64(11)) * _INV_2_53


@njit(cache=True, inline="always")
def uniform(seed, a, b, c):
    """A float64 in [0, 1) from the top 53 bits of ``hash4``."""
    return uniform_after(hash_prefix(seed, a, b), c)


def shuffle(seed, epoch, out):
    """Fill ``out`` with a permutation of ``range(len(out))`` (Fisher-Yates).

    Draw ``i`` depends only on ``(seed, epoch, i)``.
    """
    n = out.shape[0]
    for i in range(n):
        out[i] = i
    for i in range(n - 1, 0, -1):
        j = np.int64(hash4(seed, epoch, i, 0) % np.uint64(i + 1))
        tmp = out[i]
        out[i] = out[j]
        out[j] = tmp


@njit(cache=True, inline="always")
def dropout_keep(seed, epoch, sample, unit, rate):
    """Inverted-dropout factor of one hidden unit: 0 or 1 / (1 - rate).

    Keyed by (seed, epoch, sample, unit), so the mask is the same whatever
    the batch split, thread count or device.
    """
    if uniform(seed, epoch, sample, unit) < rate:
        return 0.0
    return 1.0 / (1.0 - rate)


@njit(cache=True, inline="always")
def dropout_keep_after(prefix, unit, rate):
    """``dropout_keep`` of one unit of a sample, from the sample's
    ``hash_prefix(seed, epoch, sample)`` (the same factor, a quarter of the
    hashing)."""
    if uniform_after(prefix, unit) < rate:
        return 0.0
    return 1.0 / (1.0 - rate)


def permutation(seed, epoch, out):
    """Fill ``out`` (int64) with the permutation of ``range(len(out))``
    drawn from ``(seed, epoch)`` (compiled unit of :func:`shuffle`)."""
    permutation_unit()(seed, epoch, out)
    return out


def permutation_unit():
    """The compiled unit of :func:`shuffle`."""
    from . import _jit

    return _jit.compiled(shuffle, "permutation", _SHUFFLE_SIG)


_SHUFFLE_SIG = types.void(types.int64, types.int64, types.Array(types.int64, 1, "C"))
