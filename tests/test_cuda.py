"""device="cuda" trains exactly like device="cpu" (the CUDA kernels of
``sktune._kernels.cuda``).

Without a GPU the kernels run in numba-cuda's simulator. The simulator has to
be switched on before numba is first imported, and other test modules import
numba first in the same pytest process, so every GPU fit runs in a worker
subprocess: this very file run as a script (``python tests/test_cuda.py
GROUP``), which trains a group of models on both devices and prints their
fitted weights as JSON for the tests to compare. Set ``SKTUNE_REAL_GPU=1`` to
run the same tests on a real GPU instead of the simulator.
"""
import os
import sys

REAL_GPU = os.environ.get("SKTUNE_REAL_GPU") == "1"
if __name__ == "__main__" and not REAL_GPU and sys.argv[1:] != ["ptx"]:
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")  # before numba is imported

import base64  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import subprocess  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# The simulator runs each CUDA thread as a Python thread: tiny launches (2
# blocks of 16 threads, 2x2 threads of 3x3 outputs per product tile) keep it
# fast; grid-stride loops make every
# kernel correct for any launch size. A second configuration with odd sizes
# checks exactly that.
SIM_LAUNCH = {"SKTUNE_CUDA_THREADS": "16", "SKTUNE_CUDA_BLOCKS": "2",
              "SKTUNE_CUDA_TILE": "2", "SKTUNE_CUDA_MICRO": "3",
              "SKTUNE_CUDA_SPLITS": "2"}
ODD_LAUNCH = {"SKTUNE_CUDA_THREADS": "4", "SKTUNE_CUDA_BLOCKS": "1",
              "SKTUNE_CUDA_TILE": "3", "SKTUNE_CUDA_MICRO": "1",
              "SKTUNE_CUDA_SPLITS": "3", "SKTUNE_CUDA_CHECK_EVERY": "1"}

# misc: the host polls the divergence flag after every batch, so the linear
# divergence fit below stops launching mid-epoch
_LAUNCH = {"launch": ODD_LAUNCH, "misc": dict(SIM_LAUNCH, SKTUNE_CUDA_CHECK_EVERY="1")}

RTOL = {"float64": 1e-6, "float32": 2e-4}
OPTIMIZERS = ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad"]


# --------------------------------------------------------------------------
# Configurations: (name, estimator, data, estimator parameters). Tiny data:
# 24 samples x 3 features, 2 epochs, batches of 8 (the last one full), so
# several optimizer steps, the penalties and the averaging all take effect.

def _data():
    rng = np.random.RandomState(0)
    X = rng.randn(24, 3)
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.randn(24)
    return {
        "reg": (X, y),
        "reg2": (X, np.column_stack([y, X[:, 0] - y])),
        "count": (X, rng.poisson(np.exp(0.3 * X[:, 0])).astype(float)),
        "bin": (X, (y > 0).astype(int)),
        "multi": (X, np.digitize(y, [-1.0, 1.0])),
        "multilabel": (X, np.column_stack([y > 0, X[:, 1] > 0]).astype(int)),
    }


_PENALTIES = [None, "l2", "l1", "elasticnet", "l2", "elasticnet", "l1"]


