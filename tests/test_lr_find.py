"""lr_find (the learning-rate range test) and LearningRateFinderDisplay."""
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktune import LinearClassifier, LinearRegressor, MLPClassifier, MLPRegressor
from sktune.model_selection import LRFinderResult, lr_find
from sktune.model_selection._lr_find import MARGINS
from sktune.plot import LearningRateFinderDisplay

matplotlib.use("Agg")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 5)
    y = X @ np.array([1.0, -2.0, 0.5, 0.0, 1.5]) + 0.1 * rng.randn(200)
    return X, y


def test_rates_are_the_exponential_sequence_and_losses_are_recorded(data):
    X, y = data
    result = lr_find(LinearRegressor(optimizer="sgd", batch_size=10), X, y,
                     min_lr=1e-3, max_lr=0.3,
                     n_steps=30, random_state=0)
    assert isinstance(result, LRFinderResult)
    k = np.arange(30)
    np.testing.assert_array_equal(result.learning_rates_,
                                  1e-3 * (0.3 / 1e-3) ** (k / 29))
    assert not result.stopped_early_
    assert result.losses_.shape == result.raw_losses_.shape == (30,)
    # the smoothed loss is the bias-corrected moving average of the raw one
    avg = 0.0
    for i, loss in enumerate(result.raw_losses_):
        avg = 0.98 * avg + 0.02 * loss
        assert result.losses_[i] == pytest.approx(avg / (1 - 0.98 ** (i + 1)))
    # the loss falls as the rate grows on this easy problem
    assert result.raw_losses_[-5:].mean() < 0.5 * result.raw_losses_[:5].mean()
    assert 1e-3 <= result.suggestion_ <= 0.3


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_suggestion_is_the_centred_minimum_over_the_optimizers_margin(data, optimizer):
    X, y = data
    result = lr_find(LinearRegressor(optimizer=optimizer, batch_size=10), X, y,
                     min_lr=1e-4, max_lr=10.0, n_steps=40, random_state=0)
    raw = result.raw_losses_
    centred = [raw[max(k - 5, 0):k + 6].mean() for k in range(len(raw))]
    at_min = result.learning_rates_[int(np.argmin(centred))]
    assert MARGINS == {"sgd": 2.0, "momentum": 5.0, "nesterov": 5.0, "rmsprop": 5.0,
                       "adagrad": 5.0, "adam": 10.0, "adamw": 10.0}
    assert result.suggestion_ == pytest.approx(max(at_min / MARGINS[optimizer], 1e-4))


def test_the_input_estimator_is_untouched(data):
    X, y = data
    model = LinearRegressor(batch_size=10, max_iter=3, tol=None, random_state=1).fit(X, y)
    params, coef = model.get_params(), model.coef_.copy()
    state = model._train_state.snapshot()
    lr_find(model, X, y, n_steps=20, random_state=5)
    assert model.get_params() == params
    np.testing.assert_array_equal(model.coef_, coef)
    for name, value in model._train_state.snapshot().items():
        np.testing.assert_array_equal(value, state[name])
    unfitted = LinearRegressor()
    lr_find(unfitted, X, y, n_steps=5)
    assert not hasattr(unfitted, "coef_")


def test_random_state_seeds_the_run(data):
    X, y = data
    est = LinearRegressor(batch_size=10, random_state=0)
    a = lr_find(est, X, y, n_steps=20, random_state=3)
    b = lr_find(est, X, y, n_steps=20, random_state=3)
    c = lr_find(est, X, y, n_steps=20)
    np.testing.assert_array_equal(a.raw_losses_, b.raw_losses_)
    assert not np.array_equal(a.raw_losses_, c.raw_losses_)


def test_divergence_stops_the_run_without_raising(data):
    X, y = data
    result = lr_find(LinearRegressor(optimizer="sgd", batch_size=10), X, y,
                     max_lr=1e4, n_steps=100, random_state=0)
    assert result.stopped_early_
    assert len(result.learning_rates_) < 100
    assert np.all(np.isfinite(result.losses_))
    assert 1e-6 <= result.suggestion_ <= 1e4
    assert result.suggestion_ < result.learning_rates_[-1]


def test_pipeline_with_an_mlp(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(8,),
                                                        batch_size=16))
    result = lr_find(pipe, 10 * X + 3, y, n_steps=30, random_state=0)
    assert len(result.learning_rates_) >= 1
    assert result.estimator_name == "MLPRegressor"
    assert not hasattr(pipe[0], "mean_")  # the pipeline's scaler was not fitted


def test_classifiers(data):
    X, _ = data
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    for model in (LinearClassifier(batch_size=10),
                  MLPClassifier(hidden_layer_sizes=(8,), batch_size=16)):
        result = lr_find(model, X, y, n_steps=25, random_state=0)
        assert np.all(np.isfinite(result.raw_losses_))
        assert 1e-6 <= result.suggestion_ <= 1.0


def test_rejects_other_estimators_and_bad_ranges(data):
    X, y = data
    from sklearn.linear_model import Ridge

    with pytest.raises(TypeError, match="sktune estimator"):
        lr_find(Ridge(), X, y)
    with pytest.raises(ValueError, match="min_lr must be smaller"):
        lr_find(LinearRegressor(), X, y, min_lr=1.0, max_lr=0.1)


def test_display_draws_a_log_axis_and_marks_the_suggestion(data):
    X, y = data
    display = LearningRateFinderDisplay.from_estimator(
        LinearRegressor(batch_size=10), X, y, n_steps=30, random_state=0)
    result = display.result_
    assert display.ax_.get_xscale() == "log"
    assert display.figure_ is display.ax_.figure
    np.testing.assert_array_equal(display.line_.get_xdata(), result.learning_rates_)
    np.testing.assert_array_equal(display.line_.get_ydata(), result.losses_)
    assert display.suggestion_line_.get_xdata()[0] == result.suggestion_
    assert display.suggestion_marker_.get_xdata()[0] == result.suggestion_
    labels = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert any(label.startswith("LinearRegressor: suggestion") for label in labels)
    # the result draws itself too, on given axes
    _, ax = plt.subplots()
    again = result.plot(ax=ax, show_raw=False)
    assert again.ax_ is ax and again.raw_line_ is None
