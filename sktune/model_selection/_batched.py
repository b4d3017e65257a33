"""Batched hyperparameter search: every candidate x fold trained in one pass.

:class:`GridSearchCV` and :class:`RandomizedSearchCV` are scikit-learn's
searches with the same constructor, the same ``fit`` and the same results.
When the estimator (or the last step of a :class:`~sklearn.pipeline.Pipeline`)
is a sktune estimator, the search trains all its candidates x folds together
before scikit-learn evaluates them:

1. scikit-learn's own ``fit`` runs as usual; our ``_run_search`` hands it a
   wrapped ``evaluate_candidates``. When scikit-learn asks for a list of
   candidates to be evaluated, the wrapper computes the CV splits once (the
   same ``cv.split`` call scikit-learn would make) and trains every
   candidate x fold (:class:`_BatchTrainer`): per fold, the pipeline's
   preceding steps are fitted once; per model, the estimator's own
   ``_prepare_fit`` validates the data and initialises its state exactly as
   ``fit`` would; models of the same compiled shape then train together,
   one population-kernel call per epoch and fold
   (:mod:`sktune._kernels.population`),
   and each model's ``EpochLoop`` (:mod:`sktune._engine.loop`) judges its epochs (early stopping,
   divergence, schedules) between calls.
2. scikit-learn then evaluates the candidates on the same splits (passed to
   it as a fixed list, so a shuffling splitter is drawn once, as in
   scikit-learn), with ``n_jobs=1``. Its estimator is, for the duration of
   ``fit``, an instance of a throw-away subclass of the user's estimator
   class (or pipeline class) whose ``fit`` looks the (candidate, training
   set) pair up in this search's registry and restores the pre-trained
   model (or re-raises the error the training met) instead of training
   again. A pair that is not found (which only happens if something
   unexpected changed the splits or candidates) is simply fitted the
   normal way. Scores, ranks, ``cv_results_``, multi-metric ``refit``,
   ``error_score`` and warnings are therefore all scikit-learn's own.
   scikit-learn's search calls ``_fit_and_score`` per candidate x split, a
   name it looks up in its module at each call; importing this module
   points that name at a function that answers the fits trained here with
   less work (:meth:`_Registry.evaluate`: the restored model scored on the
   split's test part, sliced once per split, with scikit-learn's ``_score``
   and scorers) and hands every other call to scikit-learn's function
   unchanged. A restored fit's evaluation went from 3.3 to 1.0 ms on a
   (64,)-unit MLP grid of 3 334 test rows.
3. The refit (``best_estimator_``) is an ordinary ``fit`` on the whole data;
   afterwards its class is set back to the user's class, and the search's
   ``estimator`` is restored.

Everything else (a non-sktune estimator, searched parameters outside the
final step, sparse ``X``, ``device`` other than ``"cpu"``, fit parameters
other than ``sample_weight`` of a bare estimator, metadata routing,
per-epoch callbacks) falls back to scikit-learn's path unchanged.
"""
import contextlib
import copy
import hashlib
import pickle
import time
import warnings
from collections import defaultdict

import numpy as np
import scipy.sparse as sp
from sklearn import config_context, get_config
from sklearn.base import ClassifierMixin, RegressorMixin, clone
from sklearn.metrics._scorer import _PassthroughScorer
from sklearn.model_selection import GridSearchCV as _SkGridSearchCV
from sklearn.model_selection import RandomizedSearchCV as _SkRandomizedSearchCV
from sklearn.model_selection import _search as _sk_search
from sklearn.model_selection._validation import _score as _sk_score
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing, assert_all_finite, indexable
from sklearn.utils._param_validation import validate_parameter_constraints
from sklearn.utils.metaestimators import _safe_split
from sklearn.utils.validation import (
    _num_samples,
    check_array,
    check_is_fitted,
    validate_data,
)

from .. import _config
from .._kernels import _codes as C
from .._kernels._rng import permutation
from ..base import (
    BaseGradientEstimator,
    GradientClassifierMixin,
    GradientRegressorMixin,
    fill_doc,
)
from ..linear_model._linear import _BaseLinear
from ..neural_network._mlp import MLPClassifier, _BaseMLP, _blas_controller

__all__ = ["GridSearchCV", "RandomizedSearchCV"]

_FITS = (GradientRegressorMixin.fit, GradientClassifierMixin.fit)


_SEARCH_DESCRIPTION = """
    When the estimator, or the last step of a
    :class:`~sklearn.pipeline.Pipeline`, is a sktune estimator on
    ``device="cpu"`` and only its parameters are searched, every candidate x
    fold is trained together: models of the same compiled shape and fold
    advance one epoch per kernel call, in parallel across models, on data
    held once per fold; the pipeline's preceding steps are fitted once per
    fold. The weights are those of scikit-learn's search with the same
    seeds (bitwise for linear models, to rounding for MLPs, whose
    first-layer products are shared by the candidates of a fold). Anything
    else (another estimator, sparse ``X``, parameters of earlier pipeline
    steps, fit parameters other than ``sample_weight`` of a bare estimator,
    metadata routing, ``callbacks`` on the estimator or scikit-learn
    callbacks set with ``set_callbacks``) runs scikit-learn's search
    unchanged.
"""

_SEARCH_PARAMS_DOC = """
    scoring : str, callable, list, tuple, dict or None, default=None
        How to score each candidate on the held-out folds, as in
        scikit-learn: a scorer name (``"r2"``, ``"accuracy"``, ...), a
        callable ``scorer(estimator, X, y)``, or several of them for
        multi-metric evaluation. None uses the estimator's ``score`` (R²
        for regressors, accuracy for classifiers).
    n_jobs : int or None, default=None
        Caps the threads of the batched training (None: the estimator's
        ``n_threads`` policy, all of Numba's threads); the evaluation that
        follows runs in this process. Without batching, the number of
        joblib jobs, as in scikit-learn.
    refit : bool, str or callable, default=True
        Refit the best candidate on the whole data as ``best_estimator_``.
        With several metrics, the name of the one that picks the best, or a
        callable that returns ``best_index_`` from ``cv_results_``.
    cv : int, cross-validation generator, iterable or None, default=None
        The splits: None is 5-fold, an int is the number of folds
        (stratified for classifiers), or a splitter or iterable of
        ``(train, test)`` index arrays.
    verbose : int, default=0
        Amount of progress messages; higher prints more.
    pre_dispatch : int or str, default="2*n_jobs"
        Jobs dispatched ahead in scikit-learn's parallel evaluation.
"""

_SEARCH_TAIL_PARAMS_DOC = """
    error_score : "raise" or float, default=np.nan
        Score given to a candidate whose fit raises (e.g. a
        :class:`~sktune.DivergenceError`) on a fold; ``"raise"`` raises the
        error instead. A numeric value emits a ``FitFailedWarning``.
    return_train_score : bool, default=False
        Also record the scores on the training folds in ``cv_results_``.
"""

_SEARCH_ATTRIBUTES_DOC = """
    cv_results_ : dict of ndarray
        Per candidate: its parameters (``param_*``, ``params``), test scores
        per split with their mean, standard deviation and rank, and fit and
        score times (for a batched search, each model's share of the
        batched training). Loads into a :class:`pandas.DataFrame`.
    best_estimator_ : estimator
        The best candidate refitted on the whole data (with ``refit``).
    best_score_ : float
        Mean cross-validated score of the best candidate.
    best_params_ : dict
        Parameters of the best candidate.
    best_index_ : int
        Index of the best candidate in ``cv_results_``.
    scorer_ : callable or dict
        The scorer (or scorers) used on the held-out folds.
    n_splits_ : int
        Number of cross-validation splits.
    refit_time_ : float
        Seconds spent refitting the best candidate.
    multimetric_ : bool
        Whether several metrics were evaluated.
    classes_ : ndarray of shape (n_classes,)
        Class labels of a refitted classifier.
    n_features_in_ : int
        Number of features seen during ``fit`` (with ``refit``).
    feature_names_in_ : ndarray of str
        Feature names seen during ``fit``, when ``X`` had string column
        names (with ``refit``).
    batched_info_ : dict or None
        What the batched training did: ``kernel_calls`` (population-kernel
        calls), ``fits_restored`` (candidate x fold fits trained in batches),
        ``fits_unbatched`` (fits trained on their own) and
        ``epochs_trained`` (model-epochs of the batched training); None when
        the search fell back to scikit-learn's path.
"""


# --------------------------------------------------------------------------
# eligibility

def _split_pipeline(estimator):
    """``(pipeline or None, name of the final step, final estimator)``."""
    if type(estimator) is Pipeline and len(estimator.steps) > 0:
        name, final = estimator.steps[-1]
        return estimator, name, final
    return None, None, estimator


def _kind(est):
    """``"dense"`` (linear) or ``"mlp"`` for an estimator the population
    kernels train exactly as its own ``fit`` would; None otherwise."""
    if not isinstance(est, BaseGradientEstimator):
        return None
    cls = type(est)
    # a subclass that overrides how a fit runs is fitted the normal way
    # (the linear models' _prepare_fit only checks lazy_updates on CSR data,
    # which a batched search never trains)
    if (cls.fit not in _FITS or cls._fit is not BaseGradientEstimator._fit
            or cls._prepare_fit not in (BaseGradientEstimator._prepare_fit,
                                        _BaseLinear._prepare_fit)):
        return None
    if isinstance(est, _BaseMLP) and cls._run_epoch is _BaseMLP._run_epoch:
        return "mlp"
    if isinstance(est, _BaseLinear) and cls._run_epoch is _BaseLinear._run_epoch:
        return "dense"
    return None