def _configs(family):
    """Every optimizer (each with a penalty), every loss, dropout on and off."""
    common = dict(max_iter=2, tol=None, batch_size=8, random_state=0)
    out = []
    if family == "linear":
        reg, clf = "LinearRegressor", "LinearClassifier"
        extra = {}
    else:
        reg, clf = "MLPRegressor", "MLPClassifier"
        extra = dict(hidden_layer_sizes=(4,))
    for opt, pen in zip(OPTIMIZERS, _PENALTIES):
        kw = dict(common, **extra, optimizer=opt, penalty=pen, alpha=0.05,
                  learning_rate=0.05)
        out.append((f"{opt}-{pen}", reg, "reg", kw))
    more = [
        ("huber", reg, "reg", dict(loss="huber", huber_delta=0.5)),
        ("poisson", reg, "count", dict(loss="poisson")),
        ("multioutput", reg, "reg2", {}),
        ("log_loss-binary", clf, "bin", dict(loss="log_loss")),
        ("log_loss-multiclass", clf, "multi", dict(loss="log_loss")),
        ("hinge-binary", clf, "bin", dict(loss="hinge")),
        ("hinge-multiclass", clf, "multi", dict(loss="hinge")),
        ("clip-average-sgd", reg, "reg",
         dict(optimizer="sgd", clip_norm=0.3, average=True, learning_rate=0.05)),
        ("average-from-10-adamw", reg, "reg",
         dict(optimizer="adamw", average=10, penalty="elasticnet", alpha=0.1)),
        ("float32", reg, "reg", dict(penalty="l2", dtype="float32")),
        # pruning: the mask set after epoch 1 (7/8 of the target with
        # max_iter=2) holds in epoch 2, clipping norm and running average
        # included
        ("sparsity-momentum-clip", reg, "reg",
         dict(sparsity=0.5, optimizer="momentum", clip_norm=0.3, learning_rate=0.05)),
        ("sparsity-adam-average", clf, "multi", dict(sparsity=0.6, average=True)),
    ]
    if family == "mlp":
        more += [
            ("multilabel", clf, "multilabel", dict(loss="log_loss")),
            ("dropout-relu-2layers", reg, "reg",
             dict(hidden_layer_sizes=(5, 3), dropout=0.3)),
            ("dropout-tanh-softmax", clf, "multi",
             dict(hidden_layer_sizes=(6, 4), dropout=0.4, activation="tanh")),
            ("logistic-act", reg, "reg", dict(activation="logistic")),
            ("leaky_relu-dropout-hinge", clf, "bin",
             dict(activation="leaky_relu", dropout=0.2, loss="hinge")),
            ("identity-act-clip", reg, "reg", dict(activation="identity", clip_norm=0.2)),
        ]
    for name, est, data, kw in more:
        out.append((name, est, data, {**common, **extra, **kw}))
    return out


# --------------------------------------------------------------------------
# Worker side (runs in the subprocess)

def _weights(model):
    if hasattr(model, "coefs_"):
        parts = list(model.coefs_) + list(model.intercepts_)
    else:
        parts = [model.coef_, model.intercept_]
    return np.concatenate([np.ravel(p) for p in parts])


def _fit(name, data, kw, device):
    import sktune

    X, y = _data()[data]
    kw = dict(kw)
    dtype = kw.pop("dtype", "float64")
    model = getattr(sktune, name)(device=device, **kw)
    return model.fit(X.astype(dtype), y)


def _summary(model):
    return {"weights": _weights(model).tolist(), "loss_curve": list(model.loss_curve_),
            "t": int(model.t_), "n_iter": int(model.n_iter_),
            "counters": model._train_state.counters.tolist(),
            "gradient_norms": model.gradient_norms_.tolist(),
            "update_norms": model.update_norms_.tolist(),
            "device": model.device_}


def _worker_compare(family):
    out = {}
    for label, name, data, kw in _configs(family):
        out[label] = {dev: _summary(_fit(name, data, kw, dev)) for dev in ("cpu", "cuda")}
        out[label]["dtype"] = kw.get("dtype", "float64")
    return out


