"""The MLP benchmark's timing protocol, and a smoke run of the script.

The benchmark's verdicts rest on :func:`bench_mlp.interleaved_rounds` (the
order in which the libraries are timed) and :func:`bench_mlp.round_ratios`
(how a round's speed ratio is formed), so both are tested on their own with
scripted timings; the script itself runs once at its smallest size.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def bench_mlp():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_mlp
        yield bench_mlp
    finally:
        sys.path.remove(str(BENCHMARKS))


class _Fake:
    def __init__(self, lib):
        self.lib = lib


def test_rounds_bracket_sklearn_between_two_sktune_fits(bench_mlp, monkeypatch):
    calls = []
    seconds = iter([1.0, 8.0, 9.0, 3.0,    # round 1: st, sk default, sk 1 BLAS, st
                    2.0, 10.0, 7.0, 2.0])  # round 2

    def fake_timed_fit(est, X, y, blas_limit=None):
        calls.append((est.lib, blas_limit))
        return next(seconds)

    monkeypatch.setattr(bench_mlp, "timed_fit", fake_timed_fit)
    st, sk, st_est, sk_est = bench_mlp.interleaved_rounds(
        lambda: _Fake("st"), lambda: _Fake("sk"), [None, 1], None, None, rounds=2)
    assert calls == [("st", None), ("sk", None), ("sk", 1), ("st", None)] * 2
    assert st == [2.0, 2.0]  # each round: the mean of its bracketing sktune fits
    assert sk == {None: [8.0, 10.0], 1: [9.0, 7.0]}
    assert (st_est.lib, sk_est.lib) == ("st", "sk")


def test_rounds_stop_after_a_very_slow_sklearn_fit(bench_mlp, monkeypatch):
    slow = bench_mlp.REPEAT_LIMIT_S + 1.0
    seconds = iter([1.0, slow, 1.0, 1.0, 1.0, 1.0])
    monkeypatch.setattr(bench_mlp, "timed_fit", lambda *a, **k: next(seconds))
    st, sk, _, _ = bench_mlp.interleaved_rounds(
        lambda: _Fake("st"), lambda: _Fake("sk"), [None], None, None, rounds=3)
    assert st == [1.0] and sk == {None: [slow]}


def test_round_ratio_uses_the_faster_sklearn_setting_of_the_same_round(bench_mlp):
    r = {"st_rounds": [0.1, 0.2], "sk_rounds": [0.9, 1.0], "sk1_rounds": [0.8, 1.2]}
    assert bench_mlp.round_ratios(r) == pytest.approx([8.0, 5.0])
    assert bench_mlp.round_ratios({"st_rounds": [0.1], "sk_rounds": [0.5]}) == \
        pytest.approx([5.0])
    assert bench_mlp.round_ratios({"st_rounds": [0.1]}) == []
    assert bench_mlp._rounds_text([8.0, 5.0, 6.0]) == "6.00x [5.00-8.00]"


def test_bench_mlp_smallest_run_reports_every_target():
    cmd = [sys.executable, str(BENCHMARKS / "bench_mlp.py"), "--quick", "--no-memory",
           "--no-skorch", "--n-samples", "400", "--epochs", "1", "--repeats", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "rounds: median [min-max]" in out
    # one speed verdict per (batch, dtype), each a median of the 2 rounds
    assert out.count("median of 2 paired round(s)") == 4
    assert "All targets met:" in out


def test_bench_compress_quick_run_reports_every_row():
    cmd = [sys.executable, str(BENCHMARKS / "bench_compress.py"), "--quick"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    for row in ("sparsity=0.9", "prune 0.9", "units 1/2", "int8", "float16",
                "distilled", "speed:"):
        assert out.count(row) >= 1, row
    assert "ERROR" not in out, out
    assert "All targets met:" in out


def test_bench_dask_quick_run_reports_every_target():
    cmd = [sys.executable, str(BENCHMARKS / "bench_dask.py"), "--quick"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    for verdict in ("Accuracy: R2 gap", "Speed: 2 workers", "Memory: dataset",
                    "Bytes per synchronisation", "extrapolated to 32 workers",
                    "quiet monitors: 2 workers", "default monitors: 2 workers"):
        assert verdict in out


def test_bench_tuning_smallest_run_reports_every_target():
    cmd = [sys.executable, str(BENCHMARKS / "bench_tuning.py"), "--quick", "--only",
           "regression", "--quality-seeds", "1", "--no-grid-peer"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "time to a good model" in out
    # the table's model-epochs: sktune's halving resumes, scikit-learn's refits
    epochs = {line[2:18].strip(): int(line.split()[-1]) for line in out.splitlines()
              if line[2:18].strip() in ("sktune halving", "sklearn halving", "sktune grid")}
    assert epochs["sktune halving"] < epochs["sklearn halving"] < epochs["sktune grid"]
    assert "vs sklearn halving (n_jobs=2)" in out
    assert "of 1 quality seeds" in out
    assert "All targets met:" in out


def test_search_benchmark_judges_the_median_of_the_rounds_ratios():
    """bench_search.py pairs each round's timings (the machine drifts
    between rounds): the median of the per-round ratios, and their range."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_search
    finally:
        sys.path.remove(str(BENCHMARKS))
    # a slow round for both sides gives the same ratio as a fast one
    middle, low, high = bench_search.median_ratios([4.0, 8.0, 3.0], [2.0, 4.0, 1.0])
    assert (middle, low, high) == (2.0, 2.0, 3.0)
