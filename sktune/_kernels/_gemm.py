"""Small matrix products for the MLP passes, vectorized by hand.

At the shapes of a mini-batch pass (16 to 64 rows, a few dozen to a few
hundred columns) a BLAS call spends most of its time on its fixed costs
(argument checks, buffer setup, packing): OpenBLAS reaches 17-25 GFLOP/s
on a 16 x 64 x 64 float64 product on a core that does ~45 at large sizes,
and the MLP epoch at batch 32 is three quarters such calls. These kernels
keep a tile of the output in vector registers and stream the inputs
through it, with no packing and no call overhead.

The tiles are emitted as LLVM vector code (``numba.extending.intrinsic``):
``<W x double>`` or ``<W x float>`` multiply-adds (``llvm.fmuladd``, a fused
multiply-add where the CPU has one), ``W`` filling 256 bits. LLVM
legalizes the vector width to what the target has, so the code runs
everywhere Numba does. Every output element is summed in a fixed order
that depends on the shapes only, so results do not depend on threads.

All operands are flat arrays with an element offset and strides, the way
the MLP kernel lays out its weights, activations and gradients.
"""
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


def _vector_bytes():
    """Bytes per vector of the tiles: 64 where Numba compiles for a CPU
    with AVX-512F, else 32 (AVX2's 256 bits; narrower CPUs get the same
    code, legalized by LLVM). The CPU is Numba's target: the host, or the
    one ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` name."""
    from numba.core import config

    if config.CPU_FEATURES is not None:
        return 64 if "+avx512f" in config.CPU_FEATURES.split(",") else 32
    if config.CPU_NAME not in (None, "host"):
        return 32
    try:
        from llvmlite import binding

        return 64 if binding.get_host_cpu_features().get("avx512f") else 32
    except Exception:  # noqa: BLE001  (features unknown on this platform)
        return 32


# Bytes per vector, for the tiles and for their callers. On a CPU with
# AVX-512, 512-bit tiles ran the pass's products 1.2-1.45x faster than
# 256-bit ones (e.g. 50 x 50 by 50 x 32 float64: 47 against 35 GFLOP/s;
# 200 x 50 by 50 x 32: 59 against 40). Every output element is still the
# same chain of multiply-adds, so the bits do not depend on the width.
_VECTOR_BYTES = _vector_bytes()


def _prologue(context, builder, sig, args):
    """Data pointers of the array arguments and the integer arguments as
    i64, in argument order; the vector type and the multiply-add."""
    fty = context.get_data_type(sig.args[0].dtype)
    width = _VECTOR_BYTES // context.get_abi_sizeof(fty)
    vty = ir.VectorType(fty, width)
    ptrs, ints = [], []
    for ty, val in zip(sig.args, args):
        if isinstance(ty, types.Array):
            ptrs.append(cgutils.create_struct_proxy(ty)(context, builder, value=val).data)
        else:
            ints.append(context.cast(builder, val, ty, types.int64))
    fmuladd = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vty, [vty] * 3),
        "llvm.fmuladd.v%d%s" % (width, "f64" if width == 4 else "f32"))
    align = context.get_abi_sizeof(fty)
    return fty, vty, width, ptrs, ints, fmuladd, align


def _i64(value):
    return ir.Constant(ir.IntType(64), value)


def _vload(builder, vty, base, offset, align):
    ptr = builder.bitcast(builder.gep(base, [offset]), vty.as_pointer())
    return builder.load(ptr, align=align)


def _vstore(builder, vty, value, base, offset, align):
    ptr = builder.bitcast(builder.gep(base, [offset]), vty.as_pointer())
    builder.store(value, ptr, align=align)


