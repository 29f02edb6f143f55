from celery import shared_task

from . import services


@shared_task(name="exams.tasks.expire_certificates")
def expire_certificates() -> int:
    """Nightly (Celery beat): mark certificates past their date expired. Safe to run twice at once."""
    return services.certificates_expire()


@shared_task(name="exams.tasks.send_expiry_reminders")
def send_expiry_reminders() -> int:
    """Daily (Celery beat): remind holders 90, 30 and 7 days before expiry, each once."""
    return services.certificate_reminders_send()
