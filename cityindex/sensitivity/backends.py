"""Where the Monte-Carlo chunks run: threads of this process, or a Dask cluster.

The Monte Carlo is a sequence of chunks of scenario blocks; a chunk's scenarios depend only on
the seed and the block indices (:mod:`cityindex.streams`), and its statistics are integer
counts, which add exactly. So any number of workers, on one machine or many, gives the same
counts and the same output bytes.

``local`` (the default): ``workers`` threads; numpy releases the GIL in the matrix products,
sorts and ufuncs. Each thread folds its chunks into its own accumulator (so memory is
``workers`` accumulators, not one per chunk in flight, which matters for large indices); the
threads' accumulators are added at the end. Chunks are submitted lazily, at most
``2 x workers`` ahead of the oldest unfinished one, and finished in block order (progress,
cancellation on interrupt).

``dask``: the chunks are tasks on a ``dask.distributed`` cluster (``pip install
cityindex[dask]``). The chunk function is scattered to the workers once; at most
``2 x threads`` tasks are in flight, and their accumulators are merged in block order as they
arrive. ``scheduler`` is the address of a running scheduler (``tcp://host:8786``); without
one, a client already open in this process is used, else a ``LocalCluster`` of ``workers``
single-threaded processes is started for the run and closed after it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from threadpoolctl import threadpool_limits

from cityindex.errors import BackendError

BACKENDS = ("local", "dask")
# Seconds to wait for a Dask scheduler to answer, and then for its first worker: a closed
# port or an unroutable address ends with a BackendError naming it, never a hang.
CONNECT_TIMEOUT = 10


@dataclass(frozen=True)
class Backend:
    """Where to run: ``kind`` "local" (threads) or "dask"; ``scheduler`` a Dask scheduler
    address (dask only; None: this process's client or a LocalCluster)."""

    kind: str = "local"
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in BACKENDS:
            raise ValueError(f"backend must be one of {list(BACKENDS)}; got {self.kind!r}")
        if self.scheduler is not None and not isinstance(self.scheduler, str):
            raise ValueError(f"scheduler must be an address string; got {self.scheduler!r}")
        if self.scheduler is not None and self.kind != "dask":
            raise ValueError("a scheduler address needs backend 'dask'")

    @classmethod
    def of(cls, value: Backend | str | None, scheduler: str | None = None) -> Backend:
        """A Backend from a Backend, a kind name or None (local; dask when a scheduler is
        given)."""
        if isinstance(value, Backend):
            return value if scheduler is None else cls(value.kind, scheduler)
        if value is None:
            return cls("dask" if scheduler else "local", scheduler)
        return cls(value, scheduler)

    def check(self) -> None:
        """Raise :class:`BackendError` now (before any analysis) when a dask backend cannot
        run here: dask.distributed is not installed."""
        if self.kind == "dask":
            _import_distributed(self)


def _where(backend: Backend) -> str:
    return (f"backend 'dask' (scheduler {backend.scheduler})" if backend.scheduler
            else "backend 'dask'")


def _import_distributed(backend: Backend):
    try:
        import dask.distributed as dd
    except ImportError as exc:
        raise BackendError(_where(backend), f"dask.distributed cannot be imported ({exc})",
                           "pip install 'cityindex[dask]', or backend = \"local\" "
                           "(no --scheduler)") from None
    return dd


Work = Callable[[int, Any], tuple]   # work(start, accumulator or None) -> (acc, *extras)


CHUNK_BLOCKS = 8   # sampler blocks per task, at most


def default_chunk_blocks(n_blocks: int, workers: int,
                         backend: Backend | str | None = None) -> int:
    """Blocks per task when the caller gives none: CHUNK_BLOCKS, fewer when that would
    leave a local worker idle (at least two tasks per worker thread: 10^4 scenarios of a
    large index are five blocks, which in one task ran on one core). Local workers keep one
    accumulator each, so smaller tasks cost no memory; Dask tasks each return one, so they
    keep CHUNK_BLOCKS. Results do not depend on the chunking."""
    if Backend.of(backend).kind == "dask":
        return CHUNK_BLOCKS
    return max(1, min(CHUNK_BLOCKS, n_blocks // (2 * max(1, workers))))


def run_chunks(work: Work, new: Callable[[], Any], starts: Iterable[int],
               done: Callable[..., None], workers: int = 2,
               backend: Backend | str | None = None) -> Any:
    """Run ``work(start, acc)`` for every chunk start and return the merged accumulator.

    ``work`` folds the chunk into ``acc`` (a new one from ``new()`` when None) and returns
    ``(acc, *extras)``; ``done(*extras)`` is called for every chunk in block order;
    accumulators merge with ``a.merge(b)``."""
    backend = Backend.of(backend)
    if backend.kind == "dask":
        return _run_dask(work, new, starts, done, workers, backend)
    return _run_local(work, new, starts, done, workers)


def _run_local(work: Work, new: Callable[[], Any], starts: Iterable[int],
               done: Callable[..., None], workers: int) -> Any:
    local = threading.local()
    accumulators: list = []
    lock = threading.Lock()

    def task(start: int) -> tuple:
        acc = getattr(local, "acc", None)
        if acc is None:
            acc = local.acc = new()
            with lock:
                accumulators.append(acc)
        return work(start, acc)[1:]

    window = 2 * max(1, workers)
    pending: deque[Future] = deque()
    # One BLAS thread per worker: BLAS's own threads would fight the worker threads.
    with threadpool_limits(1), ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        try:
            for start in starts:
                pending.append(pool.submit(task, start))
                if len(pending) >= window:
                    done(*pending.popleft().result())
            while pending:
                done(*pending.popleft().result())
        except BaseException:  # interrupted or failed: drop queued tasks, don't run them
            for future in pending:
                future.cancel()
            raise
    if not accumulators:
        return new()
    total = accumulators[0]
    for acc in accumulators[1:]:  # integer counts: the order of the sum does not matter
        total.merge(acc)
    return total


def _call(work: Work, start: int) -> tuple:
    """One chunk on a Dask worker, in a fresh accumulator, BLAS single-threaded."""
    with threadpool_limits(1):
        return work(start, None)


def _unreachable(backend: Backend, exc: BaseException) -> BackendError:
    text = str(exc).strip().splitlines()
    detail = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    timed_out = isinstance(exc, TimeoutError) or "timed out" in detail.lower()
    found = (f"no answer from the scheduler at {backend.scheduler} after {CONNECT_TIMEOUT} s "
             f"of waiting to connect ({detail})" if timed_out else
             f"could not connect to a Dask scheduler at {backend.scheduler} ({detail})")
    return BackendError(_where(backend), found, "a running Dask scheduler at that address "
                        "(dask-scheduler), reachable from here")


def _probe_scheduler(backend: Backend) -> None:
    """Connect to the scheduler once (the comm handshake, no Client) within
    ``CONNECT_TIMEOUT`` seconds, in a thread of its own (its own event loop, so that it also
    works where one is running, as in Jupyter); raise :class:`BackendError` if that fails."""
    import asyncio

    from distributed.comm import connect

    failure: list[BaseException] = []

    async def probe() -> None:
        comm = await connect(backend.scheduler, timeout=CONNECT_TIMEOUT)
        await comm.close()

    def run() -> None:
        try:
            asyncio.run(asyncio.wait_for(probe(), CONNECT_TIMEOUT + 1))
        except BaseException as exc:  # reported below, in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="cityindex-dask-probe", daemon=True)
    thread.start()
    thread.join(CONNECT_TIMEOUT + 2)
    if thread.is_alive():
        failure.append(TimeoutError(f"timed out after {CONNECT_TIMEOUT} s"))
    if failure:
        raise _unreachable(backend, failure[0])


def dask_client(backend: Backend, workers: int = 2):
    """(client, cluster to close or None) for a dask backend. A scheduler that does not
    answer within ``CONNECT_TIMEOUT`` seconds raises :class:`BackendError` naming it."""
    dd = _import_distributed(backend)
    Client, LocalCluster, default_client = dd.Client, dd.LocalCluster, dd.default_client
    if backend.scheduler:
        _probe_scheduler(backend)  # before a Client exists: a failed one hangs in __del__
        try:
            client = Client(backend.scheduler, set_as_default=False, timeout=CONNECT_TIMEOUT)
        except Exception as exc:  # the probe passed, the registration failed
            raise _unreachable(backend, exc) from None
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            client.close()
            raise BackendError(_where(backend), f"the scheduler at {backend.scheduler} has "
                               f"no worker after {CONNECT_TIMEOUT} s of waiting for one "
                               f"({type(exc).__name__})",
                               "a scheduler with at least one worker (dask-worker "
                               f"{backend.scheduler})") from None
        return client, None
    try:
        return default_client(), None
    except ValueError:
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1,
                               processes=True, dashboard_address=None)
        return Client(cluster, set_as_default=False), cluster


def _run_dask(work: Work, new: Callable[[], Any], starts: Iterable[int],
              done: Callable[..., None], workers: int, backend: Backend) -> Any:
    client, cluster = dask_client(backend, workers)
    own_client = cluster is not None or backend.scheduler is not None
    total = new()
    pending: deque = deque()
    try:
        threads = sum(client.nthreads().values()) or 1
        window = 2 * threads
        fn = client.scatter(work, broadcast=True, hash=False)

        def finish() -> None:
            acc, *extras = pending.popleft().result()
            total.merge(acc)
            done(*extras)

        try:
            for start in starts:
                pending.append(client.submit(_call, fn, start, pure=False))
                if len(pending) >= window:
                    finish()
            while pending:
                finish()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    finally:
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()
    return total
