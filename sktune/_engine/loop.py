"""The training state and the epoch loop: Python's side of training.

:class:`TrainState` is what training carries between epochs and calls
(weights, optimizer moments, counters, schedule state); :class:`EpochLoop`
decides between two epochs (shuffle, learning rates, divergence, early
stopping, plateau, verbose output). A single fit runs one loop around one
kernel call per epoch; a batched search (:mod:`sktune.model_selection`)
runs many loops around one population kernel call, through the same
interface. After each epoch the loop calls the estimator's ``callbacks``
(and scikit-learn's, see :mod:`sktune.callbacks`). No Numba here.
"""
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._kernels import _codes as C
from .._progress import ProgressBar
from ..exceptions import DivergenceError, GradientWarning
from ..callbacks import EpochInfo, callback_list
from ..optim import plateau_decay
from ..penalties import penalty_value
from .encode import encode
from .sparsity import apply_mask, lift_mask, prune_to, ramp_epochs, target_sparsity, \
    weight_ranges

#: A fit whose epoch loss exceeds this many times its first epoch's loss
#: (since the weights were initialised) raises DivergenceError.
EXPLODED = 1e4

#: Gradient diagnostics (``verbose >= 1``): a layer whose gradient norm stays
#: below VANISHING times the largest layer's for GRADIENT_PATIENCE epochs in a
#: row has vanishing gradients; one whose norm reaches EXPLODING times its
#: first epoch's norm has exploding gradients.
VANISHING = 1e-3
EXPLODING = 1e3
GRADIENT_PATIENCE = 3


