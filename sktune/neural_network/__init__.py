"""Multi-layer perceptrons trained by the compiled gradient engine."""
from ._mlp import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
