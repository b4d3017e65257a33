"""CPU dispatch: the compiled epoch kernel and unit table of a fit.

The kernels live by concept (:mod:`.linear`, :mod:`.mlp`, the optimizer step
in :mod:`._step`); this module picks and compiles what one fit needs
through the registry of :mod:`._jit`: one epoch kernel per (kind, dtype,
serial/parallel) and, in the table ``fns``, the units of the fit's options
(its optimizer, loss and activation), each compiled on first use.
"""
import functools
import itertools

import numpy as np

from . import _codes as C
from . import _jit, linear, mlp
from ._jit import NUMBA_FLOAT, types
from ._step import end_batch_unit, end_signature, step_signature, update_range

# re-exported for the estimators and the batched search (plain Python ints)
CHUNK_WORK = linear.CHUNK_WORK
MAX_CHUNKS = linear.MAX_CHUNKS


def n_chunks(n_batch, work_per_row):
    """Gradient chunks of a linear batch (as the kernels split it)."""
    n = (int(n_batch) * int(work_per_row)) // CHUNK_WORK
    return max(1, min(n, MAX_CHUNKS, int(n_batch)))


def mlp_chunks(n_batch):
    """Row chunks of an MLP batch (as the kernels split it)."""
    return max(1, min(mlp.MAX_CHUNKS, int(n_batch) // mlp.CHUNK_ROWS))


# a kernel's signature is built once per argument types: the lookup runs
# every epoch (and every step of lr_find), where building ~20 Numba array
# types each time cost more than a small epoch's kernel call
_mlp_signature = functools.lru_cache(maxsize=None)(mlp.epoch_signature)
_linear_signature = functools.lru_cache(maxsize=None)(linear.epoch_signature)


def _ftype(dtype):
    return NUMBA_FLOAT[np.dtype(dtype).name]


def get_kernel(kind, dtype, parallel, index_dtype=np.int32, loss=C.SQUARED_ERROR,
               load_only=False, optimizer=C.ADAM):
    """The compiled epoch kernel for ``kind`` in {"dense", "dense_sgd", "csr",
    "csr_sgd", "csr_lazy", "mlp"}
    (linear kernels: the variant of the ``loss`` code; "csr_lazy": also of
    the ``optimizer`` code). With ``load_only``, None unless it is in memory
    or in the cache."""
    f = _ftype(dtype)
    par = "par" if parallel else "ser"
    if kind == "mlp":
        return _jit.compiled(mlp.mlp_epoch, "mlp_epoch", _mlp_signature(f),
                             "%s_%s" % (par, f), {"_PARALLEL": int(bool(parallel))},
                             parallel=bool(parallel), load_only=load_only)
    idx = None
    variant = "%s_%d_%s" % (par, int(loss), f)
    consts = {"_LOSS": int(loss)}
    if kind in ("csr", "csr_sgd", "csr_lazy"):
        idx = getattr(types, np.dtype(index_dtype).name)
        variant += "_%s" % idx
    if kind == "csr_lazy":
        opt = _STEP_VARIANT.get(int(optimizer), int(optimizer))
        variant += "_o%d" % opt
        consts["_OPT"] = opt
    return _jit.compiled(linear.EPOCHS[kind], kind + "_epoch",
                         _linear_signature(kind, f, idx), variant,
                         consts, parallel=bool(parallel), load_only=load_only)


# ADAMW's step is ADAM's (the decoupled decay is a scalar of the batch)
_STEP_VARIANT = {C.ADAMW: C.ADAM}


def _unit_address(name, code, f):
    """Address of the unit ``name`` of :data:`mlp.UNITS` (its variant for
    the option ``code``, when it has one) for Numba float type ``f``."""
    func, sig_of, const = mlp.UNITS[name]
    sig = sig_of(f)
    variant = str(f) if const is None else "%d_%s" % (code, f)
    consts = None if const is None else {const: code}
    return _jit.address(_jit.compiled(func, name, sig, variant, consts), sig)





def step_unit(optimizer, dtype, grad_dtype, prox=False, mask=False):
    """The compiled optimizer step (:func:`._step.update_range`) of
    ``optimizer`` (a code) for parameters of ``dtype`` and a gradient of
    ``grad_dtype``; ``prox``: with the decoupled decay and L1 prox;
    ``mask``: holding pruned weights at zero (a variant only ``sparsity >
    0`` compiles)."""
    code = _STEP_VARIANT.get(int(optimizer), int(optimizer))
    f, g = _ftype(dtype), _ftype(grad_dtype)
    return _jit.compiled(update_range, "step", step_signature(f, g),
                         "%d%s%s_%s_%s" % (code, "p" if prox else "", "m" if mask else "",
                                           f, g),
                         {"_OPT": code, "_PROX": bool(prox), "_MASK": bool(mask)})


def step_address(optimizer, dtype, grad_dtype, prox=False, mask=False):
    """Address of :func:`step_unit`."""
    return _jit.address(step_unit(optimizer, dtype, grad_dtype, prox, mask),
                        step_signature(_ftype(dtype), _ftype(grad_dtype)))


def end_address(dtype, grad_dtype):
    """Address of the end-of-batch unit for parameters of ``dtype`` and a
    gradient of ``grad_dtype``."""
    f, g = _ftype(dtype), _ftype(grad_dtype)
    sig = end_signature(f, g)
    return _jit.address(_jit.compiled(end_batch_unit, "end_batch", sig,
                                      "%s_%s" % (f, g)), sig)


def needs_prox(hyper, icodes):
    """Whether a fit's step needs the decoupled decay or the L1 prox."""
    return bool(hyper[C.H_L1] > 0.0
                or (icodes[C.I_DECOUPLED] == 1 and hyper[C.H_L2] != 0.0))


_TABLES = {}


def function_table(kind, dtype, hyper, icodes):
    """The unit-address table ``fns`` of a fit (slots ``F_*``): the units
    its options need, compiled on first use (a read-only array, built once
    per combination of options)."""
    key = _table_key(kind, dtype, hyper, icodes)
    fns = _TABLES.get(key)
    if fns is None:
        fns = _build_table(kind, dtype, hyper, icodes)
        fns.flags.writeable = False
        _TABLES[key] = fns
    return fns


def build_tables(kind, dtype, hyper_rows, icode_rows):
    """Compile (or, while ``_jit.planned`` runs, list) the units of each
    row's table, without keeping the tables (a planned table holds no
    addresses): what :func:`function_table` then finds compiled."""
    for hyper, icodes in zip(hyper_rows, icode_rows):
        if _table_key(kind, dtype, hyper, icodes) not in _TABLES:
            _build_table(kind, dtype, hyper, icodes)


def _table_key(kind, dtype, hyper, icodes):
    return (kind != "mlp", np.dtype(dtype).name, int(icodes[C.I_OPTIMIZER]),
            needs_prox(hyper, icodes), int(icodes[C.I_LOSS]), int(icodes[C.I_ACTIVATION]),
            bool(hyper[C.H_DROPOUT] > 0.0), bool(icodes[C.I_PRUNED]))


def _build_table(kind, dtype, hyper, icodes):
    fns = np.zeros(C.N_FNS, dtype=np.int64)
    opt = int(icodes[C.I_OPTIMIZER])
    prox = needs_prox(hyper, icodes)
    mask = bool(icodes[C.I_PRUNED])
    if kind != "mlp":
        fns[C.F_STEP] = step_address(opt, dtype, np.float64, prox, mask)
        fns[C.F_END] = end_address(dtype, np.float64)
        return fns
    f = _ftype(dtype)
    act = int(icodes[C.I_ACTIVATION])
    fns[C.F_STEP] = step_address(opt, dtype, dtype, prox, mask)
    fns[C.F_END] = end_address(dtype, dtype)
    fns[C.F_GEMM] = _unit_address("gemm", None, f)
    fns[C.F_SMALL] = _unit_address("small", None, f)
    fns[C.F_PASS] = _unit_address("pass", None, f)
    fns[C.F_ACT] = _unit_address("act", act, f)
    fns[C.F_ACT_GRAD] = _unit_address("act_grad", act, f)
    fns[C.F_LOSS] = _unit_address("loss", int(icodes[C.I_LOSS]), f)
    if hyper[C.H_DROPOUT] > 0.0:
        fns[C.F_DROP] = _unit_address("dropout", None, f)
        fns[C.F_DROP_GRAD] = _unit_address("dropout_grad", None, f)
    return fns


# A parallel twin costs a compile of 2-3 s, once per environment; a fit of
# less work than this (multiply-adds over all its epochs, about a second of
# one core) takes the serial kernel unless the parallel one is compiled
# already (same bits either way). A fit this big saves its compile within a
# few fits; a tiny first fit in a notebook does not wait for it.
PARALLEL_PAYS = 2e9


_PLANNED_FITS = set()  # the fits whose units prepare() has compiled or loaded


def prepare(kind, dtype, parallel, hyper, icodes, index_dtype=np.int32, verbose=0,
            total_work=np.inf):
    """``(kernel, fns)`` of a fit: the epoch kernel and its unit table.

    ``parallel`` asks for the parallel twin; a fit of ``total_work`` below
    :data:`PARALLEL_PAYS` gets it only when it is compiled already. With
    ``verbose``, a compile that outlasts a second says so (once)."""
    loss = int(icodes[C.I_LOSS])
    opt = int(icodes[C.I_OPTIMIZER])
    if parallel and total_work < PARALLEL_PAYS:
        parallel = get_kernel(kind, dtype, True, index_dtype, loss, load_only=True,
                              optimizer=opt) is not None
    timer = _jit.notice(verbose)
    try:
        # once per kind of fit (prepare runs every epoch)
        fit_key = (kind, np.dtype(dtype).name, bool(parallel), np.dtype(index_dtype).name,
                   loss, opt, _table_key(kind, dtype, hyper, icodes))
        if fit_key not in _PLANNED_FITS and _jit.fork_allowed():
            # what this fit compiles, in two processes (the shuffle too)
            def build():
                from ._rng import permutation_unit

                permutation_unit()
                get_kernel(kind, dtype, parallel, index_dtype, loss, optimizer=opt)
                if parallel:  # n_threads=None times the serial twin too (TwinChooser)
                    get_kernel(kind, dtype, False, index_dtype, loss, optimizer=opt)
                if fit_key[-1] not in _TABLES:
                    _build_table(kind, dtype, hyper, icodes)

            _jit.compile_in_two(_jit.planned(build))
        kernel = get_kernel(kind, dtype, parallel, index_dtype, loss, optimizer=opt)
        fns = function_table(kind, dtype, hyper, icodes)
        _PLANNED_FITS.add(fit_key)
    finally:
        if timer is not None:
            timer.cancel()
    return kernel, fns, parallel


# --------------------------------------------------------------------------
# Ahead of time

OPTIMIZER_CODES = (C.SGD, C.MOMENTUM, C.NESTEROV, C.ADAM, C.RMSPROP, C.ADAGRAD)
LOSS_CODES = (C.SQUARED_ERROR, C.HUBER, C.POISSON, C.LOGISTIC, C.SOFTMAX, C.HINGE)
ACTIVATION_CODES = (C.IDENTITY, C.RELU, C.TANH, C.LOGISTIC_ACT, C.LEAKY_RELU)


def precompile_all(dtypes=("float64", "float32"), kinds=("dense", "csr", "mlp"),
                   parallel=(False, True), optimizers=OPTIMIZER_CODES, losses=LOSS_CODES,
                   activations=ACTIVATION_CODES):
    """Compile (or load) every kernel and unit for ``dtypes``, ``kinds`` and
    the given optimizer, loss and activation codes, in two processes where
    :func:`._jit.compile_in_two` may fork. Returns the number of units."""
    def build():
        return _precompile_all(dtypes, kinds, parallel, optimizers, losses, activations)

    if _jit.fork_allowed():
        _jit.compile_in_two(_jit.planned(build), timeout=3600.0)
    return build()


def _precompile_all(dtypes, kinds, parallel, optimizers, losses, activations):
    optimizers = sorted({_STEP_VARIANT.get(int(o), int(o)) for o in optimizers})
    activations = sorted(set(int(a) for a in activations))
    from ._rng import permutation_unit

    permutation_unit()  # every fit's shuffle
    count = 1
    linear_kinds = [k for k in kinds if k != "mlp"]
    for dtype in dtypes:
        f = _ftype(dtype)
        for kind, par in itertools.product(linear_kinds, parallel):
            for idx in ((np.int32, np.int64) if kind != "dense" else (np.int32,)):
                for loss in losses:
                    get_kernel(kind, dtype, par, idx, loss)
                    count += 1
                    if kind == "csr" and not par:  # plain SGD's sparse updates
                        get_kernel("csr_sgd", dtype, False, idx, loss)
                        count += 1
                    if kind == "dense" and not par:  # per-sample plain SGD
                        get_kernel("dense_sgd", dtype, False, idx, loss)
                        count += 1
        grads = ([np.float64] if linear_kinds else []) + (["mlp"] if "mlp" in kinds else [])
        for grad in grads:
            end_address(dtype, dtype if grad == "mlp" else grad)
            count += 1
        # with and without the pruning mask (``sparsity > 0``)
        for grad, opt, prox, mask in itertools.product(grads, optimizers, (False, True),
                                                       (False, True)):
            step_unit(opt, dtype, dtype if grad == "mlp" else grad, prox, mask)
            count += 1
        if "mlp" in kinds:
            for par in parallel:
                get_kernel("mlp", dtype, par)
                count += 1
            for name, codes in (("pass", (None,)), ("gemm", (None,)), ("small", (None,)),
                                ("dropout", (None,)), ("dropout_grad", (None,)),
                                ("act", activations), ("act_grad", activations),
                                ("loss", losses)):
                for code in codes:
                    _unit_address(name, code, f)
                    count += 1
        # the batched search's fused epochs (it trains on dense data only)
        from . import population

        if "dense" in linear_kinds:
            population.acc_address()  # their products (float64, whatever the dtype)
            count += 1
            for loss in losses:
                population.cohort_kernel("dense", dtype, loss)
                count += 1
        if "mlp" in kinds:
            population.cohort_kernel("mlp", dtype)
            count += 1
    return count


# --------------------------------------------------------------------------
# Units called directly (tests and tools)

def mlp_pass(X, Y, sw, idx, params, grad, sizes, acts, deltas, hyper, icodes, D1=None,
             d1_col=0):
    """One MLP pass (:func:`.mlp.mlp_pass`) over the rows ``X[idx]``, with
    the units of ``icodes``; returns the summed weighted loss."""
    dtype = params.dtype
    fns = function_table("mlp", dtype, hyper, icodes)
    f = _ftype(dtype)
    unit = _jit.compiled(mlp.mlp_pass, "pass", mlp.pass_signature(f), str(f))
    if D1 is None:
        D1 = np.empty((0, 0), dtype=dtype)
    idx = np.asarray(idx, dtype=np.int64)
    return unit(X, Y, sw, idx, np.int64(0), np.int64(idx.shape[0]), params, grad, sizes,
                acts, deltas, hyper, icodes, fns, D1, np.int64(d1_col), np.empty(0),
                np.int64(0))


def apply_gradient(kind, params, grad_total, m, v, avg, loss_sum, n_rows, lr, hyper,
                   icodes, counters, stats):
    """One optimizer step from a batch gradient summed outside the kernels.

    The end-of-batch unit of the fit (penalty, clipping, the optimizer step,
    L1 prox, averaging) run on ``grad_total``, the unnormalised sum of the
    batch's ``n_rows`` row gradients (summed by a data-parallel driver, see
    :mod:`sktune.dask`), with ``loss_sum`` its summed weighted loss. Updates
    the state arrays and ``stats`` in place; returns the batch's mean loss
    gradient (for the gradient diagnostics) and False on divergence.
    ``kind``: "mlp" or a linear kind.
    """
    dtype = params.dtype
    gdtype = dtype if kind == "mlp" else np.dtype(np.float64)
    fns = function_table(kind, dtype, hyper, icodes)
    f, g = _ftype(dtype), _ftype(gdtype)
    unit = _jit.compiled(end_batch_unit, "end_batch", end_signature(f, g), "%s_%s" % (f, g))
    grad = np.zeros((2, params.shape[0]), dtype=gdtype)
    grad[0] = grad_total
    ok = unit(fns, params, grad, m, v, avg, np.array([float(loss_sum)]), np.int64(1),
              np.int64(n_rows), float(lr), hyper, icodes, counters, stats)
    return bool(ok), grad[1]
