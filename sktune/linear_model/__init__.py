"""Linear models: regression and classification by gradient descent."""
from ._linear import LinearClassifier, LinearRegressor

__all__ = ["LinearClassifier", "LinearRegressor"]
