"""The shared training machinery of every sktune estimator.

:class:`BaseGradientEstimator` owns the parameters common to all models
(optimizer, schedule, penalty, batching, early stopping, ...), their
validation, and the epoch loop: Python decides between epochs (schedules,
early stopping, plateau, divergence, Ctrl-C, verbose output) and one compiled
kernel call trains each epoch. A model family only says how to initialise
its flat parameter buffer, how to run one epoch, and how to compute raw
outputs; see :mod:`sktune.linear_model`.
"""
import contextlib
import re
import time
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from . import _config
from ._kernels import _codes as C
from ._device import resolve_device
from ._engine.encode import DEVICES, OPTIMIZERS, PENALTIES
from ._engine.loop import EpochLoop, TrainState
from .callbacks import SklearnEpochs, _SklearnCallbackSupport, managed
from .optim import SCHEDULES, learning_rates


# scikit-learn's ``learning_rate`` strings and the lr_schedule that matches
# each ("optimal" has none: sktune has no Pegasos-style 1 / (alpha * t) rate)
SKLEARN_SCHEDULES = {"constant": "constant", "invscaling": "invscaling",
                     "adaptive": 'plateau" (with decay_rate=0.2, as scikit-learn divides by 5)',
                     "optimal": None}


SHARED_PARAMS_DOC = """
    optimizer : {"sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", \
"adagrad"}, default="adam"
        The update rule; see :mod:`sktune.optim` for the formulas.
    learning_rate : float, default=%(learning_rate)s
        Initial (peak) learning rate, > 0 (scikit-learn's ``eta0`` /
        ``learning_rate_init``). A string such as
        scikit-learn's ``"adaptive"`` raises a ValueError that names the
        matching ``lr_schedule``.
    lr_schedule : {"constant", "invscaling", "exponential", "step", "linear", \
"cosine", "plateau"}, default="constant"
        How the learning rate changes during training; see
        :mod:`sktune.optim` for the formula of each.
    batch_size : int, "auto" or "full", default="auto"
        Samples per update: 1 is per-sample stochastic gradient descent,
        ``"full"`` is batch gradient descent over the whole training set and
        ``"auto"`` is ``min(200, n_samples)``.
    max_iter : int, default=200
        Maximum number of epochs (passes over the training data).
    momentum : float, default=0.9
        Momentum of ``"momentum"`` and ``"nesterov"``.
    beta_1 : float, default=0.9
        Decay of Adam's first-moment estimate.
    beta_2 : float, default=0.999
        Decay of the second-moment estimate of Adam/AdamW and of RMSprop.
    epsilon : float, default=1e-8
        Added to the denominator of Adam, AdamW, RMSprop and Adagrad.
    penalty : {"l2", "l1", "elasticnet"} or None, default="l2"
        Regularization on the coefficients (never on the intercept), of
        strength ``alpha``. None trains without one (``alpha`` is then
        unused).
    alpha : float, default=1e-4
        Strength of the penalty: the objective is
        ``mean(sample_weight * loss) + alpha * R(w)``, see
        :mod:`sktune.penalties`. For ``"adamw"`` the L2 part is decoupled
        weight decay.
    l1_ratio : float, default=0.15
        Elastic-net mixing: 0 is pure L2, 1 pure L1.
    clip_norm : float or None, default=None
        Rescale each mini-batch gradient so that its global L2 norm is at
        most ``clip_norm``.
    sparsity : float, default=0.0
        Fraction of the weights (biases excluded) that are exactly zero at
        the end of training, in [0, 1). They are pruned gradually, by
        magnitude over all layers at once: after epoch ``t`` (counted since
        the weights were initialised) the ``round(s_t * n_weights)``
        smallest ``|w|`` are zero, where ``s_t = sparsity * (1 - (1 -
        r) ** 3)``, ``r = clip((t - t_0) / (max_iter - t_0), 0, 1)`` and
        ``t_0 = 0.2 * max_iter`` (the cubic schedule of Zhu & Gupta, 2017,
        after a dense fifth of the epochs); each layer keeps at least as many weights as it has
        output units, and an MLP keeps no weight on a hidden unit left
        without kept incoming or outgoing weights (their share goes to the
        next weights by magnitude). Until the last epoch, the ``tol`` rule, the
        ``"plateau"`` schedule and early stopping's choice of the best
        weights wait for the final sparsity, so a sparse fit runs
        ``max_iter`` epochs. Pruned weights stay exactly zero under every
        optimizer (their moments too), also through ``partial_fit`` (one
        epoch of the schedule per call) and ``warm_start``; ``sparsity=0``
        on a warm start lets them train again (a hidden unit cut on both
        sides gets no gradient and stays at zero). 0 trains densely, at no
        cost; sparse fits take the general update path (never
        ``lazy_updates`` or plain SGD's sparse and per-sample shortcuts).
    power_t : float, default=0.25
        Exponent of the ``"invscaling"`` schedule.
    decay_rate : float, default=0.9
        Factor of the ``"exponential"`` (applied smoothly, ``decay_rate`` per
        epoch), ``"step"`` and ``"plateau"`` schedules.
    step_size : int, default=10
        Epochs between decays of the ``"step"`` schedule.
    min_learning_rate : float, default=0.0
        Final rate of ``"linear"``, minimum of ``"cosine"``, floor of
        ``"plateau"``.
    restart_period : float, default=10
        Epochs in the first cosine cycle.
    restart_mult : float, default=1.0
        Growth factor of each further cosine cycle.
    tol : float or None, default=1e-4
        Training stops when the monitored quantity (the validation score
        with ``early_stopping``, else the training loss) has not improved by
        at least ``tol`` for ``n_iter_no_change`` epochs. None disables it.
    n_iter_no_change : int, default=10
        Patience of the stopping rule and of the ``"plateau"`` schedule.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stop when its
        score stops improving, and keep the weights with the best score.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.
    shuffle : bool, default=True
        Shuffle the samples before each epoch.
    average : bool or int, default=False
        Averaged SGD: predict with the average of the weights over all
        updates (or, for an int, over the updates after that many samples).
    warm_start : bool, default=False
        Continue from the previous fit's weights, optimizer state and
        schedule instead of starting anew.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the shuffling, the dropout masks
        and the validation split. An int gives bitwise-identical weights on
        every run, whatever ``n_threads`` is.
    verbose : int, default=0
        1 prints one line per epoch (loss, validation score, learning rate,
        time); 2 shows a progress bar over the epochs instead, drawn in place
        in a Jupyter notebook.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where to train. ``"cuda"`` keeps the data and the weights on an
        NVIDIA GPU for the whole fit (needs ``pip install sktune[cuda]``);
        ``"auto"`` uses the GPU when one is available. Fitted attributes are
        numpy arrays either way, so a GPU-trained model predicts anywhere.
    n_threads : int or None, default=None
        Threads of the compiled kernel, at most Numba's thread count. None
        uses all of Numba's threads on the main thread and one thread
        elsewhere (inside a search, a thread pool or a dask worker), so cores
        are never oversubscribed; a negative value counts back from all of
        them (-1 is all, as in joblib). Small batches run serially anyway.
        With None, each epoch runs whichever of the serial and parallel
        kernels (the same bits) ran faster on this machine in the fit's
        earlier epochs; the slower one is timed again now and then.
    callbacks : callable, list of callables or None, default=None
        Called after each epoch as ``callback(estimator, info)``, with the
        estimator predicting with the epoch's weights and an
        :class:`~sktune.callbacks.EpochInfo` of the epoch's figures (epoch,
        loss, validation score and loss, learning rate, gradient and update
        norms, seconds). A callback that returns a true value stops the fit
        after that epoch (``n_iter_`` counts the epochs trained; the model is
        fitted and resumable). Searches and ``clone`` deep-copy it, as every
        parameter. With scikit-learn >= 1.9 the estimator also takes
        scikit-learn's callbacks through ``set_callbacks``; see
        :mod:`sktune.callbacks`.
"""



