from celery import shared_task

from . import services


@shared_task(name="training.tasks.send_batch_reminders")
def send_batch_reminders() -> int:
    """Daily (Celery beat): remind inspectors of batches starting soon. Safe to rerun."""
    return services.batch_reminders_send()
