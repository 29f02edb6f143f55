"""Export jobs: create, run (idempotent, resumable by another worker), requeue, purge.

What survives what:
- the broker down at creation: the job is saved and the request answers 202; the hand-over
  (after commit, no blocking retry) fails and the job stays in the outbox (``sent_at`` empty)
  until the housekeeping sweep sends it;
- the database down under a worker: the task retries later (``Interrupted`` and the
  connection errors), the job is never marked failed for it; a failure the worker could not
  write is written by the retry;
- a killed worker: its job stops reporting and the sweep sends it again; its temporary file
  is removed by the sweep of orphans (every other exit removes its own).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal

from celery.exceptions import Retry, SoftTimeLimitExceeded
from django.conf import settings
from django.core.files import File
from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import AccessDenied, ValidationFailed
from personnel import access
from personnel.models import Region
from personnel.selectors import actor_manages_region
from training.evaluations import COUNT_KEYS

from . import detail_csv, figures, xlsx
from .models import ExportJob, ExportKind, ExportStatus, OverviewRegionFigures, OverviewSnapshot

log = logging.getLogger(__name__)
BUSY = "busy"
# Jobs one sweep sends at most (the rest wait for the next minute's).
REQUEUE_BATCH = 200
TMP_PREFIX = "export-"


class Interrupted(Exception):
    """The database went away under a claimed job: not the job's failure, try again later.
    ``attempt`` is the claim the run held (its retry takes the job back at once); ``failure``,
    when not empty, is the job's own failure that could not be written (the retry writes it)."""

    def __init__(self, job_id: int, attempt: int, failure: str = ""):
        super().__init__(job_id, attempt, failure)  # the args rebuild it (pickled, serialized)
        self.job_id, self.attempt, self.failure = job_id, attempt, failure


def is_transient(exc: BaseException) -> bool:
    """A lost or refused database connection (a restart, the network, a locked SQLite file),
    worth trying again; a statement cancelled by its timeout is the job's own failure."""
    if isinstance(exc, Interrupted):
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    return type(exc.__cause__).__name__ != "QueryCanceled"


def default_region_for(*, actor) -> Region:
    """The region an admin reports on by default: their own, or the province."""
    scope = access.scope_for(actor)
    if scope.region_id:
        return Region.objects.get(pk=scope.region_id)
    if scope.kind == access.ALL:
        return Region.objects.filter(parent__isnull=True).order_by("code").first()
    raise AccessDenied(_("只有管理员可以导出统计报表。"))


def export_scope(*, actor, year, region_code: str | None = None) -> figures.Scope:
    """Validate what an admin asked for: a year, and a region inside their scope."""
    scope = access.scope_for(actor)
    if not scope.is_admin:
        raise AccessDenied(_("只有管理员可以导出统计报表。"))
    this_year = timezone.localdate().year
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ValidationFailed(_("年度必须是数字。"), fields={"year": [_("年度必须是数字。")]}) from None
    if not 2000 <= year <= this_year + 1:
        raise ValidationFailed(
            _("年度应在 2000 至 %(y)d 之间。") % {"y": this_year + 1}, fields={"year": [_("年度超出范围。")]}
        )
    if region_code:
        # (a NUL is in no code, and PostgreSQL would refuse it in the query: a 500)
        region = Region.objects.filter(code=region_code).first() if "\x00" not in region_code else None
        if region is None or not actor_manages_region(actor=actor, region=region):
            # Same answer for "no such region" and "not yours": nothing is revealed.
            raise ValidationFailed(
                _("地区 %(c)s 不存在或不在您的管辖范围内。") % {"c": region_code},
                fields={"region": [_("地区不存在或超出管辖范围。")]},
            )
    else:
        region = default_region_for(actor=actor)
    return figures.Scope(region=region, year=year)


