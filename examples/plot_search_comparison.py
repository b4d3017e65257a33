"""Grid vs random vs Bayesian search on the same budget.

Tunes a ``StandardScaler`` + :class:`sktune.LinearRegressor` pipeline (L2
penalty, full-batch gradient descent for only 5 epochs, so that only a
narrow band of fast-but-stable settings does well) on the diabetes data,
over three hyperparameters:

* ``optimizer`` in {"sgd", "momentum", "adam"};
* ``learning_rate`` between 1e-4 and 1, on a log scale;
* ``alpha`` (the L2 strength) between 1e-5 and 1, on a log scale.

Each search evaluates the same number of candidates, ``3 * grid_points**2``
(27 by default), with 3-fold cross-validation:

* ``GridSearchCV`` on ``grid_points`` log-spaced values per numeric axis;
* ``RandomizedSearchCV`` drawing from ``scipy.stats.loguniform``;
* scikit-optimize's ``BayesSearchCV`` (a Gaussian-process surrogate, after
  a few random initial points) on ``Real(..., prior="log-uniform")`` and
  ``Categorical`` dimensions.

The figure shows the best cross-validated R^2 found so far against the
number of candidates evaluated (in the order each search evaluated them;
for the grid that is the order of ``ParameterGrid``), and where in the
(learning rate, alpha) plane each search looked. The good fits need a
learning rate in a narrow band (roughly 0.05 to 0.5: faster diverges or
overshoots, slower has not converged in 5 epochs). A grid spends its whole
budget on the few values per axis it was given and can miss that band
altogether, while random and Bayesian search try a new learning rate with
every candidate, and the Bayesian search spends its later candidates where
its surrogate model expects good scores. The script prints the best
parameters and score of each search.

Run ``python examples/search_comparison.py`` (``--show`` opens a window; by
default the figure is written to ``--out``, the ``SKTUNE_EXAMPLES_OUT``
environment variable, or a temporary directory).
"""
import argparse
import os
import tempfile
import time

import numpy as np
from scipy.stats import loguniform
from skopt import BayesSearchCV
from skopt.space import Categorical, Real
from sklearn.datasets import load_diabetes
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import shuffle
from threadpoolctl import threadpool_limits

import sktune

OPTIMIZERS = ["sgd", "momentum", "adam"]
LEARNING_RATE = (1e-4, 1.0)
ALPHA = (1e-5, 1.0)
STEP = "linearregressor"  # the estimator's name inside the pipeline
MARKERS = {"sgd": "o", "momentum": "s", "adam": "^"}


def output_dir(out=None):
    """Where figures go: ``out``, ``$SKTUNE_EXAMPLES_OUT`` or a temporary directory."""
    if out is None:
        out = os.environ.get("SKTUNE_EXAMPLES_OUT") or os.path.join(
            tempfile.gettempdir(), "sktune-examples")
    os.makedirs(out, exist_ok=True)
    return str(out)