def shared_params_doc(learning_rate):
    """The shared parameter section, with the class's default ``learning_rate``."""
    return SHARED_PARAMS_DOC.replace("%(learning_rate)s", repr(learning_rate))


ATTRIBUTES_DOC = """
    n_iter_ : int
        Epochs trained since the weights were initialised (``partial_fit``
        and warm-started fits add to it).
    t_ : int
        Optimizer steps taken since the weights were initialised.
    learning_rates_ : list of float
        Learning rate of the last step of each epoch.
    loss_curve_ : list of float
        Per epoch, the mean training loss over its mini-batches (each taken
        before its update) plus the penalty at the end of the epoch.
    gradient_norms_ : ndarray of shape (n_epochs, n_layers)
        Per epoch and layer (weights and biases; a linear model is one
        layer), the L2 norm of the mean over the epoch's mini-batches of the
        loss gradient (penalty excluded). With ``verbose >= 1`` a
        :class:`~sktune.GradientWarning` says when a layer's gradients
        vanish or explode.
    update_norms_ : ndarray of shape (n_epochs, n_layers)
        Per epoch and layer, the L2 norm of the change of the weights over
        the epoch.
    validation_scores_ : list of float or None
        Validation score after each epoch (R² for regressors, accuracy for
        classifiers), with ``early_stopping``; None without. Covers the
        last ``fit`` (length ``n_iter_`` for a fit from new weights).
    validation_loss_curve_ : list of float or None
        Loss on the validation split after each epoch, with
        ``early_stopping``: the objective of ``loss_curve_`` (mean weighted
        loss plus the penalty) for the weights that predict, so the two
        curves compare. Same length as ``validation_scores_``, computed from
        the same forward pass; None without ``early_stopping``.
    best_validation_score_ : float or None
        Best of ``validation_scores_``; its weights are the fitted ones
        (those of the first epoch that reached it).
    device_ : str
        The device the last fit ran on ("cpu" or "cuda").
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of str
        Feature names seen during ``fit``, when ``X`` had string column names.
"""


