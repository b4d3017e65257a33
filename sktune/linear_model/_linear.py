"""Linear models trained by the compiled gradient engine."""
from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target
from sklearn.utils.validation import check_is_fitted

from .. import _config
from .._kernels import _codes as C
from .._kernels.cpu import _MAX_CHUNKS, _n_chunks, get_kernel
from ..base import ATTRIBUTES_DOC, SHARED_PARAMS_DOC, BaseGradientEstimator, store_params
from ..losses import CLASSIFICATION_LOSSES, REGRESSION_LOSSES, loss_code

# Batches with at least this many multiply-adds use the parallel kernel.
_PARALLEL_WORK = 1 << 16

class _BaseLinear(BaseGradientEstimator):
    """Linear model plumbing shared by the regressor and the classifier."""

    def _init_params(self, n_features, n_outputs, Y, sw, rng):
        params = np.zeros(n_features * n_outputs + n_outputs)
        params[n_features * n_outputs:] = self._baseline(Y, sw)
        return params, n_features * n_outputs

    def _run_epoch(self, X, Y, sw, order, lrs, state, hyper, icodes, stats, n_threads):
        n_out = Y.shape[1]
        n_params = state.params.shape[0]
        if sp.issparse(X):
            per_row = max(1, X.nnz // max(1, X.shape[0])) * n_out
        else:
            per_row = X.shape[1] * n_out
        bs = int(icodes[C.I_BATCH])
        n_chunks = _n_chunks(bs, per_row)
        parallel = n_threads > 1 and n_chunks > 1 and bs * per_row >= _PARALLEL_WORK
        grad = np.empty((n_chunks, n_params))
        P = np.empty((_MAX_CHUNKS, n_out))
        G = np.empty((_MAX_CHUNKS, n_out))
        state_args = (order, lrs, state.params, state.m, state.v, state.avg, grad,
                      P, G, hyper, icodes, state.counters, stats)
        if sp.issparse(X):
            kernel = get_kernel("csr", X.dtype, parallel, X.indices.dtype)
            args = (X.data, X.indices, X.indptr, Y, sw) + state_args
        else:
            kernel = get_kernel("dense", X.dtype, parallel)
            args = (X, Y, sw) + state_args
        if parallel:
            _config.parallel_call(kernel, args, n_threads)
        else:
            kernel(*args)

    def _validate_data_xy(self, X, y, reset):
        X, y = super()._validate_data_xy(X, y, reset)
        if sp.issparse(X):
            # one index dtype for indices and indptr: int32 unless too large
            big = X.nnz >= np.iinfo(np.int32).max or X.shape[1] >= np.iinfo(np.int32).max
            idx = np.int64 if big else np.int32
            X = sp.csr_matrix((X.data, X.indices.astype(idx, copy=False),
                               X.indptr.astype(idx, copy=False)), shape=X.shape)
        return X, y

    def _set_fitted_attributes(self, params):
        n_out = self._n_outputs
        n_features = (params.shape[0] - n_out) // n_out
        W = params[: n_features * n_out].reshape(n_features, n_out)
        self.coef_ = np.ascontiguousarray(W.T)
        self.intercept_ = params[n_features * n_out:].copy()

    def _raw_output(self, X, params):
        return safe_sparse_dot(X, self.coef_.T, dense_output=True) + self.intercept_


class LinearRegressor(RegressorMixin, _BaseLinear):
    """Linear regression trained by mini-batch gradient descent.

    One compiled Numba call trains each epoch (shuffling, mini-batches,
    gradient, penalty, clipping and the optimizer update); Python only runs
    between epochs. Supports dense and CSR sparse ``X``, several outputs,
    every optimizer and schedule of :mod:`sktune.optim`, and resumable
    training with ``partial_fit`` and ``warm_start``.

    Parameters
    ----------
    loss : {"squared_error", "huber", "poisson"}, default="squared_error"
        ``"poisson"`` models the log of the mean (predictions are positive).
    huber_delta : float, default=1.35
        Residual size at which the Huber loss turns from quadratic to linear.
    """ + SHARED_PARAMS_DOC + """
    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_outputs, n_features)
        Coefficients.
    intercept_ : ndarray of shape (n_outputs,)
        Intercepts (initialised to the best constant model).
    """ + ATTRIBUTES_DOC + """
    See Also
    --------
    LinearClassifier : The classifier twin.
    sklearn.linear_model.SGDRegressor : scikit-learn's per-sample SGD.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sktune import LinearRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(),
    ...                       LinearRegressor(learning_rate=0.1, random_state=0))
    >>> round(model.fit(X, y).score(X, y), 2)
    0.52
    """

    _parameter_constraints = {
        **BaseGradientEstimator._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, loss="squared_error", *, huber_delta=1.35, optimizer="adam",
                 learning_rate=0.01, lr_schedule="constant", batch_size="auto",
                 max_iter=200, momentum=0.9, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 penalty=None, alpha=1e-4, l1_ratio=0.15, clip_norm=None,
                 power_t=0.25, decay_rate=0.9, step_size=10, min_learning_rate=0.0,
                 restart_period=10, restart_mult=1.0, tol=1e-4, n_iter_no_change=10,
                 early_stopping=False, validation_fraction=0.1, shuffle=True,
                 average=False, warm_start=False, random_state=None, verbose=0,
                 n_threads=None):
        store_params(self, locals())

    def _multi_output_y(self):
        return True

    def _y_numeric(self):
        return True

    def _loss_code(self):
        return loss_code(self.loss)

    def _encode_targets(self, y, dtype, reset, classes=None):
        Y = np.asarray(y, dtype=dtype)
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        if reset:
            self._y_1d = np.ndim(y) == 1
            self._n_outputs = Y.shape[1]
        elif Y.shape[1] != self._n_outputs:
            raise ValueError(
                f"y has {Y.shape[1]} output(s), but {type(self).__name__} was "
                f"fitted with {self._n_outputs}."
            )
        if self.loss == "poisson" and np.any(Y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed "
                             "for Poisson regression.")
        return np.ascontiguousarray(Y)

    def _baseline(self, Y, sw):
        mean = np.average(Y, axis=0, weights=sw) if sw.sum() > 0 else Y.mean(axis=0)
        if self.loss == "poisson":
            return np.log(np.maximum(mean, 1e-12))
        return mean

    def _set_fitted_attributes(self, params):
        super()._set_fitted_attributes(params)
        if self._y_1d:
            self.coef_ = self.coef_.ravel()

    def _raw_output(self, X, params):
        coef = self.coef_.reshape(self._n_outputs, -1)
        return safe_sparse_dot(X, coef.T, dense_output=True) + self.intercept_

    def fit(self, X, y, sample_weight=None):
        """Fit the model by mini-batch gradient descent.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 trains in float32, other types in float64.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights multiplying each sample's loss.

        Returns
        -------
        self : LinearRegressor
            The fitted estimator.
        """
        self._validate_params()
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X, y, sample_weight=None):
        """Train one epoch on ``(X, y)``, continuing from the current state.

        The optimizer state and the learning-rate schedule carry on from the
        previous call (early stopping does not apply).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : LinearRegressor
        """
        if not hasattr(self, "_train_state"):
            self._validate_params()
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predict targets for ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        raw = self._raw_predict(X)
        if self.loss == "poisson":
            raw = np.exp(raw)
        return raw.ravel() if self._y_1d else raw

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags


