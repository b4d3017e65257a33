"""sktune: scikit-learn estimators trained and tuned fast by compiled gradient solvers."""
from . import _config  # noqa: F401  (sets the Numba cache location first)
from .exceptions import DivergenceError, GradientWarning
from .linear_model import LinearClassifier, LinearRegressor
from .neural_network import MLPClassifier, MLPRegressor

__version__ = "0.1.0"

__all__ = [
    "DivergenceError",
    "GradientWarning",
    "LinearClassifier",
    "LinearRegressor",
    "MLPClassifier",
    "MLPRegressor",
    "compress",
    "model_selection",
    "precompile",
    "__version__",
]


def __getattr__(name):
    # imported on first use: a fit needs none of them (import time)
    if name in ("compress", "model_selection", "plot"):
        import importlib

        return importlib.import_module("." + name, __name__)
    if name == "precompile":
        from .precompile import precompile

        return precompile
    raise AttributeError("module 'sktune' has no attribute %r" % name)


def __dir__():
    return sorted(set(globals()) | {"compress", "model_selection", "plot", "precompile"})
