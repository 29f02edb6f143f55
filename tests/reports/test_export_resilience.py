"""Export jobs survive their dependencies (issue 18): the broker down at creation (the job waits
in the outbox and the sweep hands it over once), the database down under a worker (retried,
never marked failed for it), a killed worker (its temporary file swept), and every other way
out of a run removes its temporary file.

Tasks run eagerly (as on the embedded default): an eager retry runs at once. Times are frozen
by passing ``now=``.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest
from celery.exceptions import Retry, SoftTimeLimitExceeded
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown

from reports import services, tasks, xlsx
from reports.models import ExportJob, ExportKind, ExportStatus
from tests.factories import InspectorFactory

pytestmark = pytest.mark.usefixtures("eager_celery")

URL = "/api/v1/exports/"
Y = 2024
BASE_DIR = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(autouse=True)
def _tmp_dir(settings, tmp_path):
    settings.EXPORT_TMP_DIR = str(tmp_path / "export-tmp")
    return Path(settings.EXPORT_TMP_DIR)


@pytest.fixture
def sends(monkeypatch):
    """Every message handed to the broker (each still runs in-process, as eager does)."""
    sent = []
    real = tasks.run_export.apply_async

    def counting(args=None, kwargs=None, **options):
        sent.append(args[0])
        return real(args, kwargs, **options)

    monkeypatch.setattr(tasks.run_export, "apply_async", counting)
    return sent


@pytest.fixture
def broker_down(monkeypatch):
    """The broker refuses every message; ``broker_down.undo()`` brings it back."""
    tries = []

    def refuse(*args, **kwargs):
        tries.append(kwargs)
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_export, "apply_async", refuse)
    monkeypatch.tries = tries
    return monkeypatch


def _queued_job(actor, **fields) -> ExportJob:
    """A saved job whose hand-over never ran (commit callbacks do not run in a test transaction)."""
    job = services.export_job_create(actor=actor, kind=ExportKind.YEARLY_TOTALS, year=Y)
    if fields:
        ExportJob.objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()
    return job


def work(job_id: int) -> tuple[str, list[float]]:
    """Run the task as a worker would: each retry's message is delivered (here at once, its
    countdown recorded) until the task settles. Raises what the last try raised."""
    run, countdowns = tasks.run_export.s(job_id), []
    while True:
        try:
            return run.apply().get(), countdowns
        except Retry as retry:
            countdowns.append(retry.when)
            run = retry.sig


def _lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.EXPORT_STALE_SECONDS)


def _fail_first(monkeypatch, target, name, exc, times=1):
    """``target.name`` raises ``exc`` on its first ``times`` calls, then works; returns the calls."""
    real = getattr(target, name)
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) <= times:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, flaky)
    return calls


# --- the broker down at creation: the outbox -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_broker_down_at_creation_answers_202_and_the_sweep_hands_the_job_over_once(
    regions, city_admin, client_for, broker_down
):
    # given: someone to report on, and a broker that refuses connections
    InspectorFactory(region=regions["changan"], name="张三")

    # when: an export is asked for (the request commits: the hand-over runs)
    response = client_for(city_admin).post(URL, {"kind": "yearly_totals", "year": Y}, format="json")

    # then: 202 with the job's id and where to follow it; the job is saved, not handed over
    assert response.status_code == 202, response.data
    job = ExportJob.objects.get(pk=response.data["id"])
    assert response["Location"] == f"http://testserver{URL}{job.pk}/"
    assert (response.data["status"], job.status, job.sent_at) == ("queued", ExportStatus.QUEUED, None)
    assert len(broker_down.tries) == 1
    assert broker_down.tries[0]["retry"] is False  # tried once, no blocking retries in the request

    # when: the sweep runs while the broker is still down
    late = job.created_at + _lease() + dt.timedelta(seconds=1)
    while_down = services.export_jobs_requeue_stale(now=late)

    # then: nothing sent, the job is still waiting for the next sweep
    job.refresh_from_db()
    assert (while_down, job.status, job.sent_at) == (0, ExportStatus.QUEUED, None)

    # when: the broker is back and the sweep runs every minute
    broker_down.undo()
    sent = []
    real = tasks.run_export.apply_async
    broker_down.setattr(tasks.run_export, "apply_async", lambda args, **kw: sent.append(args[0]) or real(args, **kw))
    counts = [services.export_jobs_requeue_stale(now=late + dt.timedelta(seconds=60 * i)) for i in range(1, 4)]

    # then: handed over exactly once, and it ran to the end
    assert counts == [1, 0, 0] and sent == [job.pk]
    job.refresh_from_db()
    assert (job.status, job.attempts, job.progress) == (ExportStatus.DONE, 1, 100)
    assert job.sent_at == late + dt.timedelta(seconds=60)
    assert client_for(city_admin).get(f"{URL}{job.pk}/download/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_job_handed_over_at_creation_is_not_sent_again_by_the_sweep(regions, city_admin, client_for, sends):
    # given: a job the broker took at creation (and the eager worker finished)
    response = client_for(city_admin).post(URL, {"kind": "roster", "year": Y}, format="json")
    job = ExportJob.objects.get(pk=response.data["id"])
    assert job.status == ExportStatus.DONE and job.sent_at is not None

    # when: sweeps long after
    later = services.export_jobs_requeue_stale(now=job.created_at + 3 * _lease())

    # then
    assert later == 0 and sends == [job.pk]


def test_the_sweep_stops_at_the_first_refused_send_and_gives_the_rest_back(regions, city_admin, broker_down):
    # given: three jobs waiting in the outbox, the broker down
    jobs = [_queued_job(city_admin) for _ in range(3)]
    late = max(j.created_at for j in jobs) + _lease() + dt.timedelta(seconds=1)

    # when
    sent = services.export_jobs_requeue_stale(now=late)

    # then: one try (not one blocking timeout per job), and every job is due at the next sweep
    assert sent == 0 and len(broker_down.tries) == 1
    assert list(ExportJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list("sent_at", flat=True)) == [None] * 3


# --- a pending job is sent once per lease ---------------------------------------------------------------


def test_a_pending_job_is_not_sent_twice_by_two_sweeps(regions, city_admin, monkeypatch):
    # given: a job waiting on a slow queue, and a running job whose worker went silent
    sent = []
    monkeypatch.setattr(services, "dispatch", sent.append)  # recorded, not run: they stay pending
    queued = _queued_job(city_admin)
    t0 = queued.created_at + _lease() + dt.timedelta(seconds=1)
    silent = _queued_job(
        city_admin, status=ExportStatus.RUNNING, attempts=1, heartbeat_at=t0 - _lease() - dt.timedelta(seconds=1)
    )

    # when: two sweeps a second apart, then one a lease after the first
    first = services.export_jobs_requeue_stale(now=t0)
    second = services.export_jobs_requeue_stale(now=t0 + dt.timedelta(seconds=1))
    after_lease = services.export_jobs_requeue_stale(now=t0 + _lease() + dt.timedelta(seconds=1))

    # then: each sent once by the first, not by the second; again only once the lease is over
    assert (first, second, after_lease) == (2, 0, 2)
    assert sorted(sent) == sorted([queued.pk, silent.pk] * 2)
    assert ExportJob.objects.get(pk=queued.pk).sent_at == t0 + _lease() + dt.timedelta(seconds=1)


@pytest.mark.services("db")
@pytest.mark.django_db(transaction=True)
def test_a_sweep_beside_another_skips_the_job_the_other_is_claiming(regions, city_admin, monkeypatch):
    import threading

    from django.db import connection, transaction

    # given: a job due to be sent, and another sweep in the middle of claiming it (row locked)
    sent = []
    monkeypatch.setattr(services, "dispatch", sent.append)
    job = _queued_job(city_admin, sent_at=None)  # (its creation's hand-over committed, and is undone)
    sent.clear()
    later = job.created_at + _lease() + dt.timedelta(seconds=1)
    locked, release = threading.Event(), threading.Event()

    def other_sweep():
        try:
            with transaction.atomic():
                ExportJob.objects.select_for_update().get(pk=job.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    other = threading.Thread(target=other_sweep)
    other.start()
    assert locked.wait(10)

    # when: this sweep runs meanwhile
    try:
        count = services.export_jobs_requeue_stale(now=later)
    finally:
        release.set()
        other.join(10)

    # then: it neither waited for the lock nor sent the job
    assert count == 0 and sent == []
    assert ExportJob.objects.get(pk=job.pk).sent_at is None


def test_a_running_job_with_a_live_worker_is_not_sent(regions, city_admin, monkeypatch):
    sent = []
    monkeypatch.setattr(services, "dispatch", sent.append)
    now = timezone.now()
    _queued_job(city_admin, status=ExportStatus.RUNNING, attempts=1, heartbeat_at=now, sent_at=None)

    assert services.export_jobs_requeue_stale(now=now + dt.timedelta(seconds=1)) == 0
    assert sent == []


# --- the database down under a worker -----------------------------------------------------------------


def test_a_database_error_in_the_run_is_retried_not_marked_failed(regions, city_admin, monkeypatch):
    # given: a job, and a database that drops the connection once while the workbook is written
    job = _queued_job(city_admin)
    calls = _fail_first(
        monkeypatch, xlsx, "yearly_workbook", OperationalError("server closed the connection unexpectedly")
    )

    # when: the worker runs it
    result, countdowns = work(job.pk)

    # then: the interrupted run was retried after a backoff and finished
    assert result == "done"
    assert len(calls) == 2 and len(countdowns) == 1 and 0.5 <= countdowns[0] <= 1
    job.refresh_from_db()
    assert (job.status, job.error, job.attempts, job.progress) == (ExportStatus.DONE, "", 2, 100)


def test_in_process_the_retry_runs_in_the_call_a_little_later(regions, city_admin, monkeypatch):
    # given: the embedded default (eager: no worker, no beat) and a database that drops once
    job = _queued_job(city_admin)
    calls = _fail_first(monkeypatch, xlsx, "yearly_workbook", OperationalError("database is locked"))
    slept = []
    monkeypatch.setattr(services.time, "sleep", slept.append)

    # when: the job is handed over (as on the creating request's commit)
    assert services.hand_over(job.pk) is True

    # then: retried there after its backoff, finished
    assert len(calls) == 2 and len(slept) == 1 and 0.5 <= slept[0] <= 1
    job.refresh_from_db()
    assert (job.status, job.error, job.attempts) == (ExportStatus.DONE, "", 2)


def test_a_database_down_at_the_claim_is_retried(regions, city_admin, monkeypatch):
    job = _queued_job(city_admin)
    calls = _fail_first(monkeypatch, services, "_claim", OperationalError("connection refused"), times=2)

    result, countdowns = work(job.pk)
    assert result == "done"
    assert len(calls) == 3 and 1 <= countdowns[1] <= 2
    job.refresh_from_db()
    assert (job.status, job.attempts) == (ExportStatus.DONE, 1)


def test_a_database_down_past_the_retries_leaves_the_job_for_the_sweep(regions, city_admin, monkeypatch):
    # given: a database that keeps failing under the run
    job = _queued_job(city_admin)
    monkeypatch.setattr(xlsx, "yearly_workbook", _raise(OperationalError("the database system is starting up")))

    # when: the last retry fails too
    with pytest.raises(OperationalError):
        work(job.pk)[0]

    # then: not failed; given back as queued (its retry counted as its send), for the sweep
    job.refresh_from_db()
    assert job.status == ExportStatus.QUEUED and job.error == ""
    assert job.attempts == tasks.EAGER_RETRIES + 1
    assert services.export_jobs_requeue_stale(now=job.sent_at + dt.timedelta(seconds=1)) == 0


def test_a_failure_the_database_would_not_take_is_written_by_the_retry(regions, city_admin, monkeypatch):
    # given: a run that fails on its own (disk full), and a database that refuses that write once
    job = _queued_job(city_admin)
    built = []
    monkeypatch.setattr(xlsx, "yearly_workbook", _raise(RuntimeError("disk full"), built))
    writes = _fail_first(monkeypatch, services, "export_job_fail", OperationalError("connection lost"))

    # when
    result, _ = work(job.pk)

    # then: the retry wrote the failure, without building the file again
    assert result == "failed"
    assert len(built) == 1 and len(writes) == 2
    job.refresh_from_db()
    assert (job.status, job.error, job.attempts) == (ExportStatus.FAILED, "RuntimeError: disk full", 1)
    assert job.finished_at is not None


def test_a_statement_timeout_is_the_jobs_failure_not_retried(regions, city_admin, monkeypatch):
    class QueryCanceled(Exception):  # psycopg's, by name
        pass

    def cancelled(*args, **kwargs):
        raise OperationalError("canceling statement due to statement timeout") from QueryCanceled()

    job = _queued_job(city_admin)
    monkeypatch.setattr(xlsx, "yearly_workbook", cancelled)

    assert work(job.pk)[0] == "failed"
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and "statement timeout" in job.error and job.attempts == 1


def test_a_job_that_never_finishes_is_given_up_after_the_attempts_limit(regions, city_admin):
    # given: a job killed mid-run as often as the limit allows
    job = _queued_job(city_admin, status=ExportStatus.RUNNING, attempts=5, heartbeat_at=None)

    # when: its message comes again
    assert work(job.pk)[0] == "skipped"

    # then: failed, saying why, and the sweep leaves it alone
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and "5" in job.error
    assert services.export_jobs_requeue_stale(now=timezone.now() + 2 * _lease()) == 0


def test_backoff_doubles_up_to_five_minutes_with_jitter():
    assert 0.5 <= tasks.backoff(0) <= 1
    assert 8 <= tasks.backoff(4) <= 16
    assert all(150 <= tasks.backoff(n) <= 300 for n in (9, 12, 30))


# --- temporary files --------------------------------------------------------------------------------


def _raise(exc, seen=None):
    def write_then_raise(path, **kwargs):
        if seen is not None:
            seen.append(path)
        Path(path).write_bytes(b"half a workbook")
        raise exc

    return write_then_raise


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (RuntimeError("disk full"), ExportStatus.FAILED),
        (SoftTimeLimitExceeded(), ExportStatus.FAILED),
        (OperationalError("server closed the connection unexpectedly"), ExportStatus.QUEUED),
    ],
    ids=["exception", "soft-time-limit", "database-retry"],
)
def test_the_temporary_file_is_removed_on_every_way_out(regions, city_admin, monkeypatch, _tmp_dir, exc, status):
    # given: a run that writes part of its file, then stops
    job = _queued_job(city_admin)
    paths = []
    monkeypatch.setattr(xlsx, "yearly_workbook", _raise(exc, paths))

    # when
    with pytest.raises(Exception) if status == ExportStatus.QUEUED else _nothing():
        work(job.pk)[0]

    # then: the file was in the export folder, and is gone
    assert paths and all(Path(p).parent == _tmp_dir for p in paths)
    assert all(Path(p).name.startswith(f"export-{job.pk}-") for p in paths)
    assert list(_tmp_dir.iterdir()) == []
    job.refresh_from_db()
    assert job.status == status


def test_a_soft_time_limit_says_so_on_the_job(regions, city_admin, monkeypatch):
    job = _queued_job(city_admin)
    monkeypatch.setattr(xlsx, "yearly_workbook", _raise(SoftTimeLimitExceeded()))

    work(job.pk)[0]

    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED
    assert str(settings.CELERY_TASK_SOFT_TIME_LIMIT) in job.error and "时间限制" in job.error


def test_a_finished_run_leaves_no_temporary_file(regions, city_admin, _tmp_dir):
    job = _queued_job(city_admin)
    assert work(job.pk)[0] == "done"
    assert list(_tmp_dir.iterdir()) == []


def test_the_housekeeping_sweep_removes_only_old_export_leftovers(db, settings, _tmp_dir):
    # given: what killed runs left hours ago, a running export's file, and someone else's file
    settings.EXPORT_TMP_MAX_AGE_HOURS = 6
    _tmp_dir.mkdir(parents=True)
    old = time.time() - 7 * 3600
    left = _tmp_dir / "export-12-abc.xlsx"
    running = _tmp_dir / "export-13-def.xlsx"
    other = _tmp_dir / "notes.txt"
    for path in (left, running, other):
        path.write_bytes(b"x")
    os.utime(left, (old, old))
    os.utime(other, (old, old))

    # when: the housekeeping task runs
    tasks.requeue_stale_exports.apply().get()

    # then
    assert sorted(p.name for p in _tmp_dir.iterdir()) == ["export-13-def.xlsx", "notes.txt"]


def test_the_sweep_never_takes_a_file_younger_than_the_hard_time_limit(settings, _tmp_dir):
    settings.EXPORT_TMP_MAX_AGE_HOURS = 0
    _tmp_dir.mkdir(parents=True)
    young = _tmp_dir / "export-1-a.csv"
    young.write_bytes(b"x")
    almost = time.time() - settings.CELERY_TASK_TIME_LIMIT
    os.utime(young, (almost, almost))

    assert services.export_tmp_sweep() == 0
    assert services.export_tmp_sweep(now=time.time() + 601) == 1


# --- queues -------------------------------------------------------------------------------------------


def test_the_sweeps_run_on_the_housekeeping_queue_and_make_worker_consumes_it():
    from config.celery import app

    router = app.amqp.router
    for name in ("reports.tasks.requeue_stale_exports", "reports.tasks.purge_old_exports"):
        assert router.route({}, name, (), {})["queue"].name == "housekeeping"
    assert router.route({"queue": settings.EXPORT_QUEUE}, "reports.tasks.run_export", (), {})["queue"].name == (
        settings.EXPORT_QUEUE
    )
    worker = next(line for line in (BASE_DIR / "Makefile").read_text().splitlines() if "worker -l info" in line)
    assert "-Q celery,housekeeping" in worker


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --- a real worker through the broker -----------------------------------------------------------------


@pytest.mark.services("db", "broker")
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_without_its_database_retries_and_the_job_finishes_once_it_is_back(settings, tmp_path):
    from config.celery import app
    from personnel.models import RegionLevel
    from tests.factories import RegionAdminFactory, RegionFactory
    from tests.reports.test_worker_death import _kill, _wait, _worker

    # given: a little data, an admin, a queue of our own, messages really sent through the broker
    app.conf.task_always_eager = False
    province = RegionFactory(code="130000", name="河北省", level=RegionLevel.PROVINCE)
    InspectorFactory.create_batch(3, region=province)
    admin = RegionAdminFactory(user__username="prov", region=province).user
    queue = f"test-export-retry-{os.getpid()}-{int(time.time())}"
    settings.EXPORT_QUEUE = queue
    settings.MEDIA_ROOT = str(tmp_path / "media")
    log_path = tmp_path / "workers.log"
    media = {"DJANGO_MEDIA_ROOT": settings.MEDIA_ROOT, "EXPORT_QUEUE": queue}

    # and a worker whose database refuses connections (a PostgreSQL restart, seen from the worker)
    cut_off = _worker(
        queue, f"cut-off-{queue}", log_path, DATABASE_URL="postgresql://postgres@127.0.0.1:1/gone", **media
    )
    second = None
    try:
        job = services.export_job_create(actor=admin, kind=ExportKind.ROSTER, year=Y)
        job.refresh_from_db()
        assert job.sent_at is not None  # handed over on commit

        # when: it takes the message, twice fails to reach the database
        _wait(lambda: log_path.read_text(errors="replace").count("retry: Retry in") >= 2, 60, "two retries", log_path)

        # then: the job is not failed; it waits, untouched
        job.refresh_from_db()
        assert (job.status, job.error, job.attempts) == (ExportStatus.QUEUED, "", 0)

        # when: that worker stops (its pending retry goes back to the queue) and one with the
        # database comes up
        cut_off.terminate()
        cut_off.wait(timeout=30)
        second = _worker(queue, f"second-{queue}", log_path, **media)

        # then: the retried message finishes the job, in one attempt
        done = _wait(
            lambda: ExportJob.objects.filter(pk=job.pk, status=ExportStatus.DONE).first(), 90, "the job", log_path
        )
        assert (done.attempts, done.error, done.progress) == (1, "", 100)
        assert "OperationalError" in log_path.read_text(errors="replace")
    finally:
        _kill(cut_off)
        if second is not None:
            _kill(second)
