"""Tools for tuning sktune estimators: default search spaces, batched
searches, halving searches whose survivors resume, and the learning-rate
range test."""
from ._batched import GridSearchCV, RandomizedSearchCV
from ._halving import HalvingGridSearchCV, HalvingRandomSearchCV, HyperbandSearchCV
from ._lr_find import LRFinderResult, lr_find
from ._search_space import search_space

__all__ = ["GridSearchCV", "HalvingGridSearchCV", "HalvingRandomSearchCV",
           "HyperbandSearchCV", "LRFinderResult", "RandomizedSearchCV", "lr_find",
           "search_space"]