def _make_nn_tile(n_rows, n_vec, fused=True):
    """Intrinsic ``tile(C, c_off, c_rs, c_cs, A, a_off, a_rs, a_cs, B, b_off,
    b_rs, K)``: ``C[r, j] = sum_p A[r, p] * B[p, j]`` for ``r < n_rows`` and
    ``j < n_vec * W``, where ``A[r, p]`` is at ``a_off + r * a_rs + p * a_cs``
    (so ``A`` may be a transposed view), ``B[p, j]`` at ``b_off + p * b_rs +
    j`` and ``C[r, j]`` at ``c_off + r * c_rs + j * c_cs``: vector stores
    where ``c_cs`` is 1, lane by lane otherwise (a transposed output). The
    sum runs over ``p`` in order, one multiply-add per term.

    With ``fused=False`` the tile adds onto ``C`` instead (``c_cs`` must be
    1): each sum starts from ``C[r, j]`` and every term is a product rounded
    on its own, then added (``c = c + a * b``, no fused multiply-add), the
    arithmetic of a plain scalar loop."""

    @intrinsic
    def tile(typingctx, C, c_off, c_rs, c_cs, A, a_off, a_rs, a_cs, B, b_off, b_rs, K):
        sig = types.void(C, c_off, c_rs, c_cs, A, a_off, a_rs, a_cs, B, b_off, b_rs, K)

        def codegen(context, builder, sig, args):
            fty, vty, width, ptrs, ints, fmuladd, align = _prologue(
                context, builder, sig, args)
            pc, pa, pb = ptrs
            c_off, c_rs, c_cs, a_off, a_rs, a_cs, b_off, b_rs, k = ints
            c_rows = [builder.add(c_off, builder.mul(_i64(r), c_rs)) for r in range(n_rows)]
            if fused:
                zero = ir.Constant(vty, [ir.Constant(fty, 0.0)] * width)
                start = [[zero] * n_vec for _ in range(n_rows)]
            else:
                start = [[_vload(builder, vty, pc, builder.add(c_rows[r], _i64(c * width)),
                                 align) for c in range(n_vec)] for r in range(n_rows)]
            acc = [[cgutils.alloca_once_value(builder, start[r][c]) for c in range(n_vec)]
                   for r in range(n_rows)]
            undef = ir.Constant(vty, ir.Undefined)
            splat = ir.Constant(ir.VectorType(ir.IntType(32), width), [0] * width)
            lane0 = ir.Constant(ir.IntType(32), 0)
            a_rows = [builder.mul(_i64(r), a_rs) for r in range(n_rows)]
            with cgutils.for_range(builder, k) as loop:
                p = loop.index
                b_row = builder.add(b_off, builder.mul(p, b_rs))
                bv = [_vload(builder, vty, pb, builder.add(b_row, _i64(c * width)), align)
                      for c in range(n_vec)]
                a_col = builder.add(a_off, builder.mul(p, a_cs))
                for r in range(n_rows):
                    a = builder.load(builder.gep(pa, [builder.add(a_col, a_rows[r])]))
                    av = builder.shuffle_vector(builder.insert_element(undef, a, lane0),
                                                undef, splat)
                    for c in range(n_vec):
                        if fused:
                            value = builder.call(fmuladd, [av, bv[c], builder.load(acc[r][c])])
                        else:
                            value = builder.fadd(builder.load(acc[r][c]),
                                                 builder.fmul(av, bv[c]))
                        builder.store(value, acc[r][c])
            unit = builder.icmp_signed("==", c_cs, _i64(1))
            with builder.if_else(unit) as (contiguous, strided):
                with contiguous:
                    for r in range(n_rows):
                        for c in range(n_vec):
                            _vstore(builder, vty, builder.load(acc[r][c]), pc,
                                    builder.add(c_rows[r], _i64(c * width)), align)
                with strided:
                    for r in range(n_rows):
                        for c in range(n_vec):
                            v = builder.load(acc[r][c])
                            for lane in range(width):
                                at = builder.add(c_rows[r], builder.mul(
                                    _i64(c * width + lane), c_cs))
                                builder.store(builder.extract_element(
                                    v, ir.Constant(ir.IntType(32), lane)),
                                    builder.gep(pc, [at]))
            return context.get_dummy_value()

        return sig, codegen

    return tile


# Tiles: 6 rows x 2 vectors keeps 12 accumulators in the 16 vector
# registers of AVX2 (on 16 x 64 x 64 float64: 40 GFLOP/s, against 30 for
# 4 x 2 and 22 for OpenBLAS); the others cover the edges. AVX-512 has 32
# registers: 8 rows x 2 of its vectors ran 1.1-1.35x faster than 6 x 2
# (e.g. 50 x 50 by 50 x 32 float64: 46-47 against 37-43 GFLOP/s), 12 x 2
# no faster than 8 x 2.
_TILE_ROWS = 8 if _VECTOR_BYTES == 64 else 6
_nn_wide = _make_nn_tile(_TILE_ROWS, 2)
_nn_4x2 = _make_nn_tile(4, 2)
_nn_3x2 = _make_nn_tile(3, 2)
_nn_2x2 = _make_nn_tile(2, 2)
_nn_1x2 = _make_nn_tile(1, 2)
_nn_6x1 = _make_nn_tile(6, 1)
_nn_1x1 = _make_nn_tile(1, 1)


