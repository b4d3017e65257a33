"""Model compression: accuracy, size and speed of pruned, quantized and distilled models.

What it measures
----------------
Two tasks, each split 75/25 per seed (``random_state=seed``, stratified for
digits) with the features standardized on the training part:

* digits (1 797 x 64, 10 classes), ``MLPClassifier((64,))``, held-out
  accuracy;
* ``make_friedman1`` (2 000 x 10, noise 1.0), ``MLPRegressor((64,))``,
  held-out R².

Every model trains with Adam, ``learning_rate=0.003``, ``max_iter=100``
and ``random_state=seed``, for the seeds 0-4; a row's score is the mean
over the seeds, against the mean of the dense models:

==============  =============================================  ====================
row             what                                           target (acc. / R²)
==============  =============================================  ====================
dense           the model as it is                             (reference)
sparsity=0.9    90% of the weights pruned while training       loss <= 1 pt / 0.01
prune 0.9       ``prune(dense, sparsity=0.9,                   loss <= 1 pt / 0.01
                fine_tune_epochs=5)``
units 1/2       ``prune(dense, method="units", sparsity=0.5)``  loss <= 1 pt / 0.01
int8            ``quantize(dense, "int8")``                    bytes <= 0.3x float32,
                                                               loss <= 0.5 pt / 0.005
float16         ``quantize(dense, "float16")``                 proba within 2e-3 /
                                                               pred. within 2e-3 std(y)
distilled       a (16,) student from a (256,) teacher          beats the (16,) fit on
                                                               the labels in >= 4 of 5
==============  =============================================  ====================

The bytes are :func:`sktune.compress.model_size`; "float32" is the dense
model's parameters at 4 bytes each. The int8 bytes target is judged on
digits only: friedman1's network has 10 inputs, so each hidden unit has 11
int8 weights beside its float32 scale and bias, which alone make ~0.4x
(printed for information). The distilled student is trained by
:func:`sktune.compress.distill` with ``y=None`` and ``temperature=3`` on a
transfer set of the training rows and two copies jittered by Gaussian noise
(standard deviation 0.3 in standardized units) that the teacher labels; it
is judged against the same (16,) student fitted on the training labels. An
information row also fits that student on the jittered copies with their
source rows' labels (augmentation without a teacher), to show what the
teacher adds.

Speed: an ``MLPClassifier((256, 256))`` trained 3 epochs on digits and its
``prune(method="units", sparsity=0.5)`` (half the units of each hidden
layer) predict 100 000 rows; the best of 5 timed calls each. Target: the
pruned one >= 1.7x faster.

Usage
-----
::

    python benchmarks/bench_compress.py            # a few minutes on 2 cores
    python benchmarks/bench_compress.py --quick    # 1 seed, small models: a smoke run
    python benchmarks/bench_compress.py --seeds 40 --first-seed 40   # other seeds

The targets are judged on seeds 0-4; more seeds (``--seeds``) and others
(``--first-seed``) show how far a row's mean moves with the seeds (the
accuracy of 450 held-out digits moves in steps of 0.22 points).

Timings are noisy when other processes share the cores.
"""
import argparse
import time
import traceback
import warnings

import numpy as np
from sklearn.datasets import load_digits, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sktune import MLPClassifier, MLPRegressor
from sktune.compress import distill, model_size, prune, quantize

FULL = dict(seeds=(0, 1, 2, 3, 4), hidden=(64,), teacher=(256,), student=(16,),
            max_iter=100, speed_hidden=(256, 256), speed_rows=100_000)
QUICK = dict(seeds=(0,), hidden=(16,), teacher=(32,), student=(8,), max_iter=10,
             speed_hidden=(32, 32), speed_rows=2_000)


def tasks():
    X, y = load_digits(return_X_y=True)
    yield "digits", X, y, True
    X, y = make_friedman1(n_samples=2000, noise=1.0, random_state=0)
    yield "friedman1", X, y, False


def split(X, y, classification, seed):
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=y if classification else None)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


