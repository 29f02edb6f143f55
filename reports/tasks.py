"""The export tasks. An export runs on ``EXPORT_QUEUE``; the sweeps are routed to the
housekeeping queue (config/celery.py), so that they never wait behind the exports they rescue."""

import random

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from . import services

# Retries of a run the database interrupted: 1, 2, 4 ... seconds, at most 5 minutes apart
# (with jitter), 30 in all: a restart of a few minutes, or an outage of about two hours.
# In-process (eager, inside a web request: services.dispatch runs them) two are enough.
MAX_RETRIES = 30
EAGER_RETRIES = 2
BACKOFF_MAX = 300


def backoff(retries: int) -> float:
    step = min(2**retries, BACKOFF_MAX)
    return step / 2 + random.uniform(0, step / 2)  # noqa: S311 - spreading retries, not a secret


@shared_task(
    bind=True,
    name="reports.tasks.run_export",
    acks_late=True,  # a rerun is harmless: the job is idempotent
    reject_on_worker_lost=True,  # a killed worker's message goes back to the queue
    max_retries=MAX_RETRIES,
)
def run_export(self, job_id: int, held_attempt: int | None = None, failure: str = "") -> str:
    """Run the job. When the database goes away the message is not spent on a failure: the task
    is retried with backoff (a new message; this one is acknowledged), carrying the claim it
    held and the failure it could not write. Past the last retry the job stays queued or running
    and the sweep sends it again."""
    limit = EAGER_RETRIES if self.request.is_eager else MAX_RETRIES
    retry = {"countdown": backoff(self.request.retries), "max_retries": limit}
    try:
        if failure:
            services.export_job_fail(job_id=job_id, attempt=held_attempt, error=failure)
            return "failed"
        result = services.export_job_run(job_id=job_id, held_attempt=held_attempt)
    except services.Interrupted as exc:
        kwargs = {"held_attempt": exc.attempt, "failure": exc.failure}
        raise self.retry(args=(job_id,), kwargs=kwargs, exc=exc.__cause__ or exc, **retry) from exc
    except (OperationalError, InterfaceError) as exc:
        if not services.is_transient(exc):
            raise
        raise self.retry(exc=exc, **retry) from exc
    if result == services.BUSY:
        # Another worker holds it and is alive; look again once it would count as stale.
        raise self.retry(countdown=settings.EXPORT_STALE_SECONDS, max_retries=limit)
    return result.status if result is not None else "skipped"  # done, failed (or skipped: nothing to do)


@shared_task(name="reports.tasks.requeue_stale_exports")
def requeue_stale_exports() -> int:
    """Every minute: the outbox sweep, and the temporary files of killed runs on this host."""
    services.export_tmp_sweep()
    return services.export_jobs_requeue_stale()


@shared_task(name="reports.tasks.purge_old_exports")
def purge_old_exports() -> int:
    return services.export_jobs_purge()


@shared_task(name="reports.tasks.refresh_overview_figures")
def refresh_overview_figures(year: int | None = None) -> list[int]:
    """The overview's stored figures computed again: on the beat every
    ``OVERVIEW_REFRESH_SECONDS`` the years ``services.overview_years`` names, or one year a
    page asked for. Idempotent (a rerun stores the same figures again)."""
    years = [year] if year is not None else services.overview_years(today=timezone.localdate())
    for each in years:
        services.overview_figures_refresh(year=each)
    return years
