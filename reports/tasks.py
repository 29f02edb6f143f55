from celery import shared_task

from . import services


@shared_task(
    bind=True,
    name="reports.tasks.run_export",
    acks_late=True,  # a rerun is harmless: the job is idempotent
    reject_on_worker_lost=True,  # a killed worker's message goes back to the queue
    max_retries=30,
)
def run_export(self, job_id: int) -> str:
    result = services.export_job_run(job_id=job_id)
    if result == services.BUSY:
        # Another worker holds it and is alive; look again once it would count as stale.
        from django.conf import settings

        raise self.retry(countdown=settings.EXPORT_STALE_SECONDS)
    return "done" if result is not None else "skipped"


@shared_task(name="reports.tasks.requeue_stale_exports")
def requeue_stale_exports() -> int:
    return services.export_jobs_requeue_stale()


@shared_task(name="reports.tasks.purge_old_exports")
def purge_old_exports() -> int:
    return services.export_jobs_purge()
