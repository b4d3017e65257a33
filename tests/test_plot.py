"""sktune.plot: the data each display draws, its scales, axes and errors.

matplotlib is a test requirement: without it this module fails to import,
and the tests fail rather than skip.
"""
import sys
import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from scipy.stats import loguniform, randint, uniform
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning, NotFittedError
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import Ridge
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    RandomizedSearchCV,
)
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skopt import BayesSearchCV
from skopt.space import Categorical, Integer, Real

from sktune import LinearClassifier, LinearRegressor, MLPClassifier, MLPRegressor
from sktune.plot import LossCurveDisplay, SearchDisplay, _epoch_learning_rates

matplotlib.use("Agg")  # no display needed (works after importing pyplot)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4)
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 + 0.1 * rng.randn(60)
    return X, y


def _lr(**kw):
    return LinearRegressor(**{"max_iter": 6, "tol": None, "random_state": 0, **kw})


def _pipe(**kw):
    return make_pipeline(StandardScaler(), _lr(**kw))


# ----------------------------------------------------------------------
# LossCurveDisplay


@pytest.mark.parametrize("make", [
    lambda: _lr(),
    lambda: LinearClassifier(max_iter=5, tol=None, random_state=0),
    lambda: MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, tol=None, random_state=0),
    lambda: MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, tol=None, random_state=0),
], ids=["LinearRegressor", "LinearClassifier", "MLPRegressor", "MLPClassifier"])
def test_loss_curve_plots_the_recorded_data(data, make):
    X, y = data
    model = make()
    if "Classifier" in type(model).__name__:
        y = (y > 0).astype(int)
    model.fit(X, y)
    display = LossCurveDisplay.from_estimator(model)

    n = model.n_iter_
    np.testing.assert_array_equal(display.line_.get_xdata(), np.arange(1, n + 1))
    np.testing.assert_array_equal(display.line_.get_ydata(), model.loss_curve_)
    np.testing.assert_array_equal(display.lr_line_.get_xdata(), np.arange(1, n + 1))
    np.testing.assert_array_equal(display.lr_line_.get_ydata(), model.learning_rates_)
    assert display.validation_line_ is None and display.validation_ax_ is None
    assert display.validation_loss_line_ is None
    assert display.ax_.get_xlabel() == "epoch"
    assert display.ax_.get_ylabel() == f"training loss ({model.loss})"
    assert display.lr_ax_.get_ylabel() == "learning rate"
    assert display.lr_line_ in display.lr_ax_.get_lines()
    assert display.line_ in display.ax_.get_lines()
    assert display.figure_ is display.ax_.figure
    assert list(display.axes_) == [display.ax_]
    # constant rate: linear scale; loss on a linear scale unless asked
    assert display.lr_ax_.get_yscale() == "linear"
    assert display.ax_.get_yscale() == "linear"
    labels = [t.get_text() for t in display.lr_ax_.get_legend().get_texts()]
    assert labels == [f"{type(model).__name__}: training loss",
                      f"{type(model).__name__}: learning rate"]


def test_validation_scores_on_their_own_axes(data):
    X, y = data
    model = _pipe(early_stopping=True, validation_fraction=0.25).fit(X, y)
    est = model[-1]
    display = LossCurveDisplay.from_estimator(model)

    np.testing.assert_array_equal(display.line_.get_ydata(), est.loss_curve_)
    np.testing.assert_array_equal(display.validation_line_.get_xdata(),
                                  np.arange(1, est.n_iter_ + 1))
    np.testing.assert_array_equal(display.validation_line_.get_ydata(),
                                  est.validation_scores_)
    assert display.validation_ax_ is not display.ax_
    assert display.validation_line_ in display.validation_ax_.get_lines()
    assert list(display.axes_) == [display.ax_, display.validation_ax_]
    # the two share the epoch axis, which is labelled at the bottom
    assert display.ax_.get_shared_x_axes().joined(display.ax_, display.validation_ax_)
    assert display.validation_ax_.get_xlabel() == "epoch"
    assert display.validation_ax_.get_ylabel() == "validation R²"
    # the same color ties an estimator's curves together
    assert display.validation_line_.get_color() == display.line_.get_color()
    # the validation loss is drawn with the training loss (same objective)
    np.testing.assert_array_equal(display.validation_loss_line_.get_xdata(),
                                  np.arange(1, est.n_iter_ + 1))
    np.testing.assert_array_equal(display.validation_loss_line_.get_ydata(),
                                  est.validation_loss_curve_)
    assert display.validation_loss_line_ in display.ax_.get_lines()
    assert display.validation_loss_line_.get_color() == display.line_.get_color()
    assert display.ax_.get_ylabel() == "loss (squared_error)"


