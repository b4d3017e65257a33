"""Compressing fitted models: pruning, quantization, distillation, size.

- :func:`prune` removes weights or whole hidden units from a fitted network
  (and fine-tunes it); the estimators' ``sparsity`` parameter prunes while
  training;
- :func:`quantize` stores the weights in int8 or float16
  (:class:`QuantizedClassifier`, :class:`QuantizedRegressor`);
- :func:`distill` trains a small student on a large teacher's soft outputs;
- :func:`model_size` counts the bytes of a model's parameters as stored.

The linear models also have scikit-learn's ``sparsify()`` / ``densify()``.
See :doc:`/compressing`.
"""
from ._distill import distill
from ._quantize import QuantizedClassifier, QuantizedRegressor, quantize
from ._size import model_size

__all__ = ["QuantizedClassifier", "QuantizedRegressor", "distill", "model_size",
           "quantize"]

try:  # the pruning module arrives with the in-training pruning (issue 14)
    from ._prune import prune  # noqa: F401
except ImportError:  # pragma: no cover
    pass
else:
    __all__.insert(0, "prune")
