"""Tools for tuning sktune estimators: default search spaces and batched searches."""
from ._batched import GridSearchCV, RandomizedSearchCV
from ._search_space import search_space

__all__ = ["GridSearchCV", "RandomizedSearchCV", "search_space"]