def test_classifier_validation_score_is_accuracy(data):
    X, y = data
    clf = LinearClassifier(max_iter=4, tol=None, early_stopping=True,
                           random_state=0).fit(X, y > 0)
    display = LossCurveDisplay.from_estimator(clf)
    assert display.validation_ax_.get_ylabel() == "validation accuracy"
    assert display.ax_.get_ylabel() == "loss (log_loss)"


def test_log_loss_and_log_learning_rate(data):
    X, y = data
    # the rate falls by 10x per epoch: more than one decade
    model = _lr(lr_schedule="exponential", decay_rate=0.1, batch_size="full").fit(X, y)
    display = LossCurveDisplay.from_estimator(model, log_loss=True)
    assert display.ax_.get_yscale() == "log"
    assert display.lr_ax_.get_yscale() == "log"
    np.testing.assert_allclose(display.lr_line_.get_ydata(),
                               0.01 * 0.1 ** np.arange(6))

    # less than a decade stays linear
    model = _lr(lr_schedule="exponential", decay_rate=0.9).fit(X, y)
    display = LossCurveDisplay.from_estimator(model)
    assert display.lr_ax_.get_yscale() == "linear"
    assert display.ax_.get_yscale() == "linear"


@pytest.mark.parametrize("schedule, extra", [
    ("constant", {}),
    ("invscaling", {"power_t": 0.5}),
    ("exponential", {"decay_rate": 0.7}),
    ("step", {"step_size": 2, "decay_rate": 0.5}),
    ("linear", {"min_learning_rate": 0.001}),
    ("cosine", {"restart_period": 3, "restart_mult": 2.0}),
])
def test_learning_rates_recomputed_when_not_recorded(data, schedule, extra):
    # batch_size=16 on 60 samples: 4 uneven batches per epoch
    X, y = data
    model = _lr(lr_schedule=schedule, batch_size=16, **extra).fit(X, y)
    model.partial_fit(X, y)  # the schedule continues across calls
    recorded = list(model.learning_rates_)
    assert len(recorded) == 7
    del model.learning_rates_
    np.testing.assert_allclose(_epoch_learning_rates(model), recorded, rtol=1e-12)
    display = LossCurveDisplay.from_estimator(model)
    np.testing.assert_allclose(display.lr_line_.get_ydata(), recorded, rtol=1e-12)


def test_plateau_without_recorded_rates_has_no_learning_rate_axis(data):
    X, y = data
    model = _lr(lr_schedule="plateau").fit(X, y)
    del model.learning_rates_
    display = LossCurveDisplay.from_estimator(model)
    assert display.lr_line_ is None and display.lr_ax_ is None
    assert len(display.figure_.axes) == 1  # no twin axis was added
    np.testing.assert_array_equal(display.line_.get_ydata(), model.loss_curve_)


def test_plateau_uses_recorded_rates(data):
    X, y = data
    model = _lr(lr_schedule="plateau", n_iter_no_change=1, tol=10.0,
                decay_rate=0.5, max_iter=5).fit(X, y)
    display = LossCurveDisplay.from_estimator(model)
    np.testing.assert_array_equal(display.lr_line_.get_ydata(), model.learning_rates_)
    assert display.lr_line_.get_ydata()[-1] < display.lr_line_.get_ydata()[0]


def test_hide_learning_rate(data):
    X, y = data
    display = LossCurveDisplay.from_estimator(_lr().fit(X, y), show_learning_rate=False)
    assert display.lr_line_ is None and display.lr_ax_ is None
    assert len(display.figure_.axes) == 1


def test_warm_start_aligns_validation_with_last_epochs(data):
    X, y = data
    model = _lr(early_stopping=True, validation_fraction=0.25, warm_start=True,
                max_iter=3).fit(X, y)
    model.fit(X, y)  # warm start: the loss curve grows, the scores restart
    assert len(model.loss_curve_) == 6 and len(model.validation_scores_) == 3
    display = LossCurveDisplay.from_estimator(model)
    np.testing.assert_array_equal(display.line_.get_xdata(), np.arange(1, 7))
    np.testing.assert_array_equal(display.validation_line_.get_xdata(), [4, 5, 6])
    np.testing.assert_array_equal(display.lr_line_.get_xdata(), np.arange(1, 7))


