"""QR sign-in (扫码签到): the day's token, its 6-digit fallback code, and checking either in.

The trainer's page shows, for one batch and today, a QR code of ``/checkin/?t=<token>`` and a
6-digit code. Both name (batch, day, time slot):

- the token is ``<batch>.<yyyymmdd>.<slot>`` signed with Django's signing (SECRET_KEY, salted
  with ``SALT``): it cannot be made without the key nor moved to another batch or day;
- the code is an HMAC of the same (salted apart), reduced to 6 digits: typed on /checkin/ when
  the camera will not do, it finds its batch among the batches the inspector is in today.

A slot is ``SLOT_SECONDS`` (30 s) of the clock; the current slot and the one before are
accepted, so what the page shows lives 30 to 60 s. Someone sent to the login page by the scan
keeps what they scanned for ``LOGIN_GRACE`` (the view notes in the session when the token
was seen still fresh). The rules of the day itself (the batch running, today a training day,
the hours of settings.CHECKIN_HOURS, enrolled, an office record first) are the attendance
service's: ``training.services.attendance_check_in``.

Guessing a code: one in a million per try and per batch the guesser is in, two slots alive;
tries are limited per signed-in user (settings.CHECKIN_CODE_RATE, ``CodeThrottle``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from core.errors import ValidationFailed
from core.qr import qr_data_uri
from core.throttles import SlidingWindowThrottle

from . import services
from .models import Batch, Enrollment

logger = logging.getLogger(__name__)

SALT = "training.checkin"
SLOT_SECONDS = 30
# Slots accepted: the current one and the one before (a code lives 30-60 s).
SLOTS_ACCEPTED = 2
# How long after the scan a login may take (the token was seen fresh before the login page).
LOGIN_GRACE = dt.timedelta(minutes=5)
# How often the trainer's page asks for the current code and count (static JS, seconds).
POLL_SECONDS = 5

_PAYLOAD = re.compile(r"^(\d{1,12})\.(\d{8})\.(\d{1,12})$")
CODE = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class Ticket:
    """What a token or a code names."""

    batch_id: int
    day: dt.date
    slot: int


def slot_at(now: dt.datetime) -> int:
    return int(now.timestamp()) // SLOT_SECONDS


def seconds_left(now: dt.datetime) -> int:
    """Seconds until the current slot ends (the code on the page then changes)."""
    return SLOT_SECONDS - int(now.timestamp()) % SLOT_SECONDS


def _payload(batch_id: int, day: dt.date, slot: int) -> str:
    return f"{batch_id}.{day:%Y%m%d}.{slot}"


def token_for(*, batch_id: int, day: dt.date, now: dt.datetime) -> str:
    return signing.Signer(salt=SALT).sign(_payload(batch_id, day, slot_at(now)))


def code_for(*, batch_id: int, day: dt.date, slot: int) -> str:
    digest = salted_hmac(SALT + ".code", _payload(batch_id, day, slot), algorithm="sha256").digest()
    return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


def _refused(code: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, code=code)


def _check_fresh(slot: int, now: dt.datetime) -> None:
    current = slot_at(now)
    if slot > current:  # made for a time still to come: not by this server
        raise _refused("token_invalid", _("签到码无效，请重新扫描现场二维码。"))
    if current - slot >= SLOTS_ACCEPTED:
        raise _refused("token_expired", _("二维码已过期（每 30 秒更新），请扫描屏幕上最新的二维码。"))


def ticket_from_token(token: str, *, now: dt.datetime, seen_at: dt.datetime | None = None) -> Ticket:
    """The ticket a token names, if it is genuine and fresh: fresh now, or fresh at ``seen_at``
    (when it was first opened, before a login) no longer than LOGIN_GRACE ago."""
    try:
        payload = signing.Signer(salt=SALT).unsign(token or "")
    except signing.BadSignature:
        raise _refused("token_invalid", _("签到码无效（无法识别或已被篡改），请重新扫描现场二维码。")) from None
    match = _PAYLOAD.match(payload)
    if match is None:
        raise _refused("token_invalid", _("签到码无效（无法识别或已被篡改），请重新扫描现场二维码。"))
    batch_id, day, slot = int(match[1]), dt.datetime.strptime(match[2], "%Y%m%d").date(), int(match[3])
    when = seen_at if seen_at is not None and dt.timedelta(0) <= now - seen_at <= LOGIN_GRACE else now
    _check_fresh(slot, when)
    return Ticket(batch_id=batch_id, day=day, slot=slot)


def ticket_from_code(code: str, *, inspector_id: int, now: dt.datetime) -> Ticket:
    """The ticket a typed code names among the batches the inspector is in (any status: the
    service then says why a waitlisted or cancelled one is refused) that run today."""
    code = (code or "").strip()
    if not CODE.match(code):
        raise ValidationFailed(
            _("请输入 6 位数字签到码。"), code="code_invalid", fields={"code": [_("需为 6 位数字。")]}
        )
    today = timezone.localdate(now)
    batch_ids = (
        Enrollment.objects.filter(inspector_id=inspector_id, batch__starts_on__lte=today, batch__ends_on__gte=today)
        .order_by("batch_id")
        .values_list("batch_id", flat=True)
    )
    current = slot_at(now)
    for batch_id in batch_ids:
        for slot in range(current, current - SLOTS_ACCEPTED, -1):
            if constant_time_compare(code, code_for(batch_id=batch_id, day=today, slot=slot)):
                return Ticket(batch_id=batch_id, day=today, slot=slot)
    raise ValidationFailed(
        _("签到码不正确或已过期（每 30 秒更新），请核对屏幕上最新的 6 位数字。"),
        code="code_invalid",
        fields={"code": [_("签到码不正确或已过期。")]},
    )


def check_in(*, ticket: Ticket, inspector, now: dt.datetime) -> services.CheckIn:
    """Record the ticket's day for the inspector through the attendance service."""
    try:
        batch = Batch.objects.get(pk=ticket.batch_id)
    except Batch.DoesNotExist:
        raise _refused("token_invalid", _("签到码对应的培训批次不存在。")) from None
    return services.attendance_check_in(batch=batch, inspector=inspector, day=ticket.day, now=now)


