"""Benchmark the batched GridSearchCV of sktune against scikit-learn's.

What it measures
----------------
One regression problem, ``n_samples x 50`` (default 20 000 rows), generated
with ``numpy.random.RandomState(0)``: Gaussian features, target = sum of
``tanh`` of 5 scaled features + small Gaussian noise, both standardized.
A 24-candidate grid, 5-fold CV (120 fits), every fit exactly E epochs
(default 10; ``tol=None``), is searched three ways, for two models:

* ``MLPRegressor(hidden_layer_sizes=(32,))``, grid ``learning_rate`` (3) x
  ``alpha`` (2, L2 penalty) x ``optimizer`` (adam, sgd) x ``dropout``
  (0, 0.2);
* ``LinearRegressor``, grid ``learning_rate`` (3) x ``alpha`` (2, L2) x
  ``optimizer`` (adam, sgd, momentum, rmsprop).

1. ``sktune.model_selection.GridSearchCV`` (batched: all 120 models trained
   together, one population-kernel call per epoch and fold);
2. ``sklearn.model_selection.GridSearchCV(n_jobs=2)`` over the same sktune
   estimator and grid (one fit per candidate x fold in loky workers).
   Targets: the batched search at least 2x (MLP) / 5x (linear) faster.
   Both must give the same ``cv_results_`` scores (checked, rtol 1e-9) and
   ``best_params_``;
3. ``sklearn.model_selection.GridSearchCV(n_jobs=2)`` over scikit-learn's own
   model with a 24-candidate grid of the same size and epochs:
   ``sklearn.neural_network.MLPRegressor`` (same network, batch 200,
   ``learning_rate_init`` x ``alpha`` x ``solver`` (adam, sgd) x
   ``momentum`` (0.9, 0.5), momentum standing in for dropout, which it
   lacks; ``max_iter=E, tol=0, n_iter_no_change=10**9``) and
   ``sklearn.linear_model.SGDRegressor`` (``eta0`` x ``alpha`` x
   ``learning_rate`` (constant, invscaling, adaptive, optimal),
   ``max_iter=E, tol=None``). Targets: at least 6x (MLP) / 5x (linear)
   faster.

Times are wall-clock seconds of ``fit``, in ``--rounds`` rounds (default
3): each round times every search once, in turn, so that the machine's
drift (its speed wanders by up to 1.8x between minutes) reaches all sides
alike; a speed-up is judged on the median over the rounds of the round's
ratio, and its range is printed. Two ways:

* warm: just before its timing, each
  search runs once on 600 rows, which compiles (or loads from Numba's
  cache) the kernels and starts joblib's loky workers; the timed search
  reuses them, so neither compile nor worker start-up is timed for any
  side. The workers are shut down after each measurement, so that no idle
  pool of one side is around while the next is timed;
* fresh process (skip with ``--no-fresh``): each search is the first thing
  a new Python process runs after its imports and data, as in a script that
  runs one search: loky starts its workers (which import scikit-learn,
  sktune and Numba and load the kernels from Numba's on-disk cache) and the
  batched search loads its kernels, inside the timed ``fit``. The cache is
  warm (the warm runs filled it), so nothing is compiled.

For the MLP it prints the search's arithmetic (floating-point operations
of all 120 fits) and the time it would take at this machine's float64
matrix-multiply rate: a floor no search of these fits can beat, and so the
largest speed-up possible over scikit-learn's search of the same estimator.

The script also prints each side's CPU seconds of the main process,
the batched search's kernel calls, and the load average at the start and
the end: on a busy machine the timings are noisy, and the sklearn side
(2 worker processes) and the batched side (2 kernel threads) both need two
free cores to show their speed.

Usage
-----
::

    python benchmarks/bench_search.py              # default sizes (a few minutes on 2 cores)
    python benchmarks/bench_search.py --quick      # smoke test
    python benchmarks/bench_search.py --only mlp --epochs 5 --rounds 5
    python benchmarks/bench_search.py --no-fresh --no-peer   # warm timings, sktune only

The exit status is 0 whether or not the targets are met; the last lines say
MET / NOT MET for each target.
"""
import argparse
import os
import time
import warnings

import numpy as np


# speed-up targets: (vs scikit-learn's search of the same estimator, vs its
# search of scikit-learn's own model)
TARGETS = {"mlp": (2.0, 6.0), "linear": (5.0, 5.0)}


def load():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:  # not Linux
        return " ".join(f"{x:.2f}" for x in os.getloadavg())


def make_data(n, n_features):
    rng = np.random.RandomState(0)
    X = rng.randn(n, n_features)
    y = np.tanh(X[:, :5] * [1.5, -1.0, 0.5, 2.0, 1.0]).sum(axis=1) + 0.1 * rng.randn(n)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, (y - y.mean()) / y.std()