@transaction.atomic
def export_job_create(
    *, actor, kind: str, year, region_code: str | None = None, include_detail: bool = True
) -> ExportJob:
    """Queue an export; the worker starts it once this transaction commits."""
    if kind not in ExportKind.values:
        raise ValidationFailed(_("未知的导出类型。"), fields={"kind": [_("未知的导出类型。")]})
    scope = export_scope(actor=actor, year=year, region_code=region_code)
    job = ExportJob.objects.create(
        kind=kind,
        params={"year": scope.year, "region": scope.region.code, "include_detail": bool(include_detail)},
        region=scope.region,
        requested_by=actor,
    )
    transaction.on_commit(lambda: hand_over(job.pk), robust=True)
    return job


def dispatch(job_id: int) -> None:
    """Publish a job's message to the export queue (the worker, or in-process when eager),
    without the publisher's blocking retries: raises at once when the broker cannot take it."""
    from .tasks import run_export

    try:
        run_export.apply_async((job_id,), queue=settings.EXPORT_QUEUE, retry=False)
    except Retry as retry:
        _retry_in_process(retry)


def _retry_in_process(retry: Retry) -> None:
    """In-process (eager) Celery hands a task's retry back to the caller instead of running
    it: run it here, its countdown capped at two seconds (this is a web request). The task
    allows few retries in-process; past them it raises the database error."""
    while True:
        time.sleep(min(float(retry.when or 0), 2))
        try:
            retry.sig.apply()
            return
        except Retry as again:
            retry = again


def hand_over(job_id: int) -> bool:
    """A new job to the broker, once its transaction has committed; ``sent_at`` records it.
    Never raises: a job the broker did not take stays in the outbox (``sent_at`` empty) and the
    sweep (``export_jobs_requeue_stale``) sends it, so the request still answers 202."""
    try:
        dispatch(job_id)
    except Exception as exc:
        # (the broker refused it; in-process, the run itself failed past its retries)
        log.warning("export job %s not handed over (%s: %s); the sweep sends it", job_id, type(exc).__name__, exc)
        return False
    try:
        ExportJob.objects.filter(pk=job_id, sent_at__isnull=True).update(sent_at=timezone.now())
    except DatabaseError:  # sent all the same; at worst the sweep sends it once more
        log.warning("export job %s handed over, but its send time was not recorded", job_id)
    return True