def _worker_misc():
    import sktune
    from sktune import DivergenceError

    X, y = _data()["reg"]
    Xc, yc = _data()["multi"]
    out = {}
    common = dict(max_iter=2, tol=None, batch_size=8, random_state=0)

    # fitted attributes are host numpy arrays; the model pickles
    lin = sktune.LinearRegressor(device="cuda", **common).fit(X, y)
    mlp = sktune.MLPClassifier(hidden_layer_sizes=(4,), device="cuda", **common).fit(Xc, yc)
    out["types"] = [type(a).__name__ for a in
                    [lin.coef_, lin.intercept_] + mlp.coefs_ + mlp.intercepts_]
    out["pickles"] = {
        "linear": base64.b64encode(pickle.dumps(lin)).decode(),
        "mlp": base64.b64encode(pickle.dumps(mlp)).decode(),
    }
    out["predictions"] = {"linear": lin.predict(X).tolist(),
                          "mlp": mlp.predict_proba(Xc).tolist()}

    # divergence: DivergenceError with finite weights, on both devices
    Xbig = X * 1e3
    div = {}
    for family, make in [
        ("linear", lambda d: sktune.LinearRegressor(
            optimizer="sgd", learning_rate=10.0, device=d, max_iter=5, tol=None,
            batch_size=4, random_state=0)),
        ("mlp", lambda d: sktune.MLPRegressor(
            hidden_layer_sizes=(4,), optimizer="sgd", learning_rate=10.0, device=d,
            max_iter=5, tol=None, batch_size=4, random_state=0)),
    ]:
        for dev in ("cpu", "cuda"):
            model = make(dev)
            try:
                model.fit(Xbig, y * 1e3)
                raised = False
            except DivergenceError:
                raised = True
            div[f"{family}-{dev}"] = {
                "raised": raised, "finite": bool(np.all(np.isfinite(_weights(model)))),
                "weights": _weights(model).tolist(), "n_iter": int(model.n_iter_)}
    out["divergence"] = div

    # partial_fit continues the optimizer state and the step counter
    pf = {}
    for dev in ("cpu", "cuda"):
        model = sktune.MLPRegressor(hidden_layer_sizes=(4,), batch_size=8, dropout=0.2,
                                    random_state=0, device=dev)
        steps = []
        for lo in (0, 12, 0):
            model.partial_fit(X[lo:lo + 12], y[lo:lo + 12])
            steps.append(int(model.t_))
        pf[dev] = {"weights": _weights(model).tolist(), "t": steps,
                   "m": model._train_state.m.tolist()}
    out["partial_fit"] = pf

    # early stopping validates on the host between GPU epochs
    es = {}
    for dev in ("cpu", "cuda"):
        model = sktune.LinearClassifier(early_stopping=True, validation_fraction=0.25,
                                        n_iter_no_change=2, device=dev, **common)
        model.fit(Xc, yc)
        es[dev] = {"weights": _weights(model).tolist(),
                   "scores": list(model.validation_scores_)}
    out["early_stopping"] = es

    # a moment that only decays is flushed to zero below float32's smallest
    # normal on the GPU as on the CPU (no subnormal state)
    sub = {}
    Xs = X[:16].astype(np.float32)
    Xs[4:, 1] = 0.0
    sws = np.ones(16)
    sws[:4] = 0.0
    for dev in ("cpu", "cuda"):
        model = sktune.LinearRegressor(penalty=None, batch_size=8, max_iter=1, tol=None,
                                       warm_start=True, random_state=0, device=dev)
        model.fit(Xs, Xs[:, 0], sample_weight=sws)
        state = model._train_state
        state.params[1] = state.m[1] = np.float32(np.finfo(np.float32).tiny / 4)
        model.fit(Xs, Xs[:, 0], sample_weight=sws)
        sub[dev] = {k: getattr(state, k).tolist() for k in ("params", "m", "v")}
    out["subnormal"] = sub
    return out