class LinearClassifier(ClassifierMixin, _BaseLinear):
    """Linear classifier trained by mini-batch gradient descent.

    ``loss="log_loss"`` is logistic regression (binary) or multinomial
    (softmax) regression; ``loss="hinge"`` is a linear SVM, one-vs-rest for
    more than two classes. Training runs in compiled Numba kernels, see
    :class:`LinearRegressor`.

    Parameters
    ----------
    loss : {"log_loss", "hinge"}, default="log_loss"
        ``"log_loss"`` gives probabilities through ``predict_proba``.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into ``sample_weight``.
        ``"balanced"`` uses ``n_samples / (n_classes * np.bincount(y))``.
    """ + SHARED_PARAMS_DOC + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients (one row for a binary problem).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts (initialised to the log-odds of the class frequencies).
    """ + ATTRIBUTES_DOC + """
    See Also
    --------
    LinearRegressor : The regression twin.
    sklearn.linear_model.SGDClassifier : scikit-learn's per-sample SGD.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sktune import LinearClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), LinearClassifier(random_state=0))
    >>> clf.fit(X, y).score(X, y) > 0.97
    True
    """

    _parameter_constraints = {
        **BaseGradientEstimator._parameter_constraints,
        "loss": [StrOptions(set(CLASSIFICATION_LOSSES))],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(self, loss="log_loss", *, class_weight=None, optimizer="adam",
                 learning_rate=0.01, lr_schedule="constant", batch_size="auto",
                 max_iter=200, momentum=0.9, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 penalty=None, alpha=1e-4, l1_ratio=0.15, clip_norm=None,
                 power_t=0.25, decay_rate=0.9, step_size=10, min_learning_rate=0.0,
                 restart_period=10, restart_mult=1.0, tol=1e-4, n_iter_no_change=10,
                 early_stopping=False, validation_fraction=0.1, shuffle=True,
                 average=False, warm_start=False, random_state=None, verbose=0,
                 n_threads=None):
        store_params(self, locals())

    def _loss_code(self):
        return loss_code(self.loss, len(self.classes_))

    def _stratify(self, y):
        # stratify when every class has at least two members
        _, counts = np.unique(y, return_counts=True)
        return y if counts.min() >= 2 else None

    def _encode_targets(self, y, dtype, reset, classes=None):
        target_type = type_of_target(y, input_name="y")
        if target_type not in ("binary", "multiclass"):
            raise ValueError(
                f"Unknown label type: {target_type!r}. {type(self).__name__} "
                "supports binary and multiclass targets."
            )
        if reset:
            if classes is not None:
                self.classes_ = np.unique(np.asarray(classes))
            else:
                self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise ValueError(
                    "The number of classes has to be greater than one; got "
                    f"{len(self.classes_)} class"
                )
            self._n_outputs = 1 if len(self.classes_) == 2 else len(self.classes_)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(f"y contains labels {unseen.tolist()} not in classes "
                             f"{self.classes_.tolist()}.")
        binarizer = LabelBinarizer().fit(self.classes_)
        Y = binarizer.transform(y).astype(dtype)
        return np.ascontiguousarray(Y)

    def _sample_weight(self, sample_weight, X, y):
        sw = super()._sample_weight(sample_weight, X, y)
        if self.class_weight is not None:
            cw = compute_sample_weight(self.class_weight, y)
            if isinstance(self.class_weight, str):
                # "balanced" from the full set of classes, as sklearn's SGD
                cw = compute_sample_weight(
                    {c: w for c, w in zip(self.classes_, self._balanced(y))}, y)
            sw = sw * cw.astype(sw.dtype)
        return sw

    def _balanced(self, y):
        counts = np.array([(y == c).sum() for c in self.classes_], dtype=float)
        return len(y) / (len(self.classes_) * np.maximum(counts, 1.0))

    def _baseline(self, Y, sw):
        if self.loss == "hinge":
            return np.zeros(Y.shape[1])
        p = np.average(Y, axis=0, weights=sw) if sw.sum() > 0 else Y.mean(axis=0)
        p = np.clip(p, 1e-6, 1 - 1e-6)
        if Y.shape[1] == 1:
            return np.log(p / (1 - p))
        return np.log(p) - np.log(p).mean()

    def fit(self, X, y, sample_weight=None):
        """Fit the classifier by mini-batch gradient descent.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 trains in float32, other types in float64.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights, multiplied by ``class_weight``.

        Returns
        -------
        self : LinearClassifier
            The fitted estimator.
        """
        self._validate_params()
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train one epoch on ``(X, y)``, continuing from the current state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            All the classes; required on the first call, as in scikit-learn.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : LinearClassifier
        """
        if not hasattr(self, "_train_state"):
            self._validate_params()
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"`classes={np.unique(classes).tolist()}` is not the same "
                             f"as on the first call: {self.classes_.tolist()}.")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def decision_function(self, X):
        """Signed scores: the logit (binary) or one score per class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        raw = self._raw_predict(X)
        return raw.ravel() if raw.shape[1] == 1 else raw

    def predict(self, X):
        """Predict class labels for ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def _has_proba(self):
        return self.loss == "log_loss"

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Class probabilities (``loss="log_loss"`` only).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p1 = 1.0 / (1.0 + np.exp(-scores))
            return np.column_stack([1.0 - p1, p1])
        scores = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        return e / e.sum(axis=1, keepdims=True)

    @available_if(_has_proba)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))
