"""sktune: scikit-learn estimators trained and tuned fast by compiled gradient solvers."""
from . import _config  # noqa: F401  (sets the Numba cache location first)
from .exceptions import DivergenceError
from .linear_model import LinearClassifier, LinearRegressor
from .neural_network import MLPClassifier, MLPRegressor
from . import model_selection  # noqa: E402  (after the estimators it uses)

__version__ = "0.1.0"

__all__ = [
    "DivergenceError",
    "LinearClassifier",
    "LinearRegressor",
    "MLPClassifier",
    "MLPRegressor",
    "model_selection",
    "__version__",
]