def _worker_ptx():
    """Compile every kernel for a real GPU (sm_90) without one: PTX only."""
    from numba import cuda, types
    from numba.cuda import dispatcher

    from sktune._kernels import cuda as K

    class _Device:  # device functions ask the current device for its cc
        compute_capability = (9, 0)

    dispatcher.get_current_device = lambda: _Device()
    i64 = types.int64
    F1, F2 = types.float64[::1], types.float64[:, ::1]
    I1 = types.int64[::1]
    done = []
    for np_dt, dt in ((np.float64, types.float64), (np.float32, types.float32)):
        D1, D2 = dt[::1], dt[:, ::1]
        forward, weight_grad, backprop = K._tiled_for(np_dt)
        sigs = [
            (K._grad_sq_norm, (F2, D1, D1, i64, F1, I1, F1, F1)),
            (K._grad_sq_norm, (D2, D1, D1, i64, F1, I1, F1, F1)),
            (K._finalize, (F1, i64, F1, F1, i64, F1, I1, I1, F1, F1)),
            (K._update, (D1, D1, D1, D1, F2, F1, F1, I1, F1, F1)),
            (K._update, (D1, D1, D1, D1, D2, F1, F1, I1, F1, F1)),
            (K._loss_rows, (D2, D1, I1, i64, i64, D2, D2, F1, F1, I1, F1)),
            (K._linear_rows, (D2, D2, D1, I1, i64, i64, D1, F2, F2, F1, F1, I1, F1)),
            (K._linear_grad, (D2, I1, i64, i64, F2, F2, F1)),
            (forward, (D2, i64, D1, i64, i64, D2, i64, i64, i64, I1, i64, F1, I1, F1)),
            (weight_grad, (D2, i64, D2, i64, i64, i64, I1, i64, D2, F1)),
            (backprop, (D2, D1, i64, D2, D2, i64, i64, I1, i64, F1, I1, F1)),
        ]
        for kernel, sig in sigs:
            cuda.compile_ptx(kernel.py_func, sig, cc=(9, 0))
            done.append(f"{np_dt.__name__}:{kernel.py_func.__name__}")
    return {"compiled": done}


