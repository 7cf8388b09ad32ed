"""Shared fixtures: sample data, the glTF validator, array backends, browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
CITYGML = DATA / "citygml"

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def validate_gltf(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Run the Khronos glTF validator (npm ``gltf-validator``) over files.

    Returns one summary per file: ``{"file", "errors", "warnings", "messages"}``.
    """
    node = shutil.which("node")
    script = ROOT / "scripts" / "validate-gltf.mjs"
    if node is None or not (ROOT / "node_modules" / "gltf-validator").is_dir():
        pytest.fail("glTF validator missing: run `make setup` (npm ci) first")
    results: list[dict[str, Any]] = []
    files = [str(p) for p in paths]
    for start in range(0, len(files), 200):
        proc = subprocess.run(
            [node, str(script), *files[start : start + 200]],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        results.extend(json.loads(line) for line in proc.stdout.splitlines() if line.strip())
        if proc.returncode not in (0, 1):
            pytest.fail(f"glTF validator crashed: {proc.stderr}")
    return results


def assert_valid_gltf(paths: Sequence[Path]) -> None:
    """Fail unless every file passes the Khronos validator with no errors."""
    assert paths, "no glTF files to validate"
    reports = validate_gltf(paths)
    assert len(reports) == len(paths)
    bad = [r for r in reports if r["errors"]]
    assert not bad, f"glTF validator errors: {bad[:3]}"


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


def chromium_path() -> str | None:
    """The system Chromium (Debian package), never a downloaded browser."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--use-gl=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
]