def _claim(job_id: int, *, held_attempt: int | None = None) -> ExportJob | str | None:
    """Take the job for this worker. None: nothing to do (done, failed or gone). BUSY: another
    worker is on it and alive. A job whose worker stopped reporting is taken over, and so is
    one held by ``held_attempt`` (this task's own run, interrupted by the database)."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).select_related("region", "requested_by").first()
        if job is None or job.status in (ExportStatus.DONE, ExportStatus.FAILED):
            return None
        now = timezone.now()
        stale = now - dt.timedelta(seconds=settings.EXPORT_STALE_SECONDS)
        alive = job.heartbeat_at and job.heartbeat_at > stale
        if job.status == ExportStatus.RUNNING and alive and job.attempts != held_attempt:
            return BUSY
        limit = getattr(settings, "EXPORT_MAX_ATTEMPTS", 5)
        if job.attempts >= limit:
            # Killed (memory, time limit) or interrupted that often: it is not run again.
            job.status, job.stage, job.finished_at = ExportStatus.FAILED, "", now
            job.error = _("已执行 %(n)d 次仍未完成，不再重试。") % {"n": job.attempts}
            job.save(update_fields=["status", "stage", "error", "finished_at", "updated_at"])
            return None
        job.status = ExportStatus.RUNNING
        job.attempts += 1
        job.progress = 0
        job.error = ""
        job.started_at = job.heartbeat_at = now
        job.save(update_fields=["status", "attempts", "progress", "error", "started_at", "heartbeat_at", "updated_at"])
        return job


def export_job_run(*, job_id: int, held_attempt: int | None = None) -> ExportJob | str | None:
    """Build the job's file (a workbook, or the CSV detail). Idempotent: a finished job is left
    alone; a rerun after a crash starts the file again from scratch (nothing partial is ever
    attached). The database going away raises ``Interrupted`` (the task tries again later);
    any other error is the job's failure, recorded on it. The temporary file is removed on
    every way out (a killed process's by ``export_tmp_sweep``)."""
    claimed = _claim(job_id, held_attempt=held_attempt)
    if claimed is None or claimed == BUSY:
        return claimed
    job = claimed
    attempt = job.attempts
    path = None
    try:
        # Built with the requester's rights as they are now: one who has since been moved out
        # of the region, or lost the admin role, gets no file (and could not download one).
        if not actor_manages_region(actor=job.requested_by, region=job.region):
            return _fail(job, attempt, _("申请人已不再管辖该地区，未生成导出文件。"))
        last = [0.0, -1]

        def progress(fraction: float, stage: str) -> None:
            percent = min(int(fraction * 100), 99)
            now = time.monotonic()
            if percent != last[1] and (now - last[0] > 0.5 or percent - last[1] >= 5):
                last[0], last[1] = now, percent
                ExportJob.objects.filter(pk=job.pk).update(progress=percent, stage=stage, heartbeat_at=timezone.now())
            delay = settings.EXPORT_STEP_DELAY_SECONDS
            if delay:
                time.sleep(delay)

        scope = figures.Scope(region=job.region, year=int(job.params["year"]))
        path = _temp_file(job)
        if job.kind == ExportKind.YEARLY_TOTALS:
            xlsx.yearly_workbook(
                path,
                scope=scope,
                actor=job.requested_by,
                include_detail=job.params.get("include_detail", True),
                progress=progress,
            )
        elif job.kind == ExportKind.ENROLLMENT_DETAIL:
            detail_csv.write_file(path, scope=scope, progress=progress)
        else:
            xlsx.roster_workbook(path, scope=scope, progress=progress)
        return _finish(job, path)
    except Interrupted:
        raise
    except Exception as exc:
        if is_transient(exc):
            log.warning("export job %s interrupted by the database (%s); retried later", job.pk, type(exc).__name__)
            _release(job.pk, attempt)
            raise Interrupted(job.pk, attempt) from exc
        log.exception("export job %s failed", job.pk)
        # Recorded on the job for the requester to see; not raised, so an eager run inside
        # a web request does not turn into a 500, and a broken job is not retried forever.
        return _fail(job, attempt, _describe(exc))
    finally:
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SoftTimeLimitExceeded):
        return _("导出超过时间限制（%(s)s 秒），已停止；范围很大时可不含报名明细，明细另以 CSV 导出。") % {
            "s": settings.CELERY_TASK_SOFT_TIME_LIMIT
        }
    return f"{type(exc).__name__}: {exc}"[:2000]


def _finish(job: ExportJob, path: str) -> ExportJob:
    """Attach the file and mark the job done (unless another worker finished it first)."""
    stored = None
    try:
        with open(path, "rb") as handle, transaction.atomic():
            job = ExportJob.objects.select_for_update().get(pk=job.pk)
            if job.status == ExportStatus.DONE:  # another worker finished first
                return job
            job.file.save(job.filename, File(handle), save=False)
            stored = job.file.name
            job.status, job.progress, job.stage = ExportStatus.DONE, 100, ""
            job.finished_at = job.heartbeat_at = timezone.now()
            job.save()
            stored = None
        return job
    finally:
        if stored:  # saved in storage, but the row never said so: nobody would ever delete it
            with contextlib.suppress(OSError):
                job.file.storage.delete(stored)


def _fail(job: ExportJob, attempt: int, error: str) -> ExportJob:
    """Record the run's failure on the job; if the database refuses even that, ``Interrupted``
    carries it to the task, whose retry writes it."""
    try:
        export_job_fail(job_id=job.pk, attempt=attempt, error=error)
    except DatabaseError as exc:
        if not is_transient(exc):
            raise
        raise Interrupted(job.pk, attempt, error) from exc
    job.status, job.error, job.stage, job.finished_at = ExportStatus.FAILED, error, "", timezone.now()
    return job


def export_job_fail(*, job_id: int, attempt: int, error: str) -> bool:
    """Mark the job failed, if the run ``attempt`` still holds it (not one that another worker
    has taken over since, nor one already finished)."""
    return bool(
        ExportJob.objects.filter(pk=job_id, status=ExportStatus.RUNNING, attempts=attempt).update(
            status=ExportStatus.FAILED, error=error, stage="", finished_at=timezone.now()
        )
    )


