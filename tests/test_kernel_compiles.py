"""The compiled steps that the kernels share compile once per dtype.

``cpu._update_slice_call`` (the optimizer step), ``cpu._end_batch_call``
(chunk sums, loss, step), ``cpu._mlp_batch_grad_jit`` (an MLP chunk's
pass) and ``_gemm.gemm_nn`` (its matrix products) are called, not inlined, from the linear kernels and from both MLP
update paths. Each extra signature is a full compile of their loops (the
optimizer step alone takes ~14 s on 2 cores): a literal argument (``0``
rather than ``np.int64(0)``) or a differently typed array at one call site
is enough to cause one. Kernels loaded from Numba's disk cache do not
register their callees' signatures, so the check compiles from an empty
cache in a child process.
"""
import json
import os
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import json, warnings
    import numpy as np
    from sktune import LinearRegressor, MLPRegressor
    from sktune._kernels import _gemm, cpu

    rng = np.random.RandomState(0)
    X = rng.randn(256, 50)
    y = X[:, 0] - X[:, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # >= 4096 parameters at batch 32: the parallel kernel, whose two
        # update paths (threaded slices; the whole step) both compile
        MLPRegressor((64, 64), batch_size=32, max_iter=1, tol=None,
                     random_state=0).fit(X, y)
        # a small network: the serial kernel
        MLPRegressor((4,), batch_size=8, max_iter=1, tol=None,
                     random_state=0).fit(X[:64, :3], y[:64])
        LinearRegressor(max_iter=1, tol=None, random_state=0).fit(X, y)
    compiled = {name: getattr(cpu, name) for name in (
        "_update_slice_call", "_end_batch_call", "_mlp_batch_grad_jit")}
    compiled["gemm_nn"] = _gemm.gemm_nn
    print(json.dumps({name: [str(s) for s in f.signatures]
                      for name, f in compiled.items()}))
""")


def test_shared_steps_compile_once(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    signatures = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, sigs in signatures.items():
        assert len(sigs) == 1, (name, "\n".join(sigs))
