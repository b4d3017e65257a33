"""Does lr_find's suggested learning rate train as well as a grid of rates?

What it measures
----------------
Five tasks, each split 75/25 (``random_state=0``) with the features
standardized on the training part:

* regression: scikit-learn's diabetes (442 x 10) and ``make_friedman1``
  (1 000 x 10, noise 1.0), scored by the held-out R²;
* classification: digits (1 797 x 64, 10 classes), breast cancer (569 x 30)
  and ``make_classification`` (1 000 x 20, 3 classes, 10 informative
  features), scored by the held-out accuracy.

For each task and for ``optimizer="adam"`` and ``optimizer="sgd"``, an
``MLPRegressor`` / ``MLPClassifier`` with one hidden layer of 32 units,
``batch_size=32``, ``max_iter=40`` and ``random_state=0`` is trained

1. with ``learning_rate=lr_find(...).suggestion_`` (``lr_find`` with its
   defaults: rates 1e-6 to 1, 100 steps, on the training part);
2. with each of 7 rates ``logspace(-4, 0, 7)`` (1e-4 ... 1); the best
   held-out score of the grid is the reference. A fit that diverges
   (:class:`sktune.DivergenceError`) is scored with the weights it keeps.

Every score is the mean over three seeds (``random_state`` 0, 1, 2, which
draw the initial weights and the shuffles): single fits of these small
tasks vary by more than the tolerance from seed to seed. ``lr_find`` runs
once, with ``random_state=0``.

A case PASSes when the suggested rate scores within 0.02 R² (regression)
or 1 accuracy point (classification) of the grid's best (target: at least
8 of the 10 cases). The script also reports the time of the ``lr_find``
runs against the total time of the grid's fits (target: at most 1/10);
the grid's time is that of its 7 fits with seed 0 (one grid, as a user
would run it), and each configuration is compiled (or loaded from Numba's
cache) by an untimed warm-up first.

Usage
-----
::

    python benchmarks/bench_lr_find.py            # ~15 s on 2 cores
    python benchmarks/bench_lr_find.py --quick    # 2 cases, a smoke run
"""
import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import (load_breast_cancer, load_diabetes, load_digits,
                              make_classification, make_friedman1)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sktune import DivergenceError, MLPClassifier, MLPRegressor
from sktune.model_selection import lr_find

GRID = np.logspace(-4, 0, 7)
TOLERANCE = {"R²": 0.02, "accuracy": 0.01}
MODEL = dict(hidden_layer_sizes=(32,), batch_size=32, max_iter=40)
SEEDS = (0, 1, 2)  # initial weights and shuffles; scores are their mean


def tasks():
    """``(name, X, y, is_classification)`` of each task."""
    X, y = load_diabetes(return_X_y=True)
    yield "diabetes", X, y, False
    X, y = make_friedman1(n_samples=1000, noise=1.0, random_state=0)
    yield "friedman1", X, y, False
    X, y = load_digits(return_X_y=True)
    yield "digits", X, y, True
    X, y = load_breast_cancer(return_X_y=True)
    yield "breast_cancer", X, y, True
    X, y = make_classification(n_samples=1000, n_features=20, n_informative=10,
                               n_classes=3, random_state=0)
    yield "make_classification", X, y, True


def split(X, y, classification):
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y if classification else None)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


def fit_score(model, data):
    """Held-out score and fit seconds (a diverged fit keeps its best weights)."""
    X_tr, X_te, y_tr, y_te = data
    start = time.perf_counter()
    try:
        model.fit(X_tr, y_tr)
    except DivergenceError:
        pass
    seconds = time.perf_counter() - start
    return model.score(X_te, y_te), seconds


def mean_score(make, lr, data):
    """Mean held-out score over :data:`SEEDS` and the seconds of the first fit."""
    fits = [fit_score(make(lr, seed), data) for seed in SEEDS]
    return float(np.mean([score for score, _ in fits])), fits[0][1]


def run_case(name, data, classification, optimizer):
    cls = MLPClassifier if classification else MLPRegressor

    def make(lr, seed=SEEDS[0]):
        return cls(optimizer=optimizer, learning_rate=lr, random_state=seed, **MODEL)

    X_tr, _, y_tr, _ = data
    # warm-up: compile or load this configuration's kernels, untimed
    lr_find(make(1e-3), X_tr, y_tr, n_steps=5)
    fit_score(make(1e-3), data)

    start = time.perf_counter()
    result = lr_find(make(1e-3), X_tr, y_tr)
    find_s = time.perf_counter() - start
    suggested, _ = mean_score(make, result.suggestion_, data)
    grid = [mean_score(make, lr, data) for lr in GRID]
    scores = np.array([s for s, _ in grid])
    best = int(np.argmax(scores))
    metric = "accuracy" if classification else "R²"
    gap = scores[best] - suggested
    return {
        "case": f"{name} / {optimizer}", "metric": metric,
        "suggestion": result.suggestion_, "score": suggested,
        "best_lr": GRID[best], "best": scores[best], "gap": gap,
        "pass": gap <= TOLERANCE[metric] + 1e-12,
        "find_s": find_s, "grid_s": sum(s for _, s in grid),
        "steps": len(result.learning_rates_),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="diabetes only (2 cases)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.simplefilter("ignore", RuntimeWarning)  # overflow of diverging fits

    rows = []
    for name, X, y, classification in tasks():
        data = split(X, y, classification)
        for optimizer in ("adam", "sgd"):
            rows.append(run_case(name, data, classification, optimizer))
        if args.quick:
            break

    header = (f"{'case':<26} {'metric':<8} {'suggested':>9} {'score':>7} "
              f"{'grid best':>9} {'score':>7} {'gap':>7} {'steps':>5} "
              f"{'lr_find/grid':>12}  verdict")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['case']:<26} {r['metric']:<8} {r['suggestion']:>9.2e} "
              f"{r['score']:>7.3f} {r['best_lr']:>9.2e} {r['best']:>7.3f} "
              f"{r['gap']:>7.3f} {r['steps']:>5d} {r['find_s'] / r['grid_s']:>12.3f}  "
              f"{'PASS' if r['pass'] else 'FAIL'}")
    n_pass = sum(r["pass"] for r in rows)
    find_s = sum(r["find_s"] for r in rows)
    grid_s = sum(r["grid_s"] for r in rows)
    print(f"\n{n_pass} of {len(rows)} cases within tolerance (target: 8 of 10)")
    print(f"lr_find: {find_s:.3f} s in all; the grid's {len(GRID) * len(rows)} fits: "
          f"{grid_s:.3f} s; ratio {find_s / grid_s:.3f} (target: at most 0.1)")


if __name__ == "__main__":
    main()
