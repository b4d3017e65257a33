"""Benchmark sktune.MLPRegressor against sklearn.neural_network.MLPRegressor.

What it measures
----------------
One regression problem, ``n_samples x 50`` (default 50 000 training rows plus
``n_samples // 5`` held-out rows), generated with
``numpy.random.RandomState(0)``: Gaussian features, target = sum of ``tanh``
of 5 scaled features + small Gaussian noise; features and target standardized
with the training statistics. Both libraries fit the same network and
algorithm:

* hidden layers (64, 64), ReLU, identity output, squared error;
* Adam (beta_1=0.9, beta_2=0.999, eps=1e-8), constant learning rate 1e-3;
* no penalty (sktune ``penalty=None``; sklearn ``alpha=0``), shuffling,
  ``random_state=0``;
* exactly E epochs (default 5): sktune ``max_iter=E, tol=None``; sklearn
  ``max_iter=E, tol=0, n_iter_no_change=10**9`` (its ConvergenceWarning is
  silenced);
* batch_size 32 and 200, in float64 and in float32 (both libraries keep
  float32 data in float32).

For each (batch size, dtype) the script prints side by side, for sktune and
scikit-learn:

* seconds per epoch: wall time of ``fit`` / E. scikit-learn runs with its
  default BLAS threads and, again, with BLAS capped at one thread
  (threadpoolctl). The fits are timed in ``--repeats`` interleaved rounds
  (default 5): sktune, sklearn (default BLAS), sklearn (1 BLAS), sktune. A
  round's sktune time is the mean of the two fits that bracket sklearn's,
  so both libraries are timed under the same machine conditions (on a
  shared VM the speed drifts by up to 2x over tens of seconds, which decides
  a verdict when each library is timed in its own stretch). A round's speed
  ratio is ``sklearn s/epoch / sktune s/epoch`` against the faster of
  sklearn's two settings (conservative). Targets: >= 8x at batch 32, >= 3x
  at batch 200, judged on the median of the rounds' ratios; the spread of
  the ratios and the best round's times are printed beside it;
* held-out R^2 of both. Target: equal within 0.01, judged with both
  networks started from the same initial scheme: sktune with
  ``init="glorot"`` (scikit-learn's Glorot-uniform weights and biases, a
  public option). After 5 epochs R^2 still depends on the initial scale, so
  a comparison across schemes measures the schemes, not the training: the
  default (``init="auto"``: He for ReLU, zero hidden biases, output bias at
  mean(y)) is printed beside it, with its gap. As a further diagnostic,
  sktune is fitted from scikit-learn's exact initial weights (drawn like
  sklearn's ``_init_coef`` with the same seed), which isolates the training
  algorithm;
* peak memory of one fit, two ways, each fit in a fresh child process (this
  script re-run with ``--child``): (1) ``resource.getrusage().ru_maxrss``
  after the fit minus the RSS measured after imports, data creation (and, for
  sktune, the kernel warm-up); the kernel's high-water mark is reset just
  before the fit (``/proc/self/clear_refs``) so that set-up transients do not
  count -- this is the trustworthy number, it sees Numba/BLAS allocations;
  (2) ``tracemalloc`` peak of a further 1-epoch fit in the same child
  (Python-level allocations only, numpy arrays included, Numba-internal
  allocations not). Target: sktune's RSS peak no higher than sklearn's;
* throughput in GFLOP/s, counting ``2 * 3 * sum(fan_in * fan_out)`` flops per
  sample per epoch (a multiply-add = 2 flops; forward, backward-to-inputs and
  weight gradient = 3 products per layer), against this machine's numpy
  matmul rate measured in the same run (2000 x 2000 ``a @ b``, float64 and
  float32, with all BLAS threads and with one). Aim: 30% of the all-thread
  matmul rate at batch 200.

Numba compile time is kept out of the timings: before its timed fits each
sktune configuration is fitted once on a small slice (same dtype, batch size,
hence the same kernel). The cold compile time is measured separately, in a
child process with a fresh, empty ``NUMBA_CACHE_DIR`` (import time, then the
first tiny float64 and float32 fits); that cache directory is then shared by
this process and the memory children, so they only load the compiled kernels.

Optional second peer: skorch's ``NeuralNetRegressor`` (same module, Adam,
lr, batch size, epochs) when ``import torch, skorch`` works; otherwise the
script says so and goes on.

Usage
-----
::

    python benchmarks/bench_mlp.py                  # default sizes (several minutes on 2 cores)
    python benchmarks/bench_mlp.py --quick          # smoke test: small data, no cold-compile child
    python benchmarks/bench_mlp.py --epochs 3 --n-samples 20000
    python benchmarks/bench_mlp.py --help           # --repeats, --sklearn-blas, --no-memory, ...

It needs numpy, scikit-learn, threadpoolctl and sktune (torch + skorch are
optional). Timings are noisy when other processes are busy: the load average
is printed at the start and at the end. The exit status is 0 whether or not
the targets are met; the last lines summarise each target as MET / NOT MET.
"""
import argparse
import gc
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HIDDEN = (64, 64)
LEARNING_RATE = 1e-3
BATCH_SIZES = (32, 200)
DTYPES = ("float64", "float32")
N_FEATURES = 50
N_INFORMATIVE = 5
TARGET_RATIO = {32: 8.0, 200: 3.0}
R2_TOL = 0.01
PEAK_FRACTION_TARGET = 0.30  # of the all-thread matmul rate, at batch 200
PEAK_TARGET_BATCH = 200
WARMUP_ROWS = 1024
MATMUL_N = 2000
REPEAT_LIMIT_S = 60.0  # a timing stops repeating once one fit took longer
SKORCH_HINT = "skorch: not installed (pip install torch==2.13.0 skorch)"
JAX_HINT = "JAX: not installed (pip install jax optax); its rows are skipped"
JAX_TARGET = 1.0  # sktune's epoch at least as fast as JAX's (median round ratio)


# ---------------------------------------------------------------------------
# arguments

