"""The export's reads, run beside its writing.

A workbook's time is spent in two places that need not wait for each other: PostgreSQL
running the queries, and this process writing cells. On PostgreSQL each read of an export
runs in a thread of its own, on a connection of its own, while the calling thread writes:
row streams go through small bounded queues (memory stays flat), single values (the
aggregates) are handed over when they are ready. Every reader sees the same snapshot
(``pg_export_snapshot``, as ``pg_dump --jobs`` does), so the six sheets agree with each
other even while people enroll during the export, and runs read-only, with JIT off and
a larger ``work_mem`` for its sorts (``REPORTS_DB_SESSION``).

Anywhere else the same calls run inline, in order, on the caller's connection: on SQLite
(the embedded default), and inside a transaction the caller already holds (a test's),
which another connection could not see into.

The calling thread never touches a reader's connection, so it may go on writing progress
to the database in autocommit.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction

T = TypeVar("T")

SNAPSHOT_ID = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")
_DONE = object()


def session_settings() -> dict[str, str]:
    return dict(getattr(settings, "REPORTS_DB_SESSION", {}))


class Pipeline:
    """Readers for one export. Use as a context manager; leaving it stops every reader
    (also on an error in the writer) and closes their connections."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS, *, parallel: bool | None = None):
        self.using = using
        connection = connections[using]
        possible = connection.vendor == "postgresql" and not connection.in_atomic_block
        wanted = getattr(settings, "REPORTS_PARALLEL_READS", True) if parallel is None else parallel
        self.parallel = possible and wanted
        self.stop = threading.Event()
        self.waited = 0.0  # seconds the writer spent waiting for data (inline: reading it)
        self._threads: list[threading.Thread] = []
        self._connections: list = []  # the readers' (Django connection wrappers)
        self._holder = None
        self.snapshot: str | None = None

    # --- lifetime --------------------------------------------------------------------------

    def __enter__(self) -> Pipeline:
        if self.parallel:
            # One more connection holds the snapshot open for as long as readers may import it.
            holder = connections.create_connection(self.using)
            try:
                holder.ensure_connection()
                holder.set_autocommit(False)
                with holder.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    cursor.execute("SELECT pg_export_snapshot()")
                    self.snapshot = cursor.fetchone()[0]
                if not SNAPSHOT_ID.match(self.snapshot):
                    raise RuntimeError(f"unexpected snapshot id {self.snapshot!r}")
            except BaseException:
                holder.close()
                raise
            self._holder = holder
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop.set()
        if exc_type is not None:
            # The writer failed: a reader still inside a long query is told to give up.
            for wrapper in list(self._connections):
                raw = wrapper.connection
                if raw is not None:
                    with contextlib.suppress(Exception):  # finished or closed meanwhile: nothing to cancel
                        raw.cancel()
        for thread in self._threads:
            thread.join()
        if self._holder is not None:
            try:
                self._holder.rollback()
            finally:
                self._holder.close()

    def _start(self, name: str, body: Callable[[], None], fail: Callable[[BaseException], None]) -> None:
        thread = threading.Thread(target=self._reader, args=(body, fail), name=f"export-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _reader(self, body: Callable[[], None], fail: Callable[[BaseException], None]) -> None:
        """Run ``body`` in the snapshot. An error before it starts (no connection to be had: the
        server restarting, ``max_connections`` reached) is handed to the writer through ``fail``:
        otherwise the writer would wait for this reader's data for ever."""
        self._connections.append(connections[self.using])
        started = False
        try:
            with transaction.atomic(using=self.using):
                with connections[self.using].cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    cursor.execute(f"SET TRANSACTION SNAPSHOT '{self.snapshot}'")
                    for name, value in session_settings().items():
                        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
                started = True
                body()
        except BaseException as exc:
            if started:
                raise  # body() hands its own errors over; this one came from leaving the transaction
            fail(exc)
        finally:
            connections[self.using].close()

    def _wait(self, started: float) -> None:
        self.waited += time.perf_counter() - started

    # --- what the writer asks for ----------------------------------------------------------

    def value(self, name: str, compute: Callable[[], T]) -> Result[T]:
        """``compute()`` in a reader (its result is small: figures, not rows)."""
        return self.values(name, compute)[0]

    def values(self, name: str, *computes: Callable[[], object]) -> list[Result]:
        """Each ``compute()`` in turn, in one reader (one connection); each result can be
        had as soon as it is ready."""
        results: list[Result] = [Result(self) for _ in computes]
        if not self.parallel:
            for result, compute in zip(results, computes, strict=True):
                result.compute = compute
            return results

        def fail(exc: BaseException) -> None:
            for rest in results:  # handed to the writer, raised there by get()
                if not rest.ready.is_set():
                    rest.error = exc
                    rest.ready.set()

        def body():
            for result, compute in zip(results, computes, strict=True):
                if self.stop.is_set():
                    fail(RuntimeError("the export stopped"))
                    return
                try:
                    result.value = compute()
                except BaseException as exc:
                    fail(exc)
                    return
                result.ready.set()

        self._start(name, body, fail)
        return results

    def rows(self, name: str, make: Callable[[], Iterable], *, chunk: int = 2000, depth: int = 4) -> Iterator:
        """The rows of ``make()`` (a queryset's iterator), read ahead by at most ``depth``
        chunks of ``chunk`` rows."""
        if not self.parallel:
            return self._inline_rows(make)
        chunks: queue.Queue = queue.Queue(maxsize=depth)

        def put(item) -> bool:
            while not self.stop.is_set():
                try:
                    chunks.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False

        def body():
            try:
                batch = []
                for row in make():
                    batch.append(row)
                    if len(batch) >= chunk:
                        if not put(batch):
                            return
                        batch = []
                if batch and not put(batch):
                    return
                put(_DONE)
            except BaseException as exc:
                put(exc)

        self._start(name, body, put)
        return self._drain(chunks)

    def _inline_rows(self, make: Callable[[], Iterable]) -> Iterator:
        rows = iter(make())
        while True:
            started = time.perf_counter()
            try:
                row = next(rows)
            except StopIteration:
                self._wait(started)
                return
            self._wait(started)
            yield row

    def _drain(self, chunks: queue.Queue) -> Iterator:
        while True:
            started = time.perf_counter()
            item = chunks.get()
            self._wait(started)
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item  # the reader's own exception (and traceback), as inline
            yield from item


class Result(Generic[T]):
    """A value a reader computes; ``get()`` waits for it (inline: computes it then)."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self.ready = threading.Event()
        self.value: T | None = None
        self.error: BaseException | None = None
        self.compute: Callable[[], T] | None = None

    def get(self) -> T:
        started = time.perf_counter()
        try:
            if self.compute is not None:
                self.value, self.compute = self.compute(), None
                self.ready.set()
            self.ready.wait()
        finally:
            self.pipeline._wait(started)
        if self.error is not None:
            raise self.error  # the reader's own exception (and traceback), as inline
        return self.value
