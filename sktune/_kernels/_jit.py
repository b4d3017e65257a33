"""Compile registry: small kernels compiled on first use, linked by address.

Numba links every jitted function a kernel calls into the kernel's own LLVM
module and optimizes the whole again, so a kernel's compile time is the sum
of everything it can reach, paid once per caller (the fused epoch kernels of
0.1 took 28-40 s to compile). Here the engine is cut into *units*, each
compiled on its own with an explicit signature and cached on disk, and a
kernel calls a unit through its address (:func:`caller`), which Numba sees
as an opaque function pointer: nothing is linked, nothing is compiled twice.

The addresses travel in an ``int64`` table (``fns``, slots ``F_*`` of
:mod:`._codes`) filled for each fit with the units its options need, so a
fit compiles only its own optimizer, loss and activation (a *variant*: the
unit's Python function with its option as a compile-time constant), and
kernels compile once per dtype whatever the options.
"""
import copy
import hashlib
import json
import os
import sys
import threading
import time
import types as pytypes
import warnings

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils, errors, inline_closurecall
from numba.core import ir as numba_ir
from numba.core.callconv import excinfo_t
from numba.extending import intrinsic

# error_model="numpy": no zero-division checks, so loops vectorize (a
# division by zero gives inf/NaN, which the divergence guard catches)
FLAGS = {"cache": True, "nogil": True, "error_model": "numpy", "boundscheck": False}