def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Seconds per epoch, held-out R^2, peak memory and GFLOP/s of "
                    "sktune.MLPRegressor vs sklearn.neural_network.MLPRegressor.")
    p.add_argument("--n-samples", type=int, default=None,
                   help="training rows (default 50000; 4000 with --quick)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per fit, E (default 5; 2 with --quick)")
    p.add_argument("--repeats", type=int, default=None,
                   help="interleaved timing rounds per configuration (default 5; 1 with "
                        "--quick); skorch: fits, best kept")
    p.add_argument("--quick", action="store_true",
                   help="small sizes for a smoke test; Numba's usual on-disk cache and "
                        "no cold-compile child unless --numba-cache fresh")
    p.add_argument("--sklearn-blas", choices=("default", "1", "both"), default="both",
                   help="time sklearn with its default BLAS threads, one BLAS thread, "
                        "or both (default both)")
    p.add_argument("--no-memory", action="store_true",
                   help="skip the child-process peak-memory measurements")
    p.add_argument("--no-skorch", action="store_true", help="skip the skorch peer")
    p.add_argument("--no-jax", action="store_true", help="skip the JAX + optax peer")
    p.add_argument("--numba-cache", choices=("fresh", "disk"), default=None,
                   help="'fresh': an empty temporary NUMBA_CACHE_DIR, compiled once by a "
                        "child whose time is the cold compile time; 'disk': Numba's usual "
                        "cache, no cold-compile measurement (default: fresh; disk with "
                        "--quick)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        return args
    if args.n_samples is None:
        args.n_samples = 4000 if args.quick else 50_000
    if args.epochs is None:
        args.epochs = 2 if args.quick else 5
    if args.repeats is None:
        args.repeats = 1 if args.quick else 5
    if args.numba_cache is None:
        args.numba_cache = "disk" if args.quick else "fresh"
    if args.n_samples < max(BATCH_SIZES) * 2:
        p.error(f"--n-samples must be at least {max(BATCH_SIZES) * 2}")
    if args.epochs < 1 or args.repeats < 1:
        p.error("--epochs and --repeats must be at least 1")
    return args


# ---------------------------------------------------------------------------
# data

def make_data(n_train, n_test, n_features=N_FEATURES, seed=0):
    """y = sum_k tanh(s_k * x_k) over a few features + noise, standardized."""
    rng = np.random.RandomState(seed)
    n = n_train + n_test
    X = rng.standard_normal((n, n_features))
    informative = rng.permutation(n_features)[:N_INFORMATIVE]
    scales = rng.uniform(0.5, 2.0, N_INFORMATIVE)
    y = np.tanh(X[:, informative] * scales).sum(axis=1)
    y += 0.1 * y.std() * rng.standard_normal(n)
    X -= X[:n_train].mean(axis=0)
    X /= X[:n_train].std(axis=0)
    y = (y - y[:n_train].mean()) / y[:n_train].std()
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def layer_sizes(n_features):
    return [n_features, *HIDDEN, 1]


def flops_per_sample(n_features):
    """2 flops per multiply-add x 3 products per layer (forward, backward, gradient)."""
    s = layer_sizes(n_features)
    return 2 * 3 * sum(a * b for a, b in zip(s[:-1], s[1:]))


# ---------------------------------------------------------------------------
# estimators

def make_sktune(batch_size, epochs, init=None):
    from sktune import MLPRegressor

    params = dict(hidden_layer_sizes=HIDDEN, activation="relu", optimizer="adam",
                  learning_rate=LEARNING_RATE, lr_schedule="constant",
                  batch_size=batch_size, max_iter=epochs, tol=None, penalty=None,
                  shuffle=True, random_state=0)
    if init == "sklearn":
        return _sklearn_init_class()(**params)
    if init is not None:
        params["init"] = init
    return MLPRegressor(**params)


def make_sklearn(batch_size, epochs):
    from sklearn.neural_network import MLPRegressor

    return MLPRegressor(hidden_layer_sizes=HIDDEN, activation="relu", solver="adam",
                        learning_rate_init=LEARNING_RATE, batch_size=batch_size,
                        max_iter=epochs, tol=0.0, n_iter_no_change=10 ** 9, alpha=0.0,
                        shuffle=True, random_state=0, early_stopping=False)


_SKLEARN_INIT_CLASS = None


def _sklearn_init_class():
    """sktune.MLPRegressor started from scikit-learn's initial weights.

    A subclass defined here (the package is untouched) whose ``_init_params``
    draws every layer's weights and biases as sklearn's ``_init_coef`` does:
    uniform(+-sqrt(6 / (fan_in + fan_out))) from RandomState(random_state),
    layer by layer, weights then biases.
    """
    global _SKLEARN_INIT_CLASS
    if _SKLEARN_INIT_CLASS is not None:
        return _SKLEARN_INIT_CLASS
    from sktune import MLPRegressor

    class SklearnInitMLPRegressor(MLPRegressor):
        def _init_params(self, n_features, n_outputs, Y, sw, rng):
            _, n_weights = super()._init_params(n_features, n_outputs, Y, sw, rng)
            sizes = self._layer_sizes(n_features, n_outputs)
            sk_rng = np.random.RandomState(self.random_state)
            weights, biases = [], []
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
                bound = np.sqrt(6.0 / (fan_in + fan_out))
                weights.append(sk_rng.uniform(-bound, bound, (fan_in, fan_out)).ravel())
                biases.append(sk_rng.uniform(-bound, bound, fan_out))
            return np.concatenate(weights + biases), n_weights

    _SKLEARN_INIT_CLASS = SklearnInitMLPRegressor
    return SklearnInitMLPRegressor


def skorch_available():
    try:
        import skorch  # noqa: F401
        import torch  # noqa: F401
    except Exception:  # ImportError, or a broken install
        return False
    return True


def make_skorch(batch_size, epochs, dtype, n_features):
    import torch
    from skorch import NeuralNetRegressor

    torch.manual_seed(0)
    sizes = layer_sizes(n_features)
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if k < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    module = torch.nn.Sequential(*layers)
    if dtype == "float64":
        module = module.double()
    return NeuralNetRegressor(module, optimizer=torch.optim.Adam, lr=LEARNING_RATE,
                              batch_size=batch_size, max_epochs=epochs, train_split=None,
                              iterator_train__shuffle=True, verbose=0, device="cpu")


# ---------------------------------------------------------------------------
# timing (parent process)

class KernelRecorder:
    """Records which compiled kernel (serial/parallel twin) sktune's MLP fits
    run: wraps ``sktune._kernels.cpu.prepare`` in this process only
    (read-only observation of the twin it hands out); "?" when that name is
    missing.
    """

    def __init__(self):
        self.keys = []
        self.ok = False
        try:
            from sktune._kernels import cpu
        except ImportError:
            return
        original = getattr(cpu, "prepare", None)
        if callable(original):
            def recording(kind, dtype, *a, **k):
                kernel, fns, parallel = original(kind, dtype, *a, **k)
                if kind == "mlp":
                    self.keys.append((kind, np.dtype(dtype).name, bool(parallel)))
                return kernel, fns, parallel
            cpu.prepare = recording
            self.ok = True

    def mark(self):
        return len(self.keys)

    def twins_since(self, mark):
        return {k[2] for k in self.keys[mark:]}

    def used_since(self, mark):
        if not self.ok:
            return "?"
        # prepare() runs once an epoch: count the epochs of each twin
        counts = {}
        for k in self.keys[mark:]:
            name = "par" if k[2] else "ser"
            counts[name] = counts.get(name, 0) + 1
        if len(counts) == 1:
            return next(iter(counts))
        return "+".join(f"{name} {counts[name]}" for name in sorted(counts)) or "?"


def jax_available():
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure: the peer is skipped
        return False
    return True


class JaxMLP:
    """The same network and algorithm in JAX + optax, as a JAX user writes
    it: (64, 64) ReLU, Glorot-uniform weights, Adam, squared error, a whole
    epoch (shuffle, then ``lax.scan`` over the batches) under one ``jit``.
    The epoch covers ``n // batch_size`` full batches (the last partial
    batch is dropped, a common JAX idiom; at most 0.4% of the rows here)."""

    def __init__(self, batch_size, dtype, n_features):
        import jax
        import jax.numpy as jnp
        import optax

        if dtype == "float64":
            jax.config.update("jax_enable_x64", True)
        self.jax, self.jnp, self.bs, self.dtype = jax, jnp, batch_size, dtype
        sizes = layer_sizes(n_features)
        key = jax.random.PRNGKey(0)
        params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            key, sub = jax.random.split(key)
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            params.append((jax.random.uniform(sub, (fan_in, fan_out), dtype, -bound, bound),
                           jnp.zeros(fan_out, dtype)))
        self.params = params
        self.opt = optax.adam(LEARNING_RATE, b1=0.9, b2=0.999, eps=1e-8)

        def forward(params, x):
            for w, b in params[:-1]:
                x = jax.nn.relu(x @ w + b)
            w, b = params[-1]
            return (x @ w + b)[:, 0]

        def loss(params, x, y):
            r = forward(params, x) - y
            return 0.5 * jnp.mean(r * r)

        opt = self.opt

        def epoch(params, state, X, y, key):
            n_batches = X.shape[0] // batch_size
            perm = jax.random.permutation(key, X.shape[0])[: n_batches * batch_size]
            idx = perm.reshape(n_batches, batch_size)

            def step(carry, rows):
                params, state = carry
                grads = jax.grad(loss)(params, X[rows], y[rows])
                updates, state = opt.update(grads, state, params)
                return (optax.apply_updates(params, updates), state), None

            (params, state), _ = jax.lax.scan(step, (params, state), idx)
            return params, state

        self.epoch = jax.jit(epoch)
        self.forward = jax.jit(forward)

    def fit(self, X, y, epochs):
        """Seconds for the first epoch (compile included) and per later epoch."""
        jax, jnp = self.jax, self.jnp
        Xj, yj = jnp.asarray(X, self.dtype), jnp.asarray(y, self.dtype)
        params, state = self.params, self.opt.init(self.params)
        key = jax.random.PRNGKey(1)
        times = []
        for _ in range(epochs + 1):  # the first call compiles
            key, sub = jax.random.split(key)
            start = time.perf_counter()
            params, state = self.epoch(params, state, Xj, yj, sub)
            jax.block_until_ready(params)
            times.append(time.perf_counter() - start)
        self.fitted = params
        return times[0], sum(times[1:])

    def score(self, X, y):
        pred = np.asarray(self.forward(self.fitted, self.jnp.asarray(X, self.dtype)))
        return 1.0 - np.sum((y - pred) ** 2) / np.sum((y - np.mean(y)) ** 2)


def jax_rounds(make_st, X, y, epochs, rounds, batch_size, dtype):
    """sktune and JAX in interleaved rounds (sktune, JAX, sktune): per round
    the JAX seconds and sktune's (mean of the bracketing fits), JAX's
    compile (its first epoch minus a later one) and held-out model."""
    jx = JaxMLP(batch_size, dtype, X.shape[1])
    compile_s = None
    st, jt = [], []
    for _ in range(rounds):
        before = timed_fit(make_st(), X, y)
        first, rest = jx.fit(X, y, epochs)
        if compile_s is None:
            compile_s = first - rest / epochs
        jt.append(rest)
        after = timed_fit(make_st(), X, y)
        st.append(0.5 * (before + after))
    return st, jt, compile_s, jx


def timed_fit(est, X, y, blas_limit=None):
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if blas_limit is None:
            t0 = time.perf_counter()
            est.fit(X, y)
            return time.perf_counter() - t0
        with threadpool_limits(limits=blas_limit, user_api="blas"):
            t0 = time.perf_counter()
            est.fit(X, y)
            return time.perf_counter() - t0


def best_fit(make_est, X, y, repeats, blas_limit=None):
    best, est = np.inf, None
    for _ in range(repeats):
        est = make_est()
        seconds = timed_fit(est, X, y, blas_limit)
        best = min(best, seconds)
        if seconds > REPEAT_LIMIT_S:
            break
    return best, est


def interleaved_rounds(make_st, make_sk, sk_limits, X, y, rounds):
    """Time sktune and scikit-learn in interleaved rounds.

    Each round fits sktune, then scikit-learn once per BLAS limit in
    ``sk_limits`` (None: its default threads), then sktune again. Returns
    ``(st, sk, st_est, sk_est)``: ``st`` the round's sktune seconds (mean of
    its two bracketing fits), ``sk`` a dict ``limit -> [seconds per round]``
    and the last fitted estimator of each library. Rounds stop early once a
    scikit-learn fit took longer than ``REPEAT_LIMIT_S``.
    """
    st, sk = [], {limit: [] for limit in sk_limits}
    st_est = sk_est = None
    for _ in range(rounds):
        st_est = make_st()
        before = timed_fit(st_est, X, y)
        slow = False
        for limit in sk_limits:
            sk_est = make_sk()
            seconds = timed_fit(sk_est, X, y, limit)
            sk[limit].append(seconds)
            slow |= seconds > REPEAT_LIMIT_S
        st_est = make_st()
        after = timed_fit(st_est, X, y)
        st.append(0.5 * (before + after))
        if slow:
            break
    return st, sk, st_est, sk_est


def round_ratios(r):
    """Per-round speed ratios: the faster sklearn setting / sktune."""
    sk = [r[k] for k in ("sk_rounds", "sk1_rounds") if r.get(k)]
    if not sk:
        return []
    return [min(vals) / st for st, *vals in zip(r["st_rounds"], *sk)]


def matmul_rates():
    """GFLOP/s of a 2000x2000 numpy matmul, per dtype, all BLAS threads and one."""
    from threadpoolctl import threadpool_limits

    rng = np.random.RandomState(0)
    out = {}
    for dtype in DTYPES:
        a = rng.standard_normal((MATMUL_N, MATMUL_N)).astype(dtype)
        b = rng.standard_normal((MATMUL_N, MATMUL_N)).astype(dtype)
        for label, limit in (("all", None), ("1", 1)):
            ctx = threadpool_limits(limits=limit, user_api="blas") if limit else None
            if ctx:
                ctx.__enter__()
            try:
                a @ b
                best = np.inf
                for _ in range(3):
                    t0 = time.perf_counter()
                    a @ b
                    best = min(best, time.perf_counter() - t0)
            finally:
                if ctx:
                    ctx.__exit__(None, None, None)
            out[(dtype, label)] = 2.0 * MATMUL_N ** 3 / best / 1e9
    return out


def blas_info():
    try:
        from threadpoolctl import threadpool_info
        return ", ".join(f"{d.get('internal_api')} {d.get('version')} "
                         f"({d.get('num_threads')} threads)"
                         for d in threadpool_info() if d.get("user_api") == "blas")
    except Exception:  # pragma: no cover - informational only
        return "?"


def loadavg():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def fork_join_us():
    """Microseconds of one fork-join of Numba's 2-thread pool (best of 3).

    On this project's 2-core VM it reads ~1.2 us in one state and ~2.5 us
    in another that lasts minutes; in the second, the parallel MLP kernel
    at batch 32 runs slower than the serial one, and ``n_threads=None``
    takes the serial one (so sktune's batch-32 rows move with the state).
    """
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        return None

    @numba.njit(parallel=True)
    def forks(a, n):
        for _ in range(n):
            for c in numba.prange(2):
                a[c] += 1.0

    a = np.zeros(2)
    forks(a, 10)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        forks(a, 20000)
        best = min(best, (time.perf_counter() - t0) / 20000 * 1e6)
    return best


def fork_join_text():
    us = fork_join_us()
    return "n/a (one Numba thread)" if us is None else f"{us:.1f} us"


def sktune_threads():
    try:
        from sktune import _config
        return _config.effective_threads(None)
    except (ImportError, AttributeError):
        import numba
        return numba.get_num_threads()


# ---------------------------------------------------------------------------
# child processes: cold compile and peak memory

def _proc_status(key):
    """A ``/proc/self/status`` field in KiB, or None."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _maxrss_kib():
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r // 1024 if sys.platform == "darwin" else r  # bytes on macOS


def _reset_peak():
    """Reset the kernel's RSS high-water mark (Linux >= 4.0); True if it worked."""
    before = _proc_status("VmHWM")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    after = _proc_status("VmHWM")
    return before is not None and after is not None and after <= before


def child_main(cfg):
    """Run in a fresh interpreter; prints one JSON line with the results."""
    if cfg["mode"] == "compile":
        t0 = time.perf_counter()
        from sktune import MLPRegressor  # imports numba, sklearn
        t_import = time.perf_counter() - t0
        X, y, _, _ = make_data(WARMUP_ROWS, 1)
        out = {"import_s": t_import}
        for dtype in DTYPES:
            est = MLPRegressor(hidden_layer_sizes=HIDDEN, batch_size=cfg["batch_size"],
                               max_iter=1, tol=None, random_state=0)
            t0 = time.perf_counter()
            est.fit(X.astype(dtype), y.astype(dtype))
            out[dtype] = time.perf_counter() - t0
        est = MLPRegressor(hidden_layer_sizes=HIDDEN, batch_size=cfg["batch_size"],
                           max_iter=1, tol=None, random_state=0)
        t0 = time.perf_counter()
        est.fit(X, y)
        out["warm_s"] = time.perf_counter() - t0
        print(json.dumps(out))
        return 0

    # mode == "memory": one library, batch size, dtype
    import tracemalloc

    import sklearn.neural_network  # noqa: F401
    lib, bs, dtype, epochs = cfg["lib"], cfg["batch_size"], cfg["dtype"], cfg["epochs"]
    if lib == "sktune":
        import sktune  # noqa: F401
    X, y, _, _ = make_data(cfg["n_samples"], 0)
    X = np.ascontiguousarray(X, dtype=dtype)
    y = y.astype(dtype)
    if lib == "sktune":
        with warnings.catch_warnings():  # loads (or compiles) the kernel
            warnings.simplefilter("ignore")
            make_sktune(bs, 1).fit(X[:WARMUP_ROWS], y[:WARMUP_ROWS])
        make = make_sktune
    else:
        make = make_sklearn
    gc.collect()
    rss_before = _proc_status("VmRSS")
    maxrss_setup = _maxrss_kib()
    if rss_before is None:
        rss_before = maxrss_setup
    reset = _reset_peak()
    maxrss_reset = _maxrss_kib()
    est = make(bs, epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    maxrss_after = _maxrss_kib()
    hwm = _proc_status("VmHWM")
    n_iter = int(est.n_iter_)
    del est
    gc.collect()
    # Python-level allocations of a 1-epoch fit (the peak does not grow with epochs)
    est = make(bs, 1)
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({
        "rss_before_kib": rss_before, "maxrss_setup_kib": maxrss_setup,
        "maxrss_after_kib": maxrss_after, "hwm_after_kib": hwm, "peak_reset": reset,
        "maxrss_reset_kib": maxrss_reset,
        "hwm_delta_kib": None if hwm is None else hwm - rss_before,
        "rss_delta_kib": maxrss_after - rss_before, "traced_peak_bytes": traced_peak,
        "n_iter": n_iter,
    }))
    return 0


def run_child(cfg, env=None, timeout=1800):
    """Run this script with ``--child cfg`` in a fresh interpreter; its JSON result.

    The child is started through ``sh``, which forks it (it does not ``exec``
    it: a command follows). Linux carries a process's ``ru_maxrss`` across
    ``exec``, and a child forked or vforked straight from this process starts
    with *this* process's peak RSS (hundreds of MiB here) as its ``ru_maxrss``;
    forked from a small shell it starts from the shell's.
    """
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(cfg)]
    sh = shutil.which("sh")
    if sh and sys.platform.startswith("linux"):
        cmd = [sh, "-c", '"$0" "$@"; rc=$?; exit $rc'] + cmd
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env,
                          timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"child {cfg} failed (rc {proc.returncode}): " + " | ".join(tail))
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------
# report helpers