def _release(job_id: int, attempt: int) -> None:
    """Give an interrupted job back (queued, its retry counts as sent), if the database
    allows; if not, the retry takes it back by ``held_attempt``, or the sweep once stale."""
    with contextlib.suppress(DatabaseError):
        ExportJob.objects.filter(pk=job_id, status=ExportStatus.RUNNING, attempts=attempt).update(
            status=ExportStatus.QUEUED, progress=0, stage="", heartbeat_at=None, sent_at=timezone.now()
        )


# --- temporary files ----------------------------------------------------------------------------


def export_tmp_dir() -> str:
    """Where running exports write their file before it is stored (one folder per host, of
    this project's files only, so the orphan sweep touches nothing else)."""
    path = getattr(settings, "EXPORT_TMP_DIR", "") or os.path.join(tempfile.gettempdir(), "inspector-training-exports")
    os.makedirs(path, exist_ok=True)
    return str(path)


def _temp_file(job: ExportJob) -> str:
    with contextlib.suppress(OSError):  # a killed run's leftovers on this host, if old enough
        export_tmp_sweep()
    fd, path = tempfile.mkstemp(
        suffix=os.path.splitext(job.filename)[1], prefix=f"{TMP_PREFIX}{job.pk}-", dir=export_tmp_dir()
    )
    os.close(fd)
    return path


def export_tmp_sweep(*, now: float | None = None) -> int:
    """Delete temporary export files older than ``EXPORT_TMP_MAX_AGE_HOURS`` (default 6, and
    never less than the task's hard time limit plus ten minutes: no run lasts that long), the
    leftovers of processes killed mid-export. Returns how many were deleted."""
    now = time.time() if now is None else now
    hours = getattr(settings, "EXPORT_TMP_MAX_AGE_HOURS", 6)
    max_age = max(hours * 3600, settings.CELERY_TASK_TIME_LIMIT + 600)
    deleted = 0
    with os.scandir(export_tmp_dir()) as entries:
        for entry in entries:
            if not (entry.name.startswith(TMP_PREFIX) and entry.is_file(follow_symlinks=False)):
                continue
            with contextlib.suppress(FileNotFoundError):
                if now - entry.stat(follow_symlinks=False).st_mtime > max_age:
                    os.unlink(entry.path)
                    deleted += 1
    if deleted:
        log.info("removed %d temporary export files left by killed runs", deleted)
    return deleted


# --- the outbox sweep ---------------------------------------------------------------------------


def export_jobs_requeue_stale(*, now: dt.datetime | None = None) -> int:
    """The outbox sweep (beat, every minute, on the housekeeping queue). Hands to a worker:
    - queued jobs never handed over (the broker was down, or the process died, at creation)
      or whose last hand-over no worker took (a lost message), once they are a lease old;
    - running jobs whose worker stopped reporting (killed, or cut off from the database).
    The lease is ``EXPORT_STALE_SECONDS``. A job is sent at most once per lease: the send is
    claimed first (``sent_at``, under ``SKIP LOCKED``), so neither the next tick nor a sweep
    running beside it sends it again while it waits on a slow queue. A send the broker
    refuses is given back (``sent_at`` empty) and the sweep stops there, for the next tick."""
    now = now or timezone.now()
    lease = now - dt.timedelta(seconds=settings.EXPORT_STALE_SECONDS)
    not_sent_lately = Q(sent_at__isnull=True) | Q(sent_at__lt=lease)
    silent = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=lease)
    due = Q(status=ExportStatus.QUEUED, created_at__lt=lease) | (Q(status=ExportStatus.RUNNING) & silent)
    with transaction.atomic():
        ids = list(
            ExportJob.objects.select_for_update(skip_locked=True)
            .filter(due & not_sent_lately)
            .order_by("pk")
            .values_list("pk", flat=True)[:REQUEUE_BATCH]
        )
        ExportJob.objects.filter(pk__in=ids).update(sent_at=now)
    sent = 0
    for position, pk in enumerate(ids):
        try:
            dispatch(pk)
        except Exception as exc:
            log.warning("export jobs not handed to the broker (%s: %s); next sweep", type(exc).__name__, exc)
            ExportJob.objects.filter(pk__in=ids[position:], sent_at=now).update(sent_at=None)
            break
        sent += 1
    return sent