def setups(epochs):
    from sklearn.linear_model import SGDRegressor
    from sklearn.neural_network import MLPRegressor as SkMLP

    from sktune import LinearRegressor, MLPRegressor

    lrs = [1e-3, 3e-3, 1e-2]
    alphas = [1e-4, 1e-2]
    common = {"max_iter": epochs, "tol": None, "random_state": 0, "penalty": "l2"}
    return {
        "mlp": {
            "ours": MLPRegressor(hidden_layer_sizes=(32,), **common),
            "grid": {"learning_rate": lrs, "alpha": alphas, "optimizer": ["adam", "sgd"],
                     "dropout": [0.0, 0.2]},
            "peer": SkMLP(hidden_layer_sizes=(32,), max_iter=epochs, tol=0.0,
                          n_iter_no_change=10**9, batch_size=200, random_state=0),
            "peer_grid": {"learning_rate_init": lrs, "alpha": alphas,
                          "solver": ["adam", "sgd"], "momentum": [0.9, 0.5]},
            "peer_name": "sklearn MLPRegressor",
        },
        "linear": {
            "ours": LinearRegressor(**common),
            "grid": {"learning_rate": lrs, "alpha": alphas,
                     "optimizer": ["adam", "sgd", "momentum", "rmsprop"]},
            "peer": SGDRegressor(max_iter=epochs, tol=None, random_state=0, penalty="l2"),
            "peer_grid": {"eta0": lrs, "alpha": alphas,
                          "learning_rate": ["constant", "invscaling", "adaptive", "optimal"]},
            "peer_name": "sklearn SGDRegressor",
        },
    }


def matmul_rate():
    """GFLOP/s of a 2000 x 2000 float64 numpy matmul, all BLAS threads (best of 3)."""
    from bench_mlp import matmul_rates  # beside this script

    return matmul_rates()[("float64", "all")]


def search_flops(name, n_samples, n_features, epochs, cv, n_candidates=24):
    """Floating-point operations every search of the MLP grid must do.

    Each fit's epoch passes its training rows forward and backward: per
    weight and row one multiply-add (2 flops) forward, one for its gradient
    and, past the first layer, one for the gradient of the layer's input;
    biases, activations and updates are not counted, so this is a floor.
    Linear models: None (their arithmetic is too small to bound anything).
    """
    if name != "mlp":
        return None
    sizes = [n_features, 32, 1]
    per_row = 4 * sizes[0] * sizes[1] + 6 * sum(a * b for a, b in zip(sizes[1:-1], sizes[2:]))
    train_rows = n_samples - n_samples // cv
    return per_row * train_rows * epochs * cv * n_candidates


def make_searches(name, epochs, cv, peer):
    from sklearn.model_selection import GridSearchCV as SkGridSearchCV

    from sktune.model_selection import GridSearchCV

    s = setups(epochs)[name]
    makers = [
        ("sktune GridSearchCV (batched)",
         lambda: GridSearchCV(s["ours"], s["grid"], cv=cv)),
        ("sklearn GridSearchCV(n_jobs=2), same estimator",
         lambda: SkGridSearchCV(s["ours"], s["grid"], cv=cv, n_jobs=2)),
    ]
    if peer:
        makers.append((f"sklearn GridSearchCV(n_jobs=2), {s['peer_name']}",
                       lambda: SkGridSearchCV(s["peer"], s["peer_grid"], cv=cv, n_jobs=2)))
    return s, makers