def _f(x, fmt, missing="-"):
    return missing if x is None else format(x, fmt)


def _rounds_text(ratios):
    if not ratios:
        return "-"
    return (f"{np.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"
            if len(ratios) > 1 else f"{ratios[0]:.2f}x")


def print_table(header, rows, left=1):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print(line)
    print("  ".join(str(c).ljust(w) if i < left else str(c).rjust(w)
                    for i, (c, w) in enumerate(zip(header, widths))))
    print(line)
    for r in rows:
        print("  ".join(str(c).ljust(w) if i < left else str(c).rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))))
    print(line)


# ---------------------------------------------------------------------------
# main

def main(argv=None):
    args = parse_args(argv)
    if args.child is not None:
        return child_main(json.loads(args.child))
    cache_dir = None
    compile_info = None
    load_start = loadavg()
    if args.numba_cache == "fresh":
        if "numba" in sys.modules:
            print("warning: numba already imported; NUMBA_CACHE_DIR not applied")
        cache_dir = tempfile.mkdtemp(prefix="sktune-bench-mlp-numba-")
        os.environ["NUMBA_CACHE_DIR"] = cache_dir
        print(f"measuring the cold Numba compile in a child (fresh cache {cache_dir}) ...",
              flush=True)
        try:
            compile_info = run_child({"mode": "compile", "batch_size": BATCH_SIZES[0]},
                                     env=dict(os.environ))
        except Exception as exc:  # keep going: the timings do not depend on it
            compile_info = {"error": str(exc)}
    try:
        return _main(args, cache_dir, compile_info, load_start)
    finally:
        if cache_dir is not None:
            shutil.rmtree(cache_dir, ignore_errors=True)