def test_overlay_on_given_axes_shares_the_learning_rate_axis(data):
    X, y = data
    fig, ax = plt.subplots()
    first = LossCurveDisplay.from_estimator(
        _lr(optimizer="sgd", lr_schedule="exponential", decay_rate=0.2).fit(X, y),
        ax=ax, name="sgd")
    second = LossCurveDisplay.from_estimator(
        _lr(optimizer="adam").fit(X, y), ax=first.ax_, name="adam")
    assert first.ax_ is ax and second.ax_ is ax and second.figure_ is fig
    assert second.lr_ax_ is first.lr_ax_
    assert len(ax.get_lines()) == 2 and len(first.lr_ax_.get_lines()) == 2
    assert len(fig.axes) == 2  # the loss axes and one twin
    assert second.line_.get_color() != first.line_.get_color()
    # the shared axis is log because the sgd schedule spans > 1 decade
    assert first.lr_ax_.get_yscale() == "log"
    labels = [t.get_text() for t in first.lr_ax_.get_legend().get_texts()]
    assert labels == ["sgd: training loss", "adam: training loss",
                      "sgd: learning rate", "adam: learning rate"]


def test_overlay_with_validation_on_display_axes(data):
    X, y = data
    first = LossCurveDisplay.from_estimator(
        _lr(early_stopping=True, validation_fraction=0.25).fit(X, y), name="a")
    second = LossCurveDisplay.from_estimator(
        _lr(early_stopping=True, validation_fraction=0.25, optimizer="sgd").fit(X, y),
        ax=first.axes_, name="b")
    assert second.ax_ is first.ax_ and second.validation_ax_ is first.validation_ax_
    assert len(first.validation_ax_.get_lines()) == 2
    assert [t.get_text() for t in first.validation_ax_.get_legend().get_texts()] == [
        "a: validation score", "b: validation score"]


def test_single_ax_with_validation_is_split(data):
    X, y = data
    fig, (_, right) = plt.subplots(1, 2)
    model = _lr(early_stopping=True, validation_fraction=0.25).fit(X, y)
    display = LossCurveDisplay.from_estimator(model, ax=right)
    assert display.bounding_ax_ is right and not right.axison
    assert display.ax_ is not right and display.validation_ax_ is not right
    assert display.ax_.figure is fig and display.validation_ax_.figure is fig
    # loss above the score, both inside the right half
    loss_box = display.ax_.get_position()
    val_box = display.validation_ax_.get_position()
    assert loss_box.y0 > val_box.y1
    assert loss_box.x0 >= right.get_position().x0 - 1e-9
    np.testing.assert_array_equal(display.validation_line_.get_ydata(),
                                  model.validation_scores_)
    with pytest.raises(ValueError, match="bounding box"):
        LossCurveDisplay.from_estimator(model, ax=right)


