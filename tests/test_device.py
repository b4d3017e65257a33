"""The device parameter: resolution and the errors when CUDA is missing."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

import sktune
from sktune import _device


def test_cpu_is_the_default_and_recorded():
    X = np.random.RandomState(0).randn(20, 2)
    model = sktune.LinearRegressor(max_iter=1, tol=None).fit(X, X[:, 0])
    assert model.device == "cpu" and model.device_ == "cpu"


def test_missing_numba_cuda_is_named(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba_cuda" else real(name, *a))
    ok, reason = _device.cuda_status()
    assert not ok and "numba-cuda is not installed" in reason and "sktune[cuda]" in reason
    X = np.random.RandomState(0).randn(20, 2)
    with pytest.raises(RuntimeError, match="numba-cuda is not installed"):
        sktune.MLPRegressor(device="cuda", max_iter=1).fit(X, X[:, 0])
    assert _device.resolve_device("auto") == "cpu"


_WITHOUT_SIMULATOR = """
import numpy as np, sktune
from numba import cuda
print(cuda.is_available())
X = np.random.RandomState(0).randn(20, 2)
try:
    sktune.LinearRegressor(device="cuda", max_iter=1, tol=None).fit(X, X[:, 0])
    print("fitted on cuda")
except RuntimeError as exc:
    print(exc)
print(sktune.LinearRegressor(device="auto", max_iter=1, tol=None).fit(X, X[:, 0]).device_)
"""


def test_without_a_gpu_the_error_says_so():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", _WITHOUT_SIMULATOR], capture_output=True,
                         text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    has_gpu, cuda_fit, auto = out.stdout.strip().splitlines()[-3:]
    if has_gpu == "True":  # a session lent a real GPU
        assert cuda_fit == "fitted on cuda" and auto == "cuda"
    else:
        assert "device='cuda' was requested but no CUDA GPU is visible" in cuda_fit
        assert auto == "cpu"


def test_invalid_device():
    X = np.random.RandomState(0).randn(20, 2)
    with pytest.raises(InvalidParameterError, match="device"):
        sktune.LinearRegressor(device="gpu").fit(X, X[:, 0])