def fresh_process_time(args, name, index):
    """Wall time of one search run first thing in a new process."""
    import subprocess
    import sys

    cmd = [sys.executable, os.path.abspath(__file__), "--child", name, str(index),
           "--n-samples", str(args.n_samples), "--n-features", str(args.n_features),
           "--epochs", str(args.epochs), "--cv", str(args.cv)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def child(args):
    name, index = args.child
    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = make_data(args.n_samples, args.n_features)
    _, makers = make_searches(name, args.epochs, args.cv, peer=True)
    search = makers[int(index)][1]()
    start = time.perf_counter()
    search.fit(X, y)
    print(time.perf_counter() - start)


def timed(make_search, X, y):
    """``(wall seconds, main-process CPU seconds, the fitted search)``."""
    search = make_search()
    start, c0 = time.perf_counter(), time.process_time()
    search.fit(X, y)
    return time.perf_counter() - start, time.process_time() - c0, search


def median_ratios(peer, ours):
    """``(median, lowest, highest)`` of the rounds' ratios ``peer / ours``."""
    ratios = np.asarray(peer) / np.asarray(ours)
    return float(np.median(ratios)), float(ratios.min()), float(ratios.max())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, 2 epochs, 3 folds")
    parser.add_argument("--n-samples", type=int, default=20000)
    parser.add_argument("--n-features", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds, each timing every search once (default 3)")
    parser.add_argument("--repeats", type=int, dest="rounds", help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=["mlp", "linear"])
    parser.add_argument("--no-peer", action="store_true",
                        help="skip the search over scikit-learn's own models")
    parser.add_argument("--no-fresh", action="store_true",
                        help="skip the timings in fresh processes")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    if args.quick:
        args.n_samples, args.epochs, args.cv = 3000, 2, 3

    import numba
    from joblib.externals.loky import get_reusable_executor
    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = make_data(args.n_samples, args.n_features)
    print(f"bench_search: {args.n_samples} x {args.n_features}, {args.cv}-fold CV, "
          f"24 candidates, {args.epochs} epochs per fit; {os.cpu_count()} CPUs, "
          f"Numba threads {numba.config.NUMBA_NUM_THREADS}; load average {load()}")
    # the machine's matmul rate for the MLP's floor, measured first, while
    # no search's workers are around (measured after them, it read half)
    rate = matmul_rate() if args.only in (None, "mlp") else None
    results = []
    for name in ("mlp", "linear"):
        if args.only and name != args.only:
            continue
        s, makers = make_searches(name, args.epochs, args.cv, peer=not args.no_peer)
        print(f"\n{name}: {type(s['ours']).__name__}, grid {s['grid']}")
        labels = [label for label, _ in makers]
        warm = {label: [] for label in labels}
        fresh = {label: [] for label in labels}
        found = {}
        for _ in range(args.rounds):
            for index, (label, make) in enumerate(makers):
                # warm-up: compile / load the kernels, start the loky workers
                make().fit(X[:600], y[:600])
                wall, cpu, search = timed(make, X, y)
                # no idle workers of one measurement around during the next one
                get_reusable_executor().shutdown(wait=True)
                warm[label].append(wall)
                found[label] = (search, cpu)
                if not args.no_fresh:
                    fresh[label].append(fresh_process_time(args, name, index))
        for label in labels:
            search, cpu = found[label]
            extra = ""
            if getattr(search, "batched_info_", None):
                extra = (f", {search.batched_info_['kernel_calls']} kernel calls, "
                         f"{search.batched_info_['fits_restored']} fits batched")
            fresh_text = ("" if not fresh[label] else
                          f"  fresh process {np.median(fresh[label]):7.2f} s")
            print(f"  {label:<52} warm {np.median(warm[label]):7.2f} s{fresh_text}  "
                  f"(medians of {args.rounds}; warm {min(warm[label]):.2f}-"
                  f"{max(warm[label]):.2f} s, main-process CPU {cpu:6.2f} s{extra})")
        timings = {label: (warm[label], found[label][0], fresh[label]) for label in labels}
        ours, same = timings[makers[0][0]], timings[makers[1][0]]
        equal = (np.allclose(ours[1].cv_results_["mean_test_score"],
                             same[1].cv_results_["mean_test_score"], rtol=1e-9, atol=0)
                 and ours[1].best_params_ == same[1].best_params_)
        print(f"  same cv_results_ scores and best_params_ as scikit-learn's search: {equal}")
        flops = search_flops(name, args.n_samples, args.n_features, args.epochs, args.cv)
        if flops:
            floor = flops / (rate * 1e9)
            print(f"  arithmetic: {flops / 1e9:.0f} GFLOP; at this machine's float64 "
                  f"matmul rate ({rate:.0f} GFLOP/s) no search can take less than "
                  f"{floor:.2f} s, so at most {np.median(same[0]) / floor:.1f}x faster than "
                  f"scikit-learn's search over the same estimator (warm)")
        same_target, peer_target = TARGETS[name]
        others = [(f"{name}: vs sklearn GridSearchCV(n_jobs=2) on the same estimator",
                   same, same_target)]
        if not args.no_peer:
            peer_label = f"{name}: vs sklearn GridSearchCV(n_jobs=2) on {s['peer_name']}"
            others.append((peer_label, timings[makers[2][0]], peer_target))
        for label, other, target in others:
            results.append((label + ", warm", median_ratios(other[0], ours[0]), target))
            if other[2]:
                results.append((label + ", fresh process",
                                median_ratios(other[2], ours[2]), target))
        if not equal:
            results.append((f"{name}: same results as scikit-learn", None, None))

    print(f"\nload average at the end: {load()}")
    for label, ratio, target in results:
        if ratio is None:
            print(f"{label}: NOT MET")
            continue
        middle, low, high = ratio
        verdict = "MET" if middle >= target else "NOT MET"
        print(f"{label}: {middle:.1f}x faster (rounds {low:.1f}-{high:.1f}x; "
              f"target >= {target:g}x): {verdict}")


if __name__ == "__main__":
    main()
