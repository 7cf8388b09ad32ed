"""Backend selection: kernels ask their arrays for their namespace (array-api-compat)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from greentwin.core.errors import KernelError
from greentwin.kernels.air.chemistry import no2_empirical
from greentwin.kernels.backend import namespace_of, to_numpy


def test_namespace_of_is_the_arrays_own_library(xp: Any) -> None:
    """The library module itself (not a compat wrapper), scalars and None skipped."""
    a = xp.zeros(3)
    assert namespace_of(a, 2.0, None, xp.ones(2)) is xp
    assert namespace_of() is np
    assert isinstance(to_numpy(a * 2), np.ndarray)


def test_namespace_of_refuses_what_is_not_an_array() -> None:
    """A list (or any other non-array) is an error that names the fix, not NumPy by
    default: a kernel must not silently compute on the host what it was given."""
    with pytest.raises(KernelError, match="arrays of one library"):
        namespace_of([1.0, 2.0])
    with pytest.raises(KernelError, match=r"builtins\.list"):
        namespace_of(np.zeros(2), [1.0])


def test_a_kernel_answers_in_its_inputs_library(xp: Any) -> None:
    """The air chemistry kernel keeps its inputs' library (host or device)."""
    nox = xp.asarray([10.0, 40.0, 80.0])
    out = no2_empirical(nox, 0.1 * nox, o3=50.0)
    assert namespace_of(out) is xp
    # the SRM1 formula: f NOx + B O3 (NOx - f NOx) / (NOx - f NOx + K), B 0.6, K 100
    rest = 0.9 * np.array([10.0, 40.0, 80.0])
    want = 0.1 * np.array([10.0, 40.0, 80.0]) + 0.6 * 50.0 * rest / (rest + 100.0)
    np.testing.assert_allclose(to_numpy(out), want, rtol=1e-12)