def _param_names(space):
    """Parameter names of a grid / distributions (a dict or a list of dicts)."""
    if isinstance(space, dict):
        space = [space]
    names = set()
    for part in space:
        if not isinstance(part, dict):
            return None
        names.update(part)
    return names


# --------------------------------------------------------------------------
# fingerprints: which candidate, which training set

def _value_key(value):
    if value is None or isinstance(value, (str, bool, int, float, np.generic)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return type(value).__name__ + "(" + ",".join(map(_value_key, value)) + ")"
    return type(value).__name__


def _params_key(params):
    """A hashable bucket for a candidate dict (confirmed by :func:`_same_params`)."""
    return tuple(sorted((k, _value_key(v)) for k, v in params.items()))


def _same_value(a, b):
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.all(a == b))
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001  (objects without a boolean ==)
        return False


def _same_params(a, b):
    return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)


def _hash_into(h, x):
    arr = np.asarray(x)
    if arr.dtype == object:
        h.update(pickle.dumps(arr, protocol=4))
        return
    h.update(str(arr.dtype).encode())
    h.update(np.ascontiguousarray(arr).view(np.uint8) if arr.size else b"")


_SAMPLE_ROWS = 64


def _training_set_key(X, y, sample_weight):
    """Fingerprint of one training set, cheap at any size.

    It tells the folds of one search apart: the shape, all of ``y`` and
    ``sample_weight``, and 64 rows of ``X`` spread over it (first and last
    included). Two folds of a splitter differ in which rows they hold, so in
    ``y`` and in the sampled rows; hashing all of ``X`` would cost as much
    as an epoch.
    """
    n = X.shape[0] if hasattr(X, "shape") else len(X)
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((type(X).__name__, getattr(X, "shape", n))).encode())
    if n:
        rows = np.unique(np.linspace(0, n - 1, min(n, _SAMPLE_ROWS)).astype(np.intp))
        _hash_into(h, X[rows] if isinstance(X, np.ndarray) else _safe_indexing(X, rows))
    if y is not None:
        _hash_into(h, y)
    if sample_weight is not None:
        _hash_into(h, sample_weight)
    return n, h.hexdigest()


def _fast_get_param_names(cls):
    """``_get_param_names`` computed once (scikit-learn inspects ``__init__``
    on every ``get_params``, the main cost of ``clone`` and ``set_params``)."""
    names = tuple(cls._get_param_names())
    return classmethod(lambda c: list(names))


_FAST_CLASSES = {}

_IMMUTABLE = (type(None), bool, int, float, complex, str, bytes, np.number, np.bool_)


def _immutable(value):
    return isinstance(value, _IMMUTABLE) or (
        type(value) is tuple and all(_immutable(v) for v in value))


def _copier(template):
    """``new(params)``: ``clone(template).set_params(**params)``, as a copy
    of the template's ``__dict__`` where that is the same thing: every
    attribute of the template is a parameter holding an immutable value
    (``clone`` copies such values to themselves) and every name given is a
    parameter of its own. 0.2 ms a candidate otherwise: 8 % of a linear
    search."""
    names = set(template._get_param_names())
    state = template.__dict__
    plain = set(state) <= names and all(_immutable(v) for v in state.values())

    def new(params):
        params = clone(params, safe=False)
        if not plain or not all(k in names for k in params):
            return clone(template).set_params(**params)
        est = object.__new__(type(template))
        est.__dict__.update(state)
        est.__dict__.update(params)
        return est

    return new


def _fast_class(cls):
    """``cls`` with a cached ``_get_param_names``, for the training clones."""
    fast = _FAST_CLASSES.get(cls)
    if fast is None:
        fast = type(cls.__name__, (cls,), {
            "_get_param_names": _fast_get_param_names(cls), "__module__": cls.__module__,
            "__qualname__": cls.__qualname__, "__doc__": cls.__doc__})
        _FAST_CLASSES[cls] = fast
    return fast


# --------------------------------------------------------------------------
# what the batched training leaves for scikit-learn's evaluation

class _Trained:
    """One (candidate, training set) trained ahead: the fitted final estimator
    (or the error it raised), the pipeline steps before it, the warnings its
    training emitted and the time it took."""

    __slots__ = ("error", "estimator", "head", "raw_test", "seconds", "traceback",
                 "warnings")

    def __init__(self, estimator=None, head=None):
        self.estimator = estimator
        self.head = head
        self.raw_test = None  # its raw outputs on the split's test part, if computed ahead
        self.error = self.traceback = None
        self.warnings = []
        self.seconds = 0.0

    def fail(self, exc):
        self.error, self.traceback = exc, exc.__traceback__


class _Registry:
    """Pre-trained models of one search ``fit``, keyed by candidate and
    training set. Every entry is handed out once."""

    def __init__(self):
        self.candidates = defaultdict(list)  # params key -> [(params, id)]
        self.entries = {}  # (candidate id, training set key) -> _Trained
        self.served = {}  # (candidate id, training set key) -> seconds
        self.splits = {}  # id(train indices) -> _Split, for the lean evaluation

    def candidate_id(self, params, add=False):
        bucket = self.candidates[_params_key(params)]
        for known, cid in bucket:
            if _same_params(known, params):
                return cid
        if not add:
            return None
        cid = sum(len(b) for b in self.candidates.values())
        bucket.append((dict(params), cid))
        return cid

    def pop(self, params, X, y, sample_weight):
        if params is None:
            return None, None
        cid = self.candidate_id(params)
        if cid is None:
            return None, None
        key = (cid, _training_set_key(X, y, sample_weight))
        return key, self.entries.pop(key, None)

    def evaluate(self, estimator, X, y, kw):
        """scikit-learn's ``_fit_and_score`` for a pre-trained fit, lean.

        The same result (keys, scores, warnings replayed) without what the
        fit does not need: the training part of ``X`` is not sliced nor
        fingerprinted (the split names the training set) and each fold's
        test part is sliced once for all its candidates. None when the fit
        is not one of those trained here, failed, or asks for more than
        this handles (callbacks, verbose output, score or other fit
        parameters, the estimator back): scikit-learn's own then runs.
        """
        split = self.splits.get(id(kw.get("train")))
        params = kw.get("parameters")
        # scikit-learn >= 1.9 passes a callback context to every fit, with
        # no callbacks unless some were set
        ctx = kw.get("callback_ctx")
        if (split is None or split.test is not kw.get("test") or params is None
                or (ctx is not None and getattr(ctx, "_callbacks", True))
                or kw.get("verbose", 0) > 1
                or kw.get("score_params") or kw.get("return_estimator")
                or set(kw.get("fit_params") or ()) - {"sample_weight"}):
            return None
        cid = self.candidate_id(params)
        key = (cid, split.key)
        trained = self.entries.get(key)
        if cid is None or trained is None or trained.error is not None:
            return None
        estimator.set_params(**clone(params, safe=False))
        estimator.__dict__.pop("_sktune_candidate", None)
        start = time.time()
        del self.entries[key]
        _restore(trained, estimator)
        fit_time = time.time() - start
        self.served[key] = trained.seconds + fit_time
        scorer, error_score = kw["scorer"], kw.get("error_score", np.nan)
        X_test, y_test = split.part(estimator, X, y, test=True)
        raw, trained.raw_test = trained.raw_test, None
        result = {"fit_error": None,
                  "test_scores": _score(estimator, X_test, y_test, scorer, error_score,
                                        split.validated[True], raw)}
        score_time = time.time() - start - fit_time
        if kw.get("return_train_score"):
            X_train, y_train = split.part(estimator, X, y, test=False)
            result["train_scores"] = _score(estimator, X_train, y_train, scorer,
                                            error_score, split.validated[False])
        if kw.get("return_n_test_samples"):
            result["n_test_samples"] = _num_samples(X_test)
        if kw.get("return_times"):
            result["fit_time"], result["score_time"] = fit_time, score_time
        if kw.get("return_parameters"):
            result["parameters"] = params
        return result


def _score(estimator, X, y, scorer, error_score, validated=None, raw=None):
    """scikit-learn's ``_score`` of a pre-trained fit: the default scorer's
    accuracy or R^2 computed here on the predictions (:func:`_default_score`)
    where it can be, else scikit-learn's own call."""
    score = _default_score(estimator, X, y, scorer, validated, raw)
    if score is None:
        return _sk_score(estimator, X, y, scorer, {}, error_score)
    return score


