"""Tools for tuning sktune estimators: default search spaces, batched
searches and the learning-rate range test."""
from ._batched import GridSearchCV, RandomizedSearchCV
from ._lr_find import LRFinderResult, lr_find
from ._search_space import search_space

__all__ = ["GridSearchCV", "LRFinderResult", "RandomizedSearchCV", "lr_find",
           "search_space"]
