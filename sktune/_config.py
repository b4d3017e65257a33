"""Process-wide settings: the Numba cache location and thread policy.

Imported before any kernel is compiled.
"""
import os
import sys
import tempfile
import threading


def _writable_dir(path):
    """True when ``path`` (created if needed) accepts a new file."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
        return True
    except OSError:
        return False


def _ensure_numba_cache():
    """Keep ``cache=True`` from failing on a read-only install.

    Numba caches beside the source (``__pycache__``) or else in the user's
    cache directory, and raises at import when neither is writable. In that
    case point ``NUMBA_CACHE_DIR`` at a private temporary directory.

    Numba itself is not imported here unless it must be (it costs ~0.2 s of
    ``import sktune``): the environment says what Numba will read when the
    first fit imports it.
    """
    numba = sys.modules.get("numba")
    configured = (numba.config.CACHE_DIR if numba is not None
                  else os.environ.get("NUMBA_CACHE_DIR"))
    if configured:
        return
    here = os.path.join(os.path.dirname(__file__), "_kernels", "__pycache__")
    if _writable_dir(here):
        return
    from numba.misc.appdirs import AppDirs

    user = AppDirs(appname="numba", appauthor=False).user_cache_dir
    if _writable_dir(user):
        return
    fallback = os.path.join(tempfile.gettempdir(), f"sktune-numba-{os.getuid()}")
    if _writable_dir(fallback):
        os.environ["NUMBA_CACHE_DIR"] = fallback
        import numba

        numba.config.CACHE_DIR = fallback


_ensure_numba_cache()

# Serialises parallel kernels when the threading layer is not known to be
# thread-safe (Numba's "workqueue" layer aborts the process on concurrent use).
_PARALLEL_LOCK = threading.Lock()


def effective_threads(n_threads):
    """Number of threads a kernel call should use.

    ``None`` means: all of Numba's threads on the main thread, one thread
    elsewhere. Fits running in Python threads, joblib workers with threads or
    dask workers are already parallel, so each runs the serial ``nogil``
    kernel and the cores are not oversubscribed. Numba's own thread count
    (which joblib's loky sets to ``cores // n_jobs`` in its workers) is the cap.
    """
    import numba

    cap = numba.config.NUMBA_NUM_THREADS
    if n_threads is None:
        if threading.current_thread() is not threading.main_thread():
            return 1
        return max(1, cap)
    if n_threads < 0:  # joblib's convention: -1 is all cores
        return max(1, cap + 1 + n_threads)
    return max(1, min(int(n_threads), cap))


def parallel_call(kernel, args, n_threads):
    """Run a parallel kernel with ``n_threads`` threads, safely."""
    import numba

    try:
        safe = numba.threading_layer() in ("omp", "tbb")
    except ValueError:  # layer not chosen yet
        safe = False
    if safe:
        numba.set_num_threads(n_threads)
        return kernel(*args)
    with _PARALLEL_LOCK:
        numba.set_num_threads(n_threads)
        return kernel(*args)
