"""Where training runs: ``device="cpu"``, ``"cuda"`` or ``"auto"``.

Everything CUDA-specific lives in :mod:`sktune._kernels.cuda`, imported only
when a GPU fit starts, so a successor to numba-cuda can replace that one
module.
"""
import importlib.util

from ._engine.encode import DEVICES  # noqa: F401  (the table lives with the others)


def cuda_status():
    """Return ``(available, reason)``; ``reason`` says what is missing."""
    if importlib.util.find_spec("numba_cuda") is None:
        return False, ("numba-cuda is not installed; install it with "
                       "pip install 'sktune[cuda]' (or pip install numba-cuda)")
    try:
        from numba import cuda

        if cuda.is_available():
            return True, ""
    except Exception as exc:  # a broken driver or toolkit
        return False, f"numba.cuda could not start: {exc}"
    return False, ("no CUDA GPU is visible (numba.cuda.is_available() is False): "
                   "check the NVIDIA driver, or use device='cpu'")


def resolve_device(device):
    """Map ``device`` to ``"cpu"`` or ``"cuda"``, raising if CUDA is missing."""
    if device == "cpu":
        return "cpu"
    available, reason = cuda_status()
    if device == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise RuntimeError(f"device='cuda' was requested but {reason}.")
    return "cuda"
