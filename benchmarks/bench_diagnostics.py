"""Cost of the gradient diagnostics (``gradient_norms_``, ``update_norms_``).

Every fit sums each mini-batch's mean gradient into one extra buffer (in
the compiled epoch) and takes per-layer norms once per epoch. This times
fits with the sum on and off, in alternating rounds in one process, and
prints the median ratio (target: <= 1.02 at batch 32).

Run: ``python benchmarks/bench_diagnostics.py [--rounds N] [--quick]``.
"""
import argparse
import time
import warnings

import numpy as np

import sktune
from sktune._kernels import _codes as C
from sktune._kernels import cpu

_prepare = cpu.prepare
_SUM = {"on": True}


def _prepare_switch(kind, dtype, parallel, hyper, icodes, *args, **kw):
    if not _SUM["on"]:
        icodes[C.I_GRAD_SUM] = 0
    return _prepare(kind, dtype, parallel, hyper, icodes, *args, **kw)


cpu.prepare = _prepare_switch


def _time_fit(est, X, y, on):
    _SUM["on"] = on
    t0 = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="small data, 2 rounds")
    args = ap.parse_args(argv)
    n, rounds = (2000, 2) if args.quick else (20000, args.rounds)
    rng = np.random.RandomState(0)
    X = rng.randn(n, 50)
    y = X[:, 0] - 2 * X[:, 1] + np.tanh(X[:, 2]) + 0.1 * rng.randn(n)
    cases = [
        ("MLP (64, 64), batch 32, float64", sktune.MLPRegressor,
         dict(hidden_layer_sizes=(64, 64), batch_size=32), np.float64),
        ("MLP (64, 64), batch 32, float32", sktune.MLPRegressor,
         dict(hidden_layer_sizes=(64, 64), batch_size=32), np.float32),
        ("linear, batch 32, float64", sktune.LinearRegressor,
         dict(batch_size=32), np.float64),
    ]
    print(f"{'fit (3 epochs, n x 50)':40s} {'on s':>8s} {'off s':>8s} {'ratio':>7s}")
    worst = 0.0
    for label, Est, kw, dtype in cases:
        reps = 10 if Est is sktune.LinearRegressor else 1  # epochs of ~10 ms, not 1
        label = label + ", n=%d" % (n * reps)
        est = Est(max_iter=3, tol=None, random_state=0, **kw)
        Xd, yd = np.tile(X, (reps, 1)).astype(dtype), np.tile(y, reps).astype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _time_fit(est, Xd, yd, True)  # compile
            _time_fit(est, Xd, yd, False)
            on, off = [], []
            for _ in range(rounds):
                on.append(_time_fit(est, Xd, yd, True))
                off.append(_time_fit(est, Xd, yd, False))
        ratio = float(np.median(np.array(on) / np.array(off)))
        worst = max(worst, ratio)
        print(f"{label:40s} {np.median(on):8.3f} {np.median(off):8.3f} {ratio:7.3f}")
    print("median ratio worst case %.3f (target <= 1.02): %s"
          % (worst, "MET" if worst <= 1.02 else "MISSED"))


if __name__ == "__main__":
    main()
