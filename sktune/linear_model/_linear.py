"""Linear models trained by the compiled gradient engine."""
from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import check_is_fitted

from .. import _config
from .._engine.encode import average_start
from .._kernels import _codes as C
from ..base import (
    ATTRIBUTES_DOC,
    BaseGradientEstimator,
    GradientClassifierMixin,
    GradientRegressorMixin,
    fill_doc,
    shared_params_doc,
    store_params,
)
from ..losses import CLASSIFICATION_LOSSES, REGRESSION_LOSSES

# Batches with at least this many multiply-adds use the parallel kernel.
_PARALLEL_WORK = 1 << 16

class _BaseLinear(BaseGradientEstimator):
    """Linear model plumbing shared by the regressor and the classifier."""

    def _init_params(self, n_features, n_outputs, Y, sw, rng):
        params = np.zeros(n_features * n_outputs + n_outputs)
        params[n_features * n_outputs:] = self._baseline(Y, sw)
        return params, n_features * n_outputs

    def _prepare_fit(self, X, y, sample_weight, **kwargs):
        # (a pruned fit never takes the lazy path: nothing to check then)
        if (self.lazy_updates and self.optimizer != "sgd" and sp.issparse(X)
                and self.sparsity == 0.0):
            l1 = self.penalty == "l1" or (self.penalty == "elasticnet" and self.l1_ratio > 0)
            if l1 or self.clip_norm is not None or average_start(self.average) >= 0:
                raise ValueError(
                    "lazy_updates=True updates only the features of each batch, "
                    "which needs a penalty without an L1 part, clip_norm=None and "
                    f"average=False; got penalty={self.penalty!r}, l1_ratio="
                    f"{self.l1_ratio!r}, clip_norm={self.clip_norm!r}, average="
                    f"{self.average!r}.")
        return super()._prepare_fit(X, y, sample_weight, **kwargs)

    def _run_epoch(self, X, Y, sw, order, lrs, state, hyper, icodes, stats, n_threads):
        from .._kernels import (  # Numba loads at the first fit, not at import
            cpu,
            linear,
        )

        n_out = Y.shape[1]
        n_params = state.params.shape[0]
        if sp.issparse(X):
            per_row = max(1, X.nnz // max(1, X.shape[0])) * n_out
        else:
            per_row = X.shape[1] * n_out
        bs = int(icodes[C.I_BATCH])
        n_chunks = cpu.n_chunks(bs, per_row)
        parallel = n_threads > 1 and n_chunks > 1 and bs * per_row >= _PARALLEL_WORK
        total = 2.0 * order.shape[0] * per_row * self.max_iter  # outputs and gradient
        # plain SGD has a sparse path of its own; the rest was checked in fit
        lazy = (sp.issparse(X) and self.lazy_updates
                and linear.lazy_applies(hyper, icodes))
        # kept zeroed by the kernel; the last row sums the batch gradients
        grad = np.zeros((n_chunks + 1, n_params))
        icodes[C.I_GRAD_SUM] = 1
        P = np.empty((cpu.MAX_CHUNKS, n_out))
        G = np.empty((cpu.MAX_CHUNKS, n_out))
        state_args = (order, lrs, state.params, state.m, state.v, state.avg, grad,
                      P, G, hyper, icodes, state.counters, stats)
        if sp.issparse(X):
            kind = "csr"
            if lazy:
                kind, parallel = "csr_lazy", False  # a serial kernel
            elif linear.sparse_sgd_applies(X.nnz, X.shape[0], lrs, hyper, icodes, X.shape[1],
                                           n_out):
                kind, parallel = "csr_sgd", False  # a serial kernel
            kernel, fns, parallel = cpu.prepare(
                kind, X.dtype, parallel, hyper, icodes, X.indices.dtype,
                verbose=self.verbose, total_work=total)
            args = (X.data, X.indices, X.indptr, Y, sw) + state_args + (fns,)
        else:
            kind = "dense"
            if linear.dense_sgd_applies(lrs, hyper, icodes, n_out):
                kind, parallel = "dense_sgd", False  # a serial kernel
            kernel, fns, parallel = cpu.prepare(
                kind, X.dtype, parallel, hyper, icodes, verbose=self.verbose,
                total_work=total)
            args = (X, Y, sw) + state_args + (fns,)
        if parallel:
            _config.parallel_call(kernel, args, n_threads)
        else:
            kernel(*args)
        state.grad_sum = grad[-1]
        return parallel

    def _cuda_runner(self, X, Y, sw, state):
        from .._kernels import cuda

        return cuda.LinearRunner(X, Y, sw, state)

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

    def sparsify(self):
        """Convert ``coef_`` to a scipy.sparse CSR matrix.

        A model with many zero coefficients (an L1 penalty, pruning) then
        stores and multiplies only the non-zero ones; ``predict`` works as
        before, and :func:`sktune.compress.model_size` counts the sparse
        arrays. ``intercept_`` stays dense. As in scikit-learn, a later
        ``fit`` or ``partial_fit`` sets a dense ``coef_`` again.

        Returns
        -------
        self : object
            The fitted estimator, with ``coef_`` of shape (n_outputs,
            n_features) as a CSR matrix (one row for a binary classifier or
            a regressor fitted on 1-D ``y``).

        See Also
        --------
        densify : The inverse conversion.
        """
        check_is_fitted(self, "coef_")
        if not sp.issparse(self.coef_):
            self.coef_ = sp.csr_matrix(np.atleast_2d(self.coef_))
        return self

    def densify(self):
        """Convert a sparse ``coef_`` (see :meth:`sparsify`) back to a numpy array.

        Returns
        -------
        self : object
            The fitted estimator, with ``coef_`` of the shape ``fit`` gives
            it.

        See Also
        --------
        sparsify : The conversion to a sparse ``coef_``.
        """
        check_is_fitted(self, "coef_")
        if sp.issparse(self.coef_):
            coef = self.coef_.toarray()
            if getattr(self, "_y_1d", False):  # a regressor fitted on 1-D y
                coef = coef.ravel()
            self.coef_ = coef
        return self


# the linear models' own parameter, appended to the shared ones
_LAZY_DOC = """\
    lazy_updates : bool, default=False
        On CSR ``X`` with an optimizer that keeps state (momentum, Nesterov,
        Adam, AdamW, RMSprop, Adagrad), update the weights and the optimizer
        state of only the features present in each batch (and the
        intercepts), as LazyAdam and torch's ``SparseAdam`` do; the L2 term
        then decays every weight by ``1 - learning_rate * alpha`` per step,
        applied lazily. Faster on very wide sparse data, and a different
        algorithm from the exact update (an absent feature's moments do not
        decay); see :doc:`/performance`. Needs ``penalty`` without an L1
        part, no ``clip_norm`` and no ``average``. Dense ``X`` and plain SGD
        (already sparse) are unaffected.
"""


@fill_doc(shared_params=shared_params_doc(0.01) + _LAZY_DOC, shared_attributes=ATTRIBUTES_DOC)
class LinearRegressor(GradientRegressorMixin, _BaseLinear):
    """Linear regression trained by mini-batch gradient descent.

    One compiled Numba call trains each epoch (shuffling, mini-batches,
    gradient, penalty, clipping and the optimizer update); Python only runs
    between epochs. Supports dense and CSR sparse ``X``, several outputs,
    every optimizer and schedule of :mod:`sktune.optim`, and resumable
    training with ``partial_fit`` and ``warm_start``. The objective is
    ``mean(sample_weight * loss) + alpha * R(w)``; scale the features (e.g.
    with :class:`~sklearn.preprocessing.StandardScaler`) for a stable fit.

    Parameters
    ----------
    loss : {"squared_error", "huber", "poisson"}, default="squared_error"
        The loss of each output (formulas in :mod:`sktune.losses`).
        ``"poisson"`` models the log of the mean, so predictions are
        positive and ``y`` must be non-negative.
    huber_delta : float, default=1.35
        Residual size at which the Huber loss turns from quadratic to
        linear (``loss="huber"`` only).
    %(shared_params)s

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_outputs, n_features)
        Coefficients; 1-D when ``y`` was 1-D.
    intercept_ : ndarray of shape (n_outputs,)
        Intercepts (initialised to the best constant model, never
        penalized).
    %(shared_attributes)s

    See Also
    --------
    LinearClassifier : The same model for classification.
    MLPRegressor : A neural network trained by the same engine.
    sklearn.linear_model.SGDRegressor : Scikit-learn's per-sample SGD.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import LinearRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 5)
    >>> y = X @ [1.0, -2.0, 0.5, 0.0, 3.0] + 0.1 * rng.randn(100)
    >>> reg = LinearRegressor(learning_rate=0.1, batch_size=10, max_iter=50,
    ...                       random_state=0).fit(X, y)
    >>> reg.coef_.shape
    (5,)
    >>> reg.score(X, y) > 0.99
    True
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **BaseGradientEstimator._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
        "lazy_updates": ["boolean"],
    }

    def __init__(self, loss="squared_error", *, huber_delta=1.35, optimizer="adam",
                 learning_rate=0.01, lr_schedule="constant", batch_size="auto",
                 max_iter=200, momentum=0.9, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 penalty="l2", alpha=1e-4, l1_ratio=0.15, clip_norm=None, sparsity=0.0,
                 power_t=0.25, decay_rate=0.9, step_size=10, min_learning_rate=0.0,
                 restart_period=10, restart_mult=1.0, tol=1e-4, n_iter_no_change=10,
                 early_stopping=False, validation_fraction=0.1, shuffle=True,
                 average=False, warm_start=False, random_state=None, verbose=0,
                 device="cpu", n_threads=None, callbacks=None, lazy_updates=False):
        store_params(self, locals())

    def _set_fitted_attributes(self, params):
        super()._set_fitted_attributes(params)
        if self._y_1d:
            self.coef_ = self.coef_.ravel()

    def _raw_output(self, X, params):
        coef = self.coef_.reshape(self._n_outputs, -1)
        return safe_sparse_dot(X, coef.T, dense_output=True) + self.intercept_



@fill_doc(shared_params=shared_params_doc(0.01) + _LAZY_DOC, shared_attributes=ATTRIBUTES_DOC)
class LinearClassifier(GradientClassifierMixin, _BaseLinear):
    """Linear classifier trained by mini-batch gradient descent.

    ``loss="log_loss"`` is logistic regression (binary) or multinomial
    (softmax) regression; ``loss="hinge"`` is a linear SVM, one-vs-rest for
    more than two classes. Training runs in compiled Numba kernels, as
    for :class:`LinearRegressor`, on dense or CSR sparse ``X``.

    Parameters
    ----------
    loss : {"log_loss", "hinge"}, default="log_loss"
        The loss (formulas in :mod:`sktune.losses`). ``"log_loss"`` gives
        probabilities through ``predict_proba``; ``"hinge"`` has none.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, ``{label: weight}``, multiplied into
        ``sample_weight``; None weighs every class 1. ``"balanced"`` uses
        ``n_samples / (n_classes * np.bincount(y))`` (not with
        ``partial_fit``).
    %(shared_params)s

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients (one row for a binary problem).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts (initialised to the log-odds of the class frequencies for
        ``"log_loss"``, to zero for ``"hinge"``; never penalized).
    %(shared_attributes)s

    See Also
    --------
    LinearRegressor : The same model for regression.
    MLPClassifier : A neural network trained by the same engine.
    sklearn.linear_model.SGDClassifier : Scikit-learn's per-sample SGD.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import LinearClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 5)
    >>> y = (X[:, 0] - X[:, 1] + 0.5 * rng.randn(100) > 0).astype(int)
    >>> clf = LinearClassifier(learning_rate=0.1, batch_size=10, max_iter=50,
    ...                        random_state=0).fit(X, y)
    >>> clf.classes_
    array([0, 1])
    >>> clf.score(X, y) > 0.85
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {
        **BaseGradientEstimator._parameter_constraints,
        "loss": [StrOptions(set(CLASSIFICATION_LOSSES))],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "lazy_updates": ["boolean"],
    }

    def __init__(self, loss="log_loss", *, class_weight=None, optimizer="adam",
                 learning_rate=0.01, lr_schedule="constant", batch_size="auto",
                 max_iter=200, momentum=0.9, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 penalty="l2", alpha=1e-4, l1_ratio=0.15, clip_norm=None, sparsity=0.0,
                 power_t=0.25, decay_rate=0.9, step_size=10, min_learning_rate=0.0,
                 restart_period=10, restart_mult=1.0, tol=1e-4, n_iter_no_change=10,
                 early_stopping=False, validation_fraction=0.1, shuffle=True,
                 average=False, warm_start=False, random_state=None, verbose=0,
                 device="cpu", n_threads=None, callbacks=None, lazy_updates=False):
        store_params(self, locals())
