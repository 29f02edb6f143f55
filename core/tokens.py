"""API tokens: issue, check, list and revoke (the model is ``core.models.ApiToken``).

A key is 40 random hex characters (160 bits, the shape DRF's keys had, so clients see no
change). Only its SHA-256 is stored: a key that random cannot be guessed from its hash, so
a slow or salted hash would cost every request for nothing. A token ends at a fixed time
(``API_TOKEN_TTL`` after it was issued) or when revoked: logout, by its owner, on a password
change or a deactivation (``core.signals``), or when the owner holds too many.

There is no generic audit model in the core; issuing and revoking are logged (never the key).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.compiled import CompiledRead
from core.models import ApiToken, TokenRevokeReason

log = logging.getLogger(__name__)

# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
# Ended tokens are kept this long (who used what until when), then purged at the owner's
# next login, so the table does not grow with every login ever made.
ENDED_KEPT = dt.timedelta(days=30)


class TokenRefused(Exception):
    """The key does not open the API; ``code`` says why (token_invalid, token_revoked,
    token_expired, user_inactive)."""

    def __init__(self, code: str, detail):
        self.code = code
        self.detail = detail
        super().__init__(str(detail))


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _live(now: dt.datetime) -> Q:
    return Q(revoked_at__isnull=True, expires_at__gt=now)


@transaction.atomic
def api_token_issue(*, user, name: str = "", ttl: dt.timedelta | None = None) -> tuple[ApiToken, str]:
    """A new token for ``user`` and its key (shown this once). Ended tokens of the user older
    than ENDED_KEPT are purged; beyond API_TOKEN_MAX_PER_USER live ones, the oldest are revoked."""
    now = timezone.now()
    key = secrets.token_hex(20)
    ttl = ttl if ttl is not None else settings.API_TOKEN_TTL
    ApiToken.objects.filter(user=user).filter(
        Q(expires_at__lt=now - ENDED_KEPT) | Q(revoked_at__lt=now - ENDED_KEPT)
    ).delete()
    token = ApiToken.objects.create(user=user, key_hash=key_hash(key), name=name[:200], expires_at=now + ttl)
    surplus = list(
        ApiToken.objects.filter(_live(now), user=user)
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)[settings.API_TOKEN_MAX_PER_USER :]
    )
    if surplus:
        _revoke(ApiToken.objects.filter(pk__in=surplus), TokenRevokeReason.SUPERSEDED, now)
    log.info("api token %s issued to user %s, expires %s", token.pk, user.pk, token.expires_at.isoformat())
    return token, key


def _token_with_user(key_hash: str, related: tuple[str, ...] = ()):
    # One row by a unique key: no ORDER BY, and no LIMIT. PostgreSQL priced the LIMIT 1 read as
    # stopping at the first row and joined the inspectors (user__inspector) by scanning the whole
    # table instead of by its unique user_id index: every API call read every inspector.
    qs = ApiToken.objects.select_related("user", *(f"user__{path}" for path in related))
    return qs.filter(key_hash=key_hash).order_by()


# Every API call reads its token: the statement is built once per connection (and per
# API_TOKEN_USER_RELATED), not on every call (core.compiled).
_TOKEN_READS: dict[tuple[str, ...], CompiledRead] = {}


def _token_read() -> CompiledRead:
    related = tuple(getattr(settings, "API_TOKEN_USER_RELATED", ()))
    read = _TOKEN_READS.get(related)
    if read is None:
        read = _TOKEN_READS[related] = CompiledRead(
            lambda key_hash: _token_with_user(key_hash, related), key_hash="stand-in for a key hash"
        )
    return read


def api_token_authenticate(*, key: str) -> ApiToken:
    """The live token of ``key``, its user loaded (with API_TOKEN_USER_RELATED); raises
    TokenRefused otherwise. Notes the use (at most once a minute per token)."""
    token = _token_read().first(key_hash=key_hash(key))
    now = timezone.now()
    if token is None:
        raise TokenRefused("token_invalid", _("令牌无效。"))
    if token.revoked_at is not None:
        raise TokenRefused("token_revoked", _("令牌已撤销，请重新登录。"))
    if token.expires_at <= now:
        raise TokenRefused("token_expired", _("令牌已过期，请重新登录。"))
    if not token.user.is_active:
        raise TokenRefused("user_inactive", _("账号已停用。"))
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def _revoke(tokens: QuerySet[ApiToken], reason: str, now: dt.datetime) -> int:
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=now, revoked_reason=reason, updated_at=now)


def api_token_revoke(*, token: ApiToken, reason: str) -> bool:
    """Revoke one token; False when it was already revoked."""
    done = _revoke(ApiToken.objects.filter(pk=token.pk), reason, timezone.now()) == 1
    if done:
        log.info("api token %s of user %s revoked: %s", token.pk, token.user_id, reason)
    return done


def api_tokens_revoke_for_user(*, user, reason: str) -> int:
    """Revoke every live token of ``user`` (password changed, account deactivated)."""
    now = timezone.now()
    count = _revoke(ApiToken.objects.filter(_live(now), user=user), reason, now)
    if count:
        log.info("%s api token(s) of user %s revoked: %s", count, user.pk, reason)
    return count


def api_token_list(*, actor) -> QuerySet[ApiToken]:
    """The actor's own live tokens, newest first."""
    return ApiToken.objects.filter(_live(timezone.now()), user=actor).order_by("-created_at", "-pk")


def api_token_get_for_actor(*, actor, pk) -> ApiToken:
    """One of the actor's own live tokens; 404 for anyone else's, or an ended one. (Http404,
    not core.errors.NotFound: this module is imported while DRF loads its settings.)"""
    token = api_token_list(actor=actor).filter(pk=pk).first()
    if token is None:
        raise Http404
    return token