def _default_score(estimator, X, y, scorer, validated=None, raw=None):
    """``estimator.score(X, y)`` for the default scorer (``scoring=None``)
    of an estimator whose ``score`` is scikit-learn's accuracy or R^2, or
    None when another path must answer.

    The same numbers as :func:`sklearn.metrics.accuracy_score` and
    :func:`sklearn.metrics.r2_score` (the same numpy operations on the same
    arrays), without their checks of the targets' type, which cost about
    1 ms a call, paid by every candidate x fold of a search (0.4 s of a
    5 s halving search of 351 fits). Only for inputs those checks would
    pass unchanged: a 1-D ``y`` of at least two rows, predictions of its
    dtype (float64 for R^2, non-object for labels); anything else (a custom
    scorer or ``score``, multi-output or object targets, a failing
    ``predict``) takes scikit-learn's path, with its errors and warnings.
    ``validated``, ``raw``: see :func:`_predict`.
    """
    if type(scorer) is not _PassthroughScorer:
        return None
    method = type(estimator).score
    accuracy = method is ClassifierMixin.score
    if not accuracy and method is not RegressorMixin.score:
        return None
    y_true = y if isinstance(y, np.ndarray) else None
    if y_true is None or y_true.ndim != 1 or y_true.shape[0] < 2:
        return None
    try:
        y_pred = _predict(estimator, X, validated, raw)
    except Exception:  # noqa: BLE001  (scikit-learn's path raises or scores error_score)
        return None
    if (not isinstance(y_pred, np.ndarray) or y_pred.shape != y_true.shape
            or y_pred.dtype != y_true.dtype):
        return None
    if accuracy:
        if y_true.dtype.kind not in "biufU":
            return None
        return float(np.average(y_true == y_pred))
    if y_true.dtype != np.float64:
        return None
    y_true, y_pred = y_true.reshape(-1, 1), y_pred.reshape(-1, 1)
    numerator = np.sum(1.0 * (y_true - y_pred) ** 2, axis=0)
    denominator = np.sum(1.0 * (y_true - np.average(y_true, axis=0)) ** 2, axis=0)
    # scikit-learn's force_finite: perfect predictions score 1, a constant
    # target predicted imperfectly 0
    if numerator[0] == 0:
        return 1.0
    if denominator[0] == 0:
        return 0.0
    return float(np.average(1 - numerator / denominator))


# sktune's own ``predict`` methods: each is ``_predict_from_raw`` of
# ``_raw_output`` of ``_validate_X`` (MLPClassifier's checks the fit first)
_OWN_PREDICTS = frozenset({GradientRegressorMixin.predict, GradientClassifierMixin.predict,
                           MLPClassifier.predict})


def _own_predict(cls):
    """Whether ``cls.predict(X)`` is ``_predict_from_raw`` of ``_raw_output``
    of ``_validate_X`` (:data:`_OWN_PREDICTS`)."""
    return (cls.predict in _OWN_PREDICTS
            and cls._validate_X is BaseGradientEstimator._validate_X
            and cls._raw_predict is BaseGradientEstimator._raw_predict)


def _predict(estimator, X, validated, raw=None):
    """``estimator.predict(X)``, with ``X`` validated once for all the fits
    of a split where ``predict`` is sktune's own: the validated array, kept
    in the dict ``validated`` by estimator class, depends only on ``X`` and
    on what the fit learnt of its training set's columns (the same for
    every candidate of the split); 0.1 ms a call of 0.3. ``raw``: the
    model's ``_raw_output`` on that array, computed ahead (see
    :meth:`_BatchTrainer._predict_ahead`), or None."""
    cls = type(estimator)
    if validated is None or not _own_predict(cls):
        return estimator.predict(X)
    check_is_fitted(estimator)
    if raw is not None:
        return estimator._predict_from_raw(raw)
    Xv = validated.get(cls)
    if Xv is None:
        Xv = validated[cls] = estimator._validate_X(X)
    return estimator._predict_from_raw(estimator._raw_output(Xv, None))


class _Split:
    """One (train, test) split of a search, as the lean evaluation sees it:
    its training set's key and its parts of ``X`` and ``y``, sliced once,
    and their validated forms (:func:`_predict`)."""

    __slots__ = ("key", "parts", "test", "train", "validated")

    def __init__(self, train, test, key):
        self.train, self.test, self.key = train, test, key
        self.parts = {}
        self.validated = {True: {}, False: {}}  # by part (test?), then class

    def part(self, estimator, X, y, test):
        got = self.parts.get(test)
        if got is None:
            got = self.parts[test] = (
                _safe_split(estimator, X, y, self.test, self.train) if test
                else _safe_split(estimator, X, y, self.train))
        return got


def _fit_and_score(estimator, X, y, **kw):
    """scikit-learn's ``_fit_and_score``, which a search of this module
    answers itself for the fits it trained ahead (see
    :meth:`_Registry.evaluate`); any other call is scikit-learn's own."""
    registry = type(estimator).__dict__.get("_sktune_registry")
    if registry is not None:
        result = registry.evaluate(estimator, X, y, kw)
        if result is not None:
            return result
    return _SK_FIT_AND_SCORE(estimator, X, y, **kw)


# scikit-learn's search looks ``_fit_and_score`` up in its module at each
# call: the name now answers the fits trained here, and passes every other
# call (any other estimator, any other search) to scikit-learn's function
_SK_FIT_AND_SCORE = getattr(_sk_search._fit_and_score, "_sktune_original",
                            _sk_search._fit_and_score)
_fit_and_score._sktune_original = _SK_FIT_AND_SCORE
_sk_search._fit_and_score = _fit_and_score


_REPLAY_REGISTRY = {}  # once-per-location bookkeeping of replayed warnings


def _restore(trained, target):
    """Make ``target`` (scikit-learn's fresh clone) the pre-trained model."""
    for w in trained.warnings:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno,
                               registry=_REPLAY_REGISTRY)
    if trained.error is not None:
        # the same error for every fit it failed, each with its own traceback
        raise trained.error.with_traceback(trained.traceback)
    if trained.head is None:
        target.__dict__.update(trained.estimator.__dict__)
        return
    steps = list(target.steps)
    for i, (name, step) in enumerate(trained.head.steps):
        steps[i] = (steps[i][0], copy.deepcopy(step))
    target.steps = steps
    target.steps[-1][1].__dict__.update(trained.estimator.__dict__)


def _pretrained_class(cls, registry):
    """A subclass of ``cls`` whose ``fit`` restores pre-trained models.

    scikit-learn clones its estimator for every (candidate, fold) and calls
    ``set_params(**candidate)`` then ``fit(X_train, y_train)``: ``set_params``
    notes the candidate, ``fit`` asks the registry. A miss (the refit on the
    whole data, or anything unexpected) is the class's own ``fit``.
    """

    def set_params(self, **params):
        out = cls.set_params(self, **params)
        self.__dict__["_sktune_candidate"] = params
        return out

    def fit(self, X, y=None, **fit_params):
        params = self.__dict__.pop("_sktune_candidate", None)
        start = time.perf_counter()
        key, trained = registry.pop(params, X, y, fit_params.get("sample_weight"))
        if trained is None:
            if y is None:
                return cls.fit(self, X, **fit_params)
            return cls.fit(self, X, y, **fit_params)
        registry.served[key] = trained.seconds + time.perf_counter() - start
        _restore(trained, self)
        return self

    names = set(cls._get_param_names())

    def __sklearn_clone__(self):
        # scikit-learn's search clones this for every candidate x fold (then
        # the fit restores a pre-trained model into the clone): where every
        # attribute is a parameter holding an immutable value, a clone is a
        # copy of the attributes (0.1 ms a clone otherwise, 4 % of a linear
        # search)
        state = self.__dict__
        if set(state) <= names and all(_immutable(v) for v in state.values()):
            new = object.__new__(type(self))
            new.__dict__.update(state)
            return new
        return cls.__sklearn_clone__(self)

    namespace = {"set_params": set_params, "fit": fit, "__module__": cls.__module__,
                 "__sklearn_clone__": __sklearn_clone__,
                 "__qualname__": cls.__qualname__, "__doc__": cls.__doc__,
                 "_get_param_names": _fast_get_param_names(cls),
                 "_sktune_original_class": cls, "_sktune_registry": registry}
    return type(cls.__name__, (cls,), namespace)


def _unwrap(estimator):
    """Give an estimator built from a pre-trained subclass its own class back."""
    original = type(estimator).__dict__.get("_sktune_original_class")
    if original is not None:
        estimator.__class__ = original
        estimator.__dict__.pop("_sktune_candidate", None)
    return estimator


class _FixedSplits:
    """A splitter replaying splits computed once (like sklearn's iterable cv)."""

    def __init__(self, splits):
        self.splits = splits

    def split(self, X=None, y=None, groups=None, **params):
        yield from self.splits

    def get_n_splits(self, X=None, y=None, groups=None, **params):
        return len(self.splits)


# --------------------------------------------------------------------------
# the batched training

class _Arena:
    """Distinct training arrays of a search's populations.

    Arrays are interned: the same array object, or an equal array (e.g. the
    identical early-stopping split of two candidates with the same seed), is
    held once. ``add(a)`` is its index in :meth:`build`'s tuple.
    """

    def __init__(self):
        self.arrays = []
        self.by_id = {}
        self.by_digest = defaultdict(list)

    def add(self, a):
        idx = self.by_id.get(id(a))
        if idx is not None and self.arrays[idx] is a:
            return idx
        digest = (a.shape, a.dtype.str, _training_set_key(a, None, None)[1])
        for idx in self.by_digest[digest]:
            if np.array_equal(self.arrays[idx], a):
                break
        else:
            idx = len(self.arrays)
            self.arrays.append(a)
            self.by_digest[digest].append(idx)
        self.by_id[id(a)] = idx
        return idx

    def build(self, dtype):
        """The interned arrays, read-only and C-ordered in ``dtype`` (no copy
        where they are already: copying a search's folds back to back into
        one array cost a fresh 32 MB, page faults included, on
        ``bench_search.py``'s linear search, a tenth of its time)."""
        from .._kernels.population import read_only

        return tuple(read_only(np.ascontiguousarray(a, dtype=dtype)) for a in self.arrays)


