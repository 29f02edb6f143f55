"""Export jobs: create, run (idempotent, resumable by another worker), requeue, purge."""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import time

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import AccessDenied, ValidationFailed
from personnel import access
from personnel.models import Region
from personnel.selectors import actor_manages_region

from . import detail_csv, figures, xlsx
from .models import ExportJob, ExportKind, ExportStatus

log = logging.getLogger(__name__)
BUSY = "busy"


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
    transaction.on_commit(lambda: dispatch(job.pk))
    return job


def dispatch(job_id: int) -> None:
    """Send a job to the export queue (the worker, or in-process when eager)."""
    from .tasks import run_export

    run_export.apply_async((job_id,), queue=settings.EXPORT_QUEUE)


def _claim(job_id: int) -> ExportJob | str | None:
    """Take the job for this worker. None: nothing to do (done or gone). BUSY: another worker
    is on it and alive. A job whose worker stopped reporting is taken over."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).select_related("region", "requested_by").first()
        if job is None or job.status == ExportStatus.DONE:
            return None
        now = timezone.now()
        stale = now - dt.timedelta(seconds=settings.EXPORT_STALE_SECONDS)
        if job.status == ExportStatus.RUNNING and job.heartbeat_at and job.heartbeat_at > stale:
            return BUSY
        job.status = ExportStatus.RUNNING
        job.attempts += 1
        job.progress = 0
        job.error = ""
        job.started_at = job.heartbeat_at = now
        job.save(update_fields=["status", "attempts", "progress", "error", "started_at", "heartbeat_at", "updated_at"])
        return job


def export_job_run(*, job_id: int) -> ExportJob | str | None:
    """Build the job's file (a workbook, or the CSV detail). Idempotent: a finished job is left
    alone; a rerun after a crash starts the file again from scratch (nothing partial is ever
    attached)."""
    claimed = _claim(job_id)
    if claimed is None or claimed == BUSY:
        return claimed
    job = claimed
    # Built with the requester's rights as they are now: one who has since been moved out of
    # the region, or lost the admin role, gets no file (and could not download one).
    if not actor_manages_region(actor=job.requested_by, region=job.region):
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportStatus.FAILED, error=_("申请人已不再管辖该地区，未生成导出文件。"), finished_at=timezone.now()
        )
        job.refresh_from_db()
        return job
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
    fd, path = tempfile.mkstemp(suffix=os.path.splitext(job.filename)[1], prefix="export-")
    os.close(fd)
    try:
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
        with open(path, "rb") as handle, transaction.atomic():
            job = ExportJob.objects.select_for_update().get(pk=job.pk)
            if job.status == ExportStatus.DONE:  # another worker finished first
                return job
            job.file.save(job.filename, File(handle), save=False)
            job.status, job.progress, job.stage = ExportStatus.DONE, 100, ""
            job.finished_at = job.heartbeat_at = timezone.now()
            job.save()
        return job
    except Exception as exc:
        log.exception("export job %s failed", job.pk)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        # Recorded on the job for the requester to see; not raised, so an eager run inside
        # a web request does not turn into a 500, and a broken job is not retried forever.
        job.refresh_from_db()
        return job
    finally:
        os.unlink(path)


def export_jobs_requeue_stale(*, now: dt.datetime | None = None) -> int:
    """Hand jobs whose worker died (no heartbeat) or whose message was lost to a worker again."""
    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=settings.EXPORT_STALE_SECONDS)
    ids = list(
        ExportJob.objects.filter(status=ExportStatus.RUNNING, heartbeat_at__lt=stale).values_list("pk", flat=True)
    )
    # A queued job is sent again once per stale period (heartbeat_at records the last send),
    # so a backlog on a slow queue does not grow by one copy a minute.
    queued = ExportJob.objects.filter(status=ExportStatus.QUEUED, created_at__lt=stale).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale)
    )
    queued_ids = list(queued.values_list("pk", flat=True))
    ExportJob.objects.filter(pk__in=queued_ids).update(heartbeat_at=now)
    ids += queued_ids
    for pk in ids:
        dispatch(pk)
    return len(ids)


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