def new_figure(show, **kwargs):
    """A pyplot figure when showing, else a backend-free (Agg) Figure."""
    if show:
        import matplotlib.pyplot as plt

        return plt.figure(**kwargs)
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def make_searches(max_iter, grid_points, cv, n_jobs, random_state):
    """The three searches, each over ``3 * grid_points**2`` candidates."""
    model = make_pipeline(
        StandardScaler(),
        sktune.LinearRegressor(penalty="l2", batch_size="full", max_iter=max_iter,
                               tol=None, random_state=random_state),
    )
    budget = len(OPTIMIZERS) * grid_points**2
    # A fit that diverges (sktune.DivergenceError) scores -1 rather than NaN,
    # so that the Bayesian optimizer can learn from it too.
    common = dict(cv=cv, n_jobs=n_jobs, error_score=-1.0)
    grid = {
        f"{STEP}__optimizer": OPTIMIZERS,
        f"{STEP}__learning_rate": np.geomspace(*LEARNING_RATE, grid_points).tolist(),
        f"{STEP}__alpha": np.geomspace(*ALPHA, grid_points).tolist(),
    }
    distributions = {
        f"{STEP}__optimizer": OPTIMIZERS,
        f"{STEP}__learning_rate": loguniform(*LEARNING_RATE),
        f"{STEP}__alpha": loguniform(*ALPHA),
    }
    space = {
        f"{STEP}__optimizer": Categorical(OPTIMIZERS),
        f"{STEP}__learning_rate": Real(*LEARNING_RATE, prior="log-uniform"),
        f"{STEP}__alpha": Real(*ALPHA, prior="log-uniform"),
    }
    return budget, {
        "grid": GridSearchCV(model, grid, **common),
        "random": RandomizedSearchCV(model, distributions, n_iter=budget,
                                     random_state=random_state, **common),
        "bayes": BayesSearchCV(
            model, space, n_iter=budget, random_state=random_state,
            # a third of the budget explores at random before the GP guides;
            # sampling the acquisition function keeps each step quick
            optimizer_kwargs=dict(n_initial_points=max(2, budget // 3),
                                  acq_optimizer="sampling"),
            **common),
    }


def main(n_samples=None, max_iter=5, grid_points=3, cv=3, n_jobs=None, out=None,
         show=False, random_state=0):
    """Run the three searches, plot their progress, print the winners.

    Returns
    -------
    dict
        ``"budget"``: candidates per search; ``"results"``: per search
        (``"grid"``, ``"random"``, ``"bayes"``), ``scores`` (mean CV R^2 of
        each candidate in evaluation order), ``best_so_far``, ``best_score``,
        ``best_params`` (without the pipeline prefix), ``n_candidates``,
        ``learning_rates``, ``alphas``, ``optimizers`` and ``time`` (s);
        ``"figures"``: the saved paths.
    """
    X, y = load_diabetes(return_X_y=True)
    X, y = shuffle(X, y, random_state=random_state, n_samples=n_samples)
    y = (y - y.mean()) / y.std()  # R^2 is unchanged; the rates suit unit scale

    budget, searches = make_searches(max_iter, grid_points, cv, n_jobs, random_state)
    results = {}
    for name, search in searches.items():
        started = time.perf_counter()
        # The Gaussian process of the Bayesian search works on tiny matrices,
        # where BLAS threads cost more (spinning, waking up) than they give.
        with threadpool_limits(limits=1, user_api="blas"):
            search.fit(X, y)
        elapsed = time.perf_counter() - started
        cv_results = search.cv_results_
        scores = np.asarray(cv_results["mean_test_score"], dtype=float)
        params = cv_results["params"]
        results[name] = {
            "scores": scores,
            "best_so_far": np.maximum.accumulate(scores),
            "best_score": float(search.best_score_),
            "best_params": {k.split("__", 1)[1]: v for k, v in search.best_params_.items()},
            "n_candidates": len(params),
            "learning_rates": np.array([p[f"{STEP}__learning_rate"] for p in params]),
            "alphas": np.array([p[f"{STEP}__alpha"] for p in params]),
            "optimizers": [p[f"{STEP}__optimizer"] for p in params],
            "time": elapsed,
        }

    print(f"{len(y)} samples, {cv}-fold CV, {max_iter} epochs per fit, "
          f"{budget} candidates per search")
    for name, r in results.items():
        best = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in sorted(r["best_params"].items()))
        print(f"{name:>7}: best R^2 {r['best_score']:.4f} with {best} "
              f"({r['n_candidates']} candidates, {r['time']:.1f} s)")

    fig = new_figure(show, figsize=(16, 4), layout="constrained")
    ax_best, *ax_where = fig.subplots(1, 4)
    candidates = np.arange(1, budget + 1)
    for name, r in results.items():
        ax_best.plot(candidates, r["best_so_far"], drawstyle="steps-post", label=name)
    ax_best.set(xlabel="candidates evaluated", ylabel="best mean CV R^2 so far",
                title="Progress on the same budget")
    ax_best.legend()
    floor = max(0.0, min(r["scores"].min() for r in results.values()))
    top = max(r["best_score"] for r in results.values())
    for ax, (name, r) in zip(ax_where, results.items()):
        for i, (opt, marker) in enumerate(MARKERS.items()):
            mask = np.array([o == opt for o in r["optimizers"]])
            lrs = r["learning_rates"][mask]
            if name == "grid":  # the optimizers share grid points: side by side
                lrs = lrs * 1.6 ** (i - 1)
            if mask.any():
                points = ax.scatter(lrs, r["alphas"][mask],
                                    c=r["scores"][mask], vmin=floor, vmax=top,
                                    cmap="viridis", marker=marker, label=opt,
                                    edgecolors="k", linewidths=0.3)
        ax.set(xscale="log", yscale="log", xlabel="learning_rate", ylabel="alpha",
               xlim=(LEARNING_RATE[0] / 2, LEARNING_RATE[1] * 2),
               ylim=(ALPHA[0] / 3, ALPHA[1] * 3), title=f"{name} search: candidates")
    ax_where[0].legend(fontsize="small", loc="lower left")
    fig.colorbar(points, ax=ax_where, label="mean CV R^2")

    path = os.path.join(output_dir(out), "search_comparison.png")
    fig.savefig(path, dpi=100)
    print(f"figure saved to {path}")
    if show:
        import matplotlib.pyplot as plt

        plt.show()
    return {"budget": budget, "results": results, "figures": [path]}


def _parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=None)
    parser.add_argument("--max-iter", type=int, default=5)
    parser.add_argument("--grid-points", type=int, default=3,
                        help="values per numeric axis of the grid (budget 3 * n**2)")
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--out", default=None, help="directory for the figure")
    parser.add_argument("--show", action="store_true", help="open a plot window")
    return vars(parser.parse_args())


if __name__ == "__main__":
    main(**_parse_args())
