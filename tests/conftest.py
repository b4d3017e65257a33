import os

# scikit-learn's array-API check (run with NumPy inputs for estimators without
# array-API support) needs this set before SciPy is imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.preprocessing import StandardScaler


@pytest.fixture(scope="session")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="session")
def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture
def small_regression():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4)
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 + 0.01 * rng.randn(60)
    return X, y


@pytest.fixture
def force_parallel(monkeypatch):
    """Fits that ask for threads get the parallel kernel, however small (by
    default a small fit takes the serial twin until the parallel one is
    compiled)."""
    from sktune._kernels import cpu

    monkeypatch.setattr(cpu, "PARALLEL_PAYS", 0.0)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """``pytest -n auto``: one worker per CPU this process may run on (the
    affinity, not the host's count, which a container or a CI runner's
    ``taskset`` can narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
