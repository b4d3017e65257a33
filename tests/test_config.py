"""Process-wide behaviour: the kernel cache location and the thread policy."""
import os
import shutil
import subprocess
import sys
import itertools
import threading
import time

import numpy as np
import pytest

import sktune
from sktune import _config

_SCRIPT = """
import numpy as np, {first}
import {second}
X = np.random.RandomState(0).randn(30, 3)
m = sktune.LinearRegressor(max_iter=2).fit(X, X[:, 0])
print(numba.config.CACHE_DIR)
"""


@pytest.mark.parametrize("first, second", [("numba", "sktune"), ("sktune", "numba")])
def test_unwritable_install_falls_back_to_a_temporary_cache(tmp_path, first, second):
    # sktune sets the cache before Numba reads it (Numba imported after
    # sktune), or on Numba's own config (imported before)
    # A copy of the package whose __pycache__ cannot be created (a file sits
    # there: this also holds when the tests run as root), with no writable
    # user cache directory either.
    pkg = tmp_path / "site"
    shutil.copytree(os.path.dirname(sktune.__file__), pkg / "sktune",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for sub in ("", "_kernels", "optim", "linear_model"):
        (pkg / "sktune" / sub / "__pycache__").write_text("not a directory")
    blocked = tmp_path / "home-is-a-file"
    blocked.write_text("")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(HOME=str(blocked), XDG_CACHE_HOME=str(blocked / "cache"),
               TMPDIR=str(tmp), PYTHONPATH=str(pkg), PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([sys.executable, "-c", _SCRIPT.format(first=first, second=second)],
                         env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    cache_dir = out.stdout.strip().splitlines()[-1]
    assert cache_dir.startswith(str(tmp))
    assert any(name.endswith(".nbi") for _, _, files in os.walk(cache_dir) for name in files)


def test_import_leaves_numba_to_the_first_fit():
    # ~0.2 s of every `import sktune` that does not fit (a notebook's first
    # cell, a worker unpickling a fitted model) is Numba's import
    script = ("import sys, sktune, numpy as np\n"
              "assert 'numba' not in sys.modules, 'numba imported by import sktune'\n"
              "sktune.MLPRegressor()\n"
              "assert 'numba' not in sys.modules, 'numba imported by a constructor'\n"
              # nor what a classifier's fit needs (a tenth of the import)
              "assert 'sklearn.preprocessing' not in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=False, timeout=120)
    assert out.returncode == 0, out.stderr


def test_thread_policy():
    cap = _config.effective_threads(None)
    assert cap >= 1
    assert _config.effective_threads(1) == 1
    assert _config.effective_threads(10_000) == cap
    assert _config.effective_threads(-1) == cap
    seen = []
    worker = threading.Thread(target=lambda: seen.append(_config.effective_threads(None)))
    worker.start()
    worker.join()
    assert seen == [1]  # fits in worker threads run the serial kernel


def test_twin_chooser_times_both_kernels_then_takes_the_faster(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(_config, "_EPOCH_TIMES", {})
    chooser = _config.TwinChooser("fit", 2)

    def epoch(seconds, timed=True):
        n = chooser.threads()
        clock[0] += seconds
        chooser.record(n, True, seconds, 100, timed)
        return n

    # the first epoch and those starting within SETTLE_SECONDS are not timed
    assert epoch(0.1) == 2
    assert epoch(0.1) == 2
    assert _config._EPOCH_TIMES == {}
    assert epoch(2.0) == 2  # the parallel twin is timed first,
    assert epoch(1.0, timed=False) == 1  # then the serial one (a compile: not its speed)
    assert epoch(1.0) == 1
    for _ in range(3):  # then the faster
        assert epoch(1.0) == 1
    # the slower twin is timed again once its figure is stale: here the
    # machine changed and the parallel twin now wins (the serial twin's
    # figure is kept longer: its speed does not move with the machine)
    clock[0] += max(_config.STALE_SECONDS, _config.STALE_EPOCHS * 1.0)
    assert epoch(0.5) == 2
    assert epoch(0.5) == 2
    clock[0] += max(_config.SERIAL_STALE_SECONDS, _config.STALE_EPOCHS * 1.0)
    assert [epoch(0.5) for _ in range(3)] == [2, 1, 2]  # both stale: both timed
    # one slow epoch (a moment of contention) does not switch twins
    assert epoch(3.0) == 2
    assert epoch(0.5) == 2
    # the next fit of that kind starts with what this one measured
    assert _config.TwinChooser("fit", 2).threads() == 2
    assert _config.TwinChooser("other fit", 2).threads() == 2
    # a fit whose family runs the serial twin anyway, or one thread: no choice
    fixed = _config.TwinChooser("fit", 2)
    fixed.record(2, False, 0.1, 100)
    assert fixed.threads() == 2 and not fixed.active
    assert _config.TwinChooser("fit", 1).threads() == 1


@pytest.mark.parametrize("Est, kw", [
    (sktune.MLPRegressor, dict(hidden_layer_sizes=(256, 64), batch_size=256, dropout=0.3)),
    (sktune.LinearRegressor, dict(batch_size="full")),
])
def test_auto_threads_switch_twins_without_changing_a_bit(Est, kw, force_parallel,
                                                          monkeypatch):
    if _config.effective_threads(None) < 2:
        pytest.skip("one Numba thread: there is no parallel twin to choose")
    rng = np.random.RandomState(0)
    X = rng.randn(3000, 40)  # big enough batches to split across threads
    y = X @ rng.randn(40) + rng.randn(3000)
    kw = dict(kw, max_iter=4, tol=None, random_state=5)
    serial = Est(n_threads=1, **kw).fit(X, y)
    Est(n_threads=2, **kw).fit(X, y)  # both twins ready: every epoch below is timed
    arms = itertools.cycle([2, 1])
    monkeypatch.setattr(_config.TwinChooser, "threads",
                        lambda self: next(arms) if self.active else self.n_threads)
    monkeypatch.setattr(_config, "_EPOCH_TIMES", {})
    monkeypatch.setattr(_config, "SETTLE_SECONDS", 0.0)  # (these epochs are short)
    auto = Est(**kw).fit(X, y)  # n_threads=None: epochs on alternate twins
    (times,) = _config._EPOCH_TIMES.values()
    assert sorted(times) == [1, 2]
    np.testing.assert_array_equal(auto.predict(X), serial.predict(X))
    np.testing.assert_array_equal(auto.loss_curve_, serial.loss_curve_)


def test_fit_in_a_dask_worker_matches_local():
    import distributed

    X = np.random.RandomState(0).randn(200, 5)
    y = X @ np.arange(5.0)
    kw = dict(batch_size=16, max_iter=5, random_state=0, tol=None)
    local = sktune.LinearRegressor(**kw).fit(X, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        futures = [client.submit(lambda s: sktune.LinearRegressor(**kw).fit(X, y).coef_,
                                 i, pure=False) for i in range(4)]
        results = client.gather(futures)
    for coef in results:
        np.testing.assert_array_equal(coef, local.coef_)