# Largest fused unit of models (linear models share each gathered chunk of
# rows, MLPs the first layer's products), and the most memory its per-model
# buffers may take. Linear units are larger: each model of a unit adds only
# columns to its products while the gather of the rows, their main cost, is
# shared (bench_search's linear grid, 24 candidates per fold: a unit per
# fold took 0.24-0.25 s against 0.28-0.30 s in units of 6).
_UNIT = 16
_LINEAR_UNIT = 64
_UNIT_BYTES = 64 << 20
# Thread slots MLP units are balanced for, whatever the actual count.
_MLP_UNIT_SLOTS = 4


#: bytes between two slots' scratch: two cache lines (the CPU fetches lines
#: in adjacent pairs)
_LINE_GAP = 128


def _shared_arenas(populations, full_rows=None):
    """The training data of every population, each distinct array held once.

    ``populations``: lists of jobs, a fold's (each fold is set up while the
    earlier ones train, see :meth:`_BatchTrainer._run_populations`; the
    whole ``X`` that its models read their rows from is one array for all
    folds). The populations of one dtype share one set of arenas (a fold's
    data are the same whatever the model's shape). ``full_rows(job)``: the job's
    training set as rows of whole arrays, or None (see
    :meth:`_BatchTrainer._full_rows`). Returns, per population,
    ``(Xa, Ya, swa, data, row_maps)``: the tuples of distinct arrays,
    ``data[k]`` = (X index, Y index, sw index, rows, order row, row map) of
    its model ``k`` (the order row is ``k`` until an epoch's shared draws
    say otherwise; the row map, -1 or an index into ``row_maps``, the rows
    of whole arrays that its sample order indexes)."""
    by_dtype = {}
    row_maps, map_index = [], {}
    for i, jobs in enumerate(populations):
        dtype = jobs[0].loop.state.params.dtype
        arenas, members = by_dtype.setdefault(dtype.str, ([_Arena(), _Arena(), _Arena()], []))
        refs = np.empty((len(jobs), 6), dtype=np.int64)
        for k, job in enumerate(jobs):
            lp = job.loop
            whole = full_rows(job) if full_rows is not None else None
            X, Y, sw = (lp.X, lp.Y, lp.sw) if whole is None else whole[:3]
            refs[k, :3] = [arenas[0].add(X), arenas[1].add(Y), arenas[2].add(sw)]
            refs[k, 3] = lp.n
            refs[k, 4] = k  # the row of the orders holding its sample order
            refs[k, 5] = -1
            if whole is not None:
                # (a fold's scattered Y and sw are told apart by their rows:
                # equal ones of two folds must not make one cohort)
                refs[k, 5] = map_index.setdefault(id(whole[3]), len(row_maps))
                if refs[k, 5] == len(row_maps):
                    row_maps.append(whole[3])
        members.append((i, refs))
    out = [None] * len(populations)
    for dtype, (arenas, members) in by_dtype.items():
        Xa, Ya, swa = (a.build(np.dtype(dtype)) for a in arenas)
        for i, refs in members:
            out[i] = (Xa, Ya, swa, refs, row_maps)
    return out


