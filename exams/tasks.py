from celery import shared_task

from . import services

# A sweep that could not send some reminders runs again after this long (only those are
# unclaimed, so a rerun sends nothing twice); after the last retry the next daily run tries.
REMINDER_RETRY_SECONDS = 15 * 60
REMINDER_MAX_RETRIES = 3


@shared_task(name="exams.tasks.expire_certificates")
def expire_certificates() -> int:
    """Nightly (Celery beat): mark certificates past their date expired. Safe to run twice at once."""
    return services.certificates_expire()


@shared_task(bind=True, name="exams.tasks.send_expiry_reminders", max_retries=REMINDER_MAX_RETRIES)
def send_expiry_reminders(self) -> int:
    """Daily (Celery beat): remind holders 90, 30 and 7 days before expiry, each once; returns
    the mails this attempt sent. A recipient whose mail failed is retried (their claim was
    released); the others are not sent again."""
    run = services.certificate_reminders_send()
    if run.failed and self.request.retries < REMINDER_MAX_RETRIES:
        raise self.retry(countdown=REMINDER_RETRY_SECONDS)
    return run.sent


@shared_task(name="exams.tasks.send_application_reminders")
def send_application_reminders() -> int:
    """Daily (Celery beat): tell the admins who must act how many applications wait at their
    level, and where the annual review is amber or red; returns the mails sent. Reads only, so
    a rerun sends the same digest again (no claim rows: it is a digest, not a one-off notice)."""
    from . import applications

    return applications.application_reminders_send().sent


@shared_task(name="exams.tasks.sweep_attempts")
def sweep_attempts() -> int:
    """Every minute (Celery beat): submit, by timeout, the online attempts past their deadline;
    returns how many. Safe to run twice at once (a submitted attempt is left as it is)."""
    from . import online

    return online.attempts_sweep()
