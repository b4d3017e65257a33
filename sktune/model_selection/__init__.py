"""Tools for tuning sktune estimators: default hyperparameter search spaces."""
from ._search_space import search_space

__all__ = ["search_space"]