@njit(cache=True, inline="always")
def vector_width(C):
    """Elements of ``C``'s dtype in a vector (:data:`_VECTOR_BYTES`): the
    narrowest output :func:`gemm_nn` takes."""
    return _VECTOR_BYTES // C.itemsize


# The same tiles adding onto C, one rounding per product and per sum: the
# order of operations of a scalar ``c += a * b`` loop, vectorized.
_acc_wide = _make_nn_tile(_TILE_ROWS, 2, fused=False)
_acc_4x2 = _make_nn_tile(4, 2, fused=False)
_acc_3x2 = _make_nn_tile(3, 2, fused=False)
_acc_2x2 = _make_nn_tile(2, 2, fused=False)
_acc_1x2 = _make_nn_tile(1, 2, fused=False)
_acc_6x1 = _make_nn_tile(6, 1, fused=False)
_acc_1x1 = _make_nn_tile(1, 1, fused=False)


def _make_transpose_tile():
    """Intrinsic ``tile(D, d_off, d_rs, S, s_off, s_rs)``: ``D[c, r] = S[r, c]``
    for ``r, c < W`` (a vector's elements), ``S[r, c]`` at ``s_off + r * s_rs
    + c`` and ``D[c, r]`` at ``d_off + c * d_rs + r``: ``W`` vector loads,
    the transpose in registers (``log2(W)`` rounds of shuffles, each
    swapping the off-diagonal blocks of half the size of the last), ``W``
    vector stores. An element-wise transpose makes one of its two sides
    strided, an access per element (on an MLP's narrow output layer, a
    tenth of a batched search's kernel time)."""

    @intrinsic
    def tile(typingctx, D, d_off, d_rs, S, s_off, s_rs):
        sig = types.void(D, d_off, d_rs, S, s_off, s_rs)

        def codegen(context, builder, sig, args):
            fty, vty, width, ptrs, ints, _, align = _prologue(context, builder, sig, args)
            pd, ps = ptrs
            d_off, d_rs, s_off, s_rs = ints
            rows = [_vload(builder, vty, ps, builder.add(s_off, builder.mul(_i64(r), s_rs)),
                           align) for r in range(width)]
            h = width // 2
            while h >= 1:
                lo = [k if k & h == 0 else width + k - h for k in range(width)]
                hi = [k + h if k & h == 0 else width + k for k in range(width)]
                lo = ir.Constant(ir.VectorType(ir.IntType(32), width), lo)
                hi = ir.Constant(ir.VectorType(ir.IntType(32), width), hi)
                new = list(rows)
                for i in range(width):
                    if i & h == 0:
                        new[i] = builder.shuffle_vector(rows[i], rows[i + h], lo)
                        new[i + h] = builder.shuffle_vector(rows[i], rows[i + h], hi)
                rows = new
                h //= 2
            for c in range(width):
                _vstore(builder, vty, rows[c], pd,
                        builder.add(d_off, builder.mul(_i64(c), d_rs)), align)
            return context.get_dummy_value()

        return sig, codegen

    return tile


_transpose_tile = _make_transpose_tile()


@njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def transpose(D, d_off, d_rs, S, s_off, s_rs, rows, cols):
    """``D[c, r] = S[r, c]`` for ``r < rows``, ``c < cols`` on flat arrays
    (``S[r, c]`` at ``s_off + r * s_rs + c``, ``D[c, r]`` at ``d_off + c *
    d_rs + r``): square blocks of a vector's width in registers
    (:func:`_make_transpose_tile`), the edges element by element."""
    w = vector_width(D)
    r_end = rows - rows % w
    c_end = cols - cols % w
    for r in range(0, r_end, w):
        for c in range(0, c_end, w):
            _transpose_tile(D, d_off + c * d_rs + r, d_rs, S, s_off + r * s_rs + c, s_rs)
    for c in range(c_end, cols):  # the last columns, all rows
        for r in range(rows):
            D[d_off + c * d_rs + r] = S[s_off + r * s_rs + c]
    for c in range(c_end):  # the last rows
        for r in range(r_end, rows):
            D[d_off + c * d_rs + r] = S[s_off + r * s_rs + c]


