"""Where compute jobs run: this process, a local process pool, or a Dask cluster.

Long jobs (the converter's byte ranges and tiles, and blocks of map computations) are
written as plain module-level functions whose arguments and results pickle. They are
handed to a :class:`JobExecutor`, which hides where they run:

* ``jobs=1`` and no scheduler: in this process, one after the other (:class:`Inline`);
* ``jobs>1``: a local process pool (:class:`LocalPool`), the default for ``jobs > 1``;
* a Dask scheduler address (``tcp://host:8786``): the workers of that cluster
  (:class:`DaskExecutor`); ``dask.distributed`` is imported only then.

Every executor returns :class:`concurrent.futures.Future` objects, so callers keep one
code path. Results do not depend on the executor: a job writes what it writes, wherever
it runs. Jobs that read or write files need those paths to be the same on every
worker (a shared filesystem), see docs/deploy.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, Protocol, TypeVar, runtime_checkable

from greentwin.core.errors import GreentwinError

__all__ = [
    "DaskExecutor",
    "ExecutorError",
    "Inline",
    "JobExecutor",
    "LocalPool",
    "open_executor",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


class ExecutorError(GreentwinError):
    """The compute cluster cannot be used (Dask missing, scheduler unreachable)."""


@runtime_checkable
class JobExecutor(Protocol):
    """Runs picklable module-level functions somewhere and hands back futures.

    Attributes
    ----------
    workers : how many jobs run at once (for sizing work and bounding what is in flight).
    shares_process : the jobs run in processes forked from this one (or in it), so they
        inherit what this process has loaded and configured; False on a cluster.
    """

    @property
    def workers(self) -> int: ...

    @property
    def shares_process(self) -> bool: ...

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """Start ``fn(*args)``; its result or exception comes through the future."""
        ...

    def close(self) -> None:
        """Cancel what has not started, wait for what runs, release the workers."""
        ...


class Inline:
    """Runs each job at once, in this process (``jobs=1``)."""

    workers = 1
    shares_process = True

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """Run ``fn(*args)`` now; the future is already done."""
        fut: Future[T] = Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:  # handed to the caller through result()
            fut.set_exception(exc)
        return fut

    def close(self) -> None:
        """Nothing to release."""


class LocalPool:
    """A local process pool of ``jobs`` workers (the default for ``jobs > 1``).

    Parameters
    ----------
    jobs : worker processes.
    initializer : run once in each worker when it starts (e.g. ``gc.freeze``).
    """

    shares_process = True

    def __init__(self, jobs: int, initializer: Callable[[], object] | None = None) -> None:
        self.workers = jobs
        self._pool: Executor = ProcessPoolExecutor(jobs, initializer=initializer)

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """Queue ``fn(*args)`` for the pool."""
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        """Cancel queued jobs, wait for running ones, stop the workers."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Jobs as tasks on a Dask distributed cluster.

    Parameters
    ----------
    scheduler : the scheduler's address (``tcp://host:8786``), or a
        ``distributed.Client`` already connected (then it is not closed here).
    timeout : seconds to wait for the scheduler when connecting.

    Raises
    ------
    ExecutorError
        ``dask[distributed]`` is not installed, the scheduler cannot be reached or has
        no workers.

    Notes
    -----
    Tasks are submitted with ``pure=False`` (each call runs, even with equal arguments).
    ``workers`` is the number of worker threads the scheduler reports when connecting;
    workers that join later take tasks but do not widen the work in flight.
    """

    shares_process = False

    def __init__(self, scheduler: Any, timeout: float = 30.0) -> None:
        try:
            import distributed
        except ImportError as exc:
            raise ExecutorError(
                "a Dask scheduler was given but dask.distributed is not installed; "
                "install it with: pip install 'greentwin[dask]'"
            ) from exc
        self._client: Any  # distributed.Client (partly untyped)
        client_type: Any = distributed.Client
        if isinstance(scheduler, client_type):
            self._client = scheduler
            self._owned = False
        else:
            try:
                self._client = client_type(scheduler, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ExecutorError(
                    f"cannot reach the Dask scheduler {scheduler}: {exc}; start it with "
                    "`dask scheduler` and workers with `dask worker ADDRESS`"
                ) from exc
            self._owned = True
        threads = self._client.nthreads()
        if not threads:
            self.close()
            raise ExecutorError(f"the Dask scheduler {scheduler} has no workers")
        self.workers = int(sum(threads.values()))
        self._executor = self._client.get_executor(pure=False)
        log.info(
            "Dask scheduler %s: %d workers, %d threads",
            self._client.scheduler.address,
            len(threads),
            self.workers,
        )

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """Send ``fn(*args)`` to the cluster."""
        fut: Future[T] = self._executor.submit(fn, *args)
        return fut

    def close(self) -> None:
        """Cancel this client's unfinished tasks; disconnect (the cluster keeps running)."""
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=True)
        if self._owned:
            self._client.close()


def open_executor(
    jobs: int = 1,
    scheduler: str | None = None,
    *,
    initializer: Callable[[], object] | None = None,
) -> JobExecutor:
    """The executor for ``jobs`` local workers, or for a Dask ``scheduler`` when given.

    Parameters
    ----------
    jobs : local worker processes (1: in this process); ignored with a scheduler.
    scheduler : a Dask scheduler address (``tcp://host:8786``); empty or None: local.
    initializer : run in each local worker process as it starts.

    Raises
    ------
    ExecutorError
        See :class:`DaskExecutor`.
    """
    if scheduler:
        return DaskExecutor(scheduler)
    if jobs > 1:
        return LocalPool(jobs, initializer)
    return Inline()
