"""Per-epoch callbacks, validation curves and scikit-learn's callback API."""
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sktune import LinearClassifier, LinearRegressor, MLPClassifier, MLPRegressor
from sktune._engine.loop import mean_loss
from sktune.callbacks import SKLEARN_CALLBACKS, EpochInfo
from sktune.losses import loss_code
from sktune.model_selection import GridSearchCV

ESTIMATORS = [LinearRegressor, LinearClassifier, MLPRegressor, MLPClassifier]


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 4)
    y = X @ [1.0, -2.0, 0.5, 0.0] + 0.3 * rng.randn(120)
    return X, y, (y > 0).astype(int)


def _model(cls, **kw):
    if cls in (MLPRegressor, MLPClassifier):
        kw.setdefault("hidden_layer_sizes", (6,))
        kw.setdefault("learning_rate", 0.01)
    return cls(random_state=0, **kw)


def _target(cls, data):
    return data[2] if cls in (LinearClassifier, MLPClassifier) else data[1]


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_callback_stops_at_the_asked_epoch(cls, data):
    X, seen = data[0], []

    def stop_at_three(est, info):
        seen.append(info)
        return info.epoch == 3

    model = _model(cls, max_iter=50, tol=None, callbacks=stop_at_three)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X, _target(cls, data))
    assert model.n_iter_ == 3 and len(model.loss_curve_) == 3
    assert [info.epoch for info in seen] == [1, 2, 3]
    assert all(isinstance(info, EpochInfo) for info in seen)
    # the figures are those recorded on the estimator
    assert [info.loss for info in seen] == model.loss_curve_
    assert [info.learning_rate for info in seen] == model.learning_rates_
    np.testing.assert_array_equal([info.gradient_norms for info in seen],
                                   model.gradient_norms_)
    np.testing.assert_array_equal([info.update_norms for info in seen],
                                  model.update_norms_)
    assert all(info.validation_score is None and info.validation_loss is None
               for info in seen)
    assert all(info.seconds >= 0 for info in seen)


def test_stopped_fit_is_valid_and_resumes_exactly(data):
    X, y, _ = data
    snapshots = []

    def stop_at_two(est, info):
        # the estimator predicts with the epoch's weights
        snapshots.append((est.coef_.copy(), est.predict(X[:5])))
        return info.epoch == 2

    straight = LinearRegressor(max_iter=5, tol=None, random_state=0).fit(X, y)
    model = LinearRegressor(max_iter=5, tol=None, random_state=0,
                            callbacks=stop_at_two).fit(X, y)
    assert model.n_iter_ == 2
    np.testing.assert_array_equal(model.coef_, snapshots[-1][0])
    np.testing.assert_array_equal(model.predict(X[:5]), snapshots[-1][1])
    # warm_start continues from the stop: 2 + 3 epochs are a fit of 5
    model.set_params(callbacks=None, warm_start=True, max_iter=3).fit(X, y)
    assert model.n_iter_ == 5
    np.testing.assert_array_equal(model.coef_, straight.coef_)
    # partial_fit resumes as well
    model.partial_fit(X, y)
    assert model.n_iter_ == 6


def test_callbacks_run_in_partial_fit(data):
    X, y, _ = data
    epochs = []
    model = LinearRegressor(random_state=0,
                            callbacks=lambda est, info: epochs.append(info.epoch) or True)
    model.partial_fit(X, y).partial_fit(X, y)
    # one epoch per call; a stop request has nothing left to stop
    assert epochs == [1, 2] and model.n_iter_ == 2


def test_every_callback_runs_and_any_can_stop(data):
    X, y, _ = data
    calls = []
    model = LinearRegressor(max_iter=10, tol=None, random_state=0, callbacks=[
        lambda est, info: calls.append(("a", info.epoch)),
        lambda est, info: calls.append(("b", info.epoch)) or info.epoch == 2,
    ]).fit(X, y)
    assert model.n_iter_ == 2
    assert calls == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]


