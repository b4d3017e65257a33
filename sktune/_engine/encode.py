"""Every string -> integer-code table, and :func:`encode`.

The kernels see options only as integer codes (:mod:`sktune._kernels._codes`)
and numbers. This module owns the mapping: the estimators validate their
string parameters against these tables, and :func:`encode` turns a fitted
configuration into the two vectors every kernel (CPU, CUDA, a batched
search's population) takes, so that no other module fills code slots.
"""
import numpy as np

from .._kernels import _codes as C

OPTIMIZERS = {
    "sgd": C.SGD,
    "momentum": C.MOMENTUM,
    "nesterov": C.NESTEROV,
    "adam": C.ADAM,
    "adamw": C.ADAMW,
    "rmsprop": C.RMSPROP,
    "adagrad": C.ADAGRAD,
}

REGRESSION_LOSSES = {
    "squared_error": C.SQUARED_ERROR,
    "huber": C.HUBER,
    "poisson": C.POISSON,
}

CLASSIFICATION_LOSSES = {
    "log_loss": C.LOGISTIC,  # becomes SOFTMAX for more than two classes
    "hinge": C.HINGE,
}

ACTIVATIONS = {
    "identity": C.IDENTITY,
    "relu": C.RELU,
    "tanh": C.TANH,
    "logistic": C.LOGISTIC_ACT,
    "leaky_relu": C.LEAKY_RELU,
}

PENALTIES = (None, "l2", "l1", "elasticnet")

DEVICES = ("cpu", "cuda", "auto")


def optimizer_code(name):
    """Return the kernel's integer code of an optimizer.

    Parameters
    ----------
    name : str
        An optimizer name, one of the keys of :data:`OPTIMIZERS`.

    Returns
    -------
    code : int
        The code the compiled kernels dispatch on.

    See Also
    --------
    sktune.losses.loss_code : The same for losses.

    Examples
    --------
    >>> from sktune.optim import OPTIMIZERS, optimizer_code
    >>> optimizer_code("adam") == OPTIMIZERS["adam"]
    True
    """
    return OPTIMIZERS[name]


def loss_code(name, n_classes=None, multilabel=False):
    """Return the kernel's integer code of a loss.

    The multiclass log loss is its own kernel loss (the softmax), chosen
    when ``n_classes > 2``; multilabel targets keep one sigmoid (or hinge)
    per output.

    Parameters
    ----------
    name : str
        A loss name, a key of ``REGRESSION_LOSSES`` or
        ``CLASSIFICATION_LOSSES``.
    n_classes : int, default=None
        Number of classes of a classification target; None is binary.
    multilabel : bool, default=False
        Whether the target is a multilabel indicator matrix.

    Returns
    -------
    code : int
        The code the compiled kernels dispatch on.

    See Also
    --------
    sktune.optim.optimizer_code : The same for optimizers.

    Examples
    --------
    >>> from sktune.losses import loss_code
    >>> loss_code("log_loss") == loss_code("log_loss", n_classes=3)
    False
    """
    if name in REGRESSION_LOSSES:
        return REGRESSION_LOSSES[name]
    code = CLASSIFICATION_LOSSES[name]
    if code == C.LOGISTIC and not multilabel and n_classes is not None and n_classes > 2:
        return C.SOFTMAX
    return code


def penalty_strengths(penalty, alpha, l1_ratio):
    """Split the penalty into its L2 and L1 strengths.

    Parameters
    ----------
    penalty : {"l2", "l1", "elasticnet"} or None
        The estimator's ``penalty``.
    alpha : float
        Strength of the penalty.
    l1_ratio : float
        Elastic-net mixing (0 is pure L2, 1 pure L1).

    Returns
    -------
    l2 : float
        Factor of ``||w||_2**2 / 2``.
    l1 : float
        Factor of ``||w||_1``.

    See Also
    --------
    penalty_value : The penalty of given weights.

    Examples
    --------
    >>> from sktune.penalties import penalty_strengths
    >>> penalty_strengths("elasticnet", alpha=0.1, l1_ratio=0.5)
    (0.05, 0.05)
    """
    if penalty is None or alpha == 0.0:
        return 0.0, 0.0
    if penalty == "l2":
        return float(alpha), 0.0
    if penalty == "l1":
        return 0.0, float(alpha)
    return float(alpha) * (1.0 - l1_ratio), float(alpha) * l1_ratio


def average_start(average):
    """Samples seen before averaging starts (``-1``: no averaging), from
    scikit-learn's ``average`` (True, False/0, or a sample count)."""
    if average is True:
        return 0
    if not average:
        return -1
    return int(average)


def encode(estimator, state, batch_size):
    """The kernels' view of a fit: ``(hyper, icodes)``.

    Parameters
    ----------
    estimator : sktune estimator
        Its (validated) parameters. Model-specific ones (``activation``,
        ``dropout``, ``huber_delta``) are read when the estimator declares
        them; a classifier's loss code depends on its ``classes_`` (softmax
        beyond two classes) and on multilabel targets.
    state : object
        The training state: ``n_penalized`` (parameters that carry the
        penalty) and ``seed``.
    batch_size : int
        Resolved batch size (rows).

    Returns
    -------
    hyper : ndarray of shape (N_HYPER,), float64
        Momentum, Adam's betas and epsilon, the L2 and L1 strengths, the
        clipping threshold, Huber's delta and the dropout rate.
    icodes : ndarray of shape (N_ICODES,), int64
        Loss, optimizer and activation codes, batch size, penalized count,
        averaging start, seed, decoupled flag and pruning flag (the epoch
        slot is the loop's).
    """
    params = estimator.get_params(deep=False)
    l2, l1 = penalty_strengths(params["penalty"], params["alpha"], params["l1_ratio"])
    hyper = np.zeros(C.N_HYPER)
    hyper[C.H_MOMENTUM] = params["momentum"]
    hyper[C.H_BETA_1] = params["beta_1"]
    hyper[C.H_BETA_2] = params["beta_2"]
    hyper[C.H_EPSILON] = params["epsilon"]
    hyper[C.H_L2] = l2
    hyper[C.H_L1] = l1
    hyper[C.H_CLIP] = 0.0 if params["clip_norm"] is None else params["clip_norm"]
    hyper[C.H_HUBER] = params.get("huber_delta", 1.0)
    hyper[C.H_DROPOUT] = params.get("dropout", 0.0)
    classes = getattr(estimator, "classes_", None)
    icodes = np.zeros(C.N_ICODES, dtype=np.int64)
    icodes[C.I_LOSS] = loss_code(params["loss"], None if classes is None else len(classes),
                                 bool(getattr(estimator, "_multilabel", False)))
    icodes[C.I_OPTIMIZER] = OPTIMIZERS[params["optimizer"]]
    icodes[C.I_BATCH] = batch_size
    icodes[C.I_N_PENALIZED] = state.n_penalized
    icodes[C.I_AVERAGE_START] = average_start(params["average"])
    icodes[C.I_SEED] = state.seed
    icodes[C.I_DECOUPLED] = 1 if params["optimizer"] == "adamw" else 0
    icodes[C.I_ACTIVATION] = ACTIVATIONS[params.get("activation", "identity")]
    icodes[C.I_PRUNED] = 1 if params.get("sparsity", 0.0) > 0.0 else 0
    return hyper, icodes