def _source_tag():
    """Short hash of the kernel sources.

    Numba's cache checks only the timestamp of the file that defines a
    jitted function, not of the helpers it inlines from other modules;
    naming each unit after this hash makes an edit anywhere in ``_kernels``
    miss the stale cache entries.
    """
    from ._gemm import _VECTOR_BYTES

    h = hashlib.sha1(str(_VECTOR_BYTES).encode())  # kernels inline the tiles' width
    here = os.path.dirname(__file__)
    for name in sorted(os.listdir(here)):
        if name.endswith(".py") and name != "cuda.py":  # the GPU backend is apart
            with open(os.path.join(here, name), "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()[:10]


SOURCE_TAG = _source_tag()


def twin(func, suffix, consts=None):
    """A copy of ``func`` named ``func.__name__ + suffix``, with the globals
    ``consts`` (compile-time constants for Numba) replaced.

    Numba's cache names entries after the function's qualified name, so
    every variant has its own entries."""
    glb = func.__globals__
    if consts:
        glb = dict(glb)
        glb.update(consts)
    copy = pytypes.FunctionType(func.__code__, glb, func.__name__ + suffix,
                                func.__defaults__, func.__closure__)
    copy.__qualname__ = func.__qualname__ + suffix
    copy.__module__ = func.__module__
    copy.__doc__ = func.__doc__
    return copy


def arr(dtype, ndim=1, readonly=False, layout="C"):
    """Numba array type (kernel inputs are declared read-only: that also
    accepts writable arrays, so read-only memmaps share the compile)."""
    return types.Array(dtype, ndim, layout, readonly=readonly)


NUMBA_FLOAT = {"float32": types.float32, "float64": types.float64}


# --------------------------------------------------------------------------
# Calls by address

def _passable(given, declared):
    """Whether a value typed ``given`` may be passed where ``declared`` is
    expected: equal types, or arrays that differ only in being writable
    (or in layout, when the unit takes any layout), which Numba represents
    by the same structure."""
    if given == declared:
        return True
    if isinstance(given, types.Array) and isinstance(declared, types.Array):
        return (given.dtype == declared.dtype and given.ndim == declared.ndim
                and (given.layout == declared.layout or declared.layout == "A")
                and (given.mutable or not declared.mutable))
    if isinstance(declared, types.Integer) and isinstance(given, types.Integer):
        return given.bitwidth <= declared.bitwidth
    return False


_CALLERS = {}


def caller(*signatures):
    """An intrinsic ``call(address, (arg, ...))`` that calls the unit at
    ``address`` by Numba's own calling convention.

    The unit was compiled with one of ``signatures``: the first that the
    arguments' types can be passed to is taken when the calling kernel is
    typed, and arguments that fit none fail to compile (instead of
    crashing)."""
    found = _CALLERS.get(signatures)
    if found is not None:
        return found

    @intrinsic
    def call(typingctx, address, args):
        if not isinstance(args, types.BaseTuple):
            raise TypeError("call by address: the arguments must be a tuple")
        for sig in signatures:
            if len(args) == len(sig.args) and all(
                    _passable(g, d) for g, d in zip(args.types, sig.args)):
                break
        else:
            raise TypeError("call by address: no signature of the unit takes %s" % (args,))

        def codegen(context, builder, signature, llargs):
            addr, tup = llargs
            cc = context.call_conv
            fnty = cc.get_function_type(sig.return_type, sig.args)
            fnptr = builder.inttoptr(addr, fnty.as_pointer())
            vals = []
            for k, (given, declared) in enumerate(zip(args.types, sig.args)):
                val = builder.extract_value(tup, k)
                if isinstance(declared, types.Integer):
                    val = context.cast(builder, val, given, declared)
                vals.append(val)
            retty = cc.get_return_type(sig.return_type).pointee
            ret = cgutils.alloca_once(builder, retty)
            builder.store(cgutils.get_null_value(retty), ret)
            exc = cgutils.alloca_once(builder, ir.PointerType(excinfo_t))
            packed = list(cc._get_arg_packer(sig.args).as_arguments(builder, vals))
            code = builder.call(fnptr, [ret, exc] + packed)
            status = cc._get_return_status(builder, code, builder.load(exc))
            with builder.if_then(status.is_error, likely=False):
                cc.return_status_propagate(builder, status)
            return context.get_returned_value(builder, sig.return_type, builder.load(ret))

        return sig.return_type(address, args), codegen

    _CALLERS[signatures] = call
    return call


@intrinsic
def borrowed(typingctx, a):
    """The array ``a`` as a borrowed view: the same data, shape and strides,
    without its reference-counted owner (meminfo).

    Numba counts references to an array's owner with atomic instructions
    each time a view of it is made (``params[k]``, a slice, a reshape, an
    array passed in a tuple to a unit by address), and a kernel called from
    Python gets arrays that have an owner: a population cohort epoch made
    ~10 views per model and step, which cost a third of its time at batch
    size 1 (16.7 ms against 10.2 ms borrowed, the same bits). Views of a
    borrowed array have no owner either, so no counting. Safe only for
    arrays that outlive the kernel's call and are not returned from it:
    a kernel's arguments, which its caller holds."""
    if not isinstance(a, types.Array):
        raise errors.TypingError(f"borrowed: an array is expected, got {a}")

    def codegen(context, builder, signature, args):
        ary = context.make_array(a)(context, builder, value=args[0])
        ary.meminfo = cgutils.get_null_value(ary.meminfo.type)
        ary.parent = cgutils.get_null_value(ary.parent.type)
        return ary._getvalue()

    return a(a), codegen


# Prefetching. Rows visited in shuffled order are latency-bound: a CSR row's
# non-zeros sit in two cache lines or more, far from the previous row's, and
# a per-sample update cannot start the next row's loads before its own dot
# product and update are done (200k x 20k tf-idf-like rows: 0.141 s an epoch
# shuffled, 0.019 s in storage order). A kernel asks for the row ``AHEAD``
# of the one it trains (``llvm.prefetch``: a hint, not a load; it changes no
# value and never faults): the same epoch then took 0.050 s. One row ahead
# hid 80 % of the wait, two all of it, more gained nothing. These are
# intrinsics written in LLVM IR, not jitted helpers: a helper inlined into a
# kernel cost that kernel ~0.45 s more compile time, the IR next to nothing.

#: how many rows ahead of the one being trained a kernel asks for
AHEAD = 2
#: bytes per cache line on the CPUs Numba targets
LINE = 64


def _prefetch_address(builder, addr):
    """Emit ``llvm.prefetch`` (read, high locality, data) of the integer
    address ``addr``."""
    i8p = ir.IntType(8).as_pointer()
    i32 = ir.IntType(32)
    fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
    builder.call(fn, [builder.inttoptr(addr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3),
                      ir.Constant(i32, 1)])


def _prefetch_bytes(builder, start, nbytes):
    """Prefetch every cache line of the ``nbytes`` (> 0) bytes from the
    address ``start``."""
    line = ir.Constant(cgutils.intp_t, LINE)
    count = builder.udiv(builder.add(nbytes, ir.Constant(cgutils.intp_t, LINE - 1)), line)
    with cgutils.for_range(builder, count) as loop:
        _prefetch_address(builder, builder.add(start, builder.mul(loop.index, line)))
    # the last line, when ``start`` is not on a line's boundary
    _prefetch_address(builder, builder.add(start, builder.sub(nbytes, cgutils.intp_t(1))))


def _row_address(context, builder, aty, aval, index):
    """``(address of a[index] along the first axis, the array struct)``."""
    ary = context.make_array(aty)(context, builder, value=aval)
    stride = builder.extract_value(ary.strides, 0)
    base = builder.ptrtoint(ary.data, cgutils.intp_t)
    return builder.add(base, builder.mul(index, stride)), ary


def _load_index(context, builder, aty, aval, index):
    """``a[index]`` of a 1-D integer array, as ``intp`` (no bounds check)."""
    addr, _ = _row_address(context, builder, aty, aval, index)
    ptr = builder.inttoptr(addr, context.get_data_type(aty.dtype).as_pointer())
    return context.cast(builder, builder.load(ptr), aty.dtype, types.intp)


def _next_row(context, builder, order_ty, order, ii_ty, ii):
    """``(k < n, k)`` with ``k = ii + AHEAD`` and ``n`` the length of
    ``order``."""
    n = builder.extract_value(context.make_array(order_ty)(context, builder, order).shape, 0)
    k = builder.add(context.cast(builder, ii, ii_ty, types.intp),
                    ir.Constant(cgutils.intp_t, AHEAD))
    return builder.icmp_signed("<", k, n), k


def _check_arrays(name, arrays, ii):
    if not (all(isinstance(a, types.Array) for a in arrays)
            and isinstance(ii, types.Integer)):
        raise errors.TypingError(f"{name}: arrays and an integer position are expected, "
                                 f"got {arrays}, {ii}")


@intrinsic
def prefetch_csr_row(typingctx, data, indices, indptr, Y, sw, order, ii):
    """Prefetch the non-zeros (``data`` and ``indices``), the targets ``Y``
    and the weight ``sw`` of the CSR row ``order[ii + AHEAD]``, if there is
    one: called before training the row ``order[ii]``, the next rows'
    loads overlap this row's arithmetic."""
    _check_arrays("prefetch_csr_row", (data, indices, indptr, Y, sw, order), ii)

    def codegen(context, builder, signature, args):
        data_v, indices_v, indptr_v, y_v, sw_v, order_v, ii_v = args
        inside, k = _next_row(context, builder, order, order_v, ii, ii_v)
        with builder.if_then(inside):
            r = _load_index(context, builder, order, order_v, k)
            lo = _load_index(context, builder, indptr, indptr_v, r)
            hi = _load_index(context, builder, indptr, indptr_v,
                             builder.add(r, cgutils.intp_t(1)))
            for aty, aval in ((data, data_v), (indices, indices_v)):
                start, ary = _row_address(context, builder, aty, aval, lo)
                nbytes = builder.mul(builder.sub(hi, lo), builder.extract_value(ary.strides, 0))
                with builder.if_then(builder.icmp_signed(">", nbytes, cgutils.intp_t(0))):
                    _prefetch_bytes(builder, start, nbytes)
            for aty, aval in ((Y, y_v), (sw, sw_v)):
                _prefetch_address(builder, _row_address(context, builder, aty, aval, r)[0])
        return context.get_dummy_value()

    return types.void(data, indices, indptr, Y, sw, order, ii), codegen


@intrinsic
def prefetch_dense_row(typingctx, X, Y, sw, order, ii):
    """Prefetch the C-ordered row ``X[order[ii + AHEAD]]``, its targets and
    weight, if there is one (see :func:`prefetch_csr_row`)."""
    _check_arrays("prefetch_dense_row", (X, Y, sw, order), ii)

    def codegen(context, builder, signature, args):
        x_v, y_v, sw_v, order_v, ii_v = args
        inside, k = _next_row(context, builder, order, order_v, ii, ii_v)
        with builder.if_then(inside):
            r = _load_index(context, builder, order, order_v, k)
            start, ary = _row_address(context, builder, X, x_v, r)
            itemsize = context.get_abi_sizeof(context.get_data_type(X.dtype))
            width = builder.extract_value(ary.shape, X.ndim - 1)
            nbytes = builder.mul(width, cgutils.intp_t(itemsize))
            with builder.if_then(builder.icmp_signed(">", nbytes, cgutils.intp_t(0))):
                _prefetch_bytes(builder, start, nbytes)
            for aty, aval in ((Y, y_v), (sw, sw_v)):
                _prefetch_address(builder, _row_address(context, builder, aty, aval, r)[0])
        return context.get_dummy_value()

    return types.void(X, Y, sw, order, ii), codegen


# --------------------------------------------------------------------------
# The registry

_LOCK = threading.RLock()
_UNITS = {}  # (name, variant, signature) -> dispatcher
_COMPILE_LOG = []  # (name, seconds) of every compile or cache load, in order
_PROBED = set()  # keys of units found by a cache probe (``load_only``)
_ABSENT = set()  # keys a probe did not find: not probed again in this process
_NOTICE = {"shown": False}


def compile_log():
    """``(unit name, seconds)`` for every unit this process compiled or
    loaded from the cache, in order (a load takes milliseconds)."""
    return list(_COMPILE_LOG)


def cache_dir():
    """Where Numba caches the compiled units."""
    import numba

    if numba.config.CACHE_DIR:
        return numba.config.CACHE_DIR
    return os.path.join(os.path.dirname(__file__), "__pycache__")


def notice(verbose):
    """Start a timer that says, once per process, that a first fit is
    compiling, if the compile takes longer than a second."""
    if not verbose or _NOTICE["shown"]:
        return None

    def say():
        _NOTICE["shown"] = True
        print("sktune: compiling the training kernels (first use; cached in %s)"
              % cache_dir(), flush=True)

    timer = threading.Timer(1.0, say)
    timer.daemon = True
    timer.start()
    return timer


def compiled(func, name, sig, variant="", consts=None, parallel=False, load_only=False):
    """The dispatcher of ``func`` compiled for ``sig`` (a variant named
    ``variant`` with the globals ``consts``), compiled on first use, then
    loaded from Numba's cache in later processes. With ``load_only``, None
    unless it is in memory or in the cache (nothing is compiled). While
    :func:`planned` runs, a unit not in memory is listed instead and
    :data:`PLANNED` stands in for it."""
    key = (name, variant, sig, parallel)
    disp = _UNITS.get(key)
    if disp is not None:
        return disp
    plan = getattr(_PLANNING, "units", None)
    if plan is not None and not load_only:
        plan.append((func, name, sig, variant, consts, parallel))
        return PLANNED
    with _LOCK:
        disp = _UNITS.get(key)
        if disp is not None:
            return disp
        suffix = "_" + "_".join(x for x in (variant, SOURCE_TAG) if x)
        t0 = time.perf_counter()
        pyfunc = twin(func, suffix, consts)
        cached = False
        if load_only:
            if key in _ABSENT:
                return None
            disp = _load_cached(pyfunc, sig, parallel)
            if disp is None:
                _ABSENT.add(key)
                return None
            _PROBED.add(key)
            cached = True
        else:
            disp = _load_cached(pyfunc, sig, parallel) if key not in _ABSENT else None
            cached = disp is not None
            if cached:
                _PROBED.add(key)
            else:
                disp = _compile_with_recovery(pyfunc, sig, parallel)
        seconds = time.perf_counter() - t0
        if key in _CHILD_TIMES and (cached or sum(disp._cache_hits.values()) > 0):
            # compiled by the forked process of :func:`compile_in_two`
            _ELSEWHERE.add(key)
            seconds = _CHILD_TIMES[key]
        _COMPILE_LOG.append((name + ("[%s]" % variant if variant else ""), seconds))
        _UNITS[key] = disp
        return disp


# --------------------------------------------------------------------------
# Compiling a fit's units in two processes

#: stands in for a unit's dispatcher while :func:`planned` runs
PLANNED = object()
_PLANNING = threading.local()
_ELSEWHERE = set()  # keys of units a forked process compiled for this one
_CHILD_TIMES = {}  # key -> seconds the forked process took to compile it

# a unit's share of a fit's compile time, for splitting the work (an epoch
# kernel costs several units; measured with bench_compile's compile log)
_WEIGHTS = {"mlp_epoch": 4.0, "dense_epoch": 2.0, "csr_epoch": 2.0, "dense_sgd_epoch": 2.0,
            "csr_sgd_epoch": 2.0, "csr_lazy_epoch": 2.0, "end_batch": 1.5, "pass": 1.5,
            "linear_cohort": 2.0, "mlp_cohort": 2.0}


def _weight(unit):
    # a parallel twin compiles about twice as long as its serial one
    # (dense_epoch: 2.2 s against 1.0)
    return _WEIGHTS.get(unit[1], 1.0) * (2.0 if unit[5] else 1.0)


def planned(build):
    """The units ``build()`` would compile: ``(func, name, sig, variant,
    consts, parallel)`` of each not yet in memory, nothing compiled or
    loaded (``build`` must not use what :func:`compiled` returns but to
    pass it to :func:`address`)."""
    _PLANNING.units = []
    try:
        build()
        return _PLANNING.units
    finally:
        _PLANNING.units = None


def fork_allowed():
    """Whether :func:`compile_in_two` may fork a compiling process here:
    Linux, two cores free to this process, Numba's JIT on, and no threading
    layer started yet (GNU OpenMP kills a process forked after it ran:
    "Terminating: fork() called from a process already using GNU
    OpenMP"). ``SKTUNE_COMPILE_FORK=0`` turns it off."""
    if os.environ.get("SKTUNE_COMPILE_FORK", "1") == "0":
        return False
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    try:
        if len(os.sched_getaffinity(0)) < 2:
            return False
    except (AttributeError, OSError):
        return False
    import numba
    from numba.np.ufunc import parallel as numba_parallel

    return not (numba.config.DISABLE_JIT or getattr(numba_parallel, "_is_initialized", True))


def compile_in_two(units, timeout=120.0):
    """Compile ``units`` (from :func:`planned`) that are in neither memory
    nor the cache in two processes: a forked child compiles about half
    into Numba's cache while this process compiles the rest, then loads
    the child's from the cache. On two cores a first fit's compile takes
    about the time of the larger half. Anything the child does not deliver
    (an error, a cache it could not write, ``timeout`` seconds passed) is
    compiled here afterwards, as without it. Returns the number of units
    the child compiled."""
    todo, seen = [], set()
    for unit in units:
        func, name, sig, variant, consts, parallel = unit
        key = (name, variant, sig, parallel)
        if key in seen or key in _UNITS:
            continue
        seen.add(key)
        if compiled(func, name, sig, variant, consts, parallel, load_only=True) is None:
            todo.append(unit)
    if len(todo) < 2 or not fork_allowed():
        return 0
    # heaviest first, each to the lighter side; the child takes one side
    mine, theirs, loads = [], [], [0.0, 0.0]
    for unit in sorted(todo, key=lambda u: -_weight(u)):
        side = 0 if loads[0] <= loads[1] else 1
        (mine, theirs)[side].append(unit)
        loads[side] += _weight(unit)
    from numba.core.compiler_lock import global_compiler_lock

    read_fd, write_fd = os.pipe()
    # holding the locks across the fork: no other thread of this process
    # holds them in the child's copy
    with _LOCK, global_compiler_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        try:
            pid = os.fork()
        except OSError:  # no memory or process left for a child: compile here
            os.close(read_fd)
            os.close(write_fd)
            return 0
        if pid == 0:  # the child: compile its side into the cache, report, leave
            status = 1
            try:
                os.close(read_fd)
                # nothing to the parent's streams (a notebook's are sockets
                # served by threads the child does not have)
                sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - until _exit
                warnings.simplefilter("ignore")
                log = []
                for func, name, sig, variant, consts, parallel in theirs:
                    key = (name, variant, sig, parallel)
                    compiled(func, name, sig, variant, consts, parallel)
                    log.append((list(key[:2]), _COMPILE_LOG[-1][1]))
                os.write(write_fd, json.dumps(log).encode())
                status = 0
            finally:
                os._exit(status)
    os.close(write_fd)
    started = time.perf_counter()
    try:
        for func, name, sig, variant, consts, parallel in mine:
            compiled(func, name, sig, variant, consts, parallel)
        report = _wait_child(pid, read_fd, started + max(timeout, 0.0))
    except BaseException:  # an interrupted fit leaves no child behind
        _kill(pid)
        raise
    finally:
        os.close(read_fd)
    for (name, variant), seconds in report:
        for unit in theirs:
            if (unit[1], unit[3]) == (name, variant):
                _CHILD_TIMES[(unit[1], unit[3], unit[2], unit[5])] = seconds
    return len(report)


def _kill(pid):
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:  # already reaped
        pass


def _wait_child(pid, fd, deadline):
    """The child's report (``[((name, variant), seconds), ...]``), or ``[]``
    when it failed or outlived ``deadline`` (then it is killed)."""
    import select

    data = b""
    while True:
        wait = deadline - time.perf_counter()
        if wait <= 0:
            _kill(pid)
            return []
        ready, _, _ = select.select([fd], [], [], min(wait, 1.0))
        if ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:  # the child closed its end: it has left
                break
            data += chunk
    _, status = os.waitpid(pid, 0)
    if status != 0:
        return []
    try:
        return [(tuple(key), float(seconds)) for key, seconds in json.loads(data)]
    except ValueError:
        return []


# Parallel kernels parallelise their ``prange`` loops only: turning array
# expressions and allocations into parallel loops too costs compile time
# (each becomes a compiled gufunc) and gains nothing on a kernel's scratch.
_PRANGE_ONLY = {"prange": True, "comprehension": False, "reduction": False,
                "inplace_binop": False, "setitem": False, "numpy": False,
                "stencil": False, "fusion": False}


class _InlineCopy:
    """Stands in for the ``copy`` module of Numba's inliner while sktune
    compiles.

    Numba copies an inlined function's IR block by block, each block with a
    deep copy of the function's whole scope (every variable), so a copy
    costs blocks x variables: ~1 s of a first MLP fit's 5 s (numba#8989,
    numba-cuda#688). Here the blocks of one copy share one copy of the
    scope, as the blocks of the original share the original: the same IR,
    made once. A block copied a second time starts a new copy."""

    def __init__(self):
        self._scope = self._copy = None
        self._seen = set()

    def __getattr__(self, name):
        return getattr(copy, name)

    def deepcopy(self, x, memo=None):
        if memo is not None or not isinstance(x, numba_ir.Block):
            return copy.deepcopy(x, memo)
        if x.scope is not self._scope or id(x) in self._seen:
            self._scope, self._copy = x.scope, copy.deepcopy(x.scope)
            self._seen = set()
        self._seen.add(id(x))
        return copy.deepcopy(x, {id(x.scope): self._copy})


def _fast_inline(compile_):
    """Run ``compile_()`` with :class:`_InlineCopy` in Numba's inliner (left
    as it is when this Numba has no such hook)."""
    if getattr(inline_closurecall, "copy", None) is not copy:
        return compile_()
    inline_closurecall.copy = _InlineCopy()
    try:
        return compile_()
    finally:
        inline_closurecall.copy = copy


def _compile_with_recovery(pyfunc, sig, parallel):
    """Compile (or load) ``pyfunc``; a cache entry that cannot be read, or a
    cache that cannot be written, falls back to compiling in memory."""
    parallel = _PRANGE_ONLY if parallel else False
    try:
        return _fast_inline(lambda: njit([sig], parallel=parallel, **FLAGS)(pyfunc))
    except Exception:  # noqa: BLE001 - any cache fault: compile without it
        flags = dict(FLAGS, cache=False)
        disp = _fast_inline(lambda: njit([sig], parallel=parallel, **flags)(pyfunc))
        _try_rewrite_cache(disp)
        return disp


def _load_cached(pyfunc, sig, parallel):
    """A dispatcher of ``pyfunc`` holding its ``sig`` overload loaded from the
    cache, or None when the cache has none (or cannot be read).

    Numba's own load (``load_overload``) first refreshes the target context:
    it imports and installs the lowering of everything Numba compiles (0.1 s,
    a quarter of a first fit's time from a warm cache), which code loaded
    from the cache never uses. Only the runtime (NRT) that the loaded code
    calls is set up here; a compile refreshes the context as before.
    """
    try:
        disp = njit(parallel=_PRANGE_ONLY if parallel else False, **FLAGS)(pyfunc)
        ctx = disp.targetctx
        try:
            from numba.core.runtime import rtsys

            rtsys.initialize(ctx)
            cres = disp._cache._load_overload(sig, ctx)
        except Exception:  # noqa: BLE001 - another Numba: its own load
            cres = disp._cache.load_overload(sig, ctx)
        if cres is None:
            return None
        disp.add_overload(cres)
        # as with an explicit signature: calls convert their arguments to it
        # (writable arrays to the read-only inputs) instead of compiling anew
        disp.disable_compile()
        return disp if sig.args in disp.overloads else None
    except Exception:  # noqa: BLE001 - an unreadable entry: not available
        return None


def _try_rewrite_cache(disp):
    """Write the in-memory compile back to the cache when it is writable
    (replacing an entry that could not be read)."""
    try:
        from numba.core.caching import FunctionCache

        cache = FunctionCache(disp.py_func)
        try:
            cache._cache_file._load_index()
        except Exception:  # noqa: BLE001 - unreadable: remove it, then rewrite
            os.remove(cache._cache_file._index_path)
        for cres in disp.overloads.values():
            cache.save_overload(cres.signature, cres)
    except Exception:  # noqa: BLE001 - a cache we cannot write stays unwritten
        pass


def address(disp, sig):
    """Address of the compiled ``sig`` overload of ``disp`` (Numba's calling
    convention, for :func:`caller`); 0 for :data:`PLANNED`."""
    if disp is PLANNED:
        return 0
    cres = disp.overloads[sig.args]
    return cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)


def loaded_from_cache():
    """``{unit name: True when loaded from the cache, False when compiled}``
    for the units of this process."""
    out = {}
    for key, disp in _UNITS.items():
        name, variant, _, par = key
        label = name + ("[%s]" % variant if variant else "") + ("[par]" if par else "")
        out[label] = key not in _ELSEWHERE and (key in _PROBED
                                                or sum(disp._cache_hits.values()) > 0)
    return out