def export_jobs_purge(*, now: dt.datetime | None = None) -> int:
    """Delete export files older than the retention setting; the job rows stay as history."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.EXPORT_RETENTION_DAYS)
    purged = 0
    for job in ExportJob.objects.filter(finished_at__lt=cutoff).exclude(file=""):
        job.file.delete(save=False)
        job.file = ""
        job.stage = "expired"
        job.save(update_fields=["file", "stage", "updated_at"])
        purged += 1
    return purged


# --- the overview's stored figures (docs/operations.md, "The overview's figures") --------------------


def overview_years(*, today: dt.date) -> list[int]:
    """The years the beat keeps fresh: this year, last year (the page's default) and the year
    before it (last year's 同比). Other years are refreshed when a page asks for them."""
    return [today.year, today.year - 1, today.year - 2]


def _json_cell(values: dict) -> dict:
    """A row of figures as JSON: a Decimal (hours) and a date (a deadline) as text."""
    return {
        key: str(value) if isinstance(value, Decimal) else value.isoformat() if isinstance(value, dt.date) else value
        for key, value in values.items()
    }


# The overview's list of certificates about to expire: within this many days.
OVERVIEW_EXPIRING_DAYS = 90


def _everyone():
    """A superuser, never saved: reads the whole tree (the page sums its scope's regions)."""
    from django.contrib.auth import get_user_model

    return get_user_model()(is_superuser=True, is_active=True)


def _expiring_by_region(today: dt.date) -> dict[int, int]:
    """{holder's region id: certificates expiring within ``OVERVIEW_EXPIRING_DAYS``}, by the
    certificate list's own filter (``exams.selectors.certificate_list``), read for the whole
    tree as a superuser would: the page sums its scope's regions."""
    from django.db.models import Count

    from exams.selectors import certificate_list

    expiring = certificate_list(actor=_everyone(), filters={"expiring_within": OVERVIEW_EXPIRING_DAYS}, today=today)
    rows = expiring.order_by().values_list("holder__region_id").annotate(n=Count("id"))
    return dict(rows.values_list("holder__region_id", "n"))


@dataclass
class _Read:
    """What a refresh reads for a year, all at one moment (``_read_figures``)."""

    cells: dict = field(default_factory=dict)  # figures.grid: {(sector, region id): {figure: value}}
    held: dict = field(default_factory=dict)  # figures.held_by_region
    evaluations: dict = field(default_factory=dict)  # figures.evaluation_counts_by_organiser
    expiring: dict = field(default_factory=dict)  # _expiring_by_region
    applications: dict = field(default_factory=dict)  # figures.application_counts_by_region
    cards: dict = field(default_factory=dict)  # figures.card_counts_by_region
    annual_review: dict = field(default_factory=dict)  # {region id: its annual_review_progress row}


def _read_figures(year: int) -> _Read:
    """Every root's ``figures.grid`` cells, ``figures.held_by_region``, 评教 counts per
    organising region, applications and cards printed per region for the year, the 年审 rows
    of its cities and the certificates expiring now per region: on PostgreSQL in one read-only
    REPEATABLE READ transaction, so that all of them see the same moment however long the
    reads take. Read as a superuser (the whole tree); the page limits them to its scope."""
    from exams.selectors import annual_review_progress

    read = _Read()
    everyone = _everyone()
    today = timezone.localdate()
    connection = connections[OverviewSnapshot.objects.db]
    own_transaction = not connection.in_atomic_block  # (a test's transaction: read in it)
    with transaction.atomic(using=connection.alias):
        if connection.vendor == "postgresql" and own_transaction:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for root in Region.objects.filter(parent__isnull=True).order_by("path"):
            scope = figures.Scope(region=root, year=year)
            read.cells.update(figures.grid(scope))
            read.held.update(figures.held_by_region(scope))
            read.evaluations.update(figures.evaluation_counts_by_organiser(scope))
            read.applications.update(figures.application_counts_by_region(scope, everyone))
            read.cards.update(figures.card_counts_by_region(scope))
        read.expiring = _expiring_by_region(today)
        progress = annual_review_progress(actor=everyone, year=year, today=today)
        ids = dict(Region.objects.filter(code__in=[row["region"] for row in progress]).values_list("code", "id"))
        read.annual_review = {ids[row["region"]]: _json_cell(row) for row in progress if row["region"] in ids}
    return read


def overview_figures_refresh(*, year: int) -> OverviewSnapshot:
    """Compute a year's overview figures for the whole region tree from scratch (the same
    ``figures.grid`` and held figures the workbook's totals come from, and the certificate
    work's counts by the workbook's functions) and store them, replacing the year's rows in
    one transaction. Idempotent; a run that started before the stored figures were computed
    leaves them alone (an older, slower run never overwrites a newer one). Derived data: no
    event row."""
    started = timezone.now()
    read = _read_figures(year)
    by_region: dict[int, dict] = {region_id: {} for region_id in read.held}
    for (sector, region_id), values in read.cells.items():
        by_region.setdefault(region_id, {})[sector] = _json_cell(values)
    with transaction.atomic():
        snapshot, _created = OverviewSnapshot.objects.select_for_update().get_or_create(year=year)
        if snapshot.computed_at and snapshot.computed_at > started:
            return snapshot
        OverviewRegionFigures.objects.filter(snapshot=snapshot).delete()
        OverviewRegionFigures.objects.bulk_create(
            OverviewRegionFigures(
                snapshot=snapshot,
                region_id=region_id,
                by_sector=sectors,
                held=read.held.get(region_id, {}),
                expiring_certificates=read.expiring.get(region_id, 0),
                # zeros stored too: an empty value is a row written before 评教 was stored
                evaluations=read.evaluations.get(region_id) or dict.fromkeys(COUNT_KEYS, 0),
                applications=read.applications.get(region_id, {}),
                cards_printed=read.cards.get(region_id, 0),
                annual_review=read.annual_review.get(region_id, {}),
            )
            for region_id, sectors in by_region.items()
        )
        snapshot.computed_at = started
        snapshot.refresh_requested_at = None
        snapshot.save(update_fields=["computed_at", "refresh_requested_at", "updated_at"])
    return snapshot


def overview_refresh_request(*, year: int) -> bool:
    """A page found a year's stored figures missing or older than the limit: ask the worker for a
    refresh, once per ``OVERVIEW_MAX_AGE_SECONDS`` whoever asks (sent after commit). Never
    raises: a page shows what it has. True if asked."""
    now = timezone.now()
    again = now - dt.timedelta(seconds=settings.OVERVIEW_MAX_AGE_SECONDS)
    try:
        snapshot, created = OverviewSnapshot.objects.get_or_create(year=year, defaults={"refresh_requested_at": now})
        if not created:
            not_asked = Q(refresh_requested_at__isnull=True) | Q(refresh_requested_at__lt=again)
            if not OverviewSnapshot.objects.filter(not_asked, pk=snapshot.pk).update(refresh_requested_at=now):
                return False
    except DatabaseError as exc:
        log.warning("overview refresh of %s not asked for (%s: %s)", year, type(exc).__name__, exc)
        return False
    transaction.on_commit(lambda: _send_refresh(year), robust=True)
    return True


def _send_refresh(year: int) -> None:
    from .tasks import refresh_overview_figures

    try:
        refresh_overview_figures.apply_async((year,), retry=False)
    except Exception as exc:
        # (the broker refused it; in-process, the refresh itself failed): the beat refreshes
        # this and last year anyway, and the next page past the limit asks again.
        log.warning("overview refresh of %s not sent (%s: %s)", year, type(exc).__name__, exc)
