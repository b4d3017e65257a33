"""Pruning on digits: accuracy of sparse and unit-pruned MLPs, and the
prediction speed of a network cut to half its units.

For each seed, ``MLPClassifier((64,))`` (defaults otherwise) on a stratified
75/25 split of digits (features / 16):

* dense: the plain fit;
* sparsity=0.9: pruned while training (cubic schedule, see the estimator's
  ``sparsity``);
* prune 0.9: the dense model, 90 % of each layer's weights cut by magnitude,
  then 5 epochs of fine-tuning (``sktune.compress.prune``);
* units 1/2: half the hidden units removed (``method="units"``), then 5
  epochs of fine-tuning.

Targets (compression issue): each loses <= 1 accuracy point against dense
(mean over the seeds), and the half-width network predicts 100k rows at
least 1.7x faster than the dense one (least single-thread CPU time of 25
interleaved batch predictions each).

Run: ``python benchmarks/bench_prune_parts.py [--seeds N] [--quick]``.
"""
import argparse
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sktune import MLPClassifier
from sktune.compress._prune import prune


def _best_times(fns, repeat):
    """Least CPU time of each of ``fns`` over ``repeat`` interleaved rounds,
    on one BLAS thread: CPU time of one thread is what a busy machine (other
    processes on the cores) still measures faithfully."""
    from threadpoolctl import threadpool_limits

    best = [np.inf] * len(fns)
    with threadpool_limits(1):
        for _ in range(repeat):
            for k, fn in enumerate(fns):
                start = time.process_time()
                fn()
                best[k] = min(best[k], time.process_time() - start)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="one seed, 5 epochs, 2000 prediction rows (smoke test)")
    args = parser.parse_args(argv)
    seeds = 1 if args.quick else args.seeds
    max_iter = 5 if args.quick else 200
    n_rows = 2_000 if args.quick else 100_000
    warnings.simplefilter("ignore", ConvergenceWarning)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    scores = {k: [] for k in ("dense", "sparsity=0.9", "prune 0.9", "units 1/2")}
    for seed in range(seeds):
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y,
                                              random_state=seed)
        kw = dict(hidden_layer_sizes=(64,), max_iter=max_iter, random_state=seed)
        dense = MLPClassifier(**kw).fit(Xtr, ytr)
        sparse = MLPClassifier(sparsity=0.9, **kw).fit(Xtr, ytr)
        pruned = prune(dense, Xtr, ytr, sparsity=0.9, fine_tune_epochs=5)
        half = prune(dense, Xtr, ytr, sparsity=0.5, method="units", fine_tune_epochs=5)
        for name, model in zip(scores, (dense, sparse, pruned, half)):
            scores[name].append(model.score(Xte, yte))

    print(f"digits, MLPClassifier((64,)), {seeds} seed(s): test accuracy")
    print("%-14s %8s %8s %8s  %s" % ("model", "mean", "min", "loss pt", "verdict"))
    base = np.mean(scores["dense"])
    all_met = True
    for name, values in scores.items():
        lost = 100 * (base - np.mean(values))
        met = name == "dense" or lost <= 1.0
        all_met &= met
        print("%-14s %8.4f %8.4f %8.2f  %s" % (name, np.mean(values), np.min(values),
                                              lost, "" if name == "dense" else
                                              ("MET" if met else "MISSED")))

    rng = np.random.RandomState(0)
    Xbig = X[rng.randint(0, X.shape[0], n_rows)]
    dense.predict(Xbig[:10])
    half.predict(Xbig[:10])
    t_dense, t_half = _best_times([lambda: dense.predict(Xbig),
                                   lambda: half.predict(Xbig)], 3 if args.quick else 25)
    ratio = t_dense / t_half
    met = ratio >= 1.7
    all_met &= met
    print(f"predict {n_rows} rows: dense {t_dense * 1e3:.1f} ms, half units "
          f"{t_half * 1e3:.1f} ms, speed-up {ratio:.2f}x (target 1.7x)  "
          f"{'MET' if met else 'MISSED'}")
    print("ALL MET" if all_met else "SOME MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
