"""Array-namespace helpers: NumPy or CuPy chosen from the arrays themselves.

CuPy is imported only when a CuPy array is seen or the CuPy backend is asked for,
so machines without a GPU never import it (array-api-compat's ``is_cupy_array``
does not import cupy).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from array_api_compat import is_cupy_array
from greentwin.core.errors import KernelError

__all__ = ["BackendName", "get_xp", "namespace_of", "to_numpy"]

BackendName = Literal["auto", "numpy", "cupy"]


def namespace_of(*arrays: Any) -> ModuleType:
    """``cupy`` when any argument is a CuPy array, else ``numpy``."""
    for a in arrays:
        if is_cupy_array(a):
            return importlib.import_module("cupy")
    return np


def to_numpy(a: Any) -> npt.NDArray[Any]:
    """A NumPy copy/view of a NumPy or CuPy array (device -> host at the edge only)."""
    if is_cupy_array(a):
        return np.asarray(a.get())
    return np.asarray(a)


def get_xp(name: BackendName = "auto") -> ModuleType:
    """The array module for a backend name, chosen once by the caller.

    ``"auto"`` takes CuPy when it imports and sees a GPU, else NumPy;
    ``"cupy"`` raises :class:`KernelError` when CuPy or a GPU is missing.
    """
    if name == "numpy":
        return np
    if name not in ("auto", "cupy"):
        raise KernelError(f"unknown array backend {name!r}; use 'auto', 'numpy' or 'cupy'")
    try:
        cp = importlib.import_module("cupy")
        if int(cp.cuda.runtime.getDeviceCount()) < 1:
            raise RuntimeError("no CUDA device")
    except Exception as exc:
        if name == "cupy":
            raise KernelError(
                f"the CuPy backend was requested but is unavailable ({exc}); "
                "install cupy-cuda12x on a machine with an NVIDIA GPU or use backend='numpy'"
            ) from exc
        return np
    return cp
