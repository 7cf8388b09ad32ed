"""Real PostgreSQL and Redis servers for the tests, started on loopback in temporary folders.

``postgres_server`` (session): ``initdb`` + ``pg_ctl start`` on a free port, as the
``postgres`` system user when the tests run as root (PostgreSQL refuses to run as
root); ``pg_database`` (function): a fresh database on it, its URL. ``redis_server``
(session): ``redis-server`` on a free port without persistence. Every wait is bounded;
a missing binary skips the test with the reason (``scripts/system-deps.sh`` installs
them); a server that does not come up fails it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = [
    "PostgresServer",
    "free_port",
    "pg_database",
    "postgres_server",
    "redis_server",
    "running_postgres",
]

START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _wait_port(port: int, proc: subprocess.Popen[bytes] | None, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S} s")


class PostgresServer:
    """A running test server: its ``url`` (``postgresql://postgres@127.0.0.1:PORT``),
    and :meth:`crash` / :meth:`start` to stop it without a checkpoint and start it again."""

    def __init__(self, prefix: list[str], pg_ctl: str, data: Path, opts: str, log: Path) -> None:
        self.prefix, self.pg_ctl, self.data, self.opts, self.log = prefix, pg_ctl, data, opts, log
        self.url = ""

    def start(self) -> None:
        subprocess.run(
            [*self.prefix, self.pg_ctl, "-D", str(self.data), "-o", self.opts, "-l",
             str(self.log), "-w", "start"],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip

    def crash(self) -> None:
        """``pg_ctl stop -m immediate``: every server process quits at once, nothing is
        flushed or checkpointed; the next start replays the write-ahead log."""
        self.stop("immediate")

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            [*self.prefix, self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"],
            capture_output=True,
            timeout=60,
        )


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a PostgreSQL server of its own (skips the test where PostgreSQL is missing)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL (initdb, pg_ctl) is not installed: run scripts/system-deps.sh")
    prefix: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="greentwin-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL as")
        os.chown(root, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    port = free_port()
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}"
    server = PostgresServer(prefix, pg_ctl, data, opts, root / "log")
    server.url = f"postgresql://postgres@127.0.0.1:{port}"
    server.start()
    try:
        _wait_port(port, None, "PostgreSQL")
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server on loopback; yields ``postgresql://postgres@127.0.0.1:PORT``."""
    with running_postgres() as server:
        yield server.url


@pytest.fixture
def pg_database(postgres_server: str) -> Iterator[str]:
    """A fresh database on the test server; yields its URL (dropped afterwards)."""
    import asyncio

    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(postgres_server + "/postgres", timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f"CREATE DATABASE {name}"))
    yield f"{postgres_server}/{name}"
    asyncio.run(run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A Redis server on loopback without persistence; yields ``redis://127.0.0.1:PORT/0``."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed: run scripts/system-deps.sh")
    root = Path(tempfile.mkdtemp(prefix="greentwin-redis-"))
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(root), "--protected-mode", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_port(port, proc, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)