def mean_loss(code, raw, Y, sw, delta):
    """The kernels' loss on the host: ``mean(sw * loss(Y, raw))``.

    ``code`` is the kernel's loss code (:mod:`sktune._kernels._codes`),
    ``raw`` the raw model outputs (n_samples, n_outputs), ``Y`` the encoded
    targets and ``delta`` Huber's; the loss of a row sums over its outputs
    (softmax: over the whole row), as in the epoch kernels, so a
    validation loss compares with the training loss of ``loss_curve_``.
    """
    raw = np.asarray(raw, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if code == C.SOFTMAX:
        top = raw.max(axis=1, keepdims=True)
        lse = top + np.log(np.exp(raw - top).sum(axis=1, keepdims=True))
        elem = Y * (lse - raw)
    elif code == C.SQUARED_ERROR:
        elem = 0.5 * (raw - Y) ** 2
    elif code == C.HUBER:
        a = np.abs(raw - Y)
        elem = np.where(a <= delta, 0.5 * a * a, delta * (a - 0.5 * delta))
    elif code == C.POISSON:
        elem = np.exp(np.minimum(raw, 700.0)) - Y * raw
    elif code == C.LOGISTIC:
        elem = np.logaddexp(0.0, raw) - Y * raw
    elif code == C.HINGE:
        elem = np.maximum(0.0, 1.0 - (2.0 * Y - 1.0) * raw)
    else:
        raise ValueError(f"unknown loss code {code}")
    rows = elem.sum(axis=1)
    return float(np.dot(np.asarray(sw, dtype=np.float64), rows) / max(rows.shape[0], 1))


class TrainState:
    """Everything that training carries from one epoch (or call) to the next.

    Kept apart from the estimator's parameters (its configuration), so that
    ``partial_fit`` and ``warm_start`` resume exactly where training stopped.
    """

    def __init__(self, params, n_penalized, seed):
        self.params = params  # flat buffer: weights first, then biases
        self.m = np.zeros_like(params)  # first moment / velocity
        self.v = np.zeros_like(params)  # second moment
        self.avg = np.zeros_like(params)  # running average (``average``)
        self.counters = np.zeros(C.N_COUNTERS, dtype=np.int64)
        self.n_penalized = n_penalized
        self.seed = seed
        self.epoch = 0  # epochs trained so far (drives the RNG and schedules)
        self.plateau_lr = None
        # the sum of an epoch's mean batch gradients, set by the epoch runner
        # (None where a runner does not record it: the batched search)
        self.grad_sum = None
        # stall tracking for tol / plateau, carried across partial_fit calls
        self.best_loss = np.inf
        self.no_improve = 0

    _ARRAYS = ("params", "m", "v", "avg", "counters")

    def snapshot(self):
        return {name: getattr(self, name).copy() for name in self._ARRAYS}

    def restore(self, snap):
        for name in self._ARRAYS:
            getattr(self, name)[...] = snap[name]

    def predictive_params(self):
        """The weights to predict with: the running average once it started."""
        return self.avg if self.counters[C.C_N_AVG] > 0 else self.params

    def share_buffers(self, **rows):
        """Keep the arrays named in ``rows`` (``params``, ``m``, ``v``,
        ``avg``, ``counters``) in the given buffers from now on, their
        contents copied in: a batched search's population rows."""
        for name, row in rows.items():
            if name not in self._ARRAYS:
                raise ValueError("unknown state array %r" % name)
            row[...] = getattr(self, name)
            setattr(self, name, row)


class EpochLoop:
    """Python's side of training: everything decided between two epochs.

    :meth:`begin` prepares an epoch (snapshot, shuffle, learning rates) and
    :meth:`end` judges it (loss, divergence, early stopping, plateau,
    verbose output). A single fit runs them around one kernel call per
    epoch (:meth:`run`); a batched search runs many loops around one
    population kernel call, after moving each loop's buffers into its
    population's rows (:meth:`share_buffers`).

    The interface a kernel driver uses: ``order``, ``lrs``, ``hyper``,
    ``icodes`` and ``stats`` (the kernel's inputs and its epoch statistics,
    valid between :meth:`begin` and :meth:`end`), ``n`` and ``n_batches``.
    """

    def __init__(self, est, X, Y, sw, validation, n_epochs, incremental):
        self.est = est
        self.X, self.Y, self.sw = X, Y, sw
        # validation: (X, labels y, encoded targets Y, sample weights) or Nones
        self.X_val, self.y_val, self.Y_val, self.sw_val = validation
        self.state = state = est._train_state
        self.n_epochs = n_epochs
        self.incremental = incremental
        self.n = n = X.shape[0]
        bs = est._resolve_batch_size(n)
        self.n_batches = -(-n // bs)
        self.hyper, self.icodes = encode(est, state, bs)
        # gradual pruning: each layer's weight ranges, pruned between epochs
        self.sparsity = float(getattr(est, "sparsity", 0.0))
        self.prune_ranges = None
        if self.sparsity > 0.0:
            self.prune_ranges = weight_ranges(est, state.params.shape[0], state.n_penalized)
        else:
            lift_mask(state)  # a dense fit resumed from a pruned one
        self.l2, self.l1 = self.hyper[C.H_L2], self.hyper[C.H_L1]
        self.stats = np.zeros(C.N_STATS)
        self.order = np.empty(n, dtype=np.int64)
        # fills the order of an epoch; a batched search shares equal ones
        from .._kernels._rng import permutation  # Numba loads at the first fit

        self.permute = permutation
        # the plateau schedule watches for stalls even when tol=None
        self.min_gain = 0.0 if est.tol is None else est.tol
        self.best_score = -np.inf
        self.best_params = None
        self.converged = self.interrupted = self.stopped = self.done = False
        self.epochs_run = 0
        self.recorded = False  # whether the last epoch recorded gradient norms
        self.callbacks = callback_list(est)
        # scikit-learn's callbacks (a :class:`~sktune.callbacks.SklearnEpochs`),
        # set by a fit that reports to them
        self.sklearn = None
        self.lowest, self.lowest_loss = None, np.inf  # fallback if training diverges
        self.vanishing = None  # epochs in a row each layer's gradient was tiny
        self.warned = False
        self.progress = None
        if est.verbose >= 2 and n_epochs > 1:
            self.progress = ProgressBar(n_epochs, type(est).__name__)

    def run(self, run_epoch):
        """Train up to ``n_epochs`` epochs with ``run_epoch`` and publish."""
        try:
            while self.begin():
                run_epoch(self.order, self.lrs, self.hyper, self.icodes, self.stats)
                self.end()
        except KeyboardInterrupt:
            self.interrupt()
        self.finish()

    def begin(self):
        """Prepare the next epoch; False when training is over."""
        if self.done or self.epochs_run >= self.n_epochs:
            self.done = True
            return False
        est, state = self.est, self.state
        self.started = time.perf_counter()
        self.snap = state.snapshot()
        self.draw_order()
        self.lrs = est._schedule_rates(state, self.n_batches)
        self.icodes[C.I_EPOCH] = state.epoch
        if self.sklearn is not None:
            self.sklearn.begin(state.predictive_params())
        return True

    def draw_order(self):
        """Fill ``order``, the epoch's visiting order of the rows: the
        shuffle of ``(seed, epoch)``, or the rows in turn. A data-parallel
        loop (:mod:`sktune.dask`) draws one per partition instead."""
        if self.est.shuffle:
            self.permute(self.state.seed, self.state.epoch, self.order)
        else:
            self.order[:] = np.arange(self.n)

    def exploded(self, loss):
        """Whether a finite ``loss`` has run away: above :data:`EXPLODED`
        times the loss of the first epoch since the weights were initialised
        (a loss that grows by orders of magnitude is a diverging fit even
        before it overflows)."""
        curve = self.est.loss_curve_
        return bool(curve) and curve[0] > 0 and loss > EXPLODED * curve[0]

    def end(self):
        """Judge the epoch just trained; raises DivergenceError."""
        est, state, stats = self.est, self.state, self.stats
        weights = state.params[: state.n_penalized]
        loss = (stats[C.S_LOSS] / max(stats[C.S_WEIGHT], 1)
                + penalty_value(weights, self.l2, self.l1))
        exploded = self.exploded(loss)
        if stats[C.S_DIVERGED] or not np.isfinite(loss) or exploded:
            self.done = True
            state.restore(self.snap)
            if self.lowest is not None:
                # the weights may have grown huge before overflowing:
                # fall back to those with the lowest loss of this call
                state.params[...] = self.lowest
                if self.prune_ranges is not None:
                    apply_mask(state)  # pruned since those weights
            est._set_fitted_attributes(state.predictive_params())
            what = (f"the loss grew to {loss:.3g}, over {EXPLODED:.0e} times the "
                    f"first epoch's {est.loss_curve_[0]:.3g}" if exploded else
                    "the loss or a weight became non-finite (NaN or inf)")
            raise DivergenceError(
                f"{type(est).__name__} diverged in epoch {state.epoch + 1}: "
                f"{what}. The "
                "finite weights with the lowest training loss were kept. Try "
                "scaling the features (e.g. StandardScaler), a lower "
                f"learning_rate (now {est.learning_rate}), or clip_norm to "
                "clip gradients."
            )
        if loss < self.lowest_loss:
            # the epoch's loss was measured along the way from the weights
            # it started with (exactly those for full batches)
            self.lowest_loss = loss
            self.lowest = self.snap["params"]
        state.epoch += 1
        self.epochs_run += 1
        est.n_iter_ += 1
        est.loss_curve_.append(float(loss))
        self.record_gradients()
        est.learning_rates_.append(float(self.lrs[-1]))
        est.t_ = int(state.counters[C.C_STEP])
        # while the sparsity still rises, the stopping rule, the plateau
        # schedule and the best validated weights wait for the final mask
        ramping = False
        if self.prune_ranges is not None:
            prune_to(state, self.prune_ranges,
                     target_sparsity(self.sparsity, state.epoch, est.max_iter))
            ramping = state.epoch < ramp_epochs(est.max_iter)

        # monitored quantity: validation score, else minus the loss
        val_loss = None
        if self.X_val is not None:
            score, val_loss = self.validate()
            est.validation_scores_.append(score)
            est.validation_loss_curve_.append(val_loss)
            improved = ramping or score > self.best_score + self.min_gain
            if score > self.best_score and not ramping:
                self.best_score = score
                self.best_params = state.predictive_params().copy()
                est.best_validation_score_ = score
        else:
            score = -loss
            improved = ramping or loss < state.best_loss - self.min_gain
            if not ramping:
                state.best_loss = min(state.best_loss, loss)
        state.no_improve = 0 if improved else state.no_improve + 1

        val = (f", validation loss {val_loss:.6f}, validation score {score:.6f}"
               if self.X_val is not None else "")
        if self.progress is not None:
            self.progress.update(self.epochs_run, f"loss {loss:.4g}{val}")
        elif est.verbose:
            print(f"Epoch {state.epoch}: loss {loss:.6f}{val}, "
                  f"learning rate {self.lrs[-1]:.3g}, "
                  f"{time.perf_counter() - self.started:.3f} s", flush=True)
        self.judge_stall()
        if self.callbacks or self.sklearn is not None:
            self.call_back(loss, score if self.X_val is not None else None, val_loss)

    def validate(self):
        """Score and loss of the current weights on the validation split,
        from one forward pass: ``(score, loss)``. The loss is the training
        objective's (mean weighted loss plus the penalty of the weights)."""
        est, state = self.est, self.state
        weights = state.predictive_params()
        est._set_fitted_attributes(weights)
        raw = est._raw_output(self.X_val, None)
        score = float(est._validation_score(raw, self.y_val, self.sw_val))
        loss = (mean_loss(self.icodes[C.I_LOSS], raw, self.Y_val, self.sw_val,
                          self.hyper[C.H_HUBER])
                + penalty_value(weights[: state.n_penalized], self.l2, self.l1))
        return score, float(loss)

    def judge_stall(self):
        """The stopping rule and the plateau schedule, on the stall count."""
        est, state = self.est, self.state
        if state.no_improve >= est.n_iter_no_change:
            if est.lr_schedule == "plateau":
                new_lr = plateau_decay(state.plateau_lr, est.decay_rate,
                                       est.min_learning_rate)
                if new_lr is not None:
                    if est.verbose == 1:
                        print(f"Plateau: learning rate {state.plateau_lr:.3g} -> "
                              f"{new_lr:.3g}", flush=True)
                    state.plateau_lr = new_lr
                    state.no_improve = 0
                    return
            if est.tol is not None and not self.incremental:
                self.converged = self.done = True

    def call_back(self, loss, val_score, val_loss):
        """Call the callbacks with the epoch's figures, the estimator
        predicting with the epoch's weights; stop when one asks to."""
        est, state = self.est, self.state
        params = state.predictive_params()
        if self.X_val is None:  # validate() published them otherwise
            est._set_fitted_attributes(params)
        recorded = self.recorded
        info = EpochInfo(
            epoch=est.n_iter_, loss=float(loss), validation_score=val_score,
            validation_loss=val_loss, learning_rate=float(self.lrs[-1]),
            gradient_norms=est.gradient_norms_[-1].copy() if recorded else None,
            update_norms=est.update_norms_[-1].copy() if recorded else None,
            seconds=time.perf_counter() - self.started)
        stop = False
        for callback in self.callbacks:
            stop |= bool(callback(est, info))
        if self.sklearn is not None:
            stop |= self.sklearn.end(params)
        if stop and not self.done:
            self.stopped = self.done = True
            if est.verbose == 1:
                print(f"Stopped by a callback after epoch {state.epoch}.", flush=True)

    def record_gradients(self):
        """Append the epoch's per-layer gradient and update norms to
        ``gradient_norms_`` and ``update_norms_`` (when the runner summed the
        gradients) and, with ``verbose``, warn once about vanishing or
        exploding gradients."""
        est, state = self.est, self.state
        self.recorded = state.grad_sum is not None
        if state.grad_sum is None:
            return
        grads = est._layer_norms(state.grad_sum / self.n_batches)
        updates = est._layer_norms(state.params - self.snap["params"])
        state.grad_sum = None
        for name, row in (("gradient_norms_", grads), ("update_norms_", updates)):
            old = getattr(est, name, None)
            keep = old is not None and old.shape[1:] == row.shape
            setattr(est, name, np.vstack([old, row]) if keep else row[None, :])
        if est.verbose and not self.warned:
            self._check_gradients(est.gradient_norms_)

    def _check_gradients(self, norms):
        """Warn about vanishing or exploding gradients (see GradientWarning)."""
        last = norms[-1]
        tiny = last < VANISHING * last.max()
        self.vanishing = (np.where(tiny, self.vanishing + 1, 0)
                          if self.vanishing is not None else tiny.astype(int))
        remedies = ("Remedies: another init or activation, clip_norm, a lower "
                    'learning_rate, optimizer="adam".')
        est = self.est
        layers = np.flatnonzero(self.vanishing >= GRADIENT_PATIENCE)
        if layers.size:
            self.warned = True
            warnings.warn(
                f"{type(est).__name__}: vanishing gradients in layer(s) "
                f"{', '.join(str(k + 1) for k in layers)}: their gradient norm has "
                f"stayed below {VANISHING:g} times the largest layer's for "
                f"{GRADIENT_PATIENCE} epochs (see gradient_norms_). {remedies}",
                GradientWarning)
            return
        first = norms[0]
        grown = (first > 0) & (last > EXPLODING * first)
        if grown.any():
            self.warned = True
            warnings.warn(
                f"{type(est).__name__}: exploding gradients in layer(s) "
                f"{', '.join(str(k + 1) for k in np.flatnonzero(grown))}: their "
                f"gradient norm grew over {EXPLODING:g} times the first epoch's "
                f"(see gradient_norms_). {remedies}", GradientWarning)

    def interrupt(self):
        """Ctrl-C: stop here, keeping the weights reached so far."""
        self.interrupted = self.done = True
        warnings.warn(
            f"Training interrupted by the user after {self.est.n_iter_} "
            "epoch(s); the estimator keeps the weights reached so far.",
            UserWarning,
        )

    def finish(self):
        """Publish the fitted attributes (best validated weights if any)."""
        est, state = self.est, self.state
        if self.progress is not None:
            self.progress.close()
        if self.best_params is not None:
            est._set_fitted_attributes(self.best_params)
        else:
            est._set_fitted_attributes(state.predictive_params())
        est.t_ = int(state.counters[C.C_STEP])
        finished_early = self.converged or self.interrupted or self.stopped
        if (not self.incremental and not finished_early and est.tol is not None
                and self.epochs_run == est.max_iter):
            warnings.warn(
                f"Maximum number of epochs ({est.max_iter}) reached and the "
                "optimization hasn't converged yet. Consider increasing max_iter.",
                ConvergenceWarning,
            )

    def share_buffers(self, hyper, icodes, stats, order, permute=None):
        """Work in the given buffers (rows of a population's arrays) from now
        on: their contents become this loop's. ``permute`` replaces the
        shuffle (a batched search shares equal permutations)."""
        hyper[...] = self.hyper
        icodes[...] = self.icodes
        self.hyper, self.icodes, self.stats, self.order = hyper, icodes, stats, order
        if permute is not None:
            self.permute = permute
        self.X = self.Y = self.sw = None  # the driver holds the data now
