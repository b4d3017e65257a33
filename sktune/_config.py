"""Process-wide settings: the Numba cache location and thread policy.

Imported before any kernel is compiled.
"""
import collections
import os
import sys
import tempfile
import threading
import time


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


# Seconds per row of the latest epochs, per kind of fit and thread count,
# with the time each was measured: ``{key: {n_threads: deque([(seconds_per_row,
# when), ...])}}``.
_EPOCH_TIMES = {}
_KEPT = 3  # an arm's figure is the best of its latest fresh timings

# A measurement older than this many seconds (or than this many epochs of
# the fit, whichever is longer) is taken again. The serial twin's speed did
# not move with the machine's state (0.064 s an epoch in both), so its
# figure is kept longer: a fit on the parallel twin times it again once a
# minute, and a fit on the serial twin times the parallel one every 5 s.
STALE_SECONDS = 5.0
SERIAL_STALE_SECONDS = 60.0
STALE_EPOCHS = 20

# A fit's first epoch, and the epochs that start within this many seconds
# of it, are not timed: numpy's BLAS threads keep spinning for ~0.1 s after
# a call (after a scikit-learn MLP fit, the next parallel epoch took
# 0.05-0.12 s instead of 0.027; the serial one was unaffected), and a first
# epoch pays for first touches of its data.
SETTLE_SECONDS = 0.15


class TwinChooser:
    """Picks, epoch by epoch, the faster of a fit's serial and parallel kernels.

    The two twins of a kernel give the same bits, so the choice changes
    speed only. Which is faster is not a constant of the fit's shape: on a
    2-core virtual machine whose fork-join latency rose from 1.2 to 2.7 us,
    the parallel MLP twin at batch 32 (a fork-join and an exchange of the
    gradient and the weights per batch) ran 1.9x *slower* than the serial
    one, where minutes earlier it had run 1.3x faster. So each arm is timed
    on the fit's own epochs: the parallel twin first, then the serial one,
    then the faster of the two, and the slower arm is timed again once its
    figure is older than :data:`STALE_SECONDS` (the serial twin's:
    :data:`SERIAL_STALE_SECONDS`) or :data:`STALE_EPOCHS` epochs. An arm's figure is the best of its latest three fresh timings.
    The figures are kept per kind of fit, so the next fit of that kind
    starts with the faster arm.

    Parameters
    ----------
    key : hashable
        The kind of fit: what makes an epoch's time per row comparable.
    n_threads : int
        The parallel arm's thread count; 1 disables the choice.
    """

    def __init__(self, key, n_threads):
        self.key = key
        self.n_threads = n_threads
        self.active = n_threads > 1
        self._last = None  # seconds of the fit's last epoch
        self._start = time.monotonic()  # (made just before the first epoch)
        self._epochs = 0

    def threads(self):
        """Threads for the next epoch's kernel call."""
        if not self.active:
            return self.n_threads
        times = _EPOCH_TIMES.get(self.key, {})
        epochs = STALE_EPOCHS * (self._last or 0.0)
        now = time.monotonic()
        figures = {}
        for n in (self.n_threads, 1):
            stale = max(STALE_SECONDS if n > 1 else SERIAL_STALE_SECONDS, epochs)
            fresh = sorted(t for t, when in times.get(n, ()) if now - when <= stale)
            if not fresh:
                return n
            # the best: an arm is slower only when its latest epochs all
            # were, so a moment of contention (BLAS threads of an earlier
            # numpy call still spinning) does not switch a fit to the
            # slower twin for the next 5 s
            figures[n] = fresh[0]
        return min(figures, key=figures.get)

    def record(self, n, parallel, seconds, rows, timed=True):
        """Note an epoch run with ``n`` threads.

        ``parallel`` says whether the fit did run its parallel twin (a family
        keeps small batches serial, and then there is nothing to choose);
        ``timed`` is False when the epoch's time includes work that is not
        the kernel's (a compile, loading a kernel from the cache, starting
        Numba's thread pool). The fit's first epoch and those that start
        within :data:`SETTLE_SECONDS` of it are not timed either.
        """
        if n > 1 and not parallel:
            self.active = False
        self._epochs += 1
        if not self.active or not timed or rows <= 0:
            return
        self._last = seconds
        now = time.monotonic()
        if self._epochs == 1 or now - seconds - self._start < SETTLE_SECONDS:
            return
        arms = _EPOCH_TIMES.setdefault(self.key, {})
        arms.setdefault(n, collections.deque(maxlen=_KEPT)).append(
            (seconds / rows, now))


def prepared_kernels():
    """What an epoch's time could include besides its kernel: how many kinds
    of fit have had their kernels compiled or loaded (-1 before the first)
    and whether Numba's thread pool has started. An epoch that changes
    either timed a compile, a load or the pool's start."""
    # (another thread may be importing the module: then it is not there yet)
    planned = getattr(sys.modules.get("sktune._kernels.cpu"), "_PLANNED_FITS", None)
    pool = sys.modules.get("numba.np.ufunc.parallel")
    return (-1 if planned is None else len(planned),
            bool(getattr(pool, "_is_initialized", False)))
