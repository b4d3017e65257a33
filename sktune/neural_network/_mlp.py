"""Multi-layer perceptrons trained by the compiled gradient engine."""
import warnings
from numbers import Integral, Real

import numpy as np
from threadpoolctl import ThreadpoolController
from sklearn.exceptions import DataConversionWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from .._kernels import _codes as C
from .. import _config
from ..base import (
    ATTRIBUTES_DOC,
    BaseGradientEstimator,
    GradientClassifierMixin,
    GradientRegressorMixin,
    _integer_labels,
    fill_doc,
    shared_params_doc,
    store_params,
)
from ..linear_model._linear import LinearClassifier, LinearRegressor

_CONTROLLER = []


def _blas_controller():
    """One threadpoolctl controller per process: scanning the loaded
    libraries costs milliseconds, too much to repeat per ``partial_fit``."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


# Multiply-adds per batch from which the parallel kernel is used: with row
# chunks of at least 16 rows the per-batch fork-join pays for itself from
# about this size on (measured on 2 cores: 1.2-1.7x at 1e5-1.5e6).
_PARALLEL_WORK = 1 << 16

from .._engine.encode import ACTIVATIONS  # noqa: E402

_MLP_PARAMS_DOC = """
    activation : {"relu", "tanh", "logistic", "identity", "leaky_relu"}, \
default="relu"
        Hidden-layer activation (``"leaky_relu"`` has slope 0.01 below zero).
    dropout : float, default=0.0
        Rate at which hidden units are dropped during training (inverted
        dropout: kept units are scaled by ``1 / (1 - dropout)``); predictions
        use every unit. The masks come from a counter-based generator keyed by
        (seed, epoch, sample, unit), so ``random_state`` fixes them whatever
        the thread count.
    init : {"auto", "he", "glorot"}, default="auto"
        Initial weights. ``"auto"``: He (uniform in ``±sqrt(6 / fan_in)``)
        for the ReLU family and Glorot (``±sqrt(6 / (fan_in + fan_out))``)
        otherwise, zero hidden biases and the output bias at the best
        constant model. ``"he"``: He for every hidden layer. ``"glorot"``:
        scikit-learn's scheme, Glorot weights and biases for every layer
        (bound ``sqrt(2 / (fan_in + fan_out))`` for ``"logistic"``), which
        reproduces its MLP's starting point.
"""

_MLP_ATTRIBUTES_DOC = """
    coefs_ : list of ndarray
        Weight matrix of each layer, of shape (fan_in, fan_out).
    intercepts_ : list of ndarray
        Bias vector of each layer.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of outputs.
    out_activation_ : str
        Output activation: "identity", "exp" (Poisson), "logistic" or "softmax".
    loss_ : float
        Training loss of the last epoch.
    best_loss_ : float or None
        Lowest training loss reached (None with ``early_stopping``).
