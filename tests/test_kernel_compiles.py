"""Every compiled unit compiles once, a fit compiles only what it uses, and
``precompile`` fills the cache so that a new process compiles nothing.

Units are compiled with one explicit signature each (:mod:`sktune._kernels._jit`)
and called by address; a second signature would be a second full compile.
Kernels loaded from Numba's cache hide their compiles, so the checks run
in child processes on an empty cache.
"""
import json
import os
import subprocess
import sys
import textwrap

from sktune._kernels import _codes as C

FITS = textwrap.dedent("""
    import json, warnings
    import numpy as np
    from sktune import LinearRegressor, MLPRegressor
    from sktune._kernels import _jit, cpu

    cpu.PARALLEL_PAYS = 0.0  # the parallel twins, as big fits get them
    rng = np.random.RandomState(0)
    X = rng.randn(256, 50)
    y = X[:, 0] - X[:, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # >= 4096 parameters at batch 32: the parallel kernel with the
        # threaded update ranges
        MLPRegressor((64, 64), batch_size=32, max_iter=1, tol=None,
                     random_state=0).fit(X, y)
        # a small network: the serial kernel and the narrow-layer product
        MLPRegressor((4,), batch_size=8, max_iter=1, tol=None, n_threads=1,
                     random_state=0).fit(X[:64, :3], y[:64])
        LinearRegressor(max_iter=1, tol=None, random_state=0).fit(X, y)
    print(json.dumps({"signatures": {str(k): len(d.signatures)
                                     for k, d in _jit._UNITS.items()},
                      "log": [name for name, _ in _jit.compile_log()],
                      "cached": _jit.loaded_from_cache()}))
""")

PRECOMPILE = "import json, sktune; print(json.dumps(sktune.precompile(" \
             "dtypes='float64', kinds=['mlp'], optimizers=['sgd'], " \
             "losses=['squared_error'], activations=['relu', 'tanh'])))"

MLP_FIT = textwrap.dedent("""
    import json, warnings
    import numpy as np
    from sktune import MLPRegressor
    from sktune._kernels import _jit

    warnings.simplefilter("ignore")
    rng = np.random.RandomState(0)
    X = rng.randn(64, 5)
    for act in ("relu", "tanh"):
        MLPRegressor((8,), activation=act, optimizer="sgd", max_iter=1, n_threads=1,
                     random_state=0).fit(X, X[:, 0])
    # a small fit that asks for threads takes the parallel twin once it is
    # in the cache, and loading it compiles nothing for the fit's
    # (writable) arrays
    X = rng.randn(256, 50)
    MLPRegressor((64,), optimizer="sgd", batch_size=64, max_iter=1, n_threads=2,
                 random_state=0).fit(X, X[:, 0])
    # the batched search's fused epoch is precompiled too
    from sktune.model_selection import GridSearchCV

    GridSearchCV(MLPRegressor((8,), optimizer="sgd", max_iter=1, n_threads=1, random_state=0),
                 {"learning_rate": [0.01, 0.1]}, cv=2).fit(X[:64, :5], X[:64, 0])
    loaded = _jit.loaded_from_cache()
    assert any("[par]" in name for name in loaded), loaded
    assert "mlp_cohort[float64]" in loaded, loaded
    counts = {str(k): len(d.signatures) for k, d in _jit._UNITS.items()}
    assert all(n == 1 for n in counts.values()), counts
    print(json.dumps(loaded))
""")