def _main(args, cache_dir, compile_info, load_start):
    import numba
    import sklearn

    import sktune

    recorder = KernelRecorder()
    E, n = args.epochs, args.n_samples
    n_test = max(1, n // 5)
    print("sktune.MLPRegressor vs sklearn.neural_network.MLPRegressor")
    print(f"python {platform.python_version()}, numpy {np.__version__}, sklearn "
          f"{sklearn.__version__}, numba {numba.__version__}, sktune "
          f"{getattr(sktune, '__version__', '?')}")
    print(f"machine: {platform.machine()} {platform.processor() or ''}, "
          f"{os.cpu_count()} logical CPUs; BLAS: {blas_info()}")
    print(f"NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}; sktune n_threads=None -> "
          f"{sktune_threads()} thread(s) (BLAS capped at 1 inside its fit); sklearn: "
          f"numpy BLAS threads ('default') and BLAS capped at 1 ('1 BLAS')")
    print(f"load average at start: {load_start}  (other busy processes inflate timings)")
    print(f"fork-join of 2 Numba threads at start: {fork_join_text()}  (this VM: ~1.2 us, "
          f"or ~2.5 us in a state where the parallel twin loses at batch 32)")
    print(f"network: {N_FEATURES} -> {' -> '.join(map(str, HIDDEN))} -> 1, relu, Adam "
          f"lr={LEARNING_RATE}, no penalty, shuffle, E={E} epochs, {args.repeats} "
          f"interleaved timing round(s) (fewer once a fit takes > {REPEAT_LIMIT_S:.0f} s)")
    t0 = time.perf_counter()
    X, y, X_t, y_t = make_data(n, n_test)
    print(f"data: train {X.shape}, held-out {X_t.shape}, y = sum of tanh of "
          f"{N_INFORMATIVE} scaled features + noise, standardized "
          f"({time.perf_counter() - t0:.1f} s)")
    fps = flops_per_sample(N_FEATURES)
    print(f"flops per sample per epoch (2 * 3 * sum fan_in*fan_out): {fps}; per epoch "
          f"{fps * n / 1e9:.3f} GFLOP")
    print()

    if compile_info is None:
        print("cold compile: not measured (Numba's on-disk cache; use --numba-cache fresh)")
    elif "error" in compile_info:
        print(f"cold compile: FAILED: {compile_info['error']}")
    else:
        print(f"cold compile (child, empty NUMBA_CACHE_DIR): import sktune "
              f"{compile_info['import_s']:.2f} s; first tiny fit float64 "
              f"{compile_info['float64']:.1f} s, then float32 {compile_info['float32']:.1f} s "
              f"(serial MLP kernel of each dtype); a warm tiny fit {compile_info['warm_s']:.3f} s")

    print("numpy matmul rate (2000x2000, best of 3) ...", flush=True)
    peaks = matmul_rates()
    print("  " + "; ".join(f"{dt}: {peaks[(dt, 'all')]:.1f} GFLOP/s all threads, "
                           f"{peaks[(dt, '1')]:.1f} GFLOP/s 1 thread" for dt in DTYPES))
    has_skorch = (not args.no_skorch) and skorch_available()
    if not args.no_skorch and not has_skorch:
        print(SKORCH_HINT)
    has_jax = (not args.no_jax) and jax_available()
    if not args.no_jax and not has_jax:
        print(JAX_HINT)
    print()

    try:
        # the warm-up fit is small; a small fit takes the serial twin until
        # the parallel one is compiled, while the timed fits (big) take the
        # parallel one: let the warm-up compile what the timed fits run
        from sktune._kernels import cpu as _cpu
        _cpu.PARALLEL_PAYS = 0.0
    except (ImportError, AttributeError):
        pass
    sk_variants = {"default": [None], "1": [1], "both": [None, 1]}[args.sklearn_blas]
    sk_names = ["default BLAS" if v is None else "1 BLAS" for v in sk_variants]
    results = []
    for bs in BATCH_SIZES:
        for dtype in DTYPES:
            Xd = np.ascontiguousarray(X, dtype=dtype)
            yd = y.astype(dtype)
            Xtd = X_t.astype(dtype)
            tag = f"[bs={bs} {dtype}]"
            r = {"bs": bs, "dtype": dtype}

            print(f"{tag} sktune warm-up, then {args.repeats} interleaved round(s) of "
                  f"sktune, sklearn ({' and '.join(sk_names)}), sktune ...", flush=True)
            mark = recorder.mark()
            # both twins: n_threads=None times each on the timed fits' epochs
            timed_fit(make_sktune(bs, 1).set_params(n_threads=1), Xd[:WARMUP_ROWS],
                      yd[:WARMUP_ROWS])
            warm = timed_fit(make_sktune(bs, 1), Xd[:WARMUP_ROWS], yd[:WARMUP_ROWS])
            warm_twins = recorder.twins_since(mark)
            mark = recorder.mark()
            st, sk, est, sk_est = interleaved_rounds(
                lambda bs=bs: make_sktune(bs, E), lambda bs=bs: make_sklearn(bs, E),
                sk_variants, Xd, yd, args.repeats)
            kernel = recorder.used_since(mark)
            if recorder.ok and not recorder.twins_since(mark) <= warm_twins:
                kernel += "(!)"  # warm-up used another kernel: compile time included
            assert est.n_iter_ == E, (est.n_iter_, E)
            assert sk_est.n_iter_ == E, (sk_est.n_iter_, E)
            r.update(st_s=min(st) / E, st_r2=est.score(Xtd, y_t), st_warm=warm,
                     st_kernel=kernel, st_rounds=[t / E for t in st])
            for limit in sk_variants:
                key = "sk" if limit is None else "sk1"
                r[key + "_rounds"] = [t / E for t in sk[limit]]
                r[key + "_s"] = min(sk[limit]) / E
                r[key + "_r2"] = sk_est.score(Xtd, y_t)  # deterministic: same for both
            print(f"{tag} rounds, s/epoch: sktune "
                  + " ".join(f"{t:.4f}" for t in r["st_rounds"])
                  + "".join(f"; sklearn {name} " + " ".join(f"{t:.4f}" for t in
                                                            r[("sk" if v is None else "sk1")
                                                              + "_rounds"])
                            for name, v in zip(sk_names, sk_variants))
                  + "; ratios " + " ".join(f"{x:.2f}" for x in round_ratios(r)), flush=True)

            est_g = make_sktune(bs, E, init="glorot")
            timed_fit(est_g, Xd, yd)
            r["st_r2_glorot"] = est_g.score(Xtd, y_t)

            try:
                est_i = make_sktune(bs, E, init="sklearn")
                timed_fit(est_i, Xd, yd)
                r["st_r2_skinit"] = est_i.score(Xtd, y_t)
            except Exception as exc:  # private hook changed: diagnostic only
                r["st_r2_skinit"] = None
                r["skinit_error"] = repr(exc)

            if has_jax:
                print(f"{tag} JAX + optax: {args.repeats} interleaved round(s) of sktune, "
                      f"JAX, sktune ...", flush=True)
                try:
                    st_j, jt, jc, jx = jax_rounds(lambda bs=bs: make_sktune(bs, E), Xd, yd,
                                                  E, args.repeats, bs, dtype)
                    r["jx_ratios"] = [j / s for j, s in zip(jt, st_j)]
                    r["jx_s"] = min(jt) / E
                    r["jx_st_s"] = min(st_j) / E
                    r["jx_compile"] = jc
                    r["jx_r2"] = jx.score(Xtd, y_t)
                except Exception as exc:  # noqa: BLE001 - report, keep the others
                    r["jx_error"] = repr(exc)

            if has_skorch:
                print(f"{tag} skorch {args.repeats} fit(s) ...", flush=True)
                try:
                    t, est = best_fit(lambda bs=bs, dt=dtype: make_skorch(bs, E, dt, N_FEATURES),
                                      Xd, yd.reshape(-1, 1), args.repeats)
                    r["tc_s"] = t / E
                    r["tc_r2"] = est.score(Xtd, y_t.astype(dtype).reshape(-1, 1))
                except Exception as exc:
                    r["tc_error"] = repr(exc)

            if not args.no_memory:
                for lib in ("sktune", "sklearn"):
                    print(f"{tag} peak memory of a {lib} fit (child process) ...",
                          flush=True)
                    try:
                        m = run_child({"mode": "memory", "lib": lib, "batch_size": bs,
                                       "dtype": dtype, "epochs": E, "n_samples": n},
                                      env=dict(os.environ))
                        r[lib + "_mem"] = m
                    except Exception as exc:
                        r[lib + "_mem"] = {"error": str(exc)}
            results.append(r)
    print()
    report(args, results, peaks, fps, has_skorch, has_jax)
    return 0


def report(args, results, peaks, fps, has_skorch, has_jax=False):
    n, E = args.n_samples, args.epochs
    mib = 1.0 / 1024

    def gflops(s):
        return None if s is None else fps * n / s / 1e9

    def ref_s(r):
        cands = [r[k] for k in ("sk_s", "sk1_s") if r.get(k) is not None]
        return min(cands) if cands else None

    def rss(r, lib):
        m = r.get(lib + "_mem")
        if not m or "error" in m:
            return None
        return m["rss_delta_kib"] * mib

    def traced(r, lib):
        m = r.get(lib + "_mem")
        if not m or "error" in m:
            return None
        return m["traced_peak_bytes"] / 2 ** 20

    print(f"=== sktune vs sklearn: {n} x {N_FEATURES}, hidden {HIDDEN}, Adam lr "
          f"{LEARNING_RATE}, {E} epochs ===")
    header = ["batch", "dtype", "sktune s/ep", "kernel", "sklearn s/ep", "skl 1BLAS s/ep",
              "ratio", "ratio(best skl)", "rounds: median [min-max]", "R2 sktune", "R2 sklearn", "dR2",
              "RSS MiB st", "RSS MiB sk", "tracemalloc MiB st", "tracemalloc MiB sk",
              "GFLOP/s st", "GFLOP/s sk", "st % peak", "sk % peak"]
    rows = []
    for r in results:
        peak = peaks[(r["dtype"], "all")]
        sk_s, sk1_s, best = r.get("sk_s"), r.get("sk1_s"), ref_s(r)
        sk_r2 = r.get("sk_r2", r.get("sk1_r2"))
        st_gf = gflops(r["st_s"])
        sk_gf = gflops(best)
        rows.append([
            r["bs"], r["dtype"], _f(r["st_s"], ".4f"), r["st_kernel"], _f(sk_s, ".4f"),
            _f(sk1_s, ".4f"),
            "-" if sk_s is None else f"{sk_s / r['st_s']:.2f}x",
            "-" if best is None else f"{best / r['st_s']:.2f}x",
            _rounds_text(round_ratios(r)),
            _f(r["st_r2"], ".4f"), _f(sk_r2, ".4f"),
            _f(None if sk_r2 is None else r["st_r2"] - sk_r2, "+.4f"),
            _f(rss(r, "sktune"), ".1f"), _f(rss(r, "sklearn"), ".1f"),
            _f(traced(r, "sktune"), ".1f"), _f(traced(r, "sklearn"), ".1f"),
            _f(st_gf, ".2f"), _f(sk_gf, ".2f"),
            _f(100 * st_gf / peak, ".1f") + "%",
            "-" if sk_gf is None else f"{100 * sk_gf / peak:.1f}%",
        ])
    print_table(header, rows, left=2)
    print("s/ep: fit wall time / epochs (best round, compile excluded). ratio: "
          "sklearn (default BLAS threads) s/ep / sktune s/ep; ratio(best skl): against the "
          "faster of sklearn's two BLAS settings. rounds: the per-round ratio (faster sklearn "
          "setting / mean of the two sktune fits around it), median and range: the verdict.")
    print("kernel: sktune's compiled epoch kernel (ser = serial twin, one thread; par = "
          "parallel twin; par N+ser M = n_threads=None ran N epochs on the parallel twin and M "
          "on the serial one, the faster as timed on the fits' epochs). R2 on the held-out rows; dR2 = sktune - sklearn (default BLAS).")
    print("RSS MiB: child process ru_maxrss after the fit minus its RSS after imports + data "
          "(+ sktune kernel warm-up), peak reset before the fit. tracemalloc MiB: Python-level "
          "peak of a 1-epoch fit.")
    print(f"GFLOP/s: {fps} flops/sample x {n} samples / s per epoch; sklearn's uses its faster "
          "setting; % peak: of the all-thread numpy matmul rate of that dtype "
          + ", ".join(f"{dt} {peaks[(dt, 'all')]:.1f}" for dt in DTYPES)
          + " GFLOP/s (1 thread: "
          + ", ".join(f"{dt} {peaks[(dt, '1')]:.1f}" for dt in DTYPES) + ").")
    print()

    # memory details
    if not args.no_memory:
        print("peak memory details (KiB; child processes):")
        mrows, disagree = [], []
        for r in results:
            for lib in ("sktune", "sklearn"):
                m = r.get(lib + "_mem") or {}
                if "error" in m:
                    mrows.append([r["bs"], r["dtype"], lib, "ERROR: " + m["error"][:80],
                                  "", "", "", "", ""])
                    continue
                d1, d2 = m.get("rss_delta_kib"), m.get("hwm_delta_kib")
                if d1 is not None and d2 is not None and abs(d1 - d2) > 5 * 1024:
                    disagree.append(f"bs={r['bs']} {r['dtype']} {lib}")
                mrows.append([r["bs"], r["dtype"], lib, m.get("rss_before_kib"),
                              m.get("maxrss_setup_kib"), m.get("maxrss_reset_kib"),
                              m.get("maxrss_after_kib"), d1, m.get("hwm_after_kib"), d2,
                              "yes" if m.get("peak_reset") else "NO",
                              m.get("traced_peak_bytes", 0) // 1024])
        print_table(["batch", "dtype", "lib", "RSS after setup", "maxrss setup",
                     "maxrss after reset", "maxrss after fit", "delta", "VmHWM after fit",
                     "VmHWM delta", "peak reset", "tracemalloc KiB"], mrows, left=3)
        print("delta = ru_maxrss after fit - RSS after setup; VmHWM delta = /proc peak RSS "
              "after the fit - RSS after setup. The peak was reset after setup, so set-up "
              "transients ('maxrss setup') are not counted.")
        if disagree:
            print("WARNING: ru_maxrss and VmHWM deltas differ by > 5 MiB for: "
                  + ", ".join(disagree) + " (ru_maxrss not reset? see 'maxrss after reset')")
        print()

    # R2 diagnostic
    print("R2 by initial weights: sktune's default (He for ReLU), init='glorot' "
          "(sklearn's scheme, its own draw) and sklearn's exact initial weights "
          "(sklearn's draw order and seed):")
    drows = []
    for r in results:
        sk_r2 = r.get("sk_r2", r.get("sk1_r2"))
        si, sg = r.get("st_r2_skinit"), r["st_r2_glorot"]

        def d(x):
            return _f(None if x is None or sk_r2 is None else x - sk_r2, "+.4f")

        drows.append([r["bs"], r["dtype"], _f(sk_r2, ".4f"), _f(sg, ".4f"), d(sg),
                      _f(si, ".4f"), d(si), _f(r["st_r2"], ".4f"), d(r["st_r2"]),
                      r.get("skinit_error", "")])
    print_table(["batch", "dtype", "R2 sklearn", "sktune glorot", "d", "sktune sklearn-init",
                 "d", "sktune He (default)", "d", "note"], drows, left=2)
    print()

    if has_skorch:
        print("skorch NeuralNetRegressor (torch default threads):")
        trows = []
        for r in results:
            if "tc_error" in r:
                trows.append([r["bs"], r["dtype"], "ERROR " + r["tc_error"][:80], "", ""])
                continue
            trows.append([r["bs"], r["dtype"], _f(r.get("tc_s"), ".4f"),
                          _f(None if r.get("tc_s") is None else r["tc_s"] / r["st_s"], ".2f")
                          + "x", _f(r.get("tc_r2"), ".4f")])
        print_table(["batch", "dtype", "skorch s/ep", "skorch/sktune", "R2 skorch"], trows,
                    left=2)
        print()
    else:
        print(SKORCH_HINT if not args.no_skorch else "skorch: skipped (--no-skorch)")
        print()

    jax_met = True
    if has_jax:
        print(f"JAX + optax (whole epoch under one jit, lax.scan); target: sktune >= "
              f"{JAX_TARGET:.1f}x JAX's epoch speed, median of interleaved rounds:")
        jrows = []
        for r in results:
            if "jx_error" in r or "jx_ratios" not in r:
                jax_met = False
                jrows.append([r["bs"], r["dtype"], "ERROR " + r.get("jx_error", "")[:80],
                              "", "", "", "", ""])
                continue
            ratios = sorted(r["jx_ratios"])
            med = ratios[len(ratios) // 2]
            met = med >= JAX_TARGET
            jax_met &= met
            jrows.append([r["bs"], r["dtype"], _f(r["jx_st_s"], ".4f"), _f(r["jx_s"], ".4f"),
                          _rounds_text(r["jx_ratios"]), _f(r["jx_compile"], ".2f"),
                          _f(r["jx_r2"], ".4f"), "MET" if met else "MISSED"])
        print_table(["batch", "dtype", "sktune s/ep", "JAX s/ep", "JAX/sktune (median)",
                     "JAX compile s", "R2 JAX", "verdict"], jrows, left=2)
        print()
    else:
        print(JAX_HINT if not args.no_jax else "JAX: skipped (--no-jax)")
        print()

    print(f"load average at end: {loadavg()}")
    print(f"fork-join of 2 Numba threads at end: {fork_join_text()}")
    print("Targets")
    met_all = jax_met

    def verdict(ok, text):
        nonlocal met_all
        if ok is None:
            print(f"  n/a      {text}")
            return
        met_all &= ok
        print(f"  {'MET    ' if ok else 'NOT MET'}  {text}")

    for r in results:
        tag = f"bs={r['bs']:<3d} {r['dtype']}"
        target = TARGET_RATIO.get(r["bs"])
        ratios = round_ratios(r)
        if target is not None and ratios:
            ratio = float(np.median(ratios))
            best = ref_s(r) / r["st_s"]
            verdict(ratio >= target, f"{tag}  speed: sklearn/sktune >= {target:g}x: "
                                     f"{ratio:.2f}x, median of {len(ratios)} paired "
                                     f"round(s) vs the faster sklearn setting "
                                     f"({_rounds_text(ratios)}; best fits {best:.2f}x)")
    for r in results:
        tag = f"bs={r['bs']:<3d} {r['dtype']}"
        sk_r2 = r.get("sk_r2", r.get("sk1_r2"))
        if sk_r2 is not None:
            d = r["st_r2_glorot"] - sk_r2
            he = r["st_r2"] - sk_r2
            verdict(abs(d) <= R2_TOL, f"{tag}  R2 equal within {R2_TOL} (same init scheme): "
                                      f"sktune init='glorot' {r['st_r2_glorot']:.4f} vs "
                                      f"sklearn {sk_r2:.4f} ({d:+.4f}); sktune's He default "
                                      f"{r['st_r2']:.4f} ({he:+.4f})")
    if not args.no_memory:
        for r in results:
            tag = f"bs={r['bs']:<3d} {r['dtype']}"
            a, b = rss(r, "sktune"), rss(r, "sklearn")
            verdict(None if a is None or b is None else a <= b,
                    f"{tag}  peak RSS sktune <= sklearn: {_f(a, '.1f')} vs {_f(b, '.1f')} MiB "
                    f"(tracemalloc {_f(traced(r, 'sktune'), '.1f')} vs "
                    f"{_f(traced(r, 'sklearn'), '.1f')} MiB)")
    for r in results:
        if r["bs"] != PEAK_TARGET_BATCH:
            continue
        tag = f"bs={r['bs']:<3d} {r['dtype']}"
        peak = peaks[(r["dtype"], "all")]
        frac = gflops(r["st_s"]) / peak
        verdict(frac >= PEAK_FRACTION_TARGET,
                f"{tag}  throughput >= {100 * PEAK_FRACTION_TARGET:.0f}% of matmul: "
                f"{gflops(r['st_s']):.2f} GFLOP/s = {100 * frac:.1f}% of {peak:.1f} "
                f"(1-thread matmul {peaks[(r['dtype'], '1')]:.1f}: "
                f"{100 * gflops(r['st_s']) / peaks[(r['dtype'], '1')]:.1f}%)")
    print(f"All targets met: {'yes' if met_all else 'no'}")


if __name__ == "__main__":
    sys.exit(main())