def _worker_bench():
    """The GPU benchmark's smoke test (its --quick mode) in the simulator."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "benchmarks"))
    import bench_gpu

    return bench_gpu.main(["--quick"])


def _worker(group):
    import numba

    if os.environ.get("SKTUNE_EXPECT_SIM") == "1":
        assert numba.config.ENABLE_CUDASIM, "the simulator was not enabled"
    warnings.simplefilter("ignore")  # the simulator's RNG set-up warns
    # the simulator's scheduler polls its threads: a short switch interval
    # makes it several times faster
    sys.setswitchinterval(2e-4)
    if group in ("linear", "mlp"):
        result = _worker_compare(group)
    elif group == "launch":
        result = {"linear": _worker_compare("linear"), "mlp": _worker_compare("mlp")}
        keep = {"adam-elasticnet", "log_loss-multiclass", "dropout-tanh-softmax",
                "clip-average-sgd", "float32"}
        result = {f"{fam}/{k}": v for fam, res in result.items() for k, v in res.items()
                  if k in keep}
    else:
        result = {"misc": _worker_misc, "ptx": _worker_ptx, "bench": _worker_bench}[group]()
    print(json.dumps(result))


# --------------------------------------------------------------------------
# Test side (runs in pytest)

class _Worker:
    """A worker subprocess, started early so that several run side by side."""

    def __init__(self, group, launch=SIM_LAUNCH):
        env = dict(os.environ)
        if group == "ptx":
            env.pop("NUMBA_ENABLE_CUDASIM", None)
        elif not REAL_GPU:
            env["NUMBA_ENABLE_CUDASIM"] = "1"
            env["SKTUNE_EXPECT_SIM"] = "1"
            env.update(launch)
        self.group = group
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), group],
                                     env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self._result = None

    def result(self, timeout=900):
        if self._result is None:
            try:
                out, err = self.proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()
                raise
            if self.proc.returncode != 0:
                raise AssertionError(f"worker {self.group!r} failed:\n{err[-6000:]}")
            self._result = json.loads(out.strip().splitlines()[-1])
        return self._result


# which worker each test needs: the module fixture starts all the workers the
# selected tests need at once (the simulator is single-threaded Python)
_GROUPS = {
    "test_linear_cuda_matches_cpu": "linear",
    "test_mlp_cuda_matches_cpu": "mlp",
    "test_pruned_weights_stay_exactly_zero_on_cuda": "mlp",
    "test_any_launch_configuration_gives_the_same_training": "launch",
    "test_fitted_attributes_are_numpy_arrays": "misc",
    "test_gpu_trained_model_pickles_and_predicts_without_a_gpu": "misc",
    "test_divergence_raises_with_finite_weights": "misc",
    "test_partial_fit_continues_the_state": "misc",
    "test_early_stopping_on_cuda": "misc",
    "test_gpu_benchmark_quick_mode_runs": "bench",
}


@pytest.fixture(scope="module")
def workers(request):
    here = os.path.abspath(__file__)
    wanted = []
    for item in request.session.items:
        group = _GROUPS.get(getattr(item, "originalname", item.name))
        if group and os.path.abspath(str(item.fspath)) == here and group not in wanted:
            wanted.append(group)
    if REAL_GPU:
        wanted = [g for g in wanted if g not in ("launch", "bench")]
    # compile the CPU kernels here, once, into Numba's on-disk cache, which
    # the workers then load instead of each compiling them side by side
    for est in ("LinearRegressor", "MLPRegressor"):
        for dtype in ("float64", "float32"):
            _fit(est, "reg", dict(max_iter=1, tol=None, batch_size=8, dtype=dtype), "cpu")
    started = {}
    try:
        for group in wanted:
            started[group] = _Worker(group, _LAUNCH.get(group, SIM_LAUNCH))
        yield started
    finally:
        for worker in started.values():
            if worker.proc.poll() is None:
                worker.proc.kill()
                worker.proc.communicate()


@pytest.fixture(scope="module")
def linear_results(workers):
    return workers["linear"].result()


@pytest.fixture(scope="module")
def mlp_results(workers):
    return workers["mlp"].result()


@pytest.fixture(scope="module")
def misc_results(workers):
    return workers["misc"].result()


def _assert_same_training(res):
    cpu, gpu = res["cpu"], res["cuda"]
    rtol = RTOL[res["dtype"]]
    assert gpu["device"] == "cuda" and cpu["device"] == "cpu"
    np.testing.assert_allclose(gpu["weights"], cpu["weights"], rtol=rtol, atol=rtol * 1e-2)
    np.testing.assert_allclose(gpu["loss_curve"], cpu["loss_curve"], rtol=rtol)
    # the gradient diagnostics: the same per-layer norms on both devices
    assert np.shape(cpu["gradient_norms"]) == np.shape(gpu["gradient_norms"])
    assert np.shape(cpu["gradient_norms"])[0] == 2
    np.testing.assert_allclose(gpu["gradient_norms"], cpu["gradient_norms"], rtol=rtol)
    np.testing.assert_allclose(gpu["update_norms"], cpu["update_norms"], rtol=rtol,
                               atol=rtol * 1e-3)
    assert gpu["t"] == cpu["t"] == 6  # 2 epochs x 3 batches
    assert gpu["counters"] == cpu["counters"]
    assert gpu["n_iter"] == cpu["n_iter"] == 2


@pytest.mark.parametrize("label", [c[0] for c in _configs("linear")])
def test_linear_cuda_matches_cpu(linear_results, label):
    _assert_same_training(linear_results[label])


@pytest.mark.parametrize("label", [c[0] for c in _configs("mlp")])
def test_mlp_cuda_matches_cpu(mlp_results, label):
    _assert_same_training(mlp_results[label])


def test_pruned_weights_stay_exactly_zero_on_cuda(mlp_results):
    for label in ("sparsity-momentum-clip", "sparsity-adam-average"):
        cpu, gpu = (np.asarray(mlp_results[label][d]["weights"]) for d in ("cpu", "cuda"))
        assert np.count_nonzero(cpu == 0.0) > 0
        np.testing.assert_array_equal(gpu == 0.0, cpu == 0.0)


def test_any_launch_configuration_gives_the_same_training(workers):
    """Grid-stride loops: 1 block of 4 threads, 3x3 tiles, 3 row ranges."""
    if REAL_GPU:
        pytest.skip("launch sizes are fixed at import; this runs in the simulator")
    results = workers["launch"].result()
    assert len(results) == 9
    for res in results.values():
        _assert_same_training(res)


def test_fitted_attributes_are_numpy_arrays(misc_results):
    assert set(misc_results["types"]) == {"ndarray"}


def test_gpu_trained_model_pickles_and_predicts_without_a_gpu(misc_results):
    # this process has not enabled the simulator and has no GPU: prediction
    # is plain numpy on the host
    lin = pickle.loads(base64.b64decode(misc_results["pickles"]["linear"]))
    mlp = pickle.loads(base64.b64decode(misc_results["pickles"]["mlp"]))
    X, _ = _data()["reg"]
    Xc, yc = _data()["multi"]
    assert lin.device_ == "cuda" and mlp.device_ == "cuda"
    np.testing.assert_allclose(lin.predict(X), misc_results["predictions"]["linear"],
                               rtol=1e-12)
    np.testing.assert_allclose(mlp.predict_proba(Xc), misc_results["predictions"]["mlp"],
                               rtol=1e-12)
    # and it predicts like the same model trained on the CPU
    cpu = _fit("LinearRegressor", "reg", dict(max_iter=2, tol=None, batch_size=8,
                                               random_state=0), "cpu")
    np.testing.assert_allclose(lin.predict(X), cpu.predict(X), rtol=1e-6)
    assert mlp.score(Xc, yc) >= 0.0


@pytest.mark.parametrize("family", ["linear", "mlp"])
def test_divergence_raises_with_finite_weights(misc_results, family):
    div = misc_results["divergence"]
    cpu, gpu = div[f"{family}-cpu"], div[f"{family}-cuda"]
    assert cpu["raised"] and gpu["raised"]
    assert gpu["finite"]
    assert gpu["n_iter"] == cpu["n_iter"]
    np.testing.assert_allclose(gpu["weights"], cpu["weights"], rtol=1e-6)


def test_partial_fit_continues_the_state(misc_results):
    cpu, gpu = misc_results["partial_fit"]["cpu"], misc_results["partial_fit"]["cuda"]
    assert gpu["t"] == cpu["t"] == [2, 4, 6]
    np.testing.assert_allclose(gpu["weights"], cpu["weights"], rtol=1e-6)
    np.testing.assert_allclose(gpu["m"], cpu["m"], rtol=1e-6, atol=1e-12)


def test_no_subnormal_state_on_cuda(misc_results):
    tiny = np.finfo(np.float32).tiny
    for dev, state in misc_results["subnormal"].items():
        for name, values in state.items():
            a = np.array(values)
            assert not np.any((a != 0) & (np.abs(a) < tiny)), (dev, name, a)
        assert state["m"][1] == 0.0, dev
    np.testing.assert_allclose(misc_results["subnormal"]["cuda"]["params"],
                               misc_results["subnormal"]["cpu"]["params"], rtol=1e-6)


def test_early_stopping_on_cuda(misc_results):
    cpu, gpu = misc_results["early_stopping"]["cpu"], misc_results["early_stopping"]["cuda"]
    np.testing.assert_allclose(gpu["scores"], cpu["scores"], rtol=1e-9)
    np.testing.assert_allclose(gpu["weights"], cpu["weights"], rtol=1e-6)


def _nvvm_available():
    code = ("from numba import cuda\n"
            "def k(a):\n    a[0] = 1.0\n"
            "cuda.compile_ptx(k, 'void(float64[::1])', cc=(9, 0))\n")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          timeout=300, check=False)
    return proc.returncode == 0


def test_gpu_benchmark_quick_mode_runs(workers):
    result = workers["bench"].result()
    assert result["device"] == "cuda" and result["epochs"] >= 1
    assert result["gpu_s_per_epoch"] > 0 and result["cpu_s_per_epoch"] > 0
    assert result["max_weight_difference"] < 1e-3


if __name__ == "__main__":
    _worker(sys.argv[1])