"""


#: rows of a block of ``_forward``: its widest layer's activations within
#: 256 KB, so that each layer's bias and activation run on data in cache
_FORWARD_BLOCK_BYTES = 256 * 1024


def _forward(X, coefs, intercepts, activation):
    """Raw outputs of the network (no dropout), in numpy.

    The rows go through in blocks (see ``_FORWARD_BLOCK_BYTES``), each layer
    computed in place. On 3 334 x 20 rows of a (64,) network this took the
    forward pass from 2.2-2.5 ms (a fresh array per layer and per operation)
    to 0.5-0.65 ms on a 2-core machine; a batched search predicts every
    candidate x fold this way.
    """
    act = _INPLACE_ACTIVATIONS[activation]
    n = X.shape[0]
    dtype = np.result_type(X, *coefs, *intercepts)
    out = np.empty((n, coefs[-1].shape[1]), dtype=dtype)
    widest = max(W.shape[1] for W in coefs)
    step = max(64, _FORWARD_BLOCK_BYTES // (widest * dtype.itemsize))
    last = len(coefs) - 1
    for lo in range(0, n, step):
        A = X[lo: lo + step]
        for layer, (W, b) in enumerate(zip(coefs, intercepts)):
            A = A @ W
            A += b
            if layer < last:
                act(A)
        out[lo: lo + step] = A
    return out


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _sigmoid_inplace(z):
    # the operations of _sigmoid, in the same order
    z *= 0.5
    np.tanh(z, out=z)
    z += 1.0
    z *= 0.5


_INPLACE_ACTIVATIONS = {
    "identity": lambda z: None,
    "relu": lambda z: np.maximum(z, 0, out=z),
    "tanh": lambda z: np.tanh(z, out=z),
    "logistic": _sigmoid_inplace,
    "leaky_relu": lambda z: np.multiply(z, C.LEAKY_SLOPE, out=z, where=~(z > 0)),
}

_NUMPY_ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "logistic": _sigmoid,
    "leaky_relu": lambda z: np.where(z > 0, z, z * C.LEAKY_SLOPE),
}


class _BaseMLP(BaseGradientEstimator):
    """MLP plumbing shared by the regressor and the classifier."""

    _accept_sparse = False

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "init": [StrOptions({"auto", "he", "glorot"})],
    }

    def _layer_sizes(self, n_features, n_outputs):
        hidden = self.hidden_layer_sizes
        hidden = [hidden] if np.isscalar(hidden) else list(hidden)
        if any(int(h) != h or h < 1 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be positive integers; got {hidden}.")
        return [n_features] + [int(h) for h in hidden] + [n_outputs]

    def _layer_slices(self):
        sizes = [int(s) for s in self._sizes]
        w_off = 0
        b_off = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers.append([slice(w_off, w_off + fan_in * fan_out),
                           slice(b_off, b_off + fan_out)])
            w_off += fan_in * fan_out
            b_off += fan_out
        return layers

    def _check_resume(self, n_features, n_outputs):
        sizes = self._layer_sizes(n_features, n_outputs)
        if list(sizes) != self._sizes.tolist():
            raise ValueError(
                f"The network has layer sizes {self._sizes.tolist()} but "
                f"hidden_layer_sizes={self.hidden_layer_sizes!r} asks for {sizes}. "
                "warm_start and partial_fit continue the same network; set "
                "warm_start=False (or create a new estimator) to start anew."
            )

    def _init_params(self, n_features, n_outputs, Y, sw, rng):
        sizes = self._layer_sizes(n_features, n_outputs)
        self._sizes = np.asarray(sizes, dtype=np.int64)
        weights, biases = [], []
        he = self.init == "he" or (self.init == "auto"
                                   and self.activation in ("relu", "leaky_relu"))
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = layer == len(sizes) - 2
            if self.init == "glorot":
                # scikit-learn's scheme: weights and biases uniform in the
                # Glorot bound (narrower for the logistic activation)
                factor = 2.0 if self.activation == "logistic" else 6.0
                bound = np.sqrt(factor / (fan_in + fan_out))
                weights.append(rng.uniform(-bound, bound, fan_in * fan_out))
                biases.append(rng.uniform(-bound, bound, fan_out))
                continue
            if he and not last:
                bound = np.sqrt(6.0 / fan_in)  # He
            else:
                bound = np.sqrt(6.0 / (fan_in + fan_out))  # Glorot
            weights.append(rng.uniform(-bound, bound, fan_in * fan_out))
            biases.append(np.zeros(fan_out))
        if self.init != "glorot":
            biases[-1] = self._baseline(Y, sw)
        n_weights = sum(w.size for w in weights)
        return np.concatenate(weights + biases), n_weights

    def _run_epoch(self, X, Y, sw, order, lrs, state, hyper, icodes, stats, n_threads):
        sizes = self._sizes
        bs = int(icodes[C.I_BATCH])
        dtype = state.params.dtype
        from .._kernels import cpu  # Numba loads at the first fit, not at import

        n_chunks = cpu.mlp_chunks(bs)
        # every chunk buffer is sized for a whole batch: row offsets use ``bs``
        acts = np.empty((n_chunks, bs * int(sizes.sum())), dtype=dtype)
        # two output-gradient buffers and one for the transpose D @ W.T reads
        deltas = np.empty((n_chunks, 3 * bs * int(sizes[1:].max())), dtype=dtype)
        # one row per chunk, and the sum of the batch gradients (diagnostics)
        grad = np.empty((n_chunks + 1, state.params.shape[0]), dtype=dtype)
        grad[-1] = 0.0
        icodes[C.I_GRAD_SUM] = 1
        # a fork-join per batch only pays for big batches of big layers
        work = bs * int(np.dot(sizes[:-1], sizes[1:]))
        parallel = n_threads > 1 and n_chunks > 1 and work >= _PARALLEL_WORK
        # forward and backward: ~3x the forward work, every epoch
        total = 3.0 * order.shape[0] * work / bs * self.max_iter
        kernel, fns, parallel = cpu.prepare("mlp", dtype, parallel, hyper, icodes,
                                            verbose=self.verbose, total_work=total)
        args = (X, Y, sw, order, lrs, state.params, state.m, state.v, state.avg, grad,
                sizes, acts, deltas, hyper, icodes, state.counters, stats, fns)
        if parallel:
            _config.parallel_call(kernel, args, n_threads)
        else:
            kernel(*args)
        state.grad_sum = grad[-1]
        return parallel

    def _cuda_runner(self, X, Y, sw, state):
        from .._kernels import cuda

        return cuda.MLPRunner(X, Y, sw, state, self._sizes)

    def _training_context(self):
        # The kernel parallelises over row chunks itself; BLAS threads on top
        # of that (or on these small products at all) only oversubscribe.
        return _blas_controller().limit(limits=1, user_api="blas")

    def _set_fitted_attributes(self, params):
        sizes = self._sizes
        coefs, intercepts = [], []
        w_off = 0
        b_off = sum(int(a) * int(b) for a, b in zip(sizes[:-1], sizes[1:]))
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            coefs.append(params[w_off: w_off + fan_in * fan_out].reshape(fan_in, fan_out).copy())
            intercepts.append(params[b_off: b_off + fan_out].copy())
            w_off += fan_in * fan_out
            b_off += fan_out
        self.coefs_ = coefs
        self.intercepts_ = intercepts
        self.n_layers_ = len(sizes)
        self.n_outputs_ = int(sizes[-1])
        self.out_activation_ = self._out_activation()
        if self.loss_curve_:
            self.loss_ = self.loss_curve_[-1]
            self.best_loss_ = None if self.early_stopping else min(self.loss_curve_)
        else:
            self.loss_ = self.best_loss_ = None

    def _raw_output(self, X, params):
        return _forward(X, self.coefs_, self.intercepts_, self.activation)


@fill_doc(mlp_params=_MLP_PARAMS_DOC, shared_params=shared_params_doc(0.001),
          mlp_attributes=_MLP_ATTRIBUTES_DOC, shared_attributes=ATTRIBUTES_DOC)
class MLPRegressor(GradientRegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by compiled mini-batch descent.

    The same engine as :class:`~sktune.LinearRegressor` (optimizers,
    schedules, penalties on the weights, clipping, early stopping,
    ``partial_fit``, divergence guard) with hidden layers and dropout. Each
    epoch runs in one Numba call. Takes dense ``X`` only; scale the features
    for a stable fit.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int or int, default=(100,)
        Units of each hidden layer; an int is one hidden layer.
    loss : {"squared_error", "huber", "poisson"}, default="squared_error"
        The loss of each output (formulas in :mod:`sktune.losses`).
        ``"poisson"`` models the log of the mean (output activation
        ``exp``), so ``y`` must be non-negative.
    huber_delta : float, default=1.35
        Residual size at which the Huber loss turns from quadratic to
        linear (``loss="huber"`` only).
    %(mlp_params)s
    %(shared_params)s

    Attributes
    ----------
    %(mlp_attributes)s
    %(shared_attributes)s

    See Also
    --------
    MLPClassifier : The same network for classification.
    LinearRegressor : The linear model trained by the same engine.
    sklearn.neural_network.MLPRegressor : Scikit-learn's MLP.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import MLPRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 5)
    >>> y = np.sin(X[:, 0]) + X[:, 1] ** 2
    >>> reg = MLPRegressor(hidden_layer_sizes=(20,), learning_rate=0.03,
    ...                    batch_size=10, max_iter=100, random_state=0).fit(X, y)
    >>> [w.shape for w in reg.coefs_]
    [(5, 20), (20, 1)]
    >>> reg.score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **BaseGradientEstimator._parameter_constraints,
        **_BaseMLP._parameter_constraints,
        **{k: LinearRegressor._parameter_constraints[k] for k in ("loss", "huber_delta")},
    }

    def __init__(self, hidden_layer_sizes=(100,), loss="squared_error", *,
                 huber_delta=1.35, activation="relu", dropout=0.0, init="auto",
                 optimizer="adam",
                 learning_rate=0.001, lr_schedule="constant", batch_size="auto",
                 max_iter=200, momentum=0.9, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 penalty="l2", alpha=1e-4, l1_ratio=0.15, clip_norm=None, sparsity=0.0,
                 power_t=0.25, decay_rate=0.9, step_size=10, min_learning_rate=0.0,
                 restart_period=10, restart_mult=1.0, tol=1e-4, n_iter_no_change=10,
                 early_stopping=False, validation_fraction=0.1, shuffle=True,
                 average=False, warm_start=False, random_state=None, verbose=0,
                 device="cpu", n_threads=None, callbacks=None):
        store_params(self, locals())

    def _out_activation(self):
        return "exp" if self.loss == "poisson" else "identity"


@fill_doc(mlp_params=_MLP_PARAMS_DOC, shared_params=shared_params_doc(0.001),
          mlp_attributes=_MLP_ATTRIBUTES_DOC, shared_attributes=ATTRIBUTES_DOC)
class MLPClassifier(GradientClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by compiled mini-batch descent.

    Binary (one logistic output), multiclass (softmax) and multilabel
    (independent logistic outputs) targets; ``loss="hinge"`` trains
    one-vs-rest margins instead. Shares the engine of
    :class:`~sktune.LinearClassifier`. Takes dense ``X`` only.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int or int, default=(100,)
        Units of each hidden layer; an int is one hidden layer.
    loss : {"log_loss", "hinge"}, default="log_loss"
        The loss (formulas in :mod:`sktune.losses`). ``"log_loss"`` gives
        probabilities through ``predict_proba``; ``"hinge"`` has none.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, ``{label: weight}``, multiplied into
        ``sample_weight`` (binary and multiclass targets); None weighs every
        class 1. ``"balanced"`` uses ``n_samples / (n_classes *
        np.bincount(y))`` (not with ``partial_fit``).
    %(mlp_params)s
    %(shared_params)s

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (for multilabel targets, the label indices).
    %(mlp_attributes)s
    %(shared_attributes)s

    See Also
    --------
    MLPRegressor : The same network for regression.
    LinearClassifier : The linear model trained by the same engine.
    sklearn.neural_network.MLPClassifier : Scikit-learn's MLP.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import MLPClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 5)
    >>> y = (X[:, 0] * X[:, 1] + 0.3 * rng.randn(100) > 0).astype(int)
    >>> clf = MLPClassifier(hidden_layer_sizes=(10,), learning_rate=0.03,
    ...                     batch_size=10, max_iter=100, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {
        **BaseGradientEstimator._parameter_constraints,
        **_BaseMLP._parameter_constraints,
        **{k: LinearClassifier._parameter_constraints[k] for k in ("loss", "class_weight")},
    }

    def __init__(self, hidden_layer_sizes=(100,), loss="log_loss", *, class_weight=None,
                 activation="relu", dropout=0.0, init="auto", optimizer="adam",
                 learning_rate=0.001,
                 lr_schedule="constant", batch_size="auto", max_iter=200, momentum=0.9,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, penalty="l2", alpha=1e-4,
                 l1_ratio=0.15, clip_norm=None, sparsity=0.0, power_t=0.25, decay_rate=0.9,
                 step_size=10, min_learning_rate=0.0, restart_period=10,
                 restart_mult=1.0, tol=1e-4, n_iter_no_change=10, early_stopping=False,
                 validation_fraction=0.1, shuffle=True, average=False, warm_start=False,
                 random_state=None, verbose=0, device="cpu", n_threads=None,
                 callbacks=None):
        store_params(self, locals())

    def _multi_output_y(self):
        return True

    def _stratify(self, y):
        return None if self._multilabel else super()._stratify(y)

    def _encode_targets(self, y, dtype, reset, classes=None):
        if reset:
            # 1-D integer labels are never a multilabel indicator
            self._multilabel = (not _integer_labels(y) and type_of_target(
                y, input_name="y") == "multilabel-indicator")
        if not self._multilabel:
            if np.ndim(y) == 2 and np.shape(y)[1] == 1:
                warnings.warn(
                    "A column-vector y was passed when a 1d array was expected. "
                    "Please change the shape of y to (n_samples,), for example "
                    "using ravel().", DataConversionWarning, stacklevel=4)
                y = np.ravel(y)
            return super()._encode_targets(y, dtype, reset, classes)
        if type_of_target(y, input_name="y") != "multilabel-indicator":
            raise ValueError("y was multilabel on the first call and is not now.")
        Y = np.asarray(y, dtype=dtype)
        if reset:
            self.classes_ = np.arange(Y.shape[1])
            self._n_outputs = Y.shape[1]
        elif Y.shape[1] != self._n_outputs:
            raise ValueError(f"y has {Y.shape[1]} labels; {self._n_outputs} were expected.")
        return np.ascontiguousarray(Y)

    def _out_activation(self):
        if self.loss == "hinge":
            return "identity"  # raw margins, no probabilities
        if self._multilabel or len(self.classes_) == 2:
            return "logistic"
        return "softmax"

    def predict(self, X):
        """Predict class labels (an indicator matrix for multilabel targets).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_labels)
            The class of ``classes_`` with the highest score of each sample;
            for multilabel targets, 1 where a label's logit is positive.
        """
        check_is_fitted(self)
        return self._predict_from_raw(self._raw_predict(X))

    def _predict_from_raw(self, raw):
        if self._multilabel:
            return (raw > 0).astype(int)
        return super()._predict_from_raw(raw)

    @available_if(GradientClassifierMixin._has_proba)
    def predict_proba(self, X):
        """Estimate class probabilities (``loss="log_loss"`` only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes) or (n_samples, n_labels)
            Probability of each class, in the order of ``classes_`` (rows sum
            to one); for multilabel targets, the independent probability of
            each label.
        """
        check_is_fitted(self)
        if self._multilabel:
            return _sigmoid(self._raw_predict(X))
        return super().predict_proba(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
