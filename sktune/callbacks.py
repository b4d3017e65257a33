"""Per-epoch callbacks: what a callback receives, and scikit-learn's callback API.

Every sktune estimator takes ``callbacks``: a callable, or a list of
callables, called after each epoch as ``callback(estimator, info)`` with the
estimator (predicting with the weights the epoch reached) and an
:class:`EpochInfo` holding the epoch's figures. A callback that returns a
true value stops the fit after that epoch; ``n_iter_`` then counts the
epochs trained, and the estimator is fitted as if training had stopped
there by itself (with ``early_stopping``, it keeps the weights of the best
validation score so far), so ``warm_start`` and ``partial_fit`` continue
from it.

Where scikit-learn's experimental callback API (:mod:`sklearn.callback`,
scikit-learn >= 1.9) is installed, the estimators also support it: they
inherit its ``set_callbacks`` and report a ``"fit"`` task with one
``"epoch"`` subtask per epoch, so that scikit-learn's callbacks
(``ProgressBar``, ``ScoringMonitor``, or one propagated from a search) see
every epoch; a callback whose ``on_fit_task_end`` returns True stops the
fit after that epoch as well. :data:`SKLEARN_CALLBACKS` says whether the
API was found.
"""
import copy
from typing import NamedTuple

import numpy as np

try:  # scikit-learn >= 1.9
    from sklearn.callback import CallbackSupportMixin as _SklearnCallbackSupport
    from sklearn.callback import with_callbacks as _with_sklearn_callbacks
except ImportError:  # pragma: no cover - older scikit-learn
    _SklearnCallbackSupport = None
    _with_sklearn_callbacks = None

__all__ = ["EpochInfo", "SKLEARN_CALLBACKS"]

#: Whether scikit-learn's callback API (:mod:`sklearn.callback`) was found:
#: then the estimators have ``set_callbacks`` and report their epochs to it.
SKLEARN_CALLBACKS = _SklearnCallbackSupport is not None


class EpochInfo(NamedTuple):
    """The figures of one epoch, as a callback receives them.

    A named tuple: read its fields by name (``info.loss``) or turn it into a
    dict with ``info._asdict()``.

    Parameters
    ----------
    epoch : int
        Epochs trained since the weights were initialised, this one included
        (``n_iter_`` after the epoch): ``info.loss`` is
        ``estimator.loss_curve_[info.epoch - 1]``.
    loss : float
        The epoch's training loss, as recorded in ``loss_curve_`` (mean
        mini-batch loss plus the penalty).
    validation_score : float or None
        Score on the validation split (``validation_scores_``), None
        without ``early_stopping``.
    validation_loss : float or None
        Loss on the validation split (``validation_loss_curve_``), None
        without ``early_stopping``.
    learning_rate : float
        Learning rate of the epoch's last step (``learning_rates_``).
    gradient_norms : ndarray of shape (n_layers,) or None
        Per layer, the norm of the epoch's mean loss gradient
        (``gradient_norms_``); None where the device does not record it.
    update_norms : ndarray of shape (n_layers,) or None
        Per layer, the norm of the epoch's change of the weights
        (``update_norms_``); None where the device does not record it.
    seconds : float
        Wall time of the epoch, its judging (validation, diagnostics)
        included.

    See Also
    --------
    sktune.LinearRegressor : Its ``callbacks`` parameter calls callbacks with it.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import LinearRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(50, 3)
    >>> y = X @ [1.0, 2.0, -1.0]
    >>> seen = []
    >>> def stop_at_three(estimator, info):
    ...     seen.append(info.epoch)
    ...     return info.epoch == 3
    >>> reg = LinearRegressor(callbacks=stop_at_three, random_state=0).fit(X, y)
    >>> seen, reg.n_iter_
    ([1, 2, 3], 3)
    """

    epoch: int
    loss: float
    validation_score: float | None
    validation_loss: float | None
    learning_rate: float
    gradient_norms: np.ndarray | None
    update_norms: np.ndarray | None
    seconds: float


def callback_list(estimator):
    """The estimator's ``callbacks`` as a list of callables; TypeError
    naming the parameter for anything else."""
    value = estimator.callbacks
    if value is None:
        return []
    if callable(value):
        return [value]
    if isinstance(value, (list, tuple)):
        for k, item in enumerate(value):
            if not callable(item):
                raise TypeError(
                    f"The 'callbacks' parameter of {type(estimator).__name__} must "
                    "be a callable, a list of callables or None; item "
                    f"{k} is {item!r} ({type(item).__name__}), which is not callable.")
        return list(value)
    raise TypeError(
        f"The 'callbacks' parameter of {type(estimator).__name__} must be a "
        f"callable, a list of callables or None; got {value!r} "
        f"({type(value).__name__}).")


def managed(method):
    """Decorate a fit method so that scikit-learn's callbacks are torn down
    after it (a no-op without :mod:`sklearn.callback`)."""
    if _with_sklearn_callbacks is None:
        return method
    return _with_sklearn_callbacks(method)


class SklearnEpochs:
    """Reports a fit and its epochs to scikit-learn's callbacks.

    Created by a fit when the estimator holds scikit-learn callbacks (set
    with ``set_callbacks`` or propagated from a meta-estimator): one
    ``task_name`` task with up to ``n_epochs`` ``"epoch"`` subtasks.
    """

    def __init__(self, estimator, task_name, n_epochs, X, y, sample_weight):
        self.estimator = estimator
        self.X, self.y = X, y
        self.metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        self.root = estimator._init_callback_context(task_name=task_name,
                                                     max_subtasks=n_epochs)
        self.root.call_on_fit_task_begin(estimator=estimator, X=X, y=y,
                                         metadata=self.metadata)
        self.epoch = None

    @staticmethod
    def wanted(estimator):
        """Whether ``estimator`` holds scikit-learn callbacks to report to."""
        return SKLEARN_CALLBACKS and bool(getattr(estimator, "_skl_callbacks", None))

    def _attributes(self, params):
        # evaluated only when a hook asks for ``fitted_estimator``
        def build():
            fitted = copy.copy(self.estimator)
            fitted._set_fitted_attributes(params.copy())
            return vars(fitted)
        return build

    def begin(self, params):
        """An epoch starts from the weights ``params``."""
        self.epoch = self.root.subcontext(task_name="epoch")
        self.epoch.call_on_fit_task_begin(
            estimator=self.estimator, X=self.X, y=self.y, metadata=self.metadata,
            reconstruction_attributes=self._attributes(params))

    def end(self, params):
        """The epoch reached ``params``; True when a callback asks to stop."""
        epoch, self.epoch = self.epoch, None
        return bool(epoch.call_on_fit_task_end(
            estimator=self.estimator, X=self.X, y=self.y, metadata=self.metadata,
            reconstruction_attributes=self._attributes(params)))

    def close(self):
        """The fit is over: end the fit task (the estimator is fitted)."""
        self.root.call_on_fit_task_end(estimator=self.estimator, X=self.X, y=self.y,
                                       metadata=self.metadata,
                                       reconstruction_attributes={})