def _run(code, cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_units_compile_once_and_only_what_a_fit_uses(tmp_path):
    out = _run(FITS, tmp_path)
    assert out["signatures"] and all(n == 1 for n in out["signatures"].values()), out
    log = out["log"]
    assert len(log) == len(set(log)), log  # nothing compiled twice
    # the fits' options only: Adam; the pass of ReLU with squared error; no
    # dropout; the linear epoch of squared error
    steps = [name for name in log if name.startswith("step[")]
    assert steps and all(name.startswith("step[3_") for name in steps), steps
    units = {name.split("[")[0]: [] for name in log}
    for name in log:
        units[name.split("[")[0]].append(name)
    assert units["loss"] == ["loss[%d_float64]" % C.SQUARED_ERROR], log
    # the output layer's identity is the loss unit's bias add, not a unit
    assert units["act"] == ["act[%d_float64]" % C.RELU], log
    assert not any(name.startswith("dropout") for name in log), log
    linear = [name for name in log if name.startswith("dense_epoch")]
    assert linear == ["dense_epoch[ser_%d_float64]" % C.SQUARED_ERROR], linear
    assert any(name.startswith("mlp_epoch[par") for name in log)
    assert not any(out["cached"].values())  # an empty cache: all compiled


def test_precompile_fills_the_cache_for_new_processes(tmp_path):
    summary = _run(PRECOMPILE, tmp_path)
    assert summary["units"] >= 15 and summary["cache_dir"] == str(tmp_path)
    loaded = _run(MLP_FIT, tmp_path)
    assert loaded and all(loaded.values()), loaded


def test_verbose_fit_says_it_compiles_once(tmp_path):
    code = textwrap.dedent("""
        import json, warnings
        import numpy as np
        from sktune import LinearRegressor
        warnings.simplefilter("ignore")
        X = np.random.RandomState(0).randn(40, 3)
        for loss in ("squared_error", "huber"):
            LinearRegressor(loss=loss, max_iter=1, verbose=1, random_state=0).fit(X, X[:, 0])
        print(json.dumps(0))
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    notes = [line for line in proc.stdout.splitlines() if "compiling" in line]
    assert len(notes) == 1 and str(tmp_path) in notes[0], proc.stdout


def test_precompile_rejects_unknown_options():
    import pytest
    import sktune

    with pytest.raises(ValueError, match="dtypes"):
        sktune.precompile(dtypes=["int8"])
    with pytest.raises(ValueError, match="kinds"):
        sktune.precompile(kinds=["tree"])
    with pytest.raises(ValueError, match="activations"):
        sktune.precompile(activations=["softplus"])


def test_inline_copy_shares_one_scope_per_copy():
    """The inliner's IR copy (``_jit._InlineCopy``) gives the blocks of one
    copy one copied scope, never the original's, and a second copy of the
    same IR its own; the hook is put back after each compile."""
    import copy

    from numba.core import inline_closurecall, ir

    from sktune._kernels import _jit

    loc = ir.Loc("f.py", 1)
    scope = ir.Scope(None, loc)
    blocks = []
    for k in range(3):
        b = ir.Block(scope, loc)
        v = scope.redefine("x%d" % k, loc)
        b.append(ir.Assign(ir.Const(k, loc), v, loc))
        blocks.append(b)
    shim = _jit._InlineCopy()
    first = [shim.deepcopy(b) for b in blocks]
    second = [shim.deepcopy(b) for b in blocks]
    for copies in (first, second):
        scopes = {id(b.scope) for b in copies}
        assert len(scopes) == 1 and id(scope) not in scopes
        assert [b.body[0].target.scope for b in copies] == [c.scope for c in copies]
        assert [b.body[0].value.value for b in copies] == [0, 1, 2]
    assert first[0].scope is not second[0].scope
    assert first[0].body[0].target is not blocks[0].body[0].target
    # anything else is copied as copy.deepcopy does
    assert shim.deepcopy([1, [2]]) == [1, [2]]
    assert isinstance(_jit._fast_inline(lambda: inline_closurecall.copy), _jit._InlineCopy)
    assert inline_closurecall.copy is copy


FORKED = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np
    from sktune import LinearRegressor
    from sktune._kernels import _jit

    warnings.simplefilter("ignore")
    allowed = _jit.fork_allowed()
    if sys.argv[1] == "timeout":  # a child that delivers nothing in time
        real = _jit.compile_in_two
        _jit.compile_in_two = lambda units: real(units, timeout=0.0)
    if sys.argv[1] == "no-child":  # fork refused (no memory or processes left)
        import os

        def refuse():
            raise OSError(12, "Cannot allocate memory")

        os.fork = refuse
    rng = np.random.RandomState(0)
    X = rng.randn(200, 6)
    lin = LinearRegressor(max_iter=2, tol=None, random_state=0).fit(X, X[:, 0] - 2 * X[:, 1])
    # after a parallel kernel ran, the threading layer is up: no more forks
    from numba import njit, prange

    @njit(parallel=True)
    def total(a):
        s = 0.0
        for i in prange(a.shape[0]):
            s += a[i]
        return s

    total(np.ones(10))
    print(json.dumps({"allowed": allowed, "after_parallel": _jit.fork_allowed(),
                      "elsewhere": len(_jit._ELSEWHERE),
                      "log": [name for name, _ in _jit.compile_log()],
                      "cached": _jit.loaded_from_cache(), "coef": lin.coef_.tolist()}))
""")


def _run_env(code, cache, arg):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    proc = subprocess.run([sys.executable, "-c", code, arg], capture_output=True,
                          text=True, env=env, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Terminating" not in proc.stderr, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_units_compiled_in_a_forked_process_are_the_same(tmp_path):
    # a first fit compiles its units in two processes where it may fork
    # (Linux, two cores): the same units, each compiled once, the same bits
    # as compiled here; a child that delivers nothing in time, or a fork
    # refused, leaves the work to this process
    import numpy as np

    from sktune import LinearRegressor

    X = np.random.RandomState(0).randn(200, 6)
    here = LinearRegressor(max_iter=2, tol=None, random_state=0).fit(
        X, X[:, 0] - 2 * X[:, 1]).coef_.tolist()
    units = ["permutation", "dense_epoch[ser_%d_float64]" % C.SQUARED_ERROR,
             "step[%d_float64_float64]" % C.ADAM, "end_batch[float64_float64]"]
    forked = _run_env(FORKED, tmp_path / "forked", "plain")
    late = _run_env(FORKED, tmp_path / "late", "timeout")
    alone = _run_env(FORKED, tmp_path / "alone", "no-child")
    for out in (forked, late, alone):
        assert out["coef"] == here
        assert sorted(out["log"]) == sorted(units), out["log"]
        assert not out["after_parallel"]
    # units the child compiled count as compiled, not as found in the cache
    assert not any(forked["cached"].values()), forked["cached"]
    assert late["elsewhere"] == 0  # (what the killed child did write is a cache hit)
    assert alone["elsewhere"] == 0 and not any(alone["cached"].values())
    if forked["allowed"]:
        assert forked["elsewhere"] >= 1, forked


def test_compiling_in_two_processes_can_be_turned_off(monkeypatch):
    from sktune._kernels import _jit

    monkeypatch.setenv("SKTUNE_COMPILE_FORK", "0")
    assert not _jit.fork_allowed()


def test_borrowed_views_share_the_data_and_refuse_non_arrays():
    import numpy as np
    import pytest
    from numba import njit
    from numba.core.errors import TypingError

    from sktune._kernels._jit import borrowed

    @njit
    def scale_rows(a, f):
        b = borrowed(a)
        for i in range(b.shape[0]):
            row = b[i]  # a view of a borrowed array: no owner to count
            row *= f[i]
        return b.sum()

    a = np.arange(6.0).reshape(3, 2)
    total = scale_rows(a, np.array([1.0, 2.0, 3.0]))
    # writes through the borrowed view land in the caller's array
    assert np.array_equal(a, [[0.0, 1.0], [4.0, 6.0], [12.0, 15.0]])
    assert total == a.sum()

    @njit
    def not_an_array(x):
        return borrowed(x)

    with pytest.raises(TypingError, match="an array is expected"):
        not_an_array(1.0)


def test_prefetch_is_a_hint_that_changes_nothing_and_never_reads_past_the_rows():
    import numpy as np
    import pytest
    import scipy.sparse as sp
    from numba import njit
    from numba.core.errors import TypingError

    from sktune._kernels._jit import prefetch_csr_row, prefetch_dense_row

    @njit
    def csr_dots(data, indices, indptr, Y, sw, order, w):
        out = np.zeros(order.shape[0])
        for ii in range(order.shape[0]):
            prefetch_csr_row(data, indices, indptr, Y, sw, order, ii)
            i = order[ii]
            for q in range(indptr[i], indptr[i + 1]):
                out[ii] += data[q] * w[indices[q]]
        return out

    @njit
    def dense_dots(X, Y, sw, order, w):
        out = np.zeros(order.shape[0])
        for ii in range(order.shape[0]):
            prefetch_dense_row(X, Y, sw, order, ii)
            out[ii] = X[order[ii]] @ w
        return out

    rng = np.random.RandomState(0)
    X = sp.random(7, 40, density=0.2, format="csr", random_state=0)
    X[3] = 0.0  # an empty row among them
    X.eliminate_zeros()
    Y = rng.rand(7, 1)
    sw = np.ones(7)
    w = rng.rand(40)
    order = rng.permutation(7)  # the last rows have nothing two ahead
    expected = X[order] @ w
    np.testing.assert_array_equal(
        csr_dots(X.data, X.indices, X.indptr, Y, sw, order, w), expected)
    np.testing.assert_allclose(dense_dots(X.toarray(), Y, sw, order, w), expected)
    # compiled to the CPU's prefetch instruction, not to loads
    sig = csr_dots.signatures[0]
    assert "llvm.prefetch" in csr_dots.inspect_llvm(sig)

    @njit
    def not_an_array(x, order):
        prefetch_dense_row(x, x, x, order, 0)

    with pytest.raises(TypingError, match="arrays and an integer position"):
        not_an_array(1.0, order)
