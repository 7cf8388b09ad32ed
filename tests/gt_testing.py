"""Test helpers importable from any test module: ``from gt_testing import ...``."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
CITYGML = DATA / "citygml"


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
