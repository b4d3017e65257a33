"""The compile registry and Numba's cache: faults never break a fit.

Each scenario runs fits in child processes that share a fresh
``NUMBA_CACHE_DIR``; a fit must succeed and give the weights of an
undisturbed run whatever happened to the cache: entries truncated or
replaced by garbage, the directory removed mid-run, writes refused, two
processes compiling into the same empty cache at once.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

CHILD = textwrap.dedent("""
    import json, os, shutil, sys, warnings
    warnings.simplefilter("ignore")
    import numpy as np
    fault = sys.argv[1]
    if fault == "readonly":
        # every cache write fails, as on a read-only directory (root ignores
        # permission bits, so the refusal is injected)
        from numba.core import caching

        def refuse(*args, **kwargs):
            raise PermissionError("read-only cache")
        caching.IndexDataCacheFile.save = refuse
    import sktune
    rng = np.random.RandomState(0)
    X = rng.randn(64, 5)
    y = X @ np.arange(1.0, 6.0)
    out = {}
    kw = dict(max_iter=3, tol=None, random_state=0)
    out["first"] = sktune.LinearRegressor(**kw).fit(X, y).coef_.tolist()
    if fault == "vanish":
        shutil.rmtree(os.environ["NUMBA_CACHE_DIR"])
    # a second variant compiles (and writes) after the fault
    out["second"] = sktune.LinearRegressor(optimizer="sgd", **kw).fit(X, y).coef_.tolist()
    # (Numba's compiler set-up imports its lowering modules, this among them)
    out["compiler_set_up"] = "numba.np.linalg" in sys.modules
    print(json.dumps(out))
""")


def _child(cache, fault="none"):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    return subprocess.Popen([sys.executable, "-c", CHILD, fault], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _result(proc, weights_only=True):
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    got = json.loads(out.strip().splitlines()[-1])
    if weights_only:
        got.pop("compiler_set_up")
    return got


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Weights of an undisturbed run, and the cache it filled."""
    cache = tmp_path_factory.mktemp("cache")
    return _result(_child(cache)), cache


def _entries(cache):
    return [os.path.join(root, f) for root, _, files in os.walk(cache) for f in files
            if f.endswith((".nbi", ".nbc"))]


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_broken_cache_entries_recompile(reference, tmp_path, damage):
    expected, filled = reference
    cache = tmp_path / "cache"
    import shutil

    shutil.copytree(filled, cache)
    entries = _entries(cache)
    assert entries, "the reference run cached nothing"
    for path in entries:
        with open(path, "wb") as fh:
            fh.write(b"" if damage == "truncate" else os.urandom(64))
    assert _result(_child(cache)) == expected
    # an entry that could not be read is written anew
    again = _entries(cache)
    assert any(os.path.getsize(p) > 64 for p in again)


def test_cache_directory_removed_mid_run(reference, tmp_path):
    expected, _ = reference
    assert _result(_child(tmp_path / "cache", "vanish")) == expected


def test_cache_that_refuses_writes(reference, tmp_path):
    expected, _ = reference
    assert _result(_child(tmp_path / "cache", "readonly")) == expected


def test_two_processes_fill_one_empty_cache(reference, tmp_path):
    expected, _ = reference
    cache = tmp_path / "cache"
    procs = [_child(cache), _child(cache)]
    for proc in procs:
        assert _result(proc) == expected
    # and a third process loads what they wrote
    assert _result(_child(cache)) == expected


def test_a_warm_cache_loads_without_numbas_compiler_set_up(reference, tmp_path):
    """Units found in the cache are loaded without refreshing Numba's target
    context (0.1 s of a first fit): a process whose units all come from the
    cache never sets up the compiler, and fits the same weights."""
    import shutil

    expected, filled = reference
    cache = tmp_path / "cache"
    shutil.copytree(filled, cache)
    got = _result(_child(cache), weights_only=False)
    assert not got.pop("compiler_set_up")
    assert got == expected


def test_reference_weights_are_a_real_fit(reference):
    expected, _ = reference
    first, second = np.array(expected["first"]), np.array(expected["second"])
    assert np.all(np.isfinite(first)) and not np.array_equal(first, second)