def _per_slot(n_slots, shape, dtype=np.float64):
    """Zeroed scratch of ``shape`` for each of ``n_slots`` thread slots,
    ``(n_slots,) + shape``, each slot's part on cache lines of its own.

    The slots' threads write their scratch all the time (a linear cohort
    writes its row outputs and gradients ``Pm``, ``Gm`` for every row):
    parts that shared a cache line bounced it between the cores, and a
    linear batched search ran each model-epoch 3x slower on two threads
    than on one (1.71 ms against 0.57 ms)."""
    size = int(np.prod(shape))
    item = np.dtype(dtype).itemsize
    gap = _LINE_GAP // item
    row = -(-size // gap) * gap + gap  # whole line pairs, and a spare pair
    return np.zeros((n_slots, row), dtype=dtype)[:, :size].reshape((n_slots,) + tuple(shape))


def _max_chunk_rows(bs_max, work_per_row, cpu):
    """The most rows a chunk of any batch of at most ``bs_max`` rows holds
    (chunks as :func:`cpu.n_chunks` splits batches)."""
    nb = np.arange(1, bs_max + 1)
    nc = np.clip((nb * work_per_row) // cpu.CHUNK_WORK, 1, None)
    nc = np.minimum(np.minimum(nc, cpu.MAX_CHUNKS), nb)
    return int((-(-nb // nc)).max())


def _cohorts(running, data, icodes, orders, drawn=None):
    """Models that can train fused: same data, batch size, loss (a linear
    cohort's kernel is compiled for one) and sample order.

    ``drawn[k]``, where given, names the shared permutation model ``k``
    drew this epoch (see :class:`_SharedPermutations`): equal names are
    equal orders, so those need no comparing; orders drawn otherwise (not
    shuffled) are compared."""
    drawn = drawn or {}
    groups = defaultdict(list)
    for k in running:
        groups[(*data[k, :4], data[k, 5], icodes[k, C.I_BATCH], icodes[k, C.I_LOSS])].append(k)
    cohorts = []
    for members in groups.values():
        parts = []  # (representative, members) by sample order
        named = {}
        for k in members:
            name = drawn.get(k)
            if name is not None:
                part = named.get(name)
                if part is None:
                    part = named[name] = []
                    parts.append((k, part))
                part.append(k)
                continue
            n = data[k, 3]
            for rep, part in parts:
                if drawn.get(rep) is None and np.array_equal(orders[rep, :n], orders[k, :n]):
                    part.append(k)
                    break
            else:
                parts.append((k, [k]))
        cohorts.extend(part for _, part in parts)
    return cohorts


def _units(cohorts, n_units, cap=_UNIT, smallest=4):
    """Split cohorts into units of at most ``cap`` models, and further (down
    to ``smallest``) until there are ``n_units`` units to balance the
    threads."""
    units = []
    for members in cohorts:
        pieces = -(-len(members) // cap)
        units.extend(list(a) for a in np.array_split(members, pieces))
    while len(units) < n_units:
        largest = max(range(len(units)), key=lambda i: len(units[i]))
        if len(units[largest]) < 2 * smallest:
            break
        u = units.pop(largest)
        units.extend(list(a) for a in np.array_split(u, 2))
    return [[int(k) for k in u] for u in units]


def _shared_fold_data(Xt, y, sample_weight):
    """One validated array per fold, shared by every candidate's loop, and
    whether the data were found finite (then each fit need not scan them
    again). ``(None, False)`` when validation fails: each fit then raises
    its own error."""
    try:
        Xa = check_array(Xt, dtype=[np.float64, np.float32], order="C")
    except Exception:  # noqa: BLE001
        return None, False
    try:
        assert_all_finite(np.asarray(y), input_name="y")
        if sample_weight is not None:
            assert_all_finite(np.asarray(sample_weight, dtype=float))
    except Exception:  # noqa: BLE001
        return Xa, False
    return Xa, True


class _SharedPermutations:
    """The epoch orders of a population, each drawn once.

    Candidates with the same ``random_state`` on the same fold shuffle
    alike; drawing a permutation costs as much as a small model's epoch.
    Only the orders of the latest epoch are kept, and only in the buffer of
    the first model that drew each: the others' buffers are left as they
    are (copying 16 000 rows to each of 120 models, and comparing them to
    group the cohorts, took a twentieth of a linear search).
    :meth:`drawn` tells each model's permutation and the row that holds it.
    """

    def __init__(self):
        self.epoch, self.orders, self.by_buffer = None, {}, {}

    def __call__(self, seed, epoch, out):
        if epoch != self.epoch:
            self.epoch, self.orders, self.by_buffer = epoch, {}, {}
        key = (int(seed), out.shape[0])
        if key not in self.orders:
            self.orders[key] = permutation(seed, epoch, out)
        self.by_buffer[id(out)] = (key, self.orders[key])
        return out

    def drawn(self, running, buffers, row_of):
        """``({k: name of its permutation}, {k: the row holding it})`` for
        the models ``running`` whose order buffer (``buffers[k]``) this
        epoch's draws filled; ``row_of`` maps a buffer's ``id`` to its row
        of the population's orders."""
        names, source = {}, {}
        for k in running:
            got = self.by_buffer.get(id(buffers[k]))
            if got is not None:
                names[k] = got[0]
                source[k] = row_of[id(got[1])]
        return names, source


class _Job:
    """One candidate x fold: its estimator, epoch loop and bookkeeping."""

    __slots__ = ("base", "cid", "cost", "data", "est", "head", "kept", "key", "log",
                 "loop", "seconds", "trained")

    def __init__(self, cid, key, est, loop, trained, head, log):
        self.cid, self.key, self.est, self.loop = cid, key, est, loop
        self.trained, self.head, self.log = trained, head, log
        self.cost = 1.0
        self.seconds = 0.0
        self.base = None  # id of the candidate without its epoch budget (resuming)
        self.data = None  # the loop's training arrays, kept for a resumed rung
        self.kept = None  # the finished loop, kept for a resumed rung


class _Recorder:
    """Collects the warnings emitted during batched training, per model."""

    def __init__(self):
        self._ctx = warnings.catch_warnings(record=True)

    def __enter__(self):
        self.log = self._ctx.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        return False

    def mark(self):
        return len(self.log)

    def since(self, mark, into):
        into.extend(self.log[mark:])
        del self.log[mark:]


class _BatchTrainer:
    """Trains every candidate x fold of one ``evaluate_candidates`` call."""

    def __init__(self, estimator, X, y, groups, sample_weight, registry, n_threads,
                 resume=None, predict_ahead=False):
        self.estimator = estimator  # the user's (not the pre-trained subclass)
        self.X, self.y, self.groups, self.sample_weight = X, y, groups, sample_weight
        self.registry = registry
        self.n_threads = n_threads
        self.pipeline, self.final_name, self.final = _split_pipeline(estimator)
        self.kernel_calls = 0
        self.epochs = 0  # model-epochs trained (one per model per kernel call)
        # ``resume``: the candidate key of the final estimator's max_iter when
        # a later call may ask for the same candidates with more epochs
        # (successive halving); their finished loops are then kept and
        # continued instead of trained again from the first epoch
        self.resume = resume
        self.bases = _Registry()  # candidates without their epoch budget
        self.kept = {}  # (base id, training set key) -> finished _Job
        self.folds = {}  # training set key -> the fold's prepared data
        # training set key -> (its rows of X, its validated X): see _full_rows
        self.fold_rows = {}
        self._full = {}  # the whole X validated, by dtype; scattered Y, sw by id
        self.epochs_resumed = 0  # epochs a from-scratch fit would have repeated
        # the search scores with the estimator's own ``score`` (see
        # _predict_ahead); test indices and validated test parts by training set key
        self.predict_ahead = predict_ahead and self.pipeline is None
        self.tests, self.tests_validated = {}, {}

    def _final_params(self, params):
        if self.pipeline is None:
            return params
        cut = len(self.final_name) + 2
        return {k[cut:]: v for k, v in params.items()}

    def _validate_candidate(self, est, final_params):
        """``est._validate_params()``, the same errors, checking only the
        candidate's own parameters once the others (the search's estimator's)
        are known valid: each constraint is on one parameter, and the whole
        check took 0.15 ms a candidate (5 % of a linear search)."""
        ok = getattr(self, "_template_valid", None)
        if ok is None:
            ok = type(est)._validate_params is BaseGradientEstimator._validate_params
            if ok:
                try:
                    clone(self.final)._validate_params()
                except Exception:  # noqa: BLE001  (each candidate reports it)
                    ok = False
            self._template_valid = ok
        if not ok or isinstance(final_params.get("learning_rate"), str):
            est._validate_params()  # (the string's hint is that method's)
            return
        constraints = est._parameter_constraints
        names = sorted(k for k in final_params if k in constraints)
        validate_parameter_constraints({k: constraints[k] for k in names},
                                       {k: getattr(est, k) for k in names},
                                       caller_name=type(est).__name__)

    def train(self, candidates, splits):
        registry = self.registry
        cids = [registry.candidate_id(c, add=True) for c in candidates]
        jobs = []

        def folds():
            # each fold prepared a candidate at a time (yielding None between
            # them), then its populations, while the earlier folds train
            for train, test in splits:
                fold_jobs = []
                yield from self._fold_jobs(candidates, cids, np.asarray(train), rec,
                                           fold_jobs)
                if fold_jobs:
                    registry.splits[id(train)] = _Split(train, test, fold_jobs[0].key)
                    self.tests[fold_jobs[0].key] = test
                jobs.extend(fold_jobs)
                groups = defaultdict(list)
                for job in fold_jobs:
                    if job.loop is not None:
                        # a population per shape and fold: cohorts never span
                        # folds, and each population goes at its own pace
                        groups[self._shape(job)].append(job)
                yield [(kind, members) for (kind, *_), members in groups.items()]

        with _Recorder() as rec:
            self._run_populations(folds(), rec, len(splits))
            leftover = list(rec.log)
        for w in leftover:  # not attributable to one model (e.g. compiler notes)
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno,
                                   registry=_REPLAY_REGISTRY)
        for job in jobs:
            job.trained.seconds += job.seconds
            if job.kept is None:  # else _finish set them
                job.trained.warnings = job.log
            registry.entries[(job.cid, job.key)] = job.trained
            if job.kept is not None:
                self.kept[(job.base, job.key)] = job

    def _fold_jobs(self, candidates, cids, train, rec, jobs):
        """Fit the preceding steps once, then prepare every candidate's loop
        (or reopen the kept one of a candidate trained on this fold before)
        into ``jobs``: a generator that yields None after each candidate,
        so that a flow's other steps run in between (see
        :meth:`_run_populations`)."""
        X_tr, y_tr = _safe_split(self.estimator, self.X, self.y, train)
        sw_tr = None
        if self.sample_weight is not None:
            sw_tr = _safe_indexing(self.sample_weight, train)
        key = _training_set_key(X_tr, y_tr, sw_tr)
        fold = self.folds.get(key)
        head_seconds = 0.0  # a fold prepared by an earlier rung costs nothing more
        if fold is None:
            fold = self._prepare_fold(X_tr, y_tr, sw_tr, rec)
            head_seconds = fold[-1] / max(1, len(candidates))
            if self.resume is not None:
                self.folds[key] = fold
        head, Xt, Xa, checked, head_error, head_log, _ = fold
        if self.pipeline is None and Xa is not None:
            self.fold_rows[key] = (np.asarray(train, dtype=np.int64), Xa)

        template = clone(self.final)
        template.__class__ = _fast_class(type(self.final))
        new = _copier(template)
        validated = {}  # the fold's data, validated once (see _prepare_fit)
        for cid, params in zip(cids, candidates):
            yield None
            log = list(head_log)
            trained = _Trained(head=head)
            job = _Job(cid, key, None, None, trained, head, log)
            job.seconds = head_seconds
            jobs.append(job)
            if head_error is not None:
                trained.fail(head_error)
                continue
            start = time.perf_counter()
            mark = rec.mark()
            final_params = self._final_params(params)
            if self.resume is not None:
                base = {k: v for k, v in params.items() if k != self.resume}
                job.base = self.bases.candidate_id(base, add=True)
                if self._reopen(job, self.kept.get((job.base, key)), final_params):
                    rec.since(mark, job.log)
                    job.seconds += time.perf_counter() - start
                    continue
            est = new(final_params)
            trained.estimator = est
            try:
                if Xa is None or est.device != "cpu":
                    # not for the population kernels: fit it the normal way
                    est.fit(Xt, y_tr, **({} if sw_tr is None else {"sample_weight": sw_tr}))
                else:
                    self._validate_candidate(est, final_params)
                    with config_context(assume_finite=checked or None):
                        job.loop = est._prepare_fit(Xa, y_tr, sw_tr, incremental=False,
                                                    validated=validated)
                    if Xa is not Xt:
                        # feature names (and count) as fit would see them
                        validate_data(est, Xt, reset=True, skip_check_array=True)
                    job.est = est
                    job.data = (job.loop.X, job.loop.Y, job.loop.sw)
            except Exception as exc:  # noqa: BLE001  (sklearn's error_score)
                trained.fail(exc)
                job.loop = None
            rec.since(mark, log)
            job.seconds += time.perf_counter() - start

    def _prepare_fold(self, X_tr, y_tr, sw_tr, rec):
        """Fit a fold's preceding pipeline steps and validate its data once."""
        start = time.perf_counter()
        mark = rec.mark()
        head, Xt, head_error, head_log = None, X_tr, None, []
        if self.pipeline is not None:
            head = clone(self.pipeline)[:-1]
            try:
                Xt = head.fit_transform(X_tr, y_tr)
            except Exception as exc:  # noqa: BLE001  (sklearn records it per fit)
                head_error = exc
        Xa, checked = None, False
        if head_error is None and not sp.issparse(Xt):
            Xa, checked = _shared_fold_data(Xt, y_tr, sw_tr)
        rec.since(mark, head_log)
        return (head, Xt, Xa, checked, head_error, head_log,
                time.perf_counter() - start)

    def _full_rows(self, loop, key):
        """``(X, Y, sw, rows)``: a loop's training set as rows of the whole
        ``X`` (and of ``Y`` and ``sw`` scattered to the whole's rows), or None.

        Every fold's models then gather their rows from the one array (on
        ``bench_search.py``'s linear search, 8 MB where the five folds' copies
        took 32 MB, about the last-level cache: the gathers of shuffled rows
        waited on memory). A loop qualifies when it trains on its fold's
        validated array itself (no pipeline step before it, no validation
        split) and without dropout, whose masks are keyed by the sample's
        row in the training set; the rows are the same values, so the fits
        are the same."""
        fold = self.fold_rows.get(key)
        if (fold is None or loop.X is not fold[1] or loop.X_val is not None
                or loop.hyper[C.H_DROPOUT] > 0):
            return None
        rows, Xa = fold
        if loop.n != rows.shape[0] or loop.Y.shape[0] != loop.n or loop.sw.shape[0] != loop.n:
            return None
        X = self._full.get(Xa.dtype.str)
        if X is None:
            try:
                X = check_array(self.X, dtype=[np.float64, np.float32], order="C")
            except Exception:  # noqa: BLE001
                X = False
            if X is not False and (X.dtype != Xa.dtype or X.shape[1] != Xa.shape[1]):
                X = False
            self._full[Xa.dtype.str] = X
        if X is False:
            return None
        out = [X]
        for which, a in enumerate((loop.Y, loop.sw)):
            got = self._full.get(id(a))
            if got is None or got[0] is not a:
                # each candidate encodes its own Y (and sw): equal to the
                # last one scattered on this fold, it shares that one's
                # whole array (and its arena entry, found by identity)
                last = self._full.get((key, which))
                if (last is not None and last[0].dtype == a.dtype
                        and last[0].shape == a.shape and np.array_equal(last[0], a)):
                    got = (a, last[1])
                else:
                    whole = np.zeros((X.shape[0],) + a.shape[1:], dtype=a.dtype)
                    whole[rows] = a
                    got = self._full[(key, which)] = (a, whole)
                self._full[id(a)] = got
            out.append(got[1])
        return (*out, rows)

    @staticmethod
    def resumes_exactly(est):
        """Whether continuing a finished fit of ``est`` to a larger
        ``max_iter`` is bitwise a fit with that ``max_iter``.

        The epoch orders, dropout masks and every schedule but ``"linear"``
        are keyed by the epoch count, and the loop carries early stopping,
        plateau and divergence state across epochs; only ``"linear"``
        decays to ``max_iter`` itself, so its path changes with it, and so
        does pruning's (``sparsity > 0``: its ramp spans ``max_iter``).
        """
        return est.lr_schedule != "linear" and not getattr(est, "sparsity", 0)

    def _reopen(self, job, previous, final_params):
        """Continue ``previous`` (the same candidate on the same fold, trained
        to fewer epochs) up to the asked ``max_iter``; False if it cannot
        resume exactly (the candidate is then trained from the start)."""
        if previous is None or previous.kept is None:
            return False
        loop, est = previous.kept, previous.est
        max_iter = final_params.get("max_iter")
        if (not isinstance(max_iter, (int, np.integer)) or isinstance(max_iter, bool)
                or max_iter < est.max_iter or not self.resumes_exactly(est)):
            return False
        done = est.n_iter_
        est.max_iter = max_iter
        # what a fit with the larger max_iter would have done: the same
        # epochs so far, then on, unless the stopping rule had already ended it
        loop.n_epochs = max_iter
        loop.done = loop.converged
        loop.progress = None
        loop.X, loop.Y, loop.sw = previous.data
        job.est, job.loop, job.data = est, loop, previous.data
        job.trained.estimator = est
        job.log = list(previous.log)
        self.epochs_resumed += done
        previous.kept = None  # reopened once
        return True

    @staticmethod
    def _shape(job):
        loop, est = job.loop, job.est
        sizes = tuple(est._sizes.tolist()) if isinstance(est, _BaseMLP) else ()
        return (_kind(est), type(est), loop.state.params.dtype.str, loop.X.shape[1],
                loop.Y.shape[1], loop.state.params.shape[0], sizes)

    # ------------------------------------------------------------------

    def _run_populations(self, folds, rec, n_folds=1):
        """Train every population (models of one compiled shape and fold) to
        the end on the threads, each at its own pace (:func:`population.flow`):
        a population's next epoch starts once its own units of the last are
        done, its Python work between epochs on whichever thread is free.

        ``folds`` yields None while it prepares a fold's candidates, then the
        fold's populations, ``(kind, jobs)`` pairs. A step of the flow draws
        from it, a candidate at a time, so that the folds are set up while
        the earlier ones train (on bench_search's linear search the set-up
        had been a sixth of the time, all before the first epoch: 8-10 %
        faster so).
        """
        from .._kernels import population

        scratch = {}  # the thread slots' scratch, shared by populations of one shape
        entered = set()

        def lead(stack):
            for populations in folds:
                if populations is None:
                    yield 0.0
                    continue
                data = _shared_arenas([jobs for _, jobs in populations],
                                      lambda job: self._full_rows(job.loop, job.key))
                for (kind, jobs), arenas in zip(populations, data):
                    if type(jobs[0].est) not in entered:  # (one context per class)
                        entered.add(type(jobs[0].est))
                        stack.enter_context(jobs[0].est._training_context())
                    population.start(self._population(
                        kind, jobs, rec, arenas, scratch, n_folds * len(populations)))
                del data
                yield 0.0

        with contextlib.ExitStack() as stack:
            population.flow([lead(stack)], max(1, self.n_threads))

    def _population(self, kind, jobs, rec, arenas, shared_scratch=None, n_populations=1):
        """Train one population to the end, an epoch per step: a generator
        that queues the epoch's kernel call, yields its estimated cost and
        is sent the seconds of the epoch's units (see
        :func:`population.flow`). ``arenas``: its data (see
        :func:`_shared_arenas`). ``shared_scratch``: a dict where the
        populations of one shape (a search's folds) find the scratch of
        the thread slots, the same arrays for all of them where their
        sizes agree: a slot's thread runs one unit at a time, whatever its
        population, and the populations of one fold each would otherwise
        hold as many copies as folds. ``n_populations``: how many train
        side by side (together they should offer each thread two units)."""
        from .._kernels import cpu, population

        K = len(jobs)
        shape = self._shape(jobs[0])
        loops = [j.loop for j in jobs]
        states = [lp.state for lp in loops]
        dtype = states[0].params.dtype
        n_params = states[0].params.shape[0]
        n_features = loops[0].X.shape[1]
        n_out = loops[0].Y.shape[1]
        Xa, Ya, swa, data, row_maps = arenas
        del arenas
        # early-stopping validation sets: equal ones held once too
        val = [_Arena(), _Arena(), _Arena()]
        for lp in loops:
            if lp.X_val is not None:
                lp.X_val, lp.y_val, lp.sw_val = (
                    a.arrays[a.add(np.asarray(x))] if isinstance(x, np.ndarray) else x
                    for a, x in zip(val, (lp.X_val, lp.y_val, lp.sw_val)))
        del val

        # per-model state as rows of 2-D arrays; each loop works on its rows
        params = np.empty((K, n_params), dtype=dtype)
        m, v, avg = np.empty_like(params), np.empty_like(params), np.empty_like(params)
        counters = np.empty((K, C.N_COUNTERS), dtype=np.int64)
        hyper = np.empty((K, C.N_HYPER))
        icodes = np.empty((K, C.N_ICODES), dtype=np.int64)
        stats = np.zeros((K, C.N_STATS))
        # a model's order row, then (models of the whole X, see _full_rows)
        # rows for the orders as rows of the whole X, filled each epoch
        orders = np.zeros((2 * K if (data[:, 5] >= 0).any() else K,
                           max(lp.n for lp in loops)), dtype=np.int64)
        n_batches = np.array([lp.n_batches for lp in loops], dtype=np.int64)
        lrs = np.zeros((K, int(n_batches.max())))
        shared_orders = _SharedPermutations()
        buffers, row_of = [], {}
        for k, (lp, st) in enumerate(zip(loops, states)):
            # each model's state and loop work in its rows of the population
            st.share_buffers(params=params[k], m=m[k], v=v[k], avg=avg[k],
                             counters=counters[k])
            lp.share_buffers(hyper[k], icodes[k], stats[k], orders[k, : lp.n],
                             permute=shared_orders)
            buffers.append(lp.order)
            row_of[id(lp.order)] = k
        ro = population.read_only  # inputs the kernels only read
        common = (Xa, Ya, swa, ro(data), n_features, ro(orders), ro(lrs),
                  ro(n_batches), params, m, v, avg)
        # each model's units (its optimizer, loss, activation), by address
        fns = population.prepare(kind, dtype, hyper, icodes)
        state = (ro(hyper), ro(icodes), counters, stats, ro(fns))

        # the same count for every population: a thread may run any's units
        n_slots = max(1, self.n_threads)
        bs_max = int(icodes[:, C.I_BATCH].max())
        if kind == "mlp":
            # scratch per thread slot, sized for the largest batch and unit
            sizes = jobs[0].est._sizes
            F, H = n_features, int(sizes[1])
            # models per unit: up to _UNIT, fewer when the side-by-side
            # first-layer buffers of a unit would pass _UNIT_BYTES
            fused = population.cohort_fuses(H, dtype)
            per_model = dtype.itemsize * (fused * (2 * F * H + 2 * bs_max * H)
                                          + population.COHORT_MAX_CHUNKS * n_params)
            U = int(np.clip(_UNIT_BYTES // per_model, 1, _UNIT))
            wide = H * U * fused  # first-layer units of a whole unit, side by side
            scratch = (
                ro(sizes),
                _per_slot(n_slots, (bs_max * n_features,), dtype),  # XB
                _per_slot(n_slots, (n_features * wide,), dtype),  # W1
                _per_slot(n_slots, (bs_max * wide,), dtype),  # Z1
                _per_slot(n_slots, (bs_max * wide,), dtype),  # D1
                _per_slot(n_slots, (n_features * wide,), dtype),  # G1
                _per_slot(n_slots, (bs_max * int(sizes.sum()),), dtype),  # acts
                _per_slot(n_slots, (3 * bs_max * int(sizes[1:].max()),), dtype),  # deltas
                # gradients and losses of a batch's chunks, per model
                _per_slot(n_slots, (U, population.COHORT_MAX_CHUNKS, n_params), dtype),  # GA
                _per_slot(n_slots, (U * population.COHORT_MAX_CHUNKS,)),
                _per_slot(n_slots, (U,), np.bool_),  # alive this epoch
                _per_slot(n_slots, (U,), np.int64),  # the alive ones, listed
                # a chunk's dropout factors, shared by models of one seed and rate
                _per_slot(n_slots, (bs_max * int(sizes[1:-1].sum()) * bool(
                    (hyper[:, C.H_DROPOUT] > 0).any()),)),
            )
            per_row = 3.0 * float(np.dot(sizes[:-1], sizes[1:]))
        else:
            nc_max = int(cpu.n_chunks(bs_max, n_features * n_out))
            # models fused per unit: up to _UNIT, fewer when their gradient
            # buffers (chunks x parameters each) would pass _UNIT_BYTES
            U = int(np.clip(_UNIT_BYTES // (8 * nc_max * n_params), 1, _LINEAR_UNIT))
            rows = _max_chunk_rows(bs_max, n_features * n_out, cpu)
            cols = population.linear_columns(U, n_out)  # the unit's outputs, side by side
            scratch = (
                _per_slot(n_slots, (rows, n_features + 1)),  # XB: a chunk's rows, 1s
                _per_slot(n_slots, (rows, cols)),  # PR: their outputs
                _per_slot(n_slots, (1, n_out)), _per_slot(n_slots, (1, n_out)),  # Pm, Gm
                _per_slot(n_slots, (rows, cols)),  # GO: their output gradients
                _per_slot(n_slots, (n_features + 1, cols)),  # WC: weights, intercepts
                _per_slot(n_slots, (n_features + 1, cols)),  # GW: weight, intercept gradients
                _per_slot(n_slots, (2, U)),  # QS: the models' chunk losses, Huber deltas
                _per_slot(n_slots, (U, nc_max, n_params)),  # GA: gradients
                _per_slot(n_slots, (U, nc_max)),  # chunk losses
                _per_slot(n_slots, (cpu.MAX_CHUNKS,)),  # one model's chunk losses
                _per_slot(n_slots, (U,), np.bool_),  # alive this epoch
            )
            per_row = 2.0 * n_features * n_out
        if shared_scratch is not None:
            key = (shape, n_slots, tuple(
                (a.shape, a.dtype.str) for a in scratch), scratch[0].tobytes()
                if kind == "mlp" else b"")
            scratch = shared_scratch.setdefault(key, scratch)
        for k, lp in enumerate(loops):
            # epoch cost estimate for balancing the slots: rows x work per row
            # plus one pass over the parameters per update
            jobs[k].cost = lp.n * per_row + lp.n_batches * 8.0 * n_params

        # units to split each epoch into. MLP units share a matrix product,
        # whose rounding depends on its width: split for a fixed slot count,
        # not the actual one, so that the results do not depend on the
        # threads. A linear model's arithmetic does not depend on its unit:
        # two units per thread slot over all the populations that train
        # side by side (the folds' populations already balance the threads)
        n_units = (2 * _MLP_UNIT_SLOTS if kind == "mlp"
                   else -(-2 * n_slots // max(1, n_populations)))
        active = list(range(K))
        while active:
            running = []
            for k in active:
                job = jobs[k]
                more = self._step(job, rec, job.loop.begin)
                if job.loop is None:
                    continue  # failed: error recorded
                if more:
                    lrs[k, : n_batches[k]] = job.loop.lrs
                    running.append(k)
                else:
                    self._finish(job, rec)
            if not running:
                return
            costs = {k: jobs[k].cost for k in running}
            # models of a shared draw read it from the row that holds it
            names, source = shared_orders.drawn(running, buffers, row_of)
            composed = {}  # (order row, rows of X) -> the row of their composition
            for k in running:
                row = source.get(k, k)
                if data[k, 5] >= 0:
                    got = composed.get((row, data[k, 5]))
                    if got is None:
                        got = composed[(row, data[k, 5])] = K + len(composed)
                        n = data[k, 3]
                        np.take(row_maps[data[k, 5]], orders[row, :n], out=orders[got, :n])
                    row = got
                data[k, 4] = row
            work = _units(_cohorts(running, data, icodes, orders, names), n_units, U)
            unit_costs = np.array([sum(costs[k] for k in u) for u in work])
            # the costliest units first: the threads take them in order
            by_cost = np.argsort(-unit_costs, kind="stable")
            work = [work[i] for i in by_cost]
            slots = population.assign_slots(unit_costs[by_cost], n_slots)
            units = np.array([k for u in work for k in u], dtype=np.int64)
            unit_start = np.cumsum([0] + [len(u) for u in work]).astype(np.int64)
            kernel = (population.mlp_population if kind == "mlp"
                      else population.linear_population)
            args = common + state + (ro(units), ro(unit_start), ro(slots)) + scratch
            population.queue_costs(unit_costs[by_cost])
            kernel(*args)  # queued: runs on the flow's threads
            self.kernel_calls += 1
            self.epochs += len(running)
            total = sum(costs.values())
            elapsed = yield total
            active = []
            for k in running:
                job = jobs[k]
                job.seconds += elapsed * costs[k] / total
                if self._step(job, rec, job.loop.end):
                    active.append(k)

    def _step(self, job, rec, method):
        """Call ``begin``/``end`` of a job's loop; an error ends the model."""
        start = time.perf_counter()
        mark = rec.mark()
        try:
            result = method()
        except Exception as exc:  # noqa: BLE001  (DivergenceError and others)
            job.trained.fail(exc)
            result = False
            self._detach(job)
            job.loop = None
        else:
            result = True if result is None else result
        rec.since(mark, job.log)
        job.seconds += time.perf_counter() - start
        return result

    @staticmethod
    def _detach(job):
        """Give the model its own arrays back (the population's are shared)."""
        state = job.loop.state
        for name in ("params", "m", "v", "avg", "counters"):
            setattr(state, name, getattr(state, name).copy())
        job.loop.permute = permutation  # its own draws again (see _SharedPermutations)
        est = job.est
        if job.trained.error is not None and hasattr(est, "_train_state"):
            # what a failed fit leaves behind does not matter, but keep it
            # from holding on to the population's arrays
            est._set_fitted_attributes(state.predictive_params())

    def _finish(self, job, rec):
        start = time.perf_counter()
        mark = rec.mark()
        self._detach(job)
        try:
            job.loop.finish()
        except Exception as exc:  # noqa: BLE001
            job.trained.fail(exc)
        if job.base is not None and job.trained.error is None:
            # a later rung may continue this fit: hand scikit-learn a copy,
            # and keep the warnings of the epochs apart from those of finish
            finish_log = []
            rec.since(mark, finish_log)
            job.trained.warnings = job.log + finish_log
            job.trained.estimator = copy.deepcopy(job.est)
            job.kept = job.loop
        else:
            rec.since(mark, job.log)
        job.loop = None
        if job.trained.error is None:
            self._predict_ahead(job.trained, job.key, rec)
        job.seconds += time.perf_counter() - start

    def _predict_ahead(self, trained, key, rec):
        """Queue the raw outputs of a finished model on its split's test
        part, for the evaluation's default score (:func:`_predict`): they
        are computed on the flow's threads while other models still train,
        not one model after the other once all are done. Only for a bare
        sktune estimator (no pipeline) whose ``predict`` is its own, scored
        by its ``score``; the test part is validated once per split, here
        (a step: one at a time), with the model's own checks; where they
        warn, the evaluation validates it itself, as without this."""
        est = trained.estimator
        if not self.predict_ahead or not _own_predict(type(est)):
            return
        from .._kernels import population

        Xv = self.tests_validated.get(key)
        if Xv is None:
            Xv = False
            test = self.tests.get(key)
            if test is not None:
                mark = rec.mark()
                try:
                    X_test = _safe_split(est, self.X, self.y, test)[0]
                    Xv = est._validate_X(X_test)
                except Exception:  # noqa: BLE001  (the evaluation raises it itself)
                    Xv = False
                if rec.mark() != mark:
                    Xv = False
                    del rec.log[mark:]
            self.tests_validated[key] = Xv
        if Xv is False:
            return

        def predict():
            try:
                trained.raw_test = est._raw_output(Xv, None)
            except Exception:  # noqa: BLE001  (the evaluation raises it itself)
                trained.raw_test = None

        population.queue_task(predict)


# --------------------------------------------------------------------------
# the search classes

class _BatchedSearchMixin:
    """What turns scikit-learn's search into a batched one."""

    _resumes = False  # whether the search may continue kept fits (halving)

    def __dir__(self):
        # a search that ran scikit-learn's path unchanged (batched_info_ is
        # None) lists scikit-learn's attributes only, as scikit-learn's own
        # tests of a drop-in search ask
        names = super().__dir__()
        if self.__dict__.get("batched_info_", 0) is None:
            names = [n for n in names if n != "batched_info_"]
        return names

    def _batched_plan(self, X, y, params):
        """Why the batched path cannot run (a string), or None when it can."""
        names = self._searched_names()
        pipeline, final_name, final = _split_pipeline(self.estimator)
        if get_config().get("enable_metadata_routing", False):
            return "metadata routing is enabled"
        if _kind(final) is None:
            return "the (final) estimator is not a sktune estimator"
        if pipeline is not None and getattr(pipeline, "transform_input", None) is not None:
            return "the pipeline uses transform_input"
        if getattr(final, "device", "cpu") != "cpu":
            return "device is not 'cpu'"
        callbacks = getattr(final, "callbacks", None)
        if callbacks is not None and not (isinstance(callbacks, (list, tuple))
                                          and len(callbacks) == 0):
            # each fit calls its callbacks: fitted one by one, as scikit-learn does
            return "the estimator has callbacks"
        if getattr(self, "_skl_callbacks", None) or getattr(final, "_skl_callbacks", None):
            return "scikit-learn callbacks are set"
        if names is None:
            return "the search space is not a dict or a list of dicts"
        prefix = "" if pipeline is None else final_name + "__"
        for name in names:
            if not name.startswith(prefix) or "__" in name[len(prefix):]:
                return f"parameter {name!r} is not one of the final estimator's"
            if name[len(prefix):] in ("device", "callbacks"):
                return f"{name[len(prefix):]} is searched"
        if y is None:
            return "y is None"
        if sp.issparse(X):
            return "X is sparse"
        extra = set(params) - {"groups"}
        if extra and (pipeline is not None or extra != {"sample_weight"}):
            return f"fit parameters {sorted(extra)}"
        return None

    def fit(self, X, y=None, **params):
        """Run fit with all sets of parameters, training them in batches.

        The same as scikit-learn's ``fit`` (same arguments, same results);
        see the class docstring for when the candidates are trained together.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training vectors.
        y : array-like of shape (n_samples, n_output) or (n_samples,), default=None
            Targets.
        **params : dict of str -> object
            Parameters passed to the ``fit`` method of the estimator, the
            scorer and the CV splitter (``groups``), as in scikit-learn.

        Returns
        -------
        self : object
            Instance of fitted estimator.
        """
        reason = self._batched_plan(X, y, params)
        self._batched_reason = reason
        if reason is not None:
            self.batched_info_ = None
            return super().fit(X, y, **params)

        registry = _Registry()
        estimator, n_jobs = self.estimator, self.n_jobs
        pretrained = clone(estimator)
        pretrained.__class__ = _pretrained_class(type(estimator), registry)
        n_threads = _config.effective_threads(
            _split_pipeline(estimator)[2].n_threads)
        if n_jobs is not None:
            n_threads = min(n_threads, _config.effective_threads(n_jobs))
        Xi, yi = indexable(X, y)
        self._batch = _BatchTrainer(estimator, Xi, yi, params.get("groups"),
                                    params.get("sample_weight"), registry, n_threads,
                                    resume=self._resume_key(),
                                    predict_ahead=self.scoring is None)
        try:
            # scikit-learn evaluates (restores) the pre-trained models in
            # this process: the subclass lives only here
            self.estimator, self.n_jobs = pretrained, 1
            super().fit(X, y, **params)
        finally:
            self.estimator, self.n_jobs = estimator, n_jobs
            batch, self._batch = self._batch, None
        if hasattr(self, "best_estimator_"):
            _unwrap(self.best_estimator_)
        if getattr(self.scorer_, "_estimator", None) is pretrained:
            self.scorer_._estimator = estimator  # as scikit-learn leaves it
        registry.entries.clear()
        registry.splits.clear()
        self._fix_fit_times(registry)
        n_fits = len(self.cv_results_["params"]) * self.n_splits_
        self.batched_info_ = {"kernel_calls": batch.kernel_calls,
                              "fits_restored": len(registry.served),
                              "fits_unbatched": n_fits - len(registry.served),
                              "epochs_trained": batch.epochs}
        if self._resumes:
            self.batched_info_["epochs_resumed"] = batch.epochs_resumed
        return self

    def _searched_names(self):
        raise NotImplementedError

    def _resume_key(self):
        """The candidate key of the final estimator's ``max_iter`` when the
        search asks for the same candidates with growing budgets (a halving
        search), so that kept fits continue; None otherwise."""

    def _run_search(self, evaluate_candidates, *, callback_ctx=None):
        batch = getattr(self, "_batch", None)
        kwargs = {} if callback_ctx is None else {"callback_ctx": callback_ctx}
        if batch is None:
            return super()._run_search(evaluate_candidates, **kwargs)

        def evaluate(candidate_params, cv=None, more_results=None, **kw):
            candidate_params = list(candidate_params)
            cv = cv or self._checked_cv_orig
            X, y = batch.X, batch.y
            splits = list(cv.split(X, y, groups=batch.groups))
            try:
                batch.train(candidate_params, splits)
            except Exception as exc:  # noqa: BLE001
                batch.registry.entries.clear()
                warnings.warn(
                    f"Batched training failed ({type(exc).__name__}: {exc}); every "
                    "candidate is fitted on its own instead.", RuntimeWarning)
            # scikit-learn's evaluation predicts with numpy, whose threaded BLAS
            # products leave their threads spinning for a while: on 2 cores
            # they slowed the refit that follows 2.5x (MLP), or the next rung
            with _blas_controller().limit(limits=1, user_api="blas"):
                return evaluate_candidates(candidate_params, cv=_FixedSplits(splits),
                                           more_results=more_results, **kw)

        return super()._run_search(evaluate, **kwargs)

    def _fix_fit_times(self, registry):
        """Fit times of the batched models: their share of the training.

        scikit-learn timed only the restoring of each pre-trained model; when
        every fit was restored, report each model's share of the batched
        training instead (its own Python work plus its cost-weighted share
        of each kernel call and of its fold's preceding steps).
        """
        results = getattr(self, "cv_results_", None)
        if not results:
            return
        by_cid = defaultdict(list)
        for (cid, _), seconds in registry.served.items():
            by_cid[cid].append(seconds)
        order = [registry.candidate_id(p) for p in results["params"]]
        if None in order or any(len(by_cid[c]) != self.n_splits_ for c in order):
            return
        t = np.array([by_cid[c] for c in order])
        results["mean_fit_time"] = t.mean(axis=1)
        results["std_fit_time"] = t.std(axis=1)


@fill_doc(description=_SEARCH_DESCRIPTION, search_params=_SEARCH_PARAMS_DOC,
          search_tail_params=_SEARCH_TAIL_PARAMS_DOC,
          search_attributes=_SEARCH_ATTRIBUTES_DOC)
class GridSearchCV(_BatchedSearchMixin, _SkGridSearchCV):
    """Exhaustive search over a parameter grid, sktune estimators trained in batches.

    A drop-in replacement of :class:`sklearn.model_selection.GridSearchCV`:
    the same constructor, ``fit`` and results (``cv_results_``,
    ``best_params_``, ``best_estimator_``, multi-metric ``refit``, ...).
    %(description)s

    Parameters
    ----------
    estimator : estimator object
        The estimator (or pipeline) to tune; cloned for every candidate.
    param_grid : dict or list of dict
        Parameter names (``"alpha"``, or ``"<step>__alpha"`` in a pipeline)
        to lists of values; every combination is a candidate. A list of
        grids searches each of them.
    %(search_params)s
    %(search_tail_params)s

    Attributes
    ----------
    %(search_attributes)s

    See Also
    --------
    RandomizedSearchCV : Candidates drawn from distributions.
    search_space : A default grid for each sktune estimator.
    sklearn.model_selection.GridSearchCV : The search this one speeds up.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import LinearRegressor
    >>> from sktune.model_selection import GridSearchCV
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 5)
    >>> y = X @ [1.0, -2.0, 0.5, 0.0, 3.0] + 0.1 * rng.randn(100)
    >>> reg = LinearRegressor(max_iter=20, tol=None, random_state=0)
    >>> grid = {"learning_rate": [0.01, 0.1], "alpha": [1e-4, 1e-2]}
    >>> search = GridSearchCV(reg, grid, cv=3).fit(X, y)
    >>> search.batched_info_["fits_restored"]
    12
    >>> sorted(search.best_params_)
    ['alpha', 'learning_rate']
    """

    def _searched_names(self):
        return _param_names(self.param_grid)


@fill_doc(description=_SEARCH_DESCRIPTION, search_params=_SEARCH_PARAMS_DOC,
          search_tail_params=_SEARCH_TAIL_PARAMS_DOC,
          search_attributes=_SEARCH_ATTRIBUTES_DOC)
class RandomizedSearchCV(_BatchedSearchMixin, _SkRandomizedSearchCV):
    """Randomized search over parameters, sktune estimators trained in batches.

    A drop-in replacement of
    :class:`sklearn.model_selection.RandomizedSearchCV`; the candidates are
    drawn by scikit-learn's own code (once, from ``random_state``).
    %(description)s

    Parameters
    ----------
    estimator : estimator object
        The estimator (or pipeline) to tune; cloned for every candidate.
    param_distributions : dict or list of dict
        Parameter names to lists (sampled uniformly) or to distributions
        with an ``rvs`` method such as ``scipy.stats.loguniform``. A list
        of dicts first picks one of them at random for each candidate.
    n_iter : int, default=10
        Number of candidates drawn.
    %(search_params)s
    random_state : int, RandomState instance or None, default=None
        Seeds the drawing of the candidates (not the estimators' own
        ``random_state``).
    %(search_tail_params)s

    Attributes
    ----------
    %(search_attributes)s

    See Also
    --------
    GridSearchCV : Every combination of a grid.
    search_space : Default distributions for each sktune estimator.
    sklearn.model_selection.RandomizedSearchCV : The search this one speeds up.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import loguniform
    >>> from sktune import LinearRegressor
    >>> from sktune.model_selection import RandomizedSearchCV
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 5)
    >>> y = X @ [1.0, -2.0, 0.5, 0.0, 3.0] + 0.1 * rng.randn(100)
    >>> reg = LinearRegressor(max_iter=20, tol=None, random_state=0)
    >>> space = {"learning_rate": loguniform(1e-3, 1e-1)}
    >>> search = RandomizedSearchCV(reg, space, n_iter=4, cv=3,
    ...                             random_state=0).fit(X, y)
    >>> len(search.cv_results_["params"])
    4
    >>> search.batched_info_["fits_restored"]
    12
    """

    def _searched_names(self):
        return _param_names(self.param_distributions)
