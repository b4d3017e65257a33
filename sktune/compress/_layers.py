"""The layers of a fitted sktune model as plain arrays, shared by
quantization, model size and the ONNX converters."""
import numpy as np
import scipy.sparse as sp
from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ..base import BaseGradientEstimator


def dense(W):
    """``W`` as a numpy array (a sparse matrix is densified)."""
    return W.toarray() if sp.issparse(W) else np.asarray(W)


def nbytes(a):
    """Bytes of an array as stored: dense ``nbytes``, or a sparse matrix's
    data and index arrays."""
    if a is None:
        return 0
    if sp.issparse(a):
        if a.format not in ("csr", "csc", "bsr"):
            a = a.tocsr()
        return int(a.data.nbytes + a.indices.nbytes + a.indptr.nbytes)
    return int(np.asarray(a).nbytes)


def check_sktune_model(estimator, what, fitted=True):
    """Raise unless ``estimator`` is a (fitted) sktune estimator."""
    if not isinstance(estimator, BaseGradientEstimator):
        raise TypeError(
            f"{what} takes a fitted sktune estimator (LinearRegressor, "
            "LinearClassifier, MLPRegressor, MLPClassifier) or a Pipeline ending "
            f"in one; got {type(estimator).__name__}.")
    if fitted:
        check_is_fitted(estimator)


def split_pipeline(estimator):
    """``(steps before the last, last estimator)``; no steps for a bare model."""
    if isinstance(estimator, Pipeline):
        return estimator.steps[:-1], estimator.steps[-1][1]
    return [], estimator


def layers(estimator):
    """``(weights, biases, activation)`` of a fitted sktune model: weight
    matrices of shape (fan_in, fan_out) (sparse ones as they are stored),
    bias vectors, and the hidden activation (None for a linear model)."""
    if hasattr(estimator, "coefs_"):
        return list(estimator.coefs_), list(estimator.intercepts_), estimator.activation
    n_out = np.asarray(estimator.intercept_).shape[0]
    coef = estimator.coef_
    if sp.issparse(coef):
        W = coef.T.tocsr()
    else:
        W = np.asarray(coef).reshape(n_out, -1).T
    return [W], [np.asarray(estimator.intercept_)], None


def output_kind(estimator):
    """How raw outputs become predictions: "regression", "poisson",
    "binary", "multiclass", "multilabel" or "hinge" (a classifier without
    probabilities)."""
    if not is_classifier(estimator):
        return "poisson" if estimator.loss == "poisson" else "regression"
    if getattr(estimator, "_multilabel", False):
        return "multilabel" if estimator.loss == "log_loss" else "multilabel_hinge"
    if estimator.loss == "hinge":
        return "hinge"
    return "binary" if len(estimator.classes_) == 2 else "multiclass"