@njit(cache=True, inline="always")
def _drive(acc, C, c_off, c_rs, c_cs, A, a_off, a_rs, a_cs, B, b_off, b_rs, M, N, K):
    """The tiling of :func:`gemm_nn` (``acc`` False, a literal) and
    :func:`gemm_acc` (True): which tile covers which block of ``C``."""
    w = vector_width(C)
    j = 0
    while j < N:
        if j + 2 * w > N:
            j = min(j, N - w)  # one vector of columns, ending at N
        i = 0
        while i < M:
            c_at = c_off + i * c_rs + j * c_cs
            a_at = a_off + i * a_rs
            b_at = b_off + j
            if j + 2 * w <= N:
                if i + _TILE_ROWS <= M:
                    if acc:
                        _acc_wide(C, c_at, c_rs, c_cs, A, a_at, a_rs, a_cs, B, b_at, b_rs, K)
                    else:
                        _nn_wide(C, c_at, c_rs, c_cs, A, a_at, a_rs, a_cs, B, b_at, b_rs, K)
                    i += _TILE_ROWS
                elif i + 4 <= M:
                    if acc:
                        _acc_4x2(C, c_at, c_rs, c_cs, A, a_at, a_rs, a_cs, B, b_at, b_rs, K)
                    else:
                        _nn_4x2(C, c_at, c_rs, c_cs, A, a_at, a_rs, a_cs, B, b_at, b_rs, K)
                    i += 4
                elif i + 3 == M:
                    # the last 2 or 3 rows in one pass over K: a narrow
                    # layer's products (M = 3 outputs, say) in 1 x 2 tiles
                    # were a chain of dependent multiply-adds per row
                    if acc:
                        _acc_3x2(C, c_at, c_rs, c_cs, A, a_at, a_rs, a_cs, B, b_at, b_rs, K)
                    else:
                        _nn_3x2(C, c_at, c_rs, c_cs, A, a_at, a_rs, a_cs, B, b_at, b_rs, K)
                    i += 3
                elif i + 2 == M:
                    if acc:
                        _acc_2x2(C, c_at, c_rs, c_cs, A, a_at, a_rs, a_cs, B, b_at, b_rs, K)
                    else:
                        _nn_2x2(C, c_at, c_rs, c_cs, A, a_at, a_rs, a_cs, B, b_at, b_rs, K)
                    i += 2
                else:
                    if acc:
                        _acc_1x2(C, c_at, c_rs, c_cs, A, a_at, a_rs, a_cs, B, b_at, b_rs, K)
                    else:
                        _nn_1x2(C, c_at, c_rs, c_cs, A, a_at, a_rs, a_cs, B, b_at, b_rs, K)
                    i += 1
            elif i + 6 <= M:
                if acc:
                    _acc_6x1(C, c_at, c_rs, c_cs, A, a_at, a_rs, a_cs, B, b_at, b_rs, K)
                else:
                    _nn_6x1(C, c_at, c_rs, c_cs, A, a_at, a_rs, a_cs, B, b_at, b_rs, K)
                i += 6
            else:
                if acc:
                    _acc_1x1(C, c_at, c_rs, c_cs, A, a_at, a_rs, a_cs, B, b_at, b_rs, K)
                else:
                    _nn_1x1(C, c_at, c_rs, c_cs, A, a_at, a_rs, a_cs, B, b_at, b_rs, K)
                i += 1
        j += 2 * w if j + 2 * w <= N else w


@njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def gemm_nn(C, c_off, c_rs, c_cs, A, a_off, a_rs, a_cs, B, b_off, b_rs, M, N, K):
    """``C = A @ B`` (``M x N``, summed over ``K``) on flat arrays.

    ``A[i, p]`` is at ``a_off + i * a_rs + p * a_cs`` and ``C[i, j]`` at
    ``c_off + i * c_rs + j * c_cs`` (``a_rs = 1`` reads a transposed view,
    ``c_rs = 1`` writes one); ``B`` is row-major with row stride ``b_rs``.
    Needs ``N >= vector_width(C)``: the last columns are a
    vector tile ending at column ``N``, overlapping the one before it (the
    overlapped elements are computed again in the same order, so they get
    the same bits).
    """
    _drive(False, C, c_off, c_rs, c_cs, A, a_off, a_rs, a_cs, B, b_off, b_rs, M, N, K)


@njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def gemm_acc(C, c_off, c_rs, A, a_off, a_rs, a_cs, B, b_off, b_rs, M, N, K):
    """``C += A @ B`` (``M x N``, summed over ``K``) on flat arrays, with the
    bits of the scalar loop ``for p: C[i, j] = C[i, j] + A[i, p] * B[p, j]``
    (each product rounded, then added; ``p`` in order).

    Layouts as :func:`gemm_nn`, with ``C`` row-major (row stride ``c_rs``);
    ``N`` must be a multiple of :func:`vector_width` (every element is
    added to once, so no tile may overlap another).
    """
    _drive(True, C, c_off, c_rs, 1, A, a_off, a_rs, a_cs, B, b_off, b_rs, M, N, K)