def fill_doc(**pieces):
    """Class decorator that writes shared sections into the docstring.

    Each line of the class docstring that holds only ``%(name)s`` is
    replaced by ``pieces[name]``, re-indented to that line's indentation,
    so that the parameter and attribute texts shared by several estimators
    are written once and the class still has a real ``__doc__`` (seen by
    ``help()``, numpydoc and Sphinx).
    """
    import textwrap

    def decorate(cls):
        doc = cls.__doc__
        if doc is None:  # python -OO
            return cls
        for name, text in pieces.items():
            body = textwrap.dedent(text).strip("\n")
            pattern = re.compile(r"^([ \t]*)%\(" + name + r"\)s[ \t]*$", re.M)
            if not pattern.search(doc):
                raise ValueError(f"{cls.__name__}'s docstring has no %({name})s line.")
            doc = pattern.sub(lambda m: textwrap.indent(body, m.group(1)), doc)
        left = re.search(r"%\(\w+\)s", doc)
        if left:
            raise ValueError(f"{cls.__name__}'s docstring has an unfilled {left.group()}.")
        cls.__doc__ = doc
        return cls

    return decorate


def store_params(estimator, params):
    """Store ``__init__``'s arguments unchanged, as scikit-learn requires.

    Called as ``store_params(self, locals())`` so that the long, shared
    parameter lists are written once per signature and not twice.
    """
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


_BASES = (BaseEstimator,) if _SklearnCallbackSupport is None else (
    _SklearnCallbackSupport, BaseEstimator)


def _fresh_random_state(random_state, validated):
    """``check_random_state(random_state)``; for an integer seed in a batched
    search (``validated``: the fold's shared dict, see ``_prepare_fit``), one
    generator per seed reset to its seeded state for each candidate (the
    same draws; seeding a new one took 70-90 us, 4 % of a linear search)."""
    if validated is None or not isinstance(random_state, Integral) \
            or isinstance(random_state, bool):
        return check_random_state(random_state)
    key = ("random_state", int(random_state))
    kept = validated.get(key)
    if kept is None:
        rng = check_random_state(random_state)
        validated[key] = kept = (rng, rng.get_state())
    rng, state = kept
    rng.set_state(state)
    return rng


