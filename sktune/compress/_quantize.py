"""Post-training quantization of the weights: int8 or float16."""
import copy

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    clone,
    is_classifier,
)
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ..base import fill_doc
from ..neural_network._mlp import _NUMPY_ACTIVATIONS, _sigmoid
from ._layers import (
    check_sktune_model,
    dense,
    layers,
    nbytes,
    output_kind,
    split_pipeline,
)

DTYPES = ("int8", "float16")

#: the largest int8 magnitude used: symmetric range [-127, 127]
INT8_MAX = 127


def quantize_weights(W, dtype):
    """Quantize one weight matrix (fan_in, fan_out).

    Returns ``(stored, scale)``: for "int8", ``stored`` is int8 with
    ``W[:, j] ~= stored[:, j] * scale[j]`` and ``scale[j] = max_i |W[i, j]| /
    127`` (float32; 1 for an all-zero column); for "float16", ``stored`` is
    ``W`` rounded to float16 and ``scale`` is None.
    """
    W = dense(W).astype(np.float64)
    if dtype == "float16":
        return W.astype(np.float16), None
    amax = np.abs(W).max(axis=0) if W.shape[0] else np.zeros(W.shape[1])
    scale = np.where(amax > 0, amax / INT8_MAX, 1.0).astype(np.float32)
    q = np.clip(np.rint(W / scale.astype(np.float64)), -INT8_MAX, INT8_MAX)
    return q.astype(np.int8), scale


def _has_proba(self):
    return getattr(self.estimator, "loss", None) == "log_loss"


_QUANTIZED_DOC = """
    Predictions are computed from the stored quantized weights. With
    ``dtype="int8"`` each layer's weight matrix ``W`` (fan_in x fan_out) is
    quantized symmetrically per output unit ``j``: ``scale[j] = max_i
    |W[i, j]| / 127`` (stored as float32) and ``q[i, j] = round(W[i, j] /
    scale[j])`` in [-127, 127] (int8). The activations stay floating point
    (weight-only quantization): a layer computes, in the floating-point type
    of ``X`` (float32 or float64),

    ``z[j] = (sum_i a[i] * q[i, j]) * scale[j] + b[j]``,

    the integer weights converted exactly to that float type, the
    accumulation over ``i`` done first and the scale applied once per unit,
    as an int8 kernel with int32 accumulation applies it. The biases are
    kept in float32. With ``dtype="float16"`` weights and biases are
    rounded to float16 and a layer computes ``a @ W16 + b16`` in the float
    type of ``X``. :func:`quantize` quantizes an already fitted model;
    :meth:`fit` fits a clone of ``estimator`` first.
"""

_QUANTIZED_ATTRIBUTES = """
    estimator_ : sktune estimator
        The fitted full-precision model the weights come from.
    coefs_ : list of ndarray
        Stored weights of each layer, int8 or float16, of shape (fan_in,
        fan_out) (a linear model has one layer).
    scales_ : list of ndarray or None
        Per-output-unit float32 scales of each layer (``dtype="int8"``);
        None for float16.
    intercepts_ : list of ndarray
        Biases of each layer (float32 for int8, float16 for float16).
    n_bytes_ : int
        Bytes of the stored weights, scales and biases.
    n_features_in_ : int
        Number of features seen during ``fit``.
"""