@pytest.mark.parametrize("cls", [MLPRegressor, LinearClassifier])
def test_validation_loss_curve_and_restored_epoch(cls, data):
    X = data[0]
    y = _target(cls, data)
    weights, infos = [], []

    def record(est, info):
        infos.append(info)
        weights.append(est.coefs_[0].copy() if hasattr(est, "coefs_")
                       else est.coef_.copy())

    model = _model(cls, early_stopping=True, validation_fraction=0.25,
                   n_iter_no_change=3, max_iter=60, penalty=None,
                   learning_rate=0.05, callbacks=record).fit(X, y)
    curve = model.validation_loss_curve_
    assert len(curve) == len(model.validation_scores_) == model.n_iter_ < 60
    assert [info.validation_loss for info in infos] == curve
    assert [info.validation_score for info in infos] == model.validation_scores_
    best = int(np.argmax(model.validation_scores_))
    fitted = model.coefs_[0] if hasattr(model, "coefs_") else model.coef_
    # the fitted weights are those of the best-scoring epoch, restored
    np.testing.assert_array_equal(fitted, weights[best])
    if cls is MLPRegressor:
        # R² and the unpenalized squared error order the epochs alike
        assert int(np.argmin(curve)) == best
    # the curve is the loss of the predicting weights on the held-out split
    idx = np.arange(len(y))
    _, val = train_test_split(idx, test_size=int(np.ceil(0.25 * len(y))),
                              random_state=model._train_state.seed,
                              stratify=y if cls is LinearClassifier else None)
    val.sort()
    Y_val = model._encode_targets(y[val], np.float64, reset=False)
    code = loss_code(model.loss, len(getattr(model, "classes_", [])) or None)
    raw = model._raw_output(X[val], None)
    assert mean_loss(code, raw, Y_val, np.ones(len(val)), 1.0) == pytest.approx(
        curve[best], rel=1e-12)


def test_no_validation_curve_without_early_stopping(data):
    X, y, _ = data
    model = LinearRegressor(max_iter=3, tol=None, random_state=0).fit(X, y)
    assert model.validation_loss_curve_ is None and model.validation_scores_ is None


# (estimator class, loss, target) whose kernel loss the host loss must match
_LOSSES = [
    (LinearRegressor, "squared_error", "reg"),
    (LinearRegressor, "huber", "reg"),
    (LinearRegressor, "poisson", "count"),
    (LinearClassifier, "log_loss", "binary"),
    (LinearClassifier, "log_loss", "multiclass"),
    (LinearClassifier, "hinge", "multiclass"),
]


@pytest.mark.parametrize("cls, loss, kind", _LOSSES)
def test_host_loss_matches_the_kernels(cls, loss, kind, data):
    X, y, _ = data
    target = {"reg": y, "count": np.round(np.exp(0.3 * y)),
              "binary": (y > 0).astype(int), "multiclass": np.digitize(y, [-1, 1])}[kind]
    sw = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    # one full batch with a negligible step: the epoch's loss is that of the
    # (unchanged) initial weights
    extra = {"huber_delta": 0.5} if cls is LinearRegressor else {}
    model = cls(loss=loss, batch_size="full", max_iter=1, learning_rate=1e-12,
                penalty=None, tol=None, random_state=0, **extra)
    model.fit(X, target, sample_weight=sw)
    Y = model._encode_targets(target, np.float64, reset=False)
    n_classes = len(model.classes_) if hasattr(model, "classes_") else None
    host = mean_loss(loss_code(loss, n_classes), model._raw_output(X, None), Y, sw,
                     0.5)
    assert host == pytest.approx(model.loss_curve_[0], rel=1e-8)


def test_callbacks_parameter_is_a_parameter(data):
    X, y, _ = data

    def noop(est, info):
        return None

    model = LinearRegressor(callbacks=[noop])
    assert model.get_params()["callbacks"] == [noop]
    copy = clone(model)
    assert copy.callbacks == [noop] and copy.callbacks is not model.callbacks
    assert clone(LinearRegressor(callbacks=noop)).callbacks is noop
    with pytest.raises(TypeError, match=r"'callbacks' parameter.*item 1 is 3"):
        LinearRegressor(callbacks=[noop, 3]).fit(X, y)
    with pytest.raises(ValueError, match="callbacks"):
        LinearRegressor(callbacks="print").fit(X, y)