def jittered(X, seed, copies=2, scale=0.3):
    rng = np.random.RandomState(seed)
    return np.vstack([X] + [X + scale * rng.randn(*X.shape) for _ in range(copies)])


class Row:
    """A row of the table: per-seed values, a verdict and a text."""

    def __init__(self, name):
        self.name, self.values, self.error = name, [], None

    def run(self, fn):
        if self.error is None:
            try:
                self.values.append(fn())
            except Exception as exc:  # a row that fails is reported, not fatal
                self.error = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()


def run_task(name, X, y, classification, cfg):
    cls = MLPClassifier if classification else MLPRegressor
    metric = "accuracy" if classification else "R²"
    unit = 100.0 if classification else 1.0  # accuracy in points
    model = dict(learning_rate=0.003, max_iter=cfg["max_iter"])
    rows = {k: Row(k) for k in ("dense", "sparsity=0.9", "prune 0.9", "units 1/2",
                                "int8", "float16", "distilled", "augmented only")}
    sizes = {}
    for seed in cfg["seeds"]:
        X_tr, X_te, y_tr, y_te = split(X, y, classification, seed)
        make = lambda hidden, **kw: cls(hidden, random_state=seed, **model, **kw)
        dense = make(cfg["hidden"]).fit(X_tr, y_tr)
        base = dense.score(X_te, y_te)
        rows["dense"].run(lambda: base)
        sizes["dense"] = model_size(dense)
        sizes["float32"] = 4 * sum(W.size + b.size for W, b in
                                   zip(dense.coefs_, dense.intercepts_))
        rows["sparsity=0.9"].run(
            lambda: make(cfg["hidden"], sparsity=0.9).fit(X_tr, y_tr).score(X_te, y_te))
        rows["prune 0.9"].run(lambda: prune(dense, X_tr, y_tr, sparsity=0.9,
                                            fine_tune_epochs=5).score(X_te, y_te))
        rows["units 1/2"].run(lambda: prune(dense, X_tr, y_tr, sparsity=0.5,
                                            method="units").score(X_te, y_te))
        q8 = quantize(dense, "int8")
        sizes["int8"] = model_size(q8)
        rows["int8"].run(lambda: q8.score(X_te, y_te))
        q16 = quantize(dense, "float16")
        sizes["float16"] = model_size(q16)
        if classification:
            gap16 = np.abs(q16.predict_proba(X_te) - dense.predict_proba(X_te)).max()
        else:
            gap16 = np.abs(q16.predict(X_te) - dense.predict(X_te)).max() / np.std(y_tr)
        rows["float16"].run(lambda: gap16)

        def distilled():
            teacher = make(cfg["teacher"]).fit(X_tr, y_tr)
            labels = make(cfg["student"]).fit(X_tr, y_tr).score(X_te, y_te)
            student = distill(teacher, make(cfg["student"]), jittered(X_tr, seed),
                              temperature=3.0)
            return labels, student.score(X_te, y_te)

        rows["distilled"].run(distilled)
        rows["augmented only"].run(lambda: make(cfg["student"]).fit(
            jittered(X_tr, seed), np.concatenate([y_tr] * 3)).score(X_te, y_te))

    ref = np.mean(rows["dense"].values) if rows["dense"].values else np.nan
    print(f"\n{name}: {cls.__name__}({cfg['hidden']}), {metric} over "
          f"{len(cfg['seeds'])} seed(s); dense {ref:.4f}, {sizes['dense']} bytes "
          f"(float32: {sizes['float32']})")
    verdicts = []

    def report(row, text, met):
        verdict = "ERROR" if row.error else ("MET" if met else "MISSED")
        text = row.error if row.error else text
        print(f"  {row.name:<15} {text:<64} {verdict}")
        verdicts.append(verdict == "MET")

    def loss_row(key, tol):
        row = rows[key]
        loss = (ref - np.mean(row.values)) * unit if row.values else np.nan
        report(row, f"{metric} {np.mean(row.values) if row.values else np.nan:.4f}, "
               f"loss {loss:.3f} (target <= {tol})", loss <= tol)

    print(f"  {'dense':<15} {metric} {ref:.4f}")
    loss_row("sparsity=0.9", 1.0 if classification else 0.01)
    loss_row("prune 0.9", 1.0 if classification else 0.01)
    loss_row("units 1/2", 1.0 if classification else 0.01)
    ratio = sizes["int8"] / sizes["float32"]
    row = rows["int8"]
    loss = (ref - np.mean(row.values)) * unit
    tol = 0.5 if classification else 0.005
    if classification:
        report(row, f"{metric} {np.mean(row.values):.4f}, loss {loss:.3f} (<= {tol}), "
               f"bytes {ratio:.3f}x float32 (<= 0.3)", loss <= tol and ratio <= 0.3)
    else:  # 10 inputs: the per-unit scale and bias weigh as much as the weights
        report(row, f"{metric} {np.mean(row.values):.4f}, loss {loss:.3f} (<= {tol}), "
               f"bytes {ratio:.3f}x float32 (info)", loss <= tol)
    row = rows["float16"]
    what = "max |proba diff|" if classification else "max |pred diff| / std(y)"
    report(row, f"{what} {max(row.values):.2e} (<= 2e-3), bytes "
           f"{sizes['float16'] / sizes['float32']:.3f}x float32", max(row.values) <= 2e-3)
    row = rows["distilled"]
    wins = sum(s > b for b, s in row.values)
    need = min(4, len(cfg["seeds"]))
    pairs = " ".join(f"{s:.3f}/{b:.3f}" for b, s in row.values)
    report(row, f"student/labels-only {pairs}; wins {wins} (>= {need})", wins >= need)
    row = rows["augmented only"]
    if row.values:
        print(f"  {'(info)':<15} labels-only student on the jittered set: "
              f"{' '.join(f'{v:.3f}' for v in row.values)}")
    return verdicts