class _BaseQuantized(BaseEstimator):
    """Quantized weights and the forward pass over them."""

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"])],
        "dtype": [StrOptions(set(DTYPES))],
    }

    def __init__(self, estimator=None, dtype="int8"):
        self.estimator = estimator
        self.dtype = dtype

    def fit(self, X, y, **fit_params):
        """Fit a clone of ``estimator`` on ``(X, y)``, then quantize its weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        **fit_params : dict
            Passed to the estimator's ``fit`` (e.g. ``sample_weight``).

        Returns
        -------
        self : object
            The quantized model.
        """
        self._validate_params()
        check_sktune_model(self.estimator, type(self).__name__, fitted=False)
        return self._quantize(clone(self.estimator).fit(X, y, **fit_params))

    def _quantize(self, fitted):
        check_sktune_model(fitted, "quantize")
        self.estimator_ = fitted
        weights, biases, self.activation_ = layers(fitted)
        self.coefs_, self.scales_, self.intercepts_ = [], [], []
        bias_dtype = np.float16 if self.dtype == "float16" else np.float32
        for W, b in zip(weights, biases):
            q, scale = quantize_weights(W, self.dtype)
            self.coefs_.append(q)
            self.scales_.append(scale)
            self.intercepts_.append(np.asarray(b).astype(bias_dtype))
        if self.dtype == "float16":
            self.scales_ = None
        self.n_bytes_ = sum(nbytes(a) for a in self.coefs_ + self.intercepts_
                            + (self.scales_ or []))
        self.n_features_in_ = fitted.n_features_in_
        if hasattr(fitted, "feature_names_in_"):
            self.feature_names_in_ = fitted.feature_names_in_
        self._kind = output_kind(fitted)
        return self

    def _raw(self, X):
        """Raw outputs (n_samples, n_outputs) from the stored weights."""
        check_is_fitted(self)
        A = dense(self.estimator_._validate_X(X))
        act = _NUMPY_ACTIVATIONS[self.activation_ or "identity"]
        last = len(self.coefs_) - 1
        for layer, (q, b) in enumerate(zip(self.coefs_, self.intercepts_)):
            Z = A @ q.astype(A.dtype)
            if self.scales_ is not None:
                Z *= self.scales_[layer].astype(A.dtype)
            Z += b.astype(A.dtype)
            A = act(Z) if layer < last else Z
        return A


@fill_doc(quantized=_QUANTIZED_DOC, attributes=_QUANTIZED_ATTRIBUTES)
class QuantizedRegressor(RegressorMixin, _BaseQuantized):
    """A sktune regressor whose weights are stored as int8 or float16.

    %(quantized)s

    Parameters
    ----------
    estimator : sktune regressor
        The model to quantize: :class:`~sktune.LinearRegressor` or
        :class:`~sktune.MLPRegressor`.
    dtype : {"int8", "float16"}, default="int8"
        The stored type of the weights.

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    quantize : Quantize a fitted model (or pipeline) without refitting it.
    QuantizedClassifier : The same for classifiers.
    model_size : Bytes of the parameters of any sktune model.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import LinearRegressor
    >>> from sktune.compress import QuantizedRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(60, 3)
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> q = QuantizedRegressor(LinearRegressor(max_iter=50, random_state=0),
    ...                        dtype="int8").fit(X, y)
    >>> q.coefs_[0].dtype
    dtype('int8')
    >>> bool(np.allclose(q.predict(X), q.estimator_.predict(X), atol=0.05))
    True
    """

    def predict(self, X):
        """Predict from the quantized weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            As the original model's ``predict``.
        """
        raw = self._raw(X)
        if self._kind == "poisson":
            raw = np.exp(raw)
        return raw.ravel() if self.estimator_._y_1d else raw