def test_batched_search_falls_back_with_callbacks(data):
    X, y, _ = data
    epochs = []
    grid = {"alpha": [1e-4, 1e-2]}
    base = LinearRegressor(max_iter=4, tol=None, random_state=0)
    plain = GridSearchCV(base, grid, cv=2).fit(X, y)
    assert plain.batched_info_ is not None
    watched = GridSearchCV(
        clone(base).set_params(callbacks=lambda est, info: epochs.append(info.epoch)),
        grid, cv=2).fit(X, y)
    assert watched.batched_info_ is None
    # 2 candidates x 2 folds + the refit, 4 epochs each
    assert epochs == [1, 2, 3, 4] * 5
    np.testing.assert_array_equal(watched.cv_results_["mean_test_score"],
                                  plain.cv_results_["mean_test_score"])
    # an empty list is no callback: still batched
    empty = GridSearchCV(clone(base).set_params(callbacks=[]), grid, cv=2).fit(X, y)
    assert empty.batched_info_ is not None


# --------------------------------------------------------------------------
# scikit-learn's callback API (sklearn.callback, scikit-learn >= 1.9)

class _Recorder:
    """A scikit-learn callback: records its hooks; stops at ``stop_at``."""

    def __init__(self, stop_at=None):
        self.stop_at = stop_at
        self.events = []

    def setup(self, estimator, context):
        self.events.append(("setup", context.task_name))

    def teardown(self, estimator, context):
        self.events.append(("teardown", context.task_name))

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None,
                          metadata=None, fitted_estimator=None):
        self.events.append(("begin", context.task_name, context.task_id))

    def on_fit_task_end(self, estimator, context, *, X=None, y=None,
                        metadata=None, fitted_estimator=None):
        self.events.append(("end", context.task_name, context.task_id))
        if context.task_name == "epoch":
            # a ready-to-predict copy with the epoch's weights
            self.last_prediction = fitted_estimator.predict(X[:3])
            return context.task_id + 1 == self.stop_at
        return False


class _Propagated(_Recorder):
    max_propagation_depth = None


needs_sklearn_callbacks = pytest.mark.skipif(
    not SKLEARN_CALLBACKS, reason="scikit-learn has no sklearn.callback module")


@needs_sklearn_callbacks
def test_sklearn_callbacks_see_every_epoch_and_can_stop(data):
    X, y, _ = data
    recorder = _Recorder(stop_at=2)
    model = LinearRegressor(max_iter=10, tol=None, random_state=0)
    assert model.set_callbacks(recorder) is model
    model.fit(X, y)
    assert model.n_iter_ == 2
    assert recorder.events == [
        ("setup", "fit"), ("begin", "fit", 0),
        ("begin", "epoch", 0), ("end", "epoch", 0),
        ("begin", "epoch", 1), ("end", "epoch", 1),
        ("end", "fit", 0), ("teardown", "fit")]
    np.testing.assert_array_equal(recorder.last_prediction, model.predict(X[:3]))
    assert clone(model)._skl_callbacks == [recorder]


@needs_sklearn_callbacks
def test_sklearn_callbacks_propagate_from_a_search(data):
    X, y, _ = data
    recorder = _Propagated()
    search = GridSearchCV(LinearRegressor(max_iter=3, tol=None, random_state=0),
                          {"alpha": [1e-4, 1e-2]}, cv=2)
    search.set_callbacks(recorder).fit(X, y)
    assert search.batched_info_ is None  # fitted one by one, as scikit-learn does
    ends = [e for e in recorder.events if e[:2] == ("end", "epoch")]
    assert len(ends) == 3 * (2 * 2 + 1)  # epochs x (candidates x folds + refit)
