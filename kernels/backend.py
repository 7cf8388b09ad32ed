"""Array backend selection: NumPy everywhere, CuPy where an NVIDIA GPU is present.

The backend is chosen once (:func:`get_backend`); kernels then ask their input
arrays for their namespace (:func:`namespace_of`) and never move data between host
and device except at the edges (:meth:`Backend.asarray`, :meth:`Backend.to_numpy`).
CuPy is imported lazily, so a machine without it fails only where it is asked for.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from greentwin.core.errors import KernelError

__all__ = ["Backend", "BackendName", "cupy_available", "get_backend", "namespace_of", "to_numpy"]

log = logging.getLogger(__name__)

BackendName = Literal["numpy", "cupy"]


@functools.cache
def cupy_available() -> bool:
    """Whether CuPy imports and sees at least one CUDA device (cached)."""
    try:
        import cupy

        return bool(cupy.cuda.runtime.getDeviceCount() > 0)
    except Exception:
        return False


@dataclass(frozen=True, slots=True)
class Backend:
    """An array library and how to move arrays to and from it.

    Attributes
    ----------
    name : ``"numpy"`` or ``"cupy"``.
    xp : the array module.
    """

    name: BackendName
    xp: ModuleType

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """Move/convert ``a`` onto this backend (host -> device for CuPy)."""
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a: Any) -> npt.NDArray[Any]:
        """Bring an array of this backend back to the host as NumPy."""
        return to_numpy(a)


def get_backend(name: str = "auto") -> Backend:
    """Choose the array backend once.

    Parameters
    ----------
    name : ``"auto"`` (CuPy when a GPU is usable, else NumPy), ``"numpy"`` or ``"cupy"``.

    Raises
    ------
    KernelError
        When ``"cupy"`` is requested but CuPy or a CUDA device is missing, or the name
        is unknown.
    """
    if name == "numpy":
        return Backend("numpy", np)
    if name in ("cupy", "auto"):
        if cupy_available():
            import cupy

            return Backend("cupy", cupy)
        if name == "cupy":
            raise KernelError(
                "backend 'cupy' requested but CuPy or a CUDA GPU is not available; "
                "install greentwin[gpu] on a machine with an NVIDIA GPU, or use --backend numpy"
            )
        log.info("no usable GPU: using the NumPy backend")
        return Backend("numpy", np)
    raise KernelError(f"unknown backend {name!r}: use 'auto', 'numpy' or 'cupy'")


def namespace_of(*arrays: Any) -> ModuleType:
    """The array module (numpy or cupy) of the given arrays; mixing them is an error.

    ``array_namespace`` of array-api-compat (the library's own module, not its compat
    wrapper, so results match plain NumPy and CuPy); Python scalars and None are skipped.
    Asking does not import CuPy unless a CuPy array is among ``arrays``.

    Raises
    ------
    KernelError
        Arrays of NumPy and CuPy mixed, or something that is not an array.
    """
    from array_api_compat import array_namespace

    given = [a for a in arrays if not (a is None or isinstance(a, int | float))]
    if not given:
        return np
    try:
        xp: ModuleType = array_namespace(*given, use_compat=False)
    except TypeError as exc:
        kinds = sorted({type(a).__module__.split(".")[0] + "." + type(a).__name__ for a in given})
        raise KernelError(
            f"a kernel got {', '.join(kinds)}: give arrays of one library (NumPy or CuPy); "
            f"move data between host and device only at the edges ({exc})"
        ) from exc
    return xp


def to_numpy(a: Any) -> npt.NDArray[Any]:
    """Host copy of an array from either backend."""
    from array_api_compat import is_cupy_array

    if is_cupy_array(a):
        return np.asarray(a.get())
    return np.asarray(a)
