"""Compile sktune's CPU kernels into Numba's cache ahead of time.

A fresh environment (a Docker image, a CI job, a new cluster worker)
compiles the kernels a fit needs on first use: a few seconds per variant.
Run this once where the cache will be kept and every later process loads
them in milliseconds::

    python -m sktune.precompile                 # every variant, both dtypes
    python -m sktune.precompile --dtype float32 --kind mlp --optimizer adam

The cache goes where Numba puts it: ``NUMBA_CACHE_DIR`` when set, else
``__pycache__`` beside sktune's sources (else a user cache directory). The
entries are specific to this CPU and to this version of sktune and Numba.
"""
import argparse
import sys
import time
import types

__all__ = ["precompile"]

_KINDS = {"linear": ("dense", "csr"), "dense": ("dense",), "csr": ("csr",),
          "mlp": ("mlp",)}


def precompile(dtypes=("float64", "float32"), kinds=("linear", "mlp"), parallel=True,
               optimizers=None, losses=None, activations=None, verbose=False):
    """Compile (or load) every CPU kernel variant into Numba's cache.

    Every optimizer, loss and activation (or those named), for each dtype,
    on dense and CSR data, serial and (with ``parallel``) parallel, with and
    without pruning (``sparsity``):
    afterwards a fit in any process that shares the cache starts without
    compiling.

    Parameters
    ----------
    dtypes : sequence of {"float64", "float32"}, default=("float64", "float32")
        Data types to compile for.
    kinds : sequence of {"linear", "dense", "csr", "mlp"}, default=("linear", "mlp")
        Model kinds: ``"linear"`` is dense and CSR data.
    parallel : bool, default=True
        Also compile the parallel twins (fits with ``n_threads > 1`` on
        enough data use them).
    optimizers : sequence of str, default=None
        Only these optimizers (names as the estimators take them); None is
        all of them.
    losses : sequence of str, default=None
        Only these losses; ``"log_loss"`` covers the binary and the
        multiclass loss. None is all of them.
    activations : sequence of str, default=None
        Only these hidden-layer activations (the identity of the output
        layer is always compiled); None is all of them.
    verbose : bool, default=False
        Print each unit's compile time.

    Returns
    -------
    summary : dict
        ``units`` (count), ``seconds`` (wall time) and ``cache_dir``.

    See Also
    --------
    sktune.LinearRegressor : An estimator whose first fit then loads its kernel.

    Examples
    --------
    >>> import sktune
    >>> summary = sktune.precompile(dtypes="float64", kinds="dense",
    ...                             parallel=False, optimizers=["adam"],
    ...                             losses=["squared_error"])
    >>> sorted(summary)
    ['cache_dir', 'seconds', 'units']
    """
    from ._engine import encode
    from ._kernels import _jit, cpu

    if isinstance(dtypes, str):
        dtypes = (dtypes,)
    if isinstance(kinds, str):
        kinds = (kinds,)
    bad = [d for d in dtypes if d not in ("float64", "float32")]
    if bad:
        raise ValueError("dtypes must be 'float64' or 'float32', got %r" % (bad,))
    bad = [k for k in kinds if k not in _KINDS]
    if bad:
        raise ValueError("kinds must be among %s, got %r" % (sorted(_KINDS), bad))
    engine_kinds = tuple(sorted({k for kind in kinds for k in _KINDS[kind]}))
    options = {}
    for name, chosen, table in (
            ("optimizers", optimizers, encode.OPTIMIZERS),
            ("losses", losses, {**encode.REGRESSION_LOSSES, **encode.CLASSIFICATION_LOSSES}),
            ("activations", activations, encode.ACTIVATIONS)):
        if chosen is None:
            continue
        if isinstance(chosen, str):
            chosen = (chosen,)
        unknown = sorted(set(chosen) - set(table))
        if unknown:
            raise ValueError("%s must be among %s, got %r" % (name, sorted(table), unknown))
        codes = {table[c] for c in chosen}
        if name == "losses" and "log_loss" in chosen:
            codes.add(encode.loss_code("log_loss", n_classes=3))  # the softmax
        options[name] = sorted(codes)
    start = time.perf_counter()
    seen = len(_jit.compile_log())
    count = cpu.precompile_all(tuple(dtypes), engine_kinds,
                               (False, True) if parallel else (False,), **options)
    if verbose:
        for name, seconds in _jit.compile_log()[seen:]:
            print("%8.2f s  %s" % (seconds, name))
    return {"units": count, "seconds": time.perf_counter() - start,
            "cache_dir": _jit.cache_dir()}


class _CallableModule(types.ModuleType):
    """``sktune.precompile(...)`` works even where the name is bound to
    this module (``import sktune.precompile``)."""

    def __call__(self, *args, **kwargs):
        return precompile(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sktune.precompile",
        description="Compile sktune's CPU kernels into Numba's cache ahead of time.")
    parser.add_argument("--dtype", action="append", choices=["float64", "float32"],
                        help="dtype to compile for (repeatable; default: both)")
    parser.add_argument("--kind", action="append", choices=sorted(_KINDS),
                        help="model kind (repeatable; default: linear and mlp)")
    parser.add_argument("--serial-only", action="store_true",
                        help="skip the parallel twins")
    parser.add_argument("--optimizer", action="append",
                        help="only this optimizer (repeatable; default: all)")
    parser.add_argument("--loss", action="append",
                        help="only this loss (repeatable; default: all)")
    parser.add_argument("--activation", action="append",
                        help="only this activation (repeatable; default: all)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args(argv)
    summary = precompile(tuple(args.dtype or ("float64", "float32")),
                         tuple(args.kind or ("linear", "mlp")),
                         parallel=not args.serial_only, optimizers=args.optimizer,
                         losses=args.loss, activations=args.activation,
                         verbose=not args.quiet)
    print("sktune: %d kernels and units ready in %.1f s (cache: %s)"
          % (summary["units"], summary["seconds"], summary["cache_dir"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
