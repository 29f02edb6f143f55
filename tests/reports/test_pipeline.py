"""The export's reads beside its writing (``reports.pipeline``): on PostgreSQL, threads on
their own connections in one shared read-only snapshot; anywhere else, inline.

The parallel tests commit their data (``transaction=True``): a reader's connection cannot
see into a test's open transaction, which is also why, inside one, the pipeline runs inline.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from personnel.models import Inspector, Region
from reports import figures, xlsx
from reports.pipeline import Pipeline
from tests.factories import InspectorFactory, UserFactory
from tests.reports.conftest import P, Y, all_cells, build_known, open_book

parallel = [pytest.mark.services("db"), pytest.mark.django_db(transaction=True)]


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("export-")]


def _all_closed(reads: Pipeline) -> bool:
    """The readers' connections and the snapshot holder's are all closed."""
    wrappers = [*reads._connections, reads._holder]
    return len(wrappers) > 1 and all(w.connection is None for w in wrappers)


def _cells(path) -> dict:
    book = open_book(path)
    return {(c.parent.title, c.coordinate): c.value for c in all_cells(book)}


# --- inline --------------------------------------------------------------------------------------


def test_inside_a_transaction_the_reads_run_inline_in_order(regions):
    # given: a test's open transaction (and, by default, SQLite)
    InspectorFactory(region=regions["changan"])
    seen = []

    # when
    with Pipeline() as reads:
        first = reads.value("first", lambda: seen.append("first") or Inspector.objects.count())
        rows = reads.rows("rows", lambda: Inspector.objects.values_list("name", flat=True).iterator())
        assert seen == []  # nothing has run yet
        names = list(rows)
        got = first.get()

    # then: on the caller's connection, when asked for, in the order asked
    assert reads.parallel is False
    assert got == 1 and len(names) == 1 and seen == ["first"]
    assert _reader_threads() == []


def test_an_error_inline_is_raised_to_the_writer(regions):
    with Pipeline() as reads, pytest.raises(ZeroDivisionError):
        reads.value("boom", lambda: 1 / 0).get()


# --- in threads, on PostgreSQL ---------------------------------------------------------------------


class TestParallel:
    pytestmark = parallel

    def test_readers_share_one_read_only_snapshot_with_the_export_settings(self, regions):
        # given: two inspectors committed before the export starts
        InspectorFactory(region=regions["changan"])
        InspectorFactory(region=regions["lunan"])

        with Pipeline() as reads:
            assert reads.parallel is True and reads.snapshot
            # when: a third is committed after it started
            InspectorFactory(region=regions["qiaoxi"])
            count = reads.value("count", lambda: Inspector.objects.count())
            names = list(
                reads.rows("names", lambda: Inspector.objects.values_list("id", flat=True).iterator(), chunk=1)
            )

            def session():
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT current_setting('jit'), current_setting('work_mem'),"
                        " current_setting('transaction_read_only'), current_setting('transaction_isolation')"
                    )
                    return cursor.fetchone()

            settings_seen = reads.value("session", session).get()

            # then: every reader sees the export's snapshot, not the later row
            assert count.get() == 2 and len(names) == 2
            assert settings_seen == ("off", "64MB", "on", "repeatable read")
        assert Inspector.objects.count() == 3  # the writer's own connection is not in it

    def test_a_reader_error_reaches_the_writer_and_nothing_is_left_running(self, regions):
        InspectorFactory.create_batch(5, region=regions["changan"])

        def failing_rows():
            yield from Inspector.objects.values_list("id", flat=True).iterator(chunk_size=1)
            raise ValueError("the reader broke")

        with pytest.raises(ValueError, match="the reader broke"), Pipeline() as reads:
            list(reads.rows("rows", failing_rows, chunk=2))
        assert _reader_threads() == []
        assert _all_closed(reads)

    def test_a_reader_that_cannot_start_fails_the_writer_instead_of_hanging_it(self, regions, monkeypatch):
        # given: readers whose session cannot be set up (as when no connection can be had:
        # the server restarting, max_connections reached)
        InspectorFactory.create_batch(3, region=regions["changan"])
        monkeypatch.setattr("reports.pipeline.session_settings", lambda: {"work_mem": "lots"})
        outcome = {}

        def write():
            try:
                with Pipeline() as reads:
                    count = reads.value("count", lambda: Inspector.objects.count())
                    rows = reads.rows("rows", lambda: Inspector.objects.values_list("id", flat=True).iterator())
                    for name, wait in (("value", count.get), ("rows", lambda: list(rows))):
                        try:
                            wait()
                        except Exception as exc:
                            outcome[name] = exc
            finally:
                outcome["left"] = True

        # when: the writer asks for a value and for rows
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(timeout=30)

        # then: both raise the readers' error at once; nothing is left running
        assert not writer.is_alive(), "the writer hangs waiting for a reader that never started"
        assert outcome.get("left") is True
        assert "work_mem" in str(outcome["value"]) and "work_mem" in str(outcome["rows"])
        assert _reader_threads() == []

    def test_a_writer_error_stops_readers_blocked_on_a_full_queue(self, regions):
        # given: more rows than the queue holds, so the reader blocks on it
        InspectorFactory.create_batch(30, region=regions["changan"])

        # when: the writer fails after reading one row
        with pytest.raises(RuntimeError, match="disk full"), Pipeline() as reads:
            rows = reads.rows(
                "rows", lambda: Inspector.objects.values_list("id", flat=True).iterator(chunk_size=1), chunk=1, depth=1
            )
            next(rows)
            raise RuntimeError("disk full")

        # then: the readers stopped, their connections (and the snapshot's) are closed
        assert _reader_threads() == []
        assert _all_closed(reads)

    def test_the_workbook_is_the_same_written_in_parallel_or_inline(self, tmp_path, settings, regions):
        # given: the known years, committed
        builder = UserFactory(username="report_builder", is_staff=True, is_superuser=True)
        build_known(actor=builder, regions=regions)
        scope = figures.Scope(region=Region.objects.get(code="130000"), year=Y)

        # when: the same workbook both ways
        xlsx.yearly_workbook(str(tmp_path / "parallel.xlsx"), scope=scope, actor=builder)
        settings.REPORTS_PARALLEL_READS = False
        xlsx.yearly_workbook(str(tmp_path / "inline.xlsx"), scope=scope, actor=builder)

        # then: cell for cell
        parallel_cells, inline_cells = _cells(tmp_path / "parallel.xlsx"), _cells(tmp_path / "inline.xlsx")
        assert parallel_cells == inline_cells
        assert len(parallel_cells) > 200
        assert any(v == f"{P}年" for v in parallel_cells.values())
        assert _reader_threads() == []
