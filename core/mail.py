"""Mail that goes out after its claim committed: one recipient's failure is theirs only."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from django.core.mail import send_mail

logger = logging.getLogger(__name__)

T = TypeVar("T")

# How many reminders one short claiming transaction takes.
REMINDER_CHUNK = 200


@dataclass
class ReminderRun:
    """What one reminder sweep did: mails sent, and mails that failed (their claims were
    released, so a retry or the next run sends them)."""

    sent: int = 0
    failed: int = 0


def send_each(
    items: Iterable[T],
    *,
    mail: Callable[[T], dict],
    sent: Callable[[T], None],
    failed: Callable[[T, Exception], None],
    run: ReminderRun,
    what: Callable[[T], str],
) -> None:
    """Send ``mail(item)`` (``send_mail`` keyword arguments) for each claimed item, after
    the claim committed. On success ``sent(item)``; on any error the error is logged by its
    type and SMTP code (its message may hold the address), ``failed(item, exc)`` releases
    that claim, and the others go on."""
    for item in items:
        try:
            send_mail(**mail(item))
        except Exception as exc:  # SMTP errors, refused recipients, timeouts: each is this recipient's only
            logger.warning(
                "%s not sent (%s %s); released for the next run",
                what(item),
                type(exc).__name__,
                getattr(exc, "smtp_code", ""),
            )
            failed(item, exc)
            run.failed += 1
        else:
            sent(item)
            run.sent += 1