@fill_doc(quantized=_QUANTIZED_DOC, attributes=_QUANTIZED_ATTRIBUTES)
class QuantizedClassifier(ClassifierMixin, _BaseQuantized):
    """A sktune classifier whose weights are stored as int8 or float16.

    %(quantized)s

    Parameters
    ----------
    estimator : sktune classifier
        The model to quantize: :class:`~sktune.LinearClassifier` or
        :class:`~sktune.MLPClassifier`.
    dtype : {"int8", "float16"}, default="int8"
        The stored type of the weights.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    %(attributes)s

    See Also
    --------
    quantize : Quantize a fitted model (or pipeline) without refitting it.
    QuantizedRegressor : The same for regressors.
    model_size : Bytes of the parameters of any sktune model.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import LinearClassifier
    >>> from sktune.compress import QuantizedClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(60, 3)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> q = QuantizedClassifier(LinearClassifier(max_iter=50, random_state=0),
    ...                         dtype="float16").fit(X, y)
    >>> q.coefs_[0].dtype
    dtype('float16')
    >>> q.predict_proba(X[:2]).shape
    (2, 2)
    """

    def _quantize(self, fitted):
        super()._quantize(fitted)
        self.classes_ = fitted.classes_
        return self

    def decision_function(self, X):
        """Raw scores of the output layer, from the quantized weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            As the original classifier's ``decision_function``.
        """
        raw = self._raw(X)
        return raw.ravel() if raw.shape[1] == 1 and self._kind in ("binary", "hinge") else raw

    def predict(self, X):
        """Predict class labels from the quantized weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_labels)
            As the original classifier's ``predict``.
        """
        raw = self._raw(X)
        if self._kind.startswith("multilabel"):
            return (raw > 0).astype(int)
        if raw.shape[1] == 1:
            return self.classes_[(raw[:, 0] > 0).astype(int)]
        return self.classes_[np.argmax(raw, axis=1)]

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Class probabilities from the quantized weights (``loss="log_loss"``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes) or (n_samples, n_labels)
            As the original classifier's ``predict_proba``.
        """
        raw = self._raw(X)
        if self._kind == "multilabel":
            return _sigmoid(raw)
        if raw.shape[1] == 1:
            p1 = 1.0 / (1.0 + np.exp(-raw[:, 0]))
            return np.column_stack([1.0 - p1, p1])
        e = np.exp(raw - raw.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def quantize(estimator, dtype="int8"):
    """Quantize the weights of a fitted sktune model to int8 or float16.

    The model is not refitted and not changed: the result is a new
    :class:`QuantizedClassifier` or :class:`QuantizedRegressor` that keeps
    only the quantized weights for its predictions (``estimator_`` refers to
    the original). See :class:`QuantizedClassifier` for exactly what is
    stored and computed.

    Parameters
    ----------
    estimator : sktune estimator or Pipeline
        A fitted :class:`~sktune.LinearRegressor`,
        :class:`~sktune.LinearClassifier`, :class:`~sktune.MLPRegressor` or
        :class:`~sktune.MLPClassifier` (dense, sparse or pruned weights), or
        a fitted :class:`~sklearn.pipeline.Pipeline` ending in one.
    dtype : {"int8", "float16"}, default="int8"
        The stored type of the weights.

    Returns
    -------
    quantized : QuantizedClassifier, QuantizedRegressor or Pipeline
        The fitted quantized model; for a pipeline, a new pipeline whose
        last step is the quantized model (the earlier steps are copies).

    Raises
    ------
    NotFittedError
        If the estimator is not fitted.
    ValueError
        If ``dtype`` is not "int8" or "float16".

    See Also
    --------
    QuantizedClassifier : The quantized classifier, and the exact arithmetic.
    QuantizedRegressor : The quantized regressor.
    model_size : Bytes of the parameters of a model.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import MLPClassifier
    >>> from sktune.compress import model_size, quantize
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(80, 4)
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> clf = MLPClassifier((8,), max_iter=30, random_state=0).fit(X, y)
    >>> q = quantize(clf, dtype="int8")
    >>> model_size(clf), model_size(q)  # float64 weights, int8 weights
    (392, 112)
    >>> bool((q.predict(X) == clf.predict(X)).mean() > 0.95)
    True
    """
    steps, last = split_pipeline(estimator)
    check_sktune_model(last, "quantize")
    cls = QuantizedClassifier if is_classifier(last) else QuantizedRegressor
    model = cls(estimator=last, dtype=dtype)
    model._validate_params()
    model._quantize(last)
    if not steps:
        return model
    return Pipeline(copy.deepcopy(steps) + [(estimator.steps[-1][0], model)],
                    memory=estimator.memory, verbose=estimator.verbose)
