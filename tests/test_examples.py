"""Run every example script at a small size and execute the tutorial notebook.

Each example is imported from its file and its ``main()`` called with small
data and the figures written to ``tmp_path``; the tests check the figures
and the numbers ``main()`` returns. The notebook runs in a real Jupyter
kernel (``python3``, the interpreter running the tests).
"""
import importlib.util
import inspect
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = ["gradient_descent_variants", "learning_rate_schedules", "regularization",
           "search_comparison"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def load_example(name):
    """Import ``examples/<name>.py`` as a module (the examples are no package)."""
    module_name = f"_sktune_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def assert_figures(result, tmp_path, names):
    """``result["figures"]`` are exactly ``names``, saved in ``tmp_path`` as PNGs."""
    paths = [Path(p) for p in result["figures"]]
    assert sorted(p.name for p in paths) == sorted(names)
    for path in paths:
        assert path.parent == tmp_path
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert len(data) > 10_000  # a real plot, not an empty canvas


def all_finite(values):
    return bool(np.all(np.isfinite(np.asarray(values, dtype=float))))


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_structure(name, monkeypatch, tmp_path):
    module = load_example(name)
    # a docstring that explains the example
    assert module.__doc__ and len(module.__doc__.split()) > 50
    source = (EXAMPLES / f"{name}.py").read_text()
    assert 'if __name__ == "__main__":' in source
    # plt.show() only ever runs behind ``if show:``
    lines = source.splitlines()
    shows = [i for i, line in enumerate(lines) if "plt.show()" in line]
    assert shows
    for i in shows:
        assert any(line.strip() == "if show:" for line in lines[max(0, i - 3):i])
    # the command line maps onto main()'s parameters
    monkeypatch.setattr(sys, "argv", [f"{name}.py", "--out", str(tmp_path)])
    args = module._parse_args()
    bound = inspect.signature(module.main).bind(**args)
    assert bound.arguments["out"] == str(tmp_path)
    assert bound.arguments["show"] is False
    # figures go to $SKTUNE_EXAMPLES_OUT when no directory is given
    target = tmp_path / "from_env"
    monkeypatch.setenv("SKTUNE_EXAMPLES_OUT", str(target))
    assert module.output_dir(None) == str(target)
    assert target.is_dir()


def test_gradient_descent_variants(tmp_path, capsys):
    module = load_example("gradient_descent_variants")
    max_iter = 8
    result = module.main(n_samples=300, max_iter=max_iter, out=tmp_path)
    assert_figures(result, tmp_path, ["gradient_descent_variants.png"])

    results = result["results"]
    assert list(results) == list(module.VARIANTS)
    assert len(results) == 8
    n_train = 225  # train_test_split's default 25% test share of 300
    for name, r in results.items():
        curve = r["loss_curve"]
        assert len(curve) == max_iter
        assert all_finite(curve) and all_finite([r["test_score"], r["fit_time"]])
        assert r["final_loss"] == curve[-1]
        assert r["final_loss"] < curve[0], name
        assert r["test_score"] > 0.9, name
        batch_size = module.VARIANTS[name]["batch_size"]
        batch_size = n_train if batch_size == "full" else batch_size
        assert r["n_updates"] == max_iter * math.ceil(n_train / batch_size), name
    # one exact-gradient step per epoch is slower than momentum's many
    batch = results["batch GD (full batch)"]["final_loss"]
    assert batch > results["momentum"]["final_loss"]
    assert batch > results["Nesterov"]["final_loss"]

    printed = capsys.readouterr().out
    for name in module.VARIANTS:
        assert name in printed


def test_learning_rate_schedules(tmp_path):
    module = load_example("learning_rate_schedules")
    from sktune.optim import SCHEDULES

    max_iter = 12
    result = module.main(n_samples=300, max_iter=max_iter, out=tmp_path)
    assert_figures(result, tmp_path, ["learning_rate_schedules.png"])

    results = result["results"]
    assert set(results) == set(SCHEDULES)
    lr0 = module.LEARNING_RATE
    n_steps = max_iter * math.ceil(225 / module.BATCH_SIZE)
    for name, r in results.items():
        rates = np.asarray(r["learning_rates"])
        assert len(r["loss_curve"]) == max_iter, name
        assert len(rates) == len(r["epochs"]) == n_steps, name
        assert all_finite(r["loss_curve"]) and all_finite(rates)
        assert np.isfinite(r["test_score"]) and r["test_score"] > 0.9, name
        assert rates[0] == pytest.approx(lr0), name
        assert np.all(rates > 0) and np.all(rates <= lr0 * (1 + 1e-12)), name
        assert r["final_rate"] == rates[-1]
        if name != "cosine":  # cosine restarts jump back up
            assert np.all(np.diff(rates) <= 1e-15), name

    assert np.all(results["constant"]["learning_rates"] == lr0)
    for name in ("invscaling", "exponential", "step", "linear", "cosine"):
        assert results[name]["final_rate"] < lr0 / 2, name
    assert results["linear"]["final_rate"] < lr0 / max_iter
    cosine = np.asarray(results["cosine"]["learning_rates"])
    assert np.sum(np.diff(cosine) > 0) == 2  # restarts after cycles 1 and 2
    # the plateau rate only ever halves
    plateau = np.unique(results["plateau"]["learning_rates"])
    assert np.allclose(np.log2(lr0 / plateau), np.round(np.log2(lr0 / plateau)))
    # decaying the rate beats a constant one on these noisy mini-batches
    constant = results["constant"]["final_loss"]
    for name in ("exponential", "linear", "cosine"):
        assert results[name]["final_loss"] < constant, name


def test_replayed_plateau_matches_the_estimator():
    """The plateau rates the example plots are the rates the estimator used.

    Driving a constant-rate model by hand with the replayed rate of each
    epoch (``partial_fit`` keeps the optimizer state and the shuffling)
    reproduces the plateau fit's loss curve exactly.
    """
    module = load_example("learning_rate_schedules")
    import sktune
    from sklearn.exceptions import ConvergenceWarning

    X_train, _, y_train, _ = module.make_data(300)
    params = module.schedule_params(20)["plateau"]
    shared = dict(optimizer="adam", batch_size=module.BATCH_SIZE, random_state=0)
    model = sktune.LinearRegressor(learning_rate=module.LEARNING_RATE,
                                   lr_schedule="plateau", max_iter=20, **shared, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    rates = module.replay_plateau(model.loss_curve_, params)
    assert len(rates) == len(model.loss_curve_) == 20
    assert rates[0] == module.LEARNING_RATE
    assert rates[-1] <= module.LEARNING_RATE / 4  # it did decay, more than once

    by_hand = sktune.LinearRegressor(lr_schedule="constant", **shared)
    for rate in rates:
        by_hand.set_params(learning_rate=rate)
        by_hand.partial_fit(X_train, y_train)
    np.testing.assert_allclose(by_hand.loss_curve_, model.loss_curve_, rtol=1e-12)
    np.testing.assert_allclose(by_hand.coef_, model.coef_, rtol=1e-12)


def test_regularization(tmp_path, capsys):
    module = load_example("regularization")
    max_iter = 30
    result = module.main(n_samples=120, n_features=30, max_iter=max_iter,
                         hidden_layer_sizes=(32,), learning_rate=1e-2, out=tmp_path)
    assert_figures(result, tmp_path,
                   ["regularization_curves.png", "regularization_weights.png"])

    results = result["results"]
    assert list(results) == list(module.VARIANTS)
    n_weights = 30 * 32 + 32 * 1
    for name, r in results.items():
        assert len(r["train_scores"]) == len(r["validation_scores"]) == max_iter
        assert all_finite(r["train_scores"]) and all_finite(r["validation_scores"])
        assert r["best_validation_score"] == max(r["validation_scores"])
        assert r["n_weights"] == n_weights
        assert len(r["feature_norms"]) == 30

    plain = results["no regularization"]
    l1 = results["L1 (alpha=0.01)"]
    l2 = results["L2 (alpha=0.05)"]
    # the unregularized network overfits: near-perfect on training data only
    assert plain["final_train_score"] > 0.95
    assert plain["final_train_score"] - plain["final_validation_score"] > 0.3
    # both penalties generalise better
    assert l2["final_validation_score"] > plain["final_validation_score"] + 0.1
    assert l1["final_validation_score"] > plain["final_validation_score"] + 0.1
    # only L1's proximal step produces exact zeros
    assert 0 < l1["n_zero_weights"] < n_weights
    for name in ("no regularization", "L2 (alpha=0.05)", "dropout (0.3)"):
        assert results[name]["n_zero_weights"] == 0, name
    assert f"L1 set {l1['n_zero_weights']} of {n_weights} weights" in capsys.readouterr().out


def test_search_comparison(tmp_path, capsys):
    module = load_example("search_comparison")
    result = module.main(n_samples=150, grid_points=2, cv=2, out=tmp_path)
    assert_figures(result, tmp_path, ["search_comparison.png"])

    budget = result["budget"]
    assert budget == 3 * 2**2
    results = result["results"]
    assert list(results) == ["grid", "random", "bayes"]
    lo, hi = module.LEARNING_RATE
    alo, ahi = module.ALPHA
    for name, r in results.items():
        assert r["n_candidates"] == budget, name
        assert len(r["scores"]) == len(r["best_so_far"]) == budget
        assert all_finite(r["scores"])
        assert np.all(np.diff(r["best_so_far"]) >= 0)
        assert r["best_so_far"][-1] == pytest.approx(r["best_score"])
        assert set(r["best_params"]) == {"optimizer", "learning_rate", "alpha"}
        assert set(r["optimizers"]) <= set(module.OPTIMIZERS)
        assert np.all((r["learning_rates"] >= lo * (1 - 1e-9))
                      & (r["learning_rates"] <= hi * (1 + 1e-9)))
        assert np.all((r["alphas"] >= alo * (1 - 1e-9)) & (r["alphas"] <= ahi * (1 + 1e-9)))
    # the grid evaluates every combination of its values once
    grid = results["grid"]
    combos = set(zip(grid["optimizers"], grid["learning_rates"], grid["alphas"]))
    assert len(combos) == budget
    assert np.allclose(sorted(set(grid["learning_rates"])), [lo, hi])
    # random and Bayesian search try a new learning rate with every candidate
    for name in ("random", "bayes"):
        assert len(set(results[name]["learning_rates"])) == budget, name
    assert max(r["best_score"] for r in results.values()) > 0.2

    printed = capsys.readouterr().out
    for name in ("grid", "random", "bayes"):
        assert f"{name}: best R^2" in printed


def test_tutorial_notebook(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    path = EXAMPLES / "tutorial.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code_cells
    # stored without outputs
    for cell in code_cells:
        assert cell.outputs == [] and cell.execution_count is None
    source = "\n".join(cell.source for cell in code_cells)
    for needed in ("make_pipeline", "loss_curve_", "GridSearchCV", "cv_results_"):
        assert needed in source

    client = NotebookClient(nb, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError if a cell fails

    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    assert all(cell.execution_count is not None for cell in code_cells)
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) == 2  # the loss curve and the search results
    text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "best validation R^2" in text and "best mean CV R^2" in text
