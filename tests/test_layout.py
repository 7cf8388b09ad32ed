"""The packages import one way (docs/architecture.md), and only the server speaks HTTP."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: package -> the packages of ours it may import (docs/architecture.md).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "citygml": {"core"},
    "green_model": {"core", "citygml"},
    "traffic": {"core"},
    "kernels": {"core"},
    "tiles": {"core", "citygml", "green_model"},
    "twin": {"core", "citygml", "green_model", "traffic", "kernels", "tiles"},
    "server": {"core", "citygml", "green_model", "traffic", "kernels", "tiles", "twin"},
    "cli": {"core", "citygml", "green_model", "traffic", "kernels", "tiles", "twin", "server"},
}
#: Web frameworks: only the server (and the command that starts it) may import them.
WEB = {"aiohttp"}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_run_one_way(package: str) -> None:
    wrong = []
    for path in _modules(package):
        for line, module in _imports(path):
            parts = module.split(".")
            if parts[0] == "greentwin" and len(parts) > 1:
                target = parts[1]
                if target != package and target not in ALLOWED[package]:
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
            if parts[0] in WEB and package != "server":
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_every_package_is_listed() -> None:
    """A new package folder must be placed in the table above (and in pyproject)."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for package in ALLOWED:
        assert (ROOT / package / "__init__.py").is_file(), package
        assert f'"greentwin.{package}" = "{package}"' in pyproject, package


def test_the_server_holds_no_twin_logic() -> None:
    """Every server module that is not a storage implementation speaks HTTP or WebSocket."""
    storage = {"sqlite", "sqlite_scenarios", "pg", "pg_hub", "pg_scenarios", "stores", "store"}
    plain = {"__init__", "auth", "config", "folder_lru", "fanout", "hub", "jsonio"}
    for path in _modules("server"):
        if path.stem in storage | plain:
            continue
        assert any(m.split(".")[0] in WEB for _, m in _imports(path)), (
            f"{path.relative_to(ROOT)} does not touch aiohttp: does it belong in twin/?"
        )
