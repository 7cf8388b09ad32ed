"""The executor interface: local pool and Dask give the converter the same output."""

from __future__ import annotations

import hashlib
import operator
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from greentwin.cli.main import main
from greentwin.core.executor import (
    DaskExecutor,
    ExecutorError,
    Inline,
    JobExecutor,
    LocalPool,
    open_executor,
)
from greentwin.tiles import convert as convert_mod
from greentwin.tiles.convert import convert
from gt_testing import CITYGML

POTSDAM = CITYGML / "3dcitydb_Potsdam_LoD1.gml"
BERLIN = CITYGML / "berlin_testarea_lod2_buildings.gml"


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A Dask LocalCluster of 2 worker processes on loopback; its scheduler address."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # a free loopback port
    )
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


def test_local_executors_follow_the_interface() -> None:
    inline = open_executor(1)
    pool = open_executor(2)
    try:
        assert isinstance(inline, Inline) and isinstance(pool, LocalPool)
        for ex in (inline, pool):
            assert isinstance(ex, JobExecutor)
            assert ex.submit(operator.mul, 7, 7).result(timeout=60) == 49
        assert (inline.workers, pool.workers) == (1, 2)
    finally:
        pool.close()


def test_missing_dask_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails
    with pytest.raises(ExecutorError, match=r"greentwin\[dask\]"):
        open_executor(2, "tcp://127.0.0.1:8786")


def test_unreachable_scheduler_is_reported() -> None:
    pytest.importorskip("distributed")
    with pytest.raises(ExecutorError, match="cannot reach the Dask scheduler"):
        DaskExecutor("tcp://127.0.0.1:9", timeout=2)


def test_dask_runs_jobs_on_the_cluster(scheduler: str) -> None:
    ex = open_executor(1, scheduler)
    try:
        assert isinstance(ex, DaskExecutor) and ex.workers == 2
        futures = [ex.submit(operator.mul, k, k) for k in range(5)]
        assert [f.result(timeout=60) for f in futures] == [0, 1, 4, 9, 16]
    finally:
        ex.close()


def test_dask_convert_is_byte_identical(
    scheduler: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Byte ranges (cut small, so there are many) and tiles as Dask tasks."""
    monkeypatch.setattr(convert_mod, "MIN_RANGE_BYTES", 1)
    monkeypatch.setattr(convert_mod, "MAX_RANGE_BYTES", 64_000)
    kw: dict[str, Any] = {"max_features_per_tile": 20}
    a = convert([POTSDAM, BERLIN], tmp_path / "a", jobs=2, **kw)
    b = convert([POTSDAM, BERLIN], tmp_path / "b", scheduler=scheduler, **kw)
    assert a.features == b.features == 97 + 17
    assert a.tiles == b.tiles > 5
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert [s.reason for s in a.skipped] == [s.reason for s in b.skipped]


def test_dask_convert_of_a_stream_is_byte_identical(scheduler: str, tmp_path: Path) -> None:
    """Files read as one stream: the main process sends batches of features as tasks."""
    convert([BERLIN], tmp_path / "a", split=False, max_features_per_tile=5)
    convert([BERLIN], tmp_path / "b", split=False, scheduler=scheduler, max_features_per_tile=5)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_cli_scheduler_from_option_and_config(scheduler: str, tmp_path: Path) -> None:
    code = main(["convert", str(BERLIN), str(tmp_path / "a"), "--no-progress"])
    assert code == 0
    code = main(
        ["convert", str(BERLIN), str(tmp_path / "b"), "--no-progress", "--scheduler", scheduler]
    )
    assert code == 0
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    config = tmp_path / "greentwin.toml"
    config.write_text(f'scheduler = "{scheduler}"\n', encoding="utf-8")
    code = main(
        ["convert", str(BERLIN), str(tmp_path / "c"), "--no-progress", "--config", str(config)]
    )
    assert code == 0
    assert _digest(tmp_path / "a") == _digest(tmp_path / "c")
