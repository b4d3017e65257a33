"""The hand-vectorized matrix products of the MLP kernel, against numpy."""
import numpy as np
import pytest
from numba import njit

from sktune._kernels import _gemm
from sktune._kernels._gemm import gemm_nn, vector_width


@njit(cache=True)
def _width(a):
    return vector_width(a)


def _tol(dtype):
    return 1e-12 if dtype == np.float64 else 2e-5


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("M, N, K", [  # "w": the vector width, the narrowest N
    (16, 64, 50), (1, "w", 1), (5, "w", 3), (7, "w+1", 4), (13, 37, 29), (50, 64, 16),
    (6, 16, 0), (12, 100, 7), (64, 16, 64), (3, 40, 17), (11, 32, 9), (2, 16, 5),
])
@pytest.mark.parametrize("a_transposed", [False, True])
@pytest.mark.parametrize("c_transposed", [False, True])
def test_gemm_nn_matches_numpy(dtype, M, N, K, a_transposed, c_transposed):
    if isinstance(N, str):
        N = _width(np.zeros(1, dtype)) + (1 if N == "w+1" else 0)
    rng = np.random.default_rng(M * 1000 + N * 10 + K)
    # operands inside bigger flat buffers, at offsets, with padded strides
    a_off, b_off, c_off, pad = 3, 5, 7, 2
    A = rng.standard_normal((K, M) if a_transposed else (M, K)).astype(dtype)
    B = rng.standard_normal((K, N)).astype(dtype)
    a_buf = np.full(a_off + A.size + 4, np.nan, dtype)
    a_buf[a_off:a_off + A.size] = A.ravel()
    b_rs = N + pad
    b_buf = np.full(b_off + K * b_rs + 4, np.nan, dtype)
    for p in range(K):
        b_buf[b_off + p * b_rs: b_off + p * b_rs + N] = B[p]
    # C[i, j] at c_off + i * c_rs + j * c_cs: rows padded, or columns padded
    c_rs, c_cs = (1, M + pad) if c_transposed else (N + pad, 1)
    c_buf = np.full(c_off + M * N * (1 + pad) + 4, -7.0, dtype)
    a_rs, a_cs = (1, M) if a_transposed else (K, 1)
    i8 = np.int64
    gemm_nn(c_buf, i8(c_off), i8(c_rs), i8(c_cs), a_buf, i8(a_off), i8(a_rs), i8(a_cs),
            b_buf, i8(b_off), i8(b_rs), i8(M), i8(N), i8(K))
    expected = (A.T if a_transposed else A).astype(np.float64) @ B.astype(np.float64)
    at = c_off + np.arange(M)[:, None] * c_rs + np.arange(N)[None, :] * c_cs
    scale = max(1.0, np.abs(expected).max())
    np.testing.assert_allclose(c_buf[at], expected, rtol=0,
                               atol=_tol(dtype) * scale * max(K, 1))
    # nothing outside the output is touched
    mask = np.ones(c_buf.shape, bool)
    mask[at.ravel()] = False
    assert np.all(c_buf[mask] == -7.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gemm_nn_sums_in_a_fixed_order(dtype):
    """Each element is the same ordered sum wherever its tile falls: a column
    computed in the overlapping last tile equals the same column computed as
    part of a wider product."""
    rng = np.random.default_rng(0)
    M, K = 9, 33
    w = _width(np.zeros(1, dtype))
    A = rng.standard_normal((M, K)).astype(dtype).ravel()
    B = rng.standard_normal((K, 3 * w)).astype(dtype)
    i8 = np.int64
    wide = np.zeros(M * 3 * w, dtype)
    gemm_nn(wide, i8(0), i8(3 * w), i8(1), A, i8(0), i8(K), i8(1),
            np.ascontiguousarray(B).ravel(), i8(0), i8(3 * w), i8(M), i8(3 * w), i8(K))
    n = w + 3  # a vector tile, then an overlapping one ending at column n
    Bn = np.ascontiguousarray(B[:, :n]).ravel()
    narrow = np.zeros(M * n, dtype)
    gemm_nn(narrow, i8(0), i8(n), i8(1), A, i8(0), i8(K), i8(1), Bn, i8(0), i8(n),
            i8(M), i8(n), i8(K))
    assert np.array_equal(narrow.reshape(M, n), wide.reshape(M, 3 * w)[:, :n])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("M", [1, 2, 3, 5, 7, 11])
@pytest.mark.parametrize("n_vectors", [1, 2])
def test_gemm_nn_rows_do_not_depend_on_their_tile(dtype, M, n_vectors):
    """A row gets the same bits in a tile of 1, 2, 3, 4 or 8 rows, one
    vector of columns or two: the first ``M`` rows of a 16-row product
    equal the ``M``-row product."""
    rng = np.random.default_rng(M)
    w = _width(np.zeros(1, dtype))
    K, N = 21, (w if n_vectors == 1 else 2 * w + 5)
    A = rng.standard_normal((16, K)).astype(dtype)
    B = np.ascontiguousarray(rng.standard_normal((K, N)).astype(dtype)).ravel()
    i8 = np.int64
    out = {}
    for rows in (16, M):
        C = np.zeros(rows * N, dtype)
        gemm_nn(C, i8(0), i8(N), i8(1), np.ascontiguousarray(A[:rows]).ravel(), i8(0), i8(K),
                i8(1), B, i8(0), i8(N), i8(rows), i8(N), i8(K))
        out[rows] = C.reshape(rows, N)
    assert np.array_equal(out[M], out[16][:M])


def test_vector_width():
    assert _gemm._VECTOR_BYTES in (32, 64)
    assert _width(np.zeros(1, np.float64)) == _gemm._VECTOR_BYTES // 8
    assert _width(np.zeros(1, np.float32)) == _gemm._VECTOR_BYTES // 4


@pytest.mark.parametrize("name, features, expected", [
    (None, "+avx,+avx2,+fma", 32),
    (None, "+avx,+avx2,+fma,+avx512f,+avx512bw", 64),
    ("generic", None, 32),
])
def test_vector_bytes_follow_numbas_target(monkeypatch, name, features, expected):
    # 512-bit tiles only where the CPU Numba compiles for has AVX-512F
    from numba.core import config

    monkeypatch.setattr(config, "CPU_NAME", name)
    monkeypatch.setattr(config, "CPU_FEATURES", features)
    assert _gemm._vector_bytes() == expected


def test_vector_bytes_on_the_host():
    from llvmlite import binding

    avx512 = bool(binding.get_host_cpu_features().get("avx512f"))
    from numba.core import config

    if config.CPU_NAME is None and config.CPU_FEATURES is None:
        assert _gemm._VECTOR_BYTES == (64 if avx512 else 32)


@njit(cache=True)
def _scalar_acc(C, A, B, M, N, K, a_transposed):
    # the order of a plain loop: start from C, add each product, p in order
    for i in range(M):
        for j in range(N):
            c = C[i, j]
            for p in range(K):
                a = A[p, i] if a_transposed else A[i, p]
                c += a * B[p, j]
            C[i, j] = c


@pytest.mark.parametrize("M, K, n_vectors", [(200, 50, 2), (13, 7, 1), (50, 200, 3),
                                             (7, 3, 5), (1, 1, 1), (9, 0, 2),
                                             (10, 9, 2), (3, 4, 2)])
@pytest.mark.parametrize("a_transposed", [False, True])
def test_gemm_acc_has_the_bits_of_the_scalar_loop(M, K, n_vectors, a_transposed):
    """The linear cohort kernel's products: bitwise the single fit's scalar
    ``c += a * b`` loop (no fused multiply-add), added onto ``C``."""
    N = n_vectors * _width(np.zeros(1))
    rng = np.random.default_rng(M + 100 * K + N)
    A = rng.standard_normal((K, M) if a_transposed else (M, K)) * 1e3
    B = rng.standard_normal((K, N)) * 1e-3
    C0 = rng.standard_normal((M, N))
    expected = C0.copy()
    _scalar_acc(expected, A, B, M, N, K, a_transposed)
    c_off, c_rs = 5, N + 3  # C inside a bigger buffer, rows padded
    c_buf = np.full(c_off + M * c_rs + 4, -7.0)
    at = c_off + np.arange(M)[:, None] * c_rs + np.arange(N)[None, :]
    c_buf[at] = C0
    a_rs, a_cs = (1, M) if a_transposed else (K, 1)
    i8 = np.int64
    _gemm.gemm_acc(c_buf, i8(c_off), i8(c_rs), A.ravel(), i8(0), i8(a_rs), i8(a_cs),
                   B.ravel(), i8(0), i8(N), i8(M), i8(N), i8(K))
    np.testing.assert_array_equal(c_buf[at], expected)
    mask = np.ones(c_buf.shape, bool)
    mask[at.ravel()] = False
    assert np.all(c_buf[mask] == -7.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rows, cols", [
    (200, 32), (16, 32), (7, 3), (13, 50), (64, 16), (1, 1), (0, 5), (5, 0), (8, 8),
    (16, 16), (33, 17),
])
def test_transpose_copies_every_element_and_nothing_else(dtype, rows, cols):
    """The blocked transpose (vector blocks in registers, element-wise
    edges) writes ``D[c, r] = S[r, c]`` at offsets and padded strides, and
    leaves the rest of ``D`` alone."""
    from sktune._kernels._gemm import transpose

    s_off, s_rs, d_off, d_rs = 5, cols + 3, 7, rows + 2
    S = np.arange(s_off + rows * s_rs + 4, dtype=dtype) + 0.5
    D = np.full(d_off + cols * d_rs + 4, -1.0, dtype)
    expected = D.copy()
    for r in range(rows):
        for c in range(cols):
            expected[d_off + c * d_rs + r] = S[s_off + r * s_rs + c]
    transpose(D, d_off, d_rs, S, s_off, s_rs, rows, cols)
    np.testing.assert_array_equal(D, expected)
