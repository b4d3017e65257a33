"""Benchmark device="cuda" against sktune's own CPU engine.

What it measures
----------------
One regression problem, ``n_samples x n_features`` (default 1 000 000 x 100,
float32), generated with ``numpy.random.RandomState(0)``: Gaussian features,
target = sum of ``tanh`` of 5 scaled features + small Gaussian noise,
standardized. The same estimator is fitted on both devices:

* ``MLPRegressor(hidden_layer_sizes=(256, 256))``, ReLU, squared error, Adam,
  learning rate 1e-3, ``batch_size=1024``, shuffling, ``random_state=0``;
* exactly E epochs on each device (default 3; ``max_iter=E, tol=None``).

Before the timed fits each device trains one epoch on a small slice, so the
Numba / CUDA compile times stay out of the timings (they are printed apart).
The script prints seconds per epoch on each device (wall time of ``fit`` / E,
which on the GPU includes uploading X once), the speed ratio CPU / GPU
against the target (>= 10x), the held-out R^2 of both models, and the
largest difference between the two devices' weights relative to the largest
weight (the devices sum in different orders, so float32 weights drift apart
slowly; float64 runs agree much more closely).

Usage
-----
::

    python benchmarks/bench_gpu.py              # full size: needs a CUDA GPU
    python benchmarks/bench_gpu.py --dtype float64 --epochs 2
    python benchmarks/bench_gpu.py --quick      # tiny smoke test (works in the
                                                # simulator: NUMBA_ENABLE_CUDASIM=1)
    python benchmarks/bench_gpu.py --help

Without a usable GPU (no NVIDIA driver, or numba-cuda missing) it exits with
status 1 and says what is missing. The exit status is 0 whether or not the
target is met; the last line says MET / NOT MET.
"""
import argparse
import json
import os
import sys
import time


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-samples", type=int, default=1_000_000)
    p.add_argument("--n-features", type=int, default=100)
    p.add_argument("--hidden", type=str, default="256,256",
                   help="hidden layer sizes, comma-separated")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--target", type=float, default=10.0,
                   help="speed-up over the CPU engine to aim for")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes (a smoke test, also in the CUDA simulator)")
    p.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = p.parse_args(argv)
    if args.quick:
        args.n_samples, args.n_features, args.hidden = 96, 4, "8,6"
        args.batch_size, args.epochs, args.dtype = 16, 1, "float64"
    args.hidden = tuple(int(h) for h in args.hidden.split(",") if h.strip())
    return args


def make_data(n_samples, n_features, dtype):
    import numpy as np

    rng = np.random.RandomState(0)
    X = rng.randn(n_samples, n_features).astype(dtype)
    w = rng.randn(5, min(5, n_features))
    y = np.tanh(X[:, :5] @ w.T * 0.5).sum(axis=1) + 0.1 * rng.randn(n_samples)
    y = ((y - y.mean()) / y.std()).astype(dtype)
    return X, y


def _weights(model):
    import numpy as np

    return np.concatenate([c.ravel() for c in model.coefs_ + model.intercepts_])


def main(argv=None):
    args = _parse(sys.argv[1:] if argv is None else argv)
    from sktune._device import cuda_status

    available, reason = cuda_status()
    if not available:
        sys.exit(f"bench_gpu.py needs a CUDA GPU: {reason}.")

    import numpy as np
    from numba import cuda

    from sktune import MLPRegressor

    simulator = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
    device_name = "CUDA simulator" if simulator else cuda.get_current_device().name
    if isinstance(device_name, bytes):
        device_name = device_name.decode()
    X, y = make_data(args.n_samples, args.n_features, args.dtype)
    n_test = max(1, args.n_samples // 10)
    X_train, y_train, X_test, y_test = X[n_test:], y[n_test:], X[:n_test], y[:n_test]
    print(f"device: {device_name}; data {X_train.shape[0]} x {args.n_features} "
          f"{args.dtype} (+{n_test} held out); MLP {args.hidden}, batch "
          f"{args.batch_size}, {args.epochs} epoch(s)", flush=True)

    def model(device, epochs):
        return MLPRegressor(hidden_layer_sizes=args.hidden, batch_size=args.batch_size,
                            learning_rate=1e-3, max_iter=epochs, tol=None,
                            random_state=0, device=device)

    results = {"device": "cuda", "epochs": args.epochs, "dtype": args.dtype,
               "gpu_name": device_name}
    fitted = {}
    for device in ("cuda", "cpu"):
        # compile (and, for CUDA, create the context) outside the timings
        n_warm = min(X_train.shape[0], 4 * args.batch_size)
        started = time.perf_counter()
        model(device, 1).fit(X_train[:n_warm], y_train[:n_warm])
        warm = time.perf_counter() - started
        started = time.perf_counter()
        fitted[device] = model(device, args.epochs).fit(X_train, y_train)
        per_epoch = (time.perf_counter() - started) / args.epochs
        r2 = fitted[device].score(X_test, y_test)
        name = "gpu" if device == "cuda" else "cpu"
        results[f"{name}_s_per_epoch"] = per_epoch
        results[f"{name}_warmup_s"] = warm
        results[f"{name}_r2"] = float(r2)
        print(f"{device:>4}: {per_epoch:9.3f} s/epoch   held-out R^2 {r2:.4f}   "
              f"(warm-up incl. compile {warm:.1f} s)", flush=True)

    w_gpu, w_cpu = _weights(fitted["cuda"]), _weights(fitted["cpu"])
    diff = float(np.max(np.abs(w_gpu - w_cpu)) / max(np.max(np.abs(w_cpu)), 1e-30))
    results["max_weight_difference"] = diff
    ratio = results["cpu_s_per_epoch"] / results["gpu_s_per_epoch"]
    results["ratio"] = ratio
    print(f"weights: max |gpu - cpu| / max |cpu| = {diff:.2e}")
    print(f"speed-up cpu/gpu: {ratio:.1f}x (target >= {args.target:g}x: "
          f"{'MET' if ratio >= args.target else 'NOT MET'})"
          + ("  [simulator: timings meaningless]" if simulator else ""))
    if args.json:
        print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