def speed(cfg):
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    dense = MLPClassifier(cfg["speed_hidden"], max_iter=3, random_state=0).fit(X, y)
    row = Row("units speed")
    pruned = []
    row.run(lambda: pruned.append(prune(dense, X, y, sparsity=0.5, method="units")))
    big = np.resize(X, (cfg["speed_rows"], X.shape[1]))

    def best(model):
        model.predict(big[:100])
        times = []
        for _ in range(5):
            start = time.perf_counter()
            model.predict(big)
            times.append(time.perf_counter() - start)
        return min(times)

    t_dense = best(dense)
    if row.error:
        print(f"\nspeed: {row.error}  ERROR")
        return [False]
    t_pruned = best(pruned[0])
    ratio = t_dense / t_pruned
    met = ratio >= 1.7
    print(f"\nspeed: MLPClassifier({cfg['speed_hidden']}) predict on {cfg['speed_rows']} rows: "
          f"dense {t_dense * 1e3:.1f} ms, half units {t_pruned * 1e3:.1f} ms "
          f"({[W.shape[1] for W in pruned[0].coefs_[:-1]]} units), {ratio:.2f}x "
          f"(target >= 1.7)  {'MET' if met else 'MISSED'}")
    return [met]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one seed, small models and data: a smoke run")
    parser.add_argument("--seeds", type=int, default=None,
                        help="number of seeds (default: 5, 1 with --quick)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed")
    args = parser.parse_args()
    cfg = dict(QUICK if args.quick else FULL)
    n_seeds = len(cfg["seeds"]) if args.seeds is None else args.seeds
    cfg["seeds"] = tuple(range(args.first_seed, args.first_seed + n_seeds))
    warnings.simplefilter("ignore", ConvergenceWarning)
    verdicts = []
    for name, X, y, classification in tasks():
        verdicts += run_task(name, X, y, classification, cfg)
    verdicts += speed(cfg)
    print(f"\nAll targets met: {all(verdicts)} ({sum(verdicts)} of {len(verdicts)})")


if __name__ == "__main__":
    main()