# --- the trainer's page ------------------------------------------------------------------------


def absolute_url(request, path: str) -> str:
    """``path`` on this site: from settings.SITE_URL when set (what the phones can reach), else
    the request's host."""
    site = (getattr(settings, "SITE_URL", "") or "").rstrip("/")
    return site + path if site else request.build_absolute_uri(path)


def checkin_url(request, token: str) -> str:
    """The URL the QR code holds: ``/checkin/?t=<token>``, absolute."""
    return absolute_url(request, f"{reverse('checkin')}?t={token}")


def live_state(*, request, batch: Batch, now: dt.datetime) -> dict:
    """What the trainer's page shows now: the QR and code (when sign-in is open) and the count."""
    day = timezone.localdate(now)
    refusal = services.check_in_refusal(batch=batch, day=day, now=now)
    state = {
        "batch": batch.pk,
        "day": day.isoformat(),
        "open": refusal is None,
        "reason": refusal.detail if refusal is not None else "",
        "seconds_left": seconds_left(now),
        "poll_seconds": POLL_SECONDS,
        **services.check_in_count(batch=batch, day=day),
    }
    if refusal is None:
        token = token_for(batch_id=batch.pk, day=day, now=now)
        url = checkin_url(request, token)
        state |= {
            "url": url,
            "code": code_for(batch_id=batch.pk, day=day, slot=slot_at(now)),
            "qr": qr_data_uri(url),
        }
    else:
        state |= {"url": "", "code": "", "qr": ""}
    return state


# --- trying codes ------------------------------------------------------------------------------


class CodeThrottle(SlidingWindowThrottle):
    """Typed codes per signed-in user (settings.CHECKIN_CODE_RATE, e.g. ``10/min``), on the
    project's sliding window (core.throttles)."""

    scope = "checkin_code"

    def get_rate(self) -> str | None:
        return getattr(settings, "CHECKIN_CODE_RATE", "10/min") or None

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


def code_try_allowed(request) -> tuple[bool, int | None]:
    """Count one typed code of this user: ``(allowed, seconds to wait)``."""
    throttle = CodeThrottle()
    if throttle.allow_request(request, None):
        return True, None
    wait = throttle.wait()
    return False, int(wait) + 1 if wait is not None else None