class BaseGradientEstimator(*_BASES):
    """Base class of the gradient-trained estimators. Not for direct use."""

    _parameter_constraints = {
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions(set(SCHEDULES))],
        "batch_size": [Interval(Integral, 1, None, closed="left"),
                       StrOptions({"auto", "full"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "penalty": [StrOptions({p for p in PENALTIES if p is not None}), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "clip_norm": [Interval(Real, 0, None, closed="neither"), None],
        "sparsity": [Interval(Real, 0, 1, closed="left")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "decay_rate": [Interval(Real, 0, 1, closed="right")],
        "step_size": [Interval(Integral, 1, None, closed="left")],
        "min_learning_rate": [Interval(Real, 0, None, closed="left")],
        "restart_period": [Interval(Real, 0, None, closed="neither")],
        "restart_mult": [Interval(Real, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "shuffle": ["boolean"],
        "average": [Interval(Integral, 0, None, closed="left"), "boolean"],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "device": [StrOptions(set(DEVICES))],
        "n_threads": [Interval(Integral, 1, None, closed="left"),
                      Interval(Integral, None, -1, closed="right"), None],
        "callbacks": [callable, list, tuple, None],
    }

    # ------------------------------------------------------------------
    # hooks a model family provides

    def _init_params(self, n_features, n_outputs, Y, sample_weight, rng):
        """Return ``(params, n_penalized)`` for a fresh fit."""
        raise NotImplementedError

    def _run_epoch(self, X, Y, sw, order, lrs, state, hyper, icodes, stats, n_threads):
        """Train one epoch in place on ``state`` with the CPU kernels.

        Returns True when the epoch ran the parallel twin of its kernel.
        """
        raise NotImplementedError

    def _cuda_runner(self, X, Y, sw, state):
        """A callable ``(order, lrs, hyper, icodes, stats)`` training on the GPU."""
        raise NotImplementedError

    def _epoch_runner(self, X, Y, sw, state, n_threads):
        """The callable that trains one epoch, on the fitted device.

        The GPU runner uploads the data once here, so it stays on the device
        for the whole fit. On the CPU with ``n_threads=None``, each epoch
        runs the faster of the serial and parallel kernels, as measured on
        the fit's own epochs (:class:`~sktune._config.TwinChooser`).
        """
        if self.device_ == "cuda":
            if sp.issparse(X):
                raise ValueError("device='cuda' supports dense X only; pass "
                                 "X.toarray() or use device='cpu'.")
            return self._cuda_runner(X, Y, sw, state)
        auto = self.n_threads is None  # an explicit count is what the user asked for
        chooser = None

        def run(order, lrs, hyper, icodes, stats):
            nonlocal chooser
            if chooser is None:
                # (the rows too: an epoch's fixed costs make a small fit's
                # time per row no guide to a big one's)
                key = (type(self).__name__, state.params.dtype.str, state.params.shape[0],
                       X.shape[1], sp.issparse(X), int(icodes[C.I_BATCH]), order.shape[0])
                chooser = _config.TwinChooser(key, n_threads if auto else 1)
            n = chooser.threads() if auto else n_threads
            prepared = _config.prepared_kernels()
            started = time.perf_counter()
            parallel = self._run_epoch(X, Y, sw, order, lrs, state, hyper, icodes, stats, n)
            chooser.record(n, parallel, time.perf_counter() - started, order.shape[0],
                           timed=_config.prepared_kernels() == prepared)

        return run

    def _layer_slices(self):
        """The parameter ranges of each layer, ``[[slice, ...], ...]``: one
        layer (every parameter) for a linear model."""
        return [[slice(None)]]

    def _layer_norms(self, flat):
        """Per-layer L2 norms of a flat parameter-shaped vector ``flat``."""
        # einsum, not np.dot: profiled in a 200k-row sparse fit, each BLAS
        # call here took ~8 ms (its threads woken next to the kernel's)
        return np.array([np.sqrt(sum(float(np.einsum("i,i", flat[s], flat[s]))
                                     for s in layer))
                         for layer in self._layer_slices()])

    def _raw_output(self, X, params):
        """Raw model outputs (n_samples, n_outputs) for weights ``params``."""
        raise NotImplementedError

    def _set_fitted_attributes(self, params):
        """Publish ``params`` as the public fitted attributes."""
        raise NotImplementedError

    def _encode_targets(self, y, dtype, reset, classes=None):
        """Return the 2-D float target matrix the kernel trains on."""
        raise NotImplementedError

    def _validation_score(self, raw, y, sample_weight):
        """Score used for early stopping (higher is better), from the raw
        outputs ``raw`` on the validation samples: ``score``'s value."""
        raise NotImplementedError

    # ------------------------------------------------------------------
    # validation helpers

    def _validate_params(self):
        """Check the parameters against ``_parameter_constraints``, first
        pointing scikit-learn's schedule names in ``learning_rate`` (a
        string there in ``SGDRegressor`` and ``MLPRegressor``) to
        ``lr_schedule``."""
        lr = self.learning_rate
        if isinstance(lr, str):
            match = SKLEARN_SCHEDULES.get(lr)
            hint = (f' Use lr_schedule="{match}" for scikit-learn\'s "{lr}".'
                    if match else " The schedule is set by lr_schedule.")
            raise ValueError(
                f"The 'learning_rate' parameter of {type(self).__name__} must be "
                f"a float > 0, got {lr!r}: in sktune it is the initial rate "
                f"(scikit-learn's eta0 / learning_rate_init).{hint} Options of "
                f"lr_schedule: {', '.join(SCHEDULES)}."
            )
        super()._validate_params()

    def _resolve_batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size == "full":
            return n_samples
        return min(int(self.batch_size), n_samples)

    def _schedule_rates(self, state, n_batches):
        if self.lr_schedule == "constant":  # (what learning_rates gives, sooner)
            return np.full(n_batches, float(self.learning_rate))
        t = state.counters[C.C_STEP] + 1 + np.arange(n_batches)
        e = state.epoch + np.arange(n_batches) / n_batches
        return learning_rates(
            self.lr_schedule, self.learning_rate, t, e,
            power_t=self.power_t, decay_rate=self.decay_rate,
            step_size=self.step_size, min_learning_rate=self.min_learning_rate,
            restart_period=self.restart_period, restart_mult=self.restart_mult,
            max_iter=self.max_iter, current=state.plateau_lr,
        )

    # ------------------------------------------------------------------
    # the training loop

    @managed  # tears scikit-learn's callbacks down, whatever happens
    def _fit(self, X, y, sample_weight, *, incremental, classes=None, targets=None):
        loop = self._prepare_fit(X, y, sample_weight, incremental=incremental,
                                 classes=classes, targets=targets)
        if SklearnEpochs.wanted(self):
            loop.sklearn = SklearnEpochs(
                self, "partial_fit" if incremental else "fit", loop.n_epochs,
                X, y, sample_weight)
        n_threads = _config.effective_threads(self.n_threads)
        with self._training_context():
            loop.run(self._epoch_runner(loop.X, loop.Y, loop.sw, loop.state, n_threads))
        if loop.sklearn is not None:
            loop.sklearn.close()
        return self

    def _prepare_fit(self, X, y, sample_weight, *, incremental, classes=None,
                     targets=None, validated=None):
        """Validate the data, initialise or resume the state: an :class:`~sktune._engine.loop.EpochLoop`.

        ``targets``, when given, replaces the encoded ``y`` as the matrix the
        kernels train on (same shape): soft targets for distillation, which
        the log losses take as they are (their gradient is ``p - y`` for any
        ``y`` in [0, 1] whose rows sum to one under the softmax). ``y`` still
        sets ``classes_`` and scores the early-stopping split.

        ``validated``: a dict shared by fresh fits of one training set (a
        batched search's candidates on a fold, ``X`` a numpy array): the
        first fit of each class validates ``X``, ``y`` and
        ``sample_weight`` and leaves the results there, the others take
        them (0.3 ms a candidate: a tenth of a linear search's set-up).
        """
        resume = (incremental or self.warm_start) and hasattr(self, "_train_state")
        self.device_ = resolve_device(self.device)
        key = (type(self), id(X), id(y), id(sample_weight))
        known = None if validated is None or resume else validated.get(key)
        if known is not None and known[0] is X and known[1] is y:
            # what validate_data(reset=True) leaves on a fresh estimator for
            # a numpy X: the feature count (names come only with DataFrames)
            X, y, sw = known[2:]
            self.n_features_in_ = X.shape[1]
        else:
            X_in, y_in = X, y
            X, y = self._validate_data_xy(X, y, reset=not resume)
            sw = None
        Y = self._encode_targets(y, X.dtype, reset=not resume, classes=classes)
        if targets is not None:
            targets = np.asarray(targets, dtype=X.dtype)
            if targets.shape != Y.shape:
                raise ValueError(f"targets have shape {targets.shape}; the encoded "
                                 f"y has shape {Y.shape}.")
            Y = np.ascontiguousarray(targets)
        if sw is None:
            sw = self._sample_weight(sample_weight, X, y)
            if validated is not None and not resume and isinstance(X_in, np.ndarray):
                validated[key] = (X_in, y_in, X, y, sw)
        if X.shape[0] == 0:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")

        if not resume:
            rng = _fresh_random_state(self.random_state, validated)
            # weights first: the same draws as scikit-learn's MLP initialisation
            params, n_pen = self._init_params(X.shape[1], Y.shape[1], Y, sw, rng)
            seed = int(rng.randint(np.iinfo(np.int32).max))
            self._train_state = TrainState(params.astype(X.dtype), n_pen, seed)
            self.loss_curve_ = []
            self.learning_rates_ = []
            n_layers = len(self._layer_slices())
            self.gradient_norms_ = np.empty((0, n_layers))
            self.update_norms_ = np.empty((0, n_layers))
            self.n_iter_ = 0
            self.validation_scores_ = None
            self.validation_loss_curve_ = None
            self.best_validation_score_ = None
        else:
            self._check_resume(X.shape[1], Y.shape[1])
        state = self._train_state
        if not incremental:
            # each fit (warm or not) judges convergence afresh
            state.best_loss = np.inf
            state.no_improve = 0
        if state.params.dtype != X.dtype:
            # keep one dtype for the whole fit: follow the first call's data
            X = X.astype(state.params.dtype)
            Y = Y.astype(state.params.dtype)
            sw = sw.astype(state.params.dtype)
        if self.lr_schedule == "plateau" and state.plateau_lr is None:
            state.plateau_lr = float(self.learning_rate)

        validation = (None, None, None, None)
        if self.early_stopping and not incremental:
            X, Y, sw, *validation = self._split_validation(X, Y, y, sw, state.seed)
            self.validation_scores_ = []
            self.validation_loss_curve_ = []
            self.best_validation_score_ = -np.inf
        elif not incremental:
            self.validation_scores_ = None
            self.validation_loss_curve_ = None
            self.best_validation_score_ = None

        n_epochs = 1 if incremental else self.max_iter
        return EpochLoop(self, X, Y, sw, validation, n_epochs, incremental)

    def _check_resume(self, n_features, n_outputs):
        """Raise if the current parameters do not fit the trained model."""

    def _training_context(self):
        """Context entered around the epoch loop (e.g. to cap BLAS threads)."""
        return contextlib.nullcontext()

    # ------------------------------------------------------------------
    # data plumbing

    _accept_sparse = "csr"

    def _validate_data_xy(self, X, y, reset):
        from sklearn.utils.validation import validate_data

        return validate_data(
            self, X, y, reset=reset, accept_sparse=self._accept_sparse,
            dtype=[np.float64, np.float32], order="C",
            multi_output=self._multi_output_y(), y_numeric=self._y_numeric(),
        )

    def _validate_X(self, X):
        from sklearn.utils.validation import validate_data

        check_is_fitted(self)
        return validate_data(self, X, reset=False, accept_sparse=self._accept_sparse,
                             dtype=[np.float64, np.float32])

    def _multi_output_y(self):
        return False

    def _y_numeric(self):
        return False

    def _sample_weight(self, sample_weight, X, y):
        return _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)

    def _stratify(self, y):
        return None

    def _split_validation(self, X, Y, y, sw, seed):
        idx = np.arange(X.shape[0])
        n_val = int(np.ceil(self.validation_fraction * X.shape[0]))
        if n_val < 1 or X.shape[0] - n_val < 1:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves an empty "
                f"training or validation set with {X.shape[0]} samples; use more "
                "samples, another validation_fraction, or early_stopping=False."
            )
        from sklearn.model_selection import train_test_split  # on first use: import time

        train, val = train_test_split(idx, test_size=n_val, random_state=seed,
                                      stratify=self._stratify(y))
        train.sort()
        val.sort()
        return (X[train], Y[train], sw[train], X[val], y[val], Y[val], sw[val])

    def _raw_predict(self, X):
        X = self._validate_X(X)
        return self._raw_output(X, None)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = bool(self._accept_sparse)
        return tags


class GradientRegressorMixin(RegressorMixin):
    """Regression targets, fit and predict, shared by every regressor."""

    def _multi_output_y(self):
        return True

    def _y_numeric(self):
        return True

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
        mean = _weighted_mean(Y, sw)
        if self.loss == "poisson":
            return np.log(np.maximum(mean, 1e-12))
        return mean

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data by mini-batch gradient descent.

        Trains for at most ``max_iter`` epochs, from new weights or, with
        ``warm_start=True``, from those of the previous fit; training stops
        earlier by the ``tol`` / ``n_iter_no_change`` rule (on the validation
        score with ``early_stopping=True``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. float32 data trains in float32, any other dtype in
            float64. Sparse data (CSR) is accepted by the linear models only.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values (non-negative for ``loss="poisson"``).
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample's loss. None gives every sample weight 1.

        Returns
        -------
        self : object
            Fitted estimator.

        Raises
        ------
        DivergenceError
            If the training loss becomes non-finite or exceeds 1e4 times the
            loss of the first epoch; the weights with the lowest training loss
            are kept, so the estimator still predicts.
        """
        self._validate_params()
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X, y, sample_weight=None):
        """Train one epoch on ``(X, y)``, continuing from the current state.

        The first call initialises the model; later calls keep the weights,
        the optimizer state and the position in the learning-rate schedule,
        and add one to ``n_iter_``. ``early_stopping`` and ``max_iter`` do
        not apply.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. float32 data trains in float32, any other dtype in
            float64. Sparse data (CSR) is accepted by the linear models only.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values, with the same number of outputs on every call.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample's loss. None gives every sample weight 1.

        Returns
        -------
        self : object
            Estimator trained one more epoch.

        Raises
        ------
        DivergenceError
            If the training loss becomes non-finite or exceeds 1e4 times the
            loss of the first epoch; the weights with the lowest training loss
            are kept, so the estimator still predicts.
        """
        if not hasattr(self, "_train_state"):
            self._validate_params()
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predict using the fitted model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples (sparse for the linear models only).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predicted values; one column per output when ``y`` was 2-D in
            ``fit``. With ``loss="poisson"``, the predicted mean ``exp(raw)``.
        """
        return self._predict_from_raw(self._raw_predict(X))

    def _predict_from_raw(self, raw):
        """Predictions from the raw outputs."""
        if self.loss == "poisson":
            raw = np.exp(raw)
        return raw.ravel() if self._y_1d else raw

    def _validation_score(self, raw, y, sample_weight):
        from sklearn.metrics import r2_score

        return r2_score(y, self._predict_from_raw(raw), sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags


def _weighted_mean(Y, sw):
    """The ``sw``-weighted mean of the rows of ``Y`` (their plain mean when
    the weights sum to 0): for float64, one pass of ``np.einsum`` (0.03 ms
    for 10^4 x 3 against 0.19 ms for ``np.average``, which a batched search
    paid for every classifier it set up). Not a BLAS product: OpenBLAS
    threads a 16 000-row ``sw @ Y`` and took 8 ms for it while other
    threads held the cores."""
    total = sw.sum()
    if not total > 0:
        return Y.mean(axis=0)
    if Y.dtype == np.float64 and sw.dtype == np.float64:
        return np.einsum("i,ij->j", sw, Y) / total
    return np.average(Y, axis=0, weights=sw)


def _integer_labels(y):
    """Whether ``y`` is a non-empty 1-D NumPy array of integers or booleans:
    labels whose target type (binary or multiclass) is their count of
    unique values."""
    return isinstance(y, np.ndarray) and y.ndim == 1 and y.size > 0 and y.dtype.kind in "iub"


def _dense_label_codes(y):
    """For labels that :func:`_integer_labels` accepts and that span a range
    at most about twice their count: their sorted unique values (as
    ``np.unique`` gives them) and each label's position among them, found
    by counting instead of sorting (0.02 ms for 10^4 labels against 0.15 ms
    for ``np.unique`` and ``np.searchsorted``, paid by every candidate x
    fold of a batched search); None for labels spread wider."""
    lo, hi = int(y.min()), int(y.max())
    span = hi - lo + 1
    if span > 2 * y.size + 256 or hi > np.iinfo(np.intp).max:
        return None
    shifted = y.astype(np.intp) - lo
    present = np.bincount(shifted, minlength=span) > 0
    labels = (np.flatnonzero(present) + lo).astype(y.dtype)
    return labels, (np.cumsum(present) - 1)[shifted]


class GradientClassifierMixin(ClassifierMixin):
    """Class encoding, class weights, fit and predict, shared by every classifier."""

    def _stratify(self, y):
        # stratify when every class has at least two members
        _, counts = np.unique(y, return_counts=True)
        return y if counts.min() >= 2 else None

    def _encode_targets(self, y, dtype, reset, classes=None):
        dense = None
        if _integer_labels(y):
            # what type_of_target says of such labels, from the unique values
            # needed anyway (its checks took 0.6 ms a fit, paid by every
            # candidate x fold of a batched search)
            dense = _dense_label_codes(y)
            labels = np.unique(y) if dense is None else dense[0]
            target_type = "binary" if labels.size <= 2 else "multiclass"
        else:
            target_type = type_of_target(y, input_name="y")
            labels = None
        if target_type not in ("binary", "multiclass"):
            raise ValueError(
                f"Unknown label type: {target_type!r}. {type(self).__name__} "
                "supports binary and multiclass targets."
            )
        if labels is None:
            labels = np.unique(y)
        if reset:
            if classes is not None:
                self.classes_ = np.unique(np.asarray(classes))
            else:
                self.classes_ = labels
            if len(self.classes_) < 2:
                raise ValueError(
                    "The number of classes has to be greater than one; got "
                    f"{len(self.classes_)} class"
                )
            self._n_outputs = 1 if len(self.classes_) == 2 else len(self.classes_)
        same = labels is self.classes_ or np.array_equal(labels, self.classes_)
        unseen = () if same else np.setdiff1d(labels, self.classes_)
        if len(unseen):
            raise ValueError(f"y contains labels {unseen.tolist()} not in classes "
                             f"{self.classes_.tolist()}.")
        # one-hot in the order of classes_ (two classes: one column, 1 for
        # the second), as scikit-learn's LabelBinarizer encodes, without its
        # four more type_of_target checks (a batched search encodes the same
        # y for every candidate)
        if same and dense is not None:
            index = dense[1]
        else:
            index = np.searchsorted(self.classes_, np.asarray(y))
        if len(self.classes_) == 2:
            return np.ascontiguousarray((index == 1).astype(dtype).reshape(-1, 1))
        Y = np.zeros((index.shape[0], len(self.classes_)), dtype=dtype)
        Y[np.arange(index.shape[0]), index] = 1
        return Y

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
        p = np.clip(_weighted_mean(Y, sw), 1e-6, 1 - 1e-6)
        if Y.shape[1] == 1:
            return np.log(p / (1 - p))
        return np.log(p) - np.log(p).mean()

    def fit(self, X, y, sample_weight=None):
        """Fit the classifier to data by mini-batch gradient descent.

        Trains for at most ``max_iter`` epochs, from new weights or, with
        ``warm_start=True``, from those of the previous fit; training stops
        earlier by the ``tol`` / ``n_iter_no_change`` rule (on the validation
        accuracy with ``early_stopping=True``, whose split is stratified when
        every class has two samples).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. float32 data trains in float32, any other dtype in
            float64. Sparse data (CSR) is accepted by the linear models only.
        y : array-like of shape (n_samples,)
            Target class labels (binary or multiclass; :class:`MLPClassifier`
            also takes a multilabel indicator matrix of shape
            (n_samples, n_labels)).
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample's loss, multiplied by the ``class_weight`` of
            its class. None gives every sample weight 1.

        Returns
        -------
        self : object
            Fitted estimator.

        Raises
        ------
        DivergenceError
            If the training loss becomes non-finite or exceeds 1e4 times the
            loss of the first epoch; the weights with the lowest training loss
            are kept, so the estimator still predicts.
        """
        self._validate_params()
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train one epoch on ``(X, y)``, continuing from the current state.

        The first call initialises the model and must name every class;
        later calls keep the weights, the optimizer state and the position in
        the learning-rate schedule, and add one to ``n_iter_``.
        ``early_stopping`` and ``max_iter`` do not apply, and
        ``class_weight="balanced"`` is refused (one batch does not show the
        class frequencies: pass a dict).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. float32 data trains in float32, any other dtype in
            float64. Sparse data (CSR) is accepted by the linear models only.
        y : array-like of shape (n_samples,)
            Target class labels, all of them among ``classes``.
        classes : array-like of shape (n_classes,), default=None
            Every class that may appear in ``y``. Required on the first call;
            later calls may omit it or must pass the same classes.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample's loss, multiplied by the ``class_weight`` of
            its class. None gives every sample weight 1.

        Returns
        -------
        self : object
            Estimator trained one more epoch.

        Raises
        ------
        DivergenceError
            If the training loss becomes non-finite or exceeds 1e4 times the
            loss of the first epoch; the weights with the lowest training loss
            are kept, so the estimator still predicts.
        """
        if not hasattr(self, "_train_state"):
            self._validate_params()
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"`classes={np.unique(classes).tolist()}` is not the same "
                             f"as on the first call: {self.classes_.tolist()}.")
        if isinstance(self.class_weight, str):
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: one batch "
                "does not show the class frequencies. Compute the weights once with "
                "sklearn.utils.class_weight.compute_class_weight('balanced', ...) on "
                "a representative sample and pass them as a dict.")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def decision_function(self, X):
        """Compute the raw scores of the model's output layer.

        For ``loss="log_loss"`` these are the log-odds of the positive class
        (binary) or the softmax inputs (multiclass); for ``loss="hinge"``, the
        signed margins.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples (sparse for the linear models only).

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            One score per sample for a binary problem (positive means
            ``classes_[1]``), else one score per class.
        """
        raw = self._raw_predict(X)
        return raw.ravel() if raw.shape[1] == 1 else raw

    def predict(self, X):
        """Predict class labels for samples in ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples (sparse for the linear models only).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The class of ``classes_`` with the highest score of each sample.
        """
        return self._predict_from_raw(self._raw_predict(X))

    def _predict_from_raw(self, raw):
        """Class labels from the raw outputs (n_samples, n_outputs)."""
        if raw.shape[1] == 1:
            return self.classes_[(raw[:, 0] > 0).astype(int)]
        return self.classes_[np.argmax(raw, axis=1)]

    def _validation_score(self, raw, y, sample_weight):
        from sklearn.metrics import accuracy_score

        return accuracy_score(y, self._predict_from_raw(raw), sample_weight=sample_weight)

    def _has_proba(self):
        return self.loss == "log_loss"

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Estimate class probabilities (``loss="log_loss"`` only).

        The logistic function of :meth:`decision_function` for two classes,
        its softmax for more.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples (sparse for the linear models only).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``; each row
            sums to one.
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
        """Estimate the logarithm of the class probabilities (``loss="log_loss"`` only).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples (sparse for the linear models only).

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Natural logarithm of :meth:`predict_proba`.
        """
        return np.log(self.predict_proba(X))