def test_display_from_lists():
    display = LossCurveDisplay([3.0, 2.0, 1.5, 1.2], validation_scores=[0.1, 0.3],
                               learning_rates=[1.0, 0.1, 0.01, 0.001],
                               estimator_name="run").plot()
    np.testing.assert_array_equal(display.line_.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(display.validation_line_.get_xdata(), [3, 4])
    assert display.lr_ax_.get_yscale() == "log"
    assert display.line_.get_label() == "run: training loss"
    with pytest.raises(ValueError, match="ax must be"):
        LossCurveDisplay([1.0, 0.5]).plot(ax=[1, 2, 3])


def test_sklearn_mlp_is_accepted(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = SkMLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
    display = LossCurveDisplay.from_estimator(mlp)
    np.testing.assert_array_equal(display.line_.get_ydata(), mlp.loss_curve_)
    assert display.lr_line_ is None  # its schedule is unknown


def test_loss_curve_of_a_search_uses_best_estimator(data):
    X, y = data
    search = GridSearchCV(_pipe(), {"linearregressor__learning_rate": [0.01, 0.1]},
                          cv=2).fit(X, y)
    display = LossCurveDisplay.from_estimator(search)
    np.testing.assert_array_equal(display.line_.get_ydata(),
                                  search.best_estimator_[-1].loss_curve_)


def test_loss_curve_errors(data):
    X, y = data
    with pytest.raises(NotFittedError):
        LossCurveDisplay.from_estimator(LinearRegressor())
    with pytest.raises(NotFittedError):
        LossCurveDisplay.from_estimator(_pipe())
    with pytest.raises(NotFittedError):
        LossCurveDisplay.from_estimator(GridSearchCV(_lr(), {"alpha": [1e-4]}))
    with pytest.raises(TypeError, match="loss curve"):
        LossCurveDisplay.from_estimator(Ridge().fit(X, y))
    with pytest.raises(TypeError, match="fitted sktune estimator"):
        LossCurveDisplay.from_estimator([1.0, 2.0])
    search = GridSearchCV(_lr(), {"alpha": [1e-4, 1e-3]}, cv=2, refit=False).fit(X, y)
    with pytest.raises(TypeError, match="refit=False"):
        LossCurveDisplay.from_estimator(search)


def test_missing_matplotlib_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install \"sktune\[plot\]\""):
        LossCurveDisplay([1.0, 0.5]).plot()
    with pytest.raises(ImportError, match="matplotlib"):
        SearchDisplay({"param_a": [1, 2], "mean_test_score": [0.1, 0.2]}).plot()


def test_import_does_not_need_matplotlib(monkeypatch):
    import importlib.util

    import sktune.plot

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    spec = importlib.util.spec_from_file_location("sktune._plot_copy", sktune.plot.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # matplotlib is imported only to draw
    display = module.LossCurveDisplay([1.0, 0.5])
    with pytest.raises(ImportError, match="sktune\\[plot\\]"):
        display.plot()


# ----------------------------------------------------------------------
# SearchDisplay


def _offsets(collection):
    return np.asarray(collection.get_offsets())


def _xtick_labels(ax):
    return [t.get_text() for t in ax.get_xticklabels()]


def test_grid_search(data):
    X, y = data
    grid = {"linearregressor__learning_rate": [0.001, 0.01, 0.1],
            "linearregressor__optimizer": ["sgd", "adam"]}
    search = GridSearchCV(_pipe(), grid, cv=2).fit(X, y)
    res = search.cv_results_
    display = SearchDisplay.from_search(search)

    assert len(display.axes_) == 2
    assert display.params_ == list(grid)
    # pipeline prefixes stripped from the labels
    assert [ax.get_xlabel() for ax in display.axes_] == ["learning_rate", "optimizer"]
    assert display.axes_[0].get_ylabel() == "mean test score"
    assert display.figure_ is display.axes_[0].figure
    assert len(display.figure_.axes) == 2

    # a grid spanning two decades: log; strings: categories in grid order
    lr_ax, opt_ax = display.axes_
    assert lr_ax.get_xscale() == "log"
    assert display.scales_ == {"linearregressor__learning_rate": "log",
                               "linearregressor__optimizer": "categorical"}
    assert _xtick_labels(opt_ax) == ["sgd", "adam"]

    (lr_points,), (opt_points,) = display.scatters_
    np.testing.assert_allclose(_offsets(lr_points)[:, 0],
                               np.asarray(res["param_linearregressor__learning_rate"], float))
    np.testing.assert_allclose(_offsets(lr_points)[:, 1], res["mean_test_score"])
    expected_codes = [0 if o == "sgd" else 1 for o in res["param_linearregressor__optimizer"]]
    np.testing.assert_array_equal(_offsets(opt_points)[:, 0], expected_codes)
    np.testing.assert_allclose(_offsets(opt_points)[:, 1], res["mean_test_score"])

    # error bars of one std
    (bars,) = display.errorbars_[0]
    segments = bars.lines[2][0].get_segments()
    half = np.array([(s[1, 1] - s[0, 1]) / 2 for s in segments])
    np.testing.assert_allclose(half, res["std_test_score"])

    # the best candidate is highlighted on every axis
    assert display.best_index_ == search.best_index_
    for marker, x in zip(display.best_markers_,
                         [search.best_params_["linearregressor__learning_rate"],
                          expected_codes[search.best_index_]]):
        np.testing.assert_allclose(_offsets(marker),
                                   [[x, search.best_score_]])
    legend = [t.get_text() for t in lr_ax.get_legend().get_texts()]
    assert legend == ["candidates", f"best ({search.best_score_:.4g})"]


def test_randomized_search_log_scale_from_the_distribution(data):
    X, y = data
    dists = {"linearregressor__learning_rate": loguniform(1e-3, 1e-2),
             "linearregressor__alpha": uniform(1e-4, 1.0),
             "linearregressor__batch_size": randint(4, 32)}
    search = RandomizedSearchCV(_pipe(), dists, n_iter=6, cv=2, random_state=0).fit(X, y)
    display = SearchDisplay.from_search(search)
    scales = {ax.get_xlabel(): ax.get_xscale() for ax in display.axes_}
    # one decade only: the log scale comes from loguniform, not the data
    assert scales == {"learning_rate": "log", "alpha": "linear", "batch_size": "linear"}
    res = search.cv_results_
    for name, (points,) in zip(display.params_, display.scatters_):
        np.testing.assert_allclose(_offsets(points)[:, 0],
                                   np.asarray(res[f"param_{name}"], float))
        np.testing.assert_allclose(_offsets(points)[:, 1], res["mean_test_score"])

    # from the results alone, one decade stays linear
    plain = SearchDisplay(res).plot()
    assert [ax.get_xscale() for ax in plain.axes_] == ["linear"] * 3
    # explicit scales win, by short or full name
    forced = SearchDisplay(res, scales={"learning_rate": "log"}).plot()
    assert forced.scales_["linearregressor__learning_rate"] == "log"
    forced = SearchDisplay.from_search(
        search, scales={"linearregressor__learning_rate": "linear"})
    assert forced.scales_["linearregressor__learning_rate"] == "linear"


def test_bayes_search(data):
    X, y = data
    spaces = {"linearregressor__learning_rate": Real(1e-3, 1e-2, prior="log-uniform"),
              "linearregressor__alpha": (1e-4, 1e-3, "log-uniform"),
              "linearregressor__batch_size": Integer(4, 32),
              "linearregressor__optimizer": Categorical(["sgd", "adam"])}
    search = BayesSearchCV(_pipe(), spaces, n_iter=4, cv=2, random_state=0).fit(X, y)
    display = SearchDisplay.from_search(search)
    assert len(display.axes_) == 4
    scales = {ax.get_xlabel(): ax.get_xscale() for ax in display.axes_}
    assert scales == {"alpha": "log", "batch_size": "linear",
                      "learning_rate": "log", "optimizer": "linear"}
    assert display.scales_["linearregressor__optimizer"] == "categorical"
    opt_ax = display.axes_[display.params_.index("linearregressor__optimizer")]
    res = search.cv_results_
    seen = list(dict.fromkeys(res["param_linearregressor__optimizer"]))
    assert _xtick_labels(opt_ax) == seen
    assert display.best_index_ == search.best_index_
    for (points,) in display.scatters_:
        np.testing.assert_allclose(_offsets(points)[:, 1], res["mean_test_score"])


def test_bayes_search_with_list_of_spaces(data):
    X, y = data
    spaces = [({"linearregressor__learning_rate": Real(1e-3, 1e-2, prior="log-uniform")}, 2),
              {"linearregressor__learning_rate": Real(1e-3, 1e-2, prior="log-uniform"),
               "linearregressor__optimizer": Categorical(["sgd"])}]
    search = BayesSearchCV(_pipe(), spaces, n_iter=2, cv=2, random_state=0).fit(X, y)
    display = SearchDisplay.from_search(search)
    lr_ax = display.axes_[display.params_.index("linearregressor__learning_rate")]
    assert lr_ax.get_xscale() == "log"


@pytest.mark.parametrize("kind", ["grid", "random"])
def test_halving_search_colors_points_by_iteration(data, kind):
    X, y = data
    est = _lr()
    if kind == "grid":
        search = HalvingGridSearchCV(
            est, {"learning_rate": [1e-3, 1e-2, 3e-2, 1e-1], "optimizer": ["sgd", "adam"]},
            resource="max_iter", min_resources=2, max_resources=8, factor=2, cv=2)
    else:
        search = HalvingRandomSearchCV(
            est, {"learning_rate": loguniform(1e-3, 1e-2), "optimizer": ["sgd", "adam"]},
            n_candidates=8, resource="max_iter", min_resources=2, max_resources=8,
            factor=2, cv=2, random_state=0)
    search.fit(X, y)
    res = search.cv_results_
    display = SearchDisplay.from_search(search)

    # the resource (max_iter) is not a searched parameter
    assert display.params_ == ["learning_rate", "optimizer"]
    iters = np.asarray(res["iter"])
    levels = np.unique(iters)
    assert len(levels) >= 2
    for groups in display.scatters_:
        assert len(groups) == len(levels)
        colors = [tuple(to_rgba(g.get_facecolor()[0])) for g in groups]
        assert len(set(colors)) == len(levels)  # one color per iteration
        for level, group in zip(levels, groups):
            np.testing.assert_allclose(_offsets(group)[:, 1],
                                       res["mean_test_score"][iters == level])
            n_res = np.asarray(res["n_resources"])[iters == level][0]
            assert group.get_label() == f"iter {level} (n_resources={n_res})"
    assert display.axes_[0].get_xscale() == "log"
    # the best candidate belongs to the last iteration
    assert display.best_index_ == search.best_index_
    assert res["iter"][display.best_index_] == levels[-1]
    # from the results alone: same best candidate, resource still left out
    plain = SearchDisplay(res).plot()
    assert plain.best_index_ == search.best_index_
    assert plain.params_ == ["learning_rate", "optimizer"]


def test_multimetric_search_defaults_to_the_refit_metric(data):
    X, y = data
    search = GridSearchCV(_lr(), {"learning_rate": [0.01, 0.1]}, cv=2,
                          scoring={"r2": "r2", "mse": "neg_mean_squared_error"},
                          refit="mse").fit(X, y)
    display = SearchDisplay.from_search(search)
    (points,) = display.scatters_[0]
    np.testing.assert_allclose(_offsets(points)[:, 1], search.cv_results_["mean_test_mse"])
    assert display.axes_[0].get_ylabel() == "mean test mse"
    assert display.best_index_ == search.best_index_
    other = SearchDisplay.from_search(search, score_key="mean_test_r2")
    (points,) = other.scatters_[0]
    np.testing.assert_allclose(_offsets(points)[:, 1], search.cv_results_["mean_test_r2"])
    assert other.best_index_ == int(np.argmax(search.cv_results_["mean_test_r2"]))
    with pytest.raises(ValueError, match="not in cv_results"):
        SearchDisplay(search.cv_results_).plot()


def test_select_params_by_short_or_full_name(data):
    X, y = data
    grid = {"linearregressor__learning_rate": [0.01, 0.1],
            "linearregressor__optimizer": ["sgd", "adam"]}
    search = GridSearchCV(_pipe(), grid, cv=2).fit(X, y)
    short = SearchDisplay.from_search(search, params=["optimizer"])
    assert len(short.axes_) == 1 and short.params_ == ["linearregressor__optimizer"]
    full = SearchDisplay.from_search(search, params="linearregressor__learning_rate")
    assert full.params_ == ["linearregressor__learning_rate"]
    with pytest.raises(ValueError, match="not in cv_results"):
        SearchDisplay.from_search(search, params=["momentum"])


def test_list_of_grids_and_mixed_values(data):
    X, y = data
    grid = [{"lr_schedule": ["constant"], "batch_size": [8, "full"]},
            {"lr_schedule": ["step"], "step_size": [1, 2], "clip_norm": [None, 1.0]}]
    search = GridSearchCV(_lr(), grid, cv=2).fit(X, y)
    res = search.cv_results_
    display = SearchDisplay.from_search(search)
    by_name = dict(zip(display.params_, display.axes_))
    assert set(by_name) == {"batch_size", "clip_norm", "lr_schedule", "step_size"}
    assert display.scales_["batch_size"] == "categorical"
    assert _xtick_labels(by_name["batch_size"]) == ["8", "full"]
    assert _xtick_labels(by_name["clip_norm"]) == ["None", "1.0"]
    assert display.scales_["step_size"] == "linear"
    # a parameter of one sub-grid only plots that sub-grid's candidates
    idx = display.params_.index("step_size")
    (points,) = display.scatters_[idx]
    rows = ~np.ma.getmaskarray(res["param_step_size"])
    np.testing.assert_allclose(_offsets(points)[:, 1], res["mean_test_score"][rows])
    assert len(_offsets(points)) == 4


def test_hidden_layer_sizes_as_categories(data):
    X, y = data
    search = GridSearchCV(
        MLPRegressor(max_iter=3, tol=None, random_state=0),
        {"hidden_layer_sizes": [(4,), (4, 4)]}, cv=2).fit(X, y)
    display = SearchDisplay.from_search(search)
    assert _xtick_labels(display.axes_[0]) == ["(4,)", "(4, 4)"]
    assert display.scales_ == {"hidden_layer_sizes": "categorical"}


def test_display_from_results_dict():
    results = {
        "param_a__alpha": np.ma.masked_array([1e-5, 1e-3, 1e-1, 1.0]),
        "param_b__alpha": np.ma.masked_array([0.2, 0.4, 0.6, 0.8]),
        "param_c__flag": np.ma.masked_array([True, False, True, False], dtype=object),
        "mean_test_score": np.array([0.1, np.nan, 0.7, 0.3]),
    }
    display = SearchDisplay(results).plot(n_cols=2)
    # clashing short names keep their prefix; unique ones lose it
    assert [ax.get_xlabel() for ax in display.axes_] == ["a__alpha", "b__alpha", "flag"]
    assert [ax.get_xscale() for ax in display.axes_[:2]] == ["log", "linear"]
    assert _xtick_labels(display.axes_[2]) == ["True", "False"]
    assert display.best_index_ == 2  # NaN scores are ignored
    assert display.errorbars_ == [[], [], []]  # no std recorded
    # 3 subplots in 2 columns: the fourth cell is removed
    assert len(display.figure_.axes) == 3
    assert display.axes_[2].get_position().y1 < display.axes_[0].get_position().y0


def test_search_display_on_given_axes(data):
    X, y = data
    search = GridSearchCV(_lr(), {"learning_rate": [0.01, 0.1],
                                  "optimizer": ["sgd", "adam"]}, cv=2).fit(X, y)
    fig, axes = plt.subplots(1, 3)
    display = SearchDisplay.from_search(search, ax=axes[1:])
    assert list(display.axes_) == list(axes[1:]) and display.figure_ is fig
    assert not axes[0].collections

    fig, ax = plt.subplots()
    display = SearchDisplay.from_search(search, ax=ax)
    assert display.bounding_ax_ is ax and not ax.axison
    assert len(display.axes_) == 2 and ax not in display.axes_

    fig, ax = plt.subplots()
    display = SearchDisplay.from_search(search, params=["optimizer"], ax=ax)
    assert list(display.axes_) == [ax]

    with pytest.raises(ValueError, match="at least 2"):
        SearchDisplay.from_search(search, ax=axes[:1].tolist() + [None])


def test_search_display_errors(data):
    X, y = data
    with pytest.raises(NotFittedError):
        SearchDisplay.from_search(GridSearchCV(_lr(), {"alpha": [1e-4]}))
    with pytest.raises(NotFittedError):
        SearchDisplay.from_search(BayesSearchCV(_lr(), {"alpha": Real(1e-4, 1e-2)}))
    with pytest.raises(TypeError, match="hyperparameter search"):
        SearchDisplay.from_search(_lr().fit(X, y))
    with pytest.raises(TypeError, match="hyperparameter search"):
        SearchDisplay.from_search("GridSearchCV")
    with pytest.raises(TypeError, match=r"SearchDisplay\(cv_results\)"):
        SearchDisplay.from_search({"mean_test_score": [0.1]})
    with pytest.raises(TypeError, match="cv_results must be a dict"):
        SearchDisplay([1, 2]).plot()
    with pytest.raises(ValueError, match="no searched parameter"):
        SearchDisplay({"mean_test_score": [0.1]}).plot()
    with pytest.raises(ValueError, match="'log' or 'linear'"):
        SearchDisplay({"param_a": [1, 2], "mean_test_score": [0.1, 0.2]},
                      scales={"a": "symlog"}).plot()


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
def test_failed_candidates_are_marked_and_counted(data):
    X, y = data
    # sgd with learning_rate=100 diverges: DivergenceError, scored NaN
    grid = {"learning_rate": [0.01, 0.1, 100.0], "penalty": ["l2", None]}
    with pytest.warns(FitFailedWarning):
        search = GridSearchCV(_lr(optimizer="sgd"), grid, cv=2,
                              error_score=np.nan).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    failed = np.flatnonzero(np.isnan(scores))
    assert len(failed) == 2  # learning_rate=100, with either penalty

    display = SearchDisplay.from_search(search)
    assert display.n_failed_ == 2
    np.testing.assert_array_equal(display.failed_indices_, failed)
    lr_ax, pen_ax = display.axes_
    # crosses at the failed values, at the bottom of each subplot
    lr_marker, pen_marker = display.failed_markers_
    np.testing.assert_allclose(_offsets(lr_marker)[:, 0], [100.0, 100.0])
    np.testing.assert_allclose(_offsets(lr_marker)[:, 1], 0.04)
    np.testing.assert_array_equal(sorted(_offsets(pen_marker)[:, 0]), [0, 1])
    # drawn inside the x range, which now covers the failed value
    assert lr_ax.get_xlim()[1] >= 100.0
    # the successful candidates are unchanged: the y range ignores the failed
    (points,) = display.scatters_[0]
    assert len(_offsets(points)) == len(scores) - 2
    assert np.isfinite(lr_ax.get_ylim()).all()
    # the legend says how many failed
    legend = [t.get_text() for t in lr_ax.get_legend().get_texts()]
    assert "failed (2 of 6)" in legend


def test_no_failed_candidates():
    results = {"param_alpha": [1e-4, 1e-3], "mean_test_score": [0.5, 0.6]}
    display = SearchDisplay(results).plot()
    assert display.n_failed_ == 0
    assert display.failed_markers_ == [None]
    assert display.failed_indices_.size == 0
    legend = [t.get_text() for t in display.axes_[0].get_legend().get_texts()]
    assert not any(text.startswith("failed") for text in legend)


def test_failed_count_shown_when_first_parameter_is_unset():
    # the failed candidates have no value of the first parameter (a list of
    # grids): the legend of the first subplot still counts them
    results = {
        "param_alpha": np.ma.masked_array([1e-4, 1e-2, 0.0], mask=[False, False, True]),
        "param_optimizer": np.ma.masked_array(["sgd", "adam", "sgd"], dtype=object,
                                              mask=[True, True, False]),
        "mean_test_score": np.array([0.5, 0.6, np.nan]),
    }
    display = SearchDisplay(results).plot(failed_kw={"color": "purple"})
    assert display.n_failed_ == 1
    assert display.failed_markers_[0] is None
    assert to_rgba(display.failed_markers_[1].get_facecolor()[0]) == to_rgba("purple")
    legend = [t.get_text() for t in display.axes_[0].get_legend().get_texts()]
    assert "failed (1 of 3)" in legend


def test_loss_curve_display_draws_a_gradient_norm_panel():
    rng = np.random.RandomState(0)
    X = rng.randn(80, 4)
    y = X[:, 0] - X[:, 1]
    model = MLPRegressor((5, 3), max_iter=6, tol=None, random_state=0,
                         early_stopping=True).fit(X, y)
    display = LossCurveDisplay.from_estimator(model, show_gradients=True)
    assert len(display.axes_) == 3 and display.axes_[2] is display.gradient_ax_
    assert display.gradient_ax_.get_yscale() == "log"
    assert len(display.gradient_lines_) == 3  # one line per layer
    for k, line in enumerate(display.gradient_lines_):
        np.testing.assert_array_equal(line.get_ydata(), model.gradient_norms_[:, k])
        assert line.get_label().endswith(f"layer {k + 1}")
    assert display.gradient_ax_.get_xlabel() == "epoch"
    # without the option: no panel; one given Axes is split into three
    plain = LossCurveDisplay.from_estimator(model)
    assert plain.gradient_ax_ is None and len(plain.axes_) == 2
    fig, ax = plt.subplots()
    split = LossCurveDisplay.from_estimator(model, ax=ax, show_gradients=True)
    assert split.bounding_ax_ is ax and len(split.axes_) == 3
    # overlay on the same panels; a wrong number of Axes is refused
    LossCurveDisplay.from_estimator(model, ax=display.axes_, show_gradients=True)
    assert len(display.gradient_ax_.get_lines()) == 6
    with pytest.raises(ValueError, match="3 Axes"):
        LossCurveDisplay.from_estimator(model, ax=display.axes_[:2], show_gradients=True)
    with pytest.raises(ValueError, match="gradient_norms"):
        LossCurveDisplay([1.0, 0.5]).plot(show_gradients=True)
    plt.close("all")


def test_search_display_draws_the_rungs_of_sktune_halving_and_hyperband(data):
    from sktune.model_selection import HalvingGridSearchCV as StHalving
    from sktune.model_selection import HyperbandSearchCV

    X, y = data
    search = StHalving(_lr(), {"learning_rate": [1e-3, 1e-2, 3e-2, 1e-1]},
                       resource="max_iter", max_resources=8, factor=2, cv=2).fit(X, y)
    res = search.cv_results_
    display = SearchDisplay.from_search(search)
    assert display.params_ == ["learning_rate"]
    axis = display.rungs_ax_
    assert axis is not None and axis.get_xlabel() == "n_resources"
    # one line per candidate, through every rung it reached
    assert len(display.rung_lines_) == search.n_candidates_[0]
    lengths = sorted(len(line.get_xdata()) for line in display.rung_lines_)
    assert lengths == [1, 1, 2, 3]
    (best,) = [ln for ln in display.rung_lines_ if ln.get_color() == "red"]
    np.testing.assert_array_equal(best.get_xdata(), search.n_resources_)
    assert best.get_ydata()[-1] == res["mean_test_score"][search.best_index_]
    # one Axes per parameter given: no room, no rungs; rungs=False: none
    _, axes = plt.subplots(1, 1)
    assert SearchDisplay.from_search(search, ax=[axes]).rungs_ax_ is None
    assert SearchDisplay.from_search(search, rungs=False).rungs_ax_ is None
    with pytest.raises(ValueError, match="halving search"):
        SearchDisplay({k: v for k, v in res.items() if k != "iter"}).plot(rungs=True)

    band = HyperbandSearchCV(_lr(), {"learning_rate": loguniform(1e-3, 1e-1)},
                             max_resources=4, factor=2, cv=2, random_state=0).fit(X, y)
    display = SearchDisplay.from_search(band)
    assert display.best_index_ == band.best_index_
    labels = [g.get_label() for g in display.scatters_[0]]
    assert labels == [f"n_resources={r}" for r in sorted(set(band.n_resources_))]
    # paths stay within their bracket: as many as the first rungs' candidates
    firsts = np.sum(np.asarray(band.cv_results_["iter"]) == 0)
    assert len(display.rung_lines_) == firsts == band.n_candidates_[0] + sum(
        band.n_candidates_[i] for i in range(1, len(band.n_candidates_))
        if band.n_resources_[i] <= band.n_resources_[i - 1])
