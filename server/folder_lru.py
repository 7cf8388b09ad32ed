"""A bounded cache of sub-folders on disk: the most recently used ``size`` stay, older go.

The vegetation route builds one tileset folder per date bucket, variant and tree state of
a scenario, on request and without an account; :class:`FolderLru` keeps that bounded.
Folders whose names start with ``.`` (builds in progress) are never counted or deleted.
A deleted folder is first renamed out of the way (atomic), so a reader sees either the
whole tileset or none; a client that asked for an evicted tileset asks again and it is
rebuilt.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections import OrderedDict
from pathlib import Path

__all__ = ["FolderLru", "FolderLrus"]

log = logging.getLogger(__name__)


class FolderLru:
    """Least-recently-used eviction of the sub-folders of ``folder``, at most ``size``.

    The order starts from the folders' modification times (oldest first) the first time
    the folder is used, so a restart keeps the bound. Thread-safe; it does disk work, so
    call it off the event loop.
    """

    def __init__(self, folder: Path, size: int) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.folder = folder
        self.size = size
        self._order: OrderedDict[str, None] | None = None
        self._lock = threading.Lock()

    def _load(self) -> OrderedDict[str, None]:
        if self._order is None:
            found: list[tuple[float, str]] = []
            if self.folder.is_dir():
                for entry in os.scandir(self.folder):
                    if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                        found.append((entry.stat(follow_symlinks=False).st_mtime, entry.name))
            self._order = OrderedDict((name, None) for _, name in sorted(found))
        return self._order

    def keys(self) -> list[str]:
        """The folders kept, least recently used first."""
        with self._lock:
            return list(self._load())

    def use(self, name: str) -> list[str]:
        """Mark ``name`` as the most recently used; delete and return what falls out."""
        with self._lock:
            order = self._load()
            order[name] = None
            order.move_to_end(name)
            evicted: list[str] = []
            while len(order) > self.size:
                old, _ = order.popitem(last=False)
                evicted.append(old)
        for old in evicted:
            self._delete(old)
        return evicted

    def _delete(self, name: str) -> None:
        path = self.folder / name
        trash = self.folder / f".evicted-{name}-{threading.get_ident()}"
        try:
            os.replace(path, trash)
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("cannot evict %s: %s", path, exc)
            return
        shutil.rmtree(trash, ignore_errors=True)
        log.info("evicted %s (cache bound %d)", path, self.size)


class FolderLrus:
    """One :class:`FolderLru` per sub-folder of ``root`` (e.g. per scenario), same size."""

    def __init__(self, root: Path, size: int) -> None:
        self.root = root
        self.size = size
        self._lrus: dict[str, FolderLru] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> FolderLru:
        with self._lock:
            lru = self._lrus.get(name)
            if lru is None:
                lru = self._lrus[name] = FolderLru(self.root / name, self.size)
            return lru
