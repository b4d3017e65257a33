"""Data-parallel training of one model on dask collections.

The four estimators take dask arrays or DataFrames whose rows stay on the
workers (or stream from disk), train with the in-memory engine's compiled
epoch on each partition, and synchronise in a fixed order of partitions:
the same ``random_state`` and partitioning give bitwise the same weights on
any number of workers. Needs ``pip install sktune[dask]``; see
:doc:`/distributed`.
"""
from ._estimators import (
    DaskLinearClassifier,
    DaskLinearRegressor,
    DaskMLPClassifier,
    DaskMLPRegressor,
)

__all__ = ["DaskLinearClassifier", "DaskLinearRegressor", "DaskMLPClassifier",
           "DaskMLPRegressor"]
