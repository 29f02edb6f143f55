from celery import shared_task

from . import services

# A sweep that could not send some reminders runs again after this long (only those are
# unclaimed, so a rerun sends nothing twice); after the last retry the next daily run tries.
REMINDER_RETRY_SECONDS = 15 * 60
REMINDER_MAX_RETRIES = 3


@shared_task(bind=True, name="training.tasks.send_batch_reminders", max_retries=REMINDER_MAX_RETRIES)
def send_batch_reminders(self) -> int:
    """Daily (Celery beat): remind inspectors of batches starting soon; returns the mails
    this attempt sent. Safe to rerun: each enrollment is claimed before its mail goes out."""
    run = services.batch_reminders_send()
    if run.failed and self.request.retries < REMINDER_MAX_RETRIES:
        raise self.retry(countdown=REMINDER_RETRY_SECONDS)
    return run.sent
