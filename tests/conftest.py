"""Shared fixtures: sample data, the glTF validator, array backends, browser."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gt_testing import CITYGML, chromium_path
from hypothesis import HealthCheck, settings

#: PostgreSQL and Redis servers on loopback for the scale-out tests.
pytest_plugins = ["gt_services"]

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def citygml_dir() -> Path:
    """Folder of the bundled CityGML samples (with their licence notes)."""
    return CITYGML


def _cupy_available() -> bool:
    try:
        import cupy

        return bool(cupy.cuda.runtime.getDeviceCount() > 0)
    except Exception:
        return False


@pytest.fixture(
    params=[
        pytest.param("numpy", id="numpy"),
        pytest.param("cupy", id="cupy", marks=pytest.mark.gpu),
    ]
)
def xp(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The array namespaces a kernel must run on: numpy always, cupy where a GPU is."""
    if request.param == "numpy":
        yield np
        return
    if not _cupy_available():
        pytest.skip("CuPy with an NVIDIA GPU is not available")
    import cupy

    yield cupy


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu`` tests where there is no GPU, ``browser`` tests where no Chromium."""
    have_gpu = _cupy_available()
    have_chromium = chromium_path() is not None
    for item in items:
        if "gpu" in item.keywords and not have_gpu:
            item.add_marker(pytest.mark.skip(reason="CuPy with an NVIDIA GPU is not available"))
        if "browser" in item.keywords and not have_chromium:
            item.add_marker(pytest.mark.skip(reason="chromium is not installed (make system)"))
