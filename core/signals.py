"""A user's API tokens end when their password changes or the account is deactivated.

Watched on the user model's save rather than on the views that change passwords: the
admin, ``manage.py changepassword``, a shell or a future page all end in ``save()``.
(``QuerySet.update()`` sends no signal: nothing in the project changes passwords that way.)
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save, pre_save

from core.models import TokenRevokeReason
from core.tokens import api_tokens_revoke_for_user

WATCHED = {"password", "is_active"}


def _note_credential_change(sender, instance, raw=False, update_fields=None, **kwargs):
    instance._api_tokens_end = None
    if raw or instance.pk is None:
        return
    if update_fields is not None and not WATCHED & set(update_fields):
        return  # e.g. the last_login written at every login
    before = sender._default_manager.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    if before["is_active"] and not instance.is_active:
        instance._api_tokens_end = TokenRevokeReason.DEACTIVATED
    elif before["password"] != instance.password:
        instance._api_tokens_end = TokenRevokeReason.PASSWORD_CHANGED


def _end_tokens(sender, instance, raw=False, **kwargs):
    reason = getattr(instance, "_api_tokens_end", None)
    instance._api_tokens_end = None
    if reason:  # inside the save's transaction when the caller opened one
        api_tokens_revoke_for_user(user=instance, reason=reason)


def connect() -> None:
    user_model = get_user_model()
    pre_save.connect(_note_credential_change, sender=user_model, dispatch_uid="core.tokens.pre_save")
    post_save.connect(_end_tokens, sender=user_model, dispatch_uid="core.tokens.post_save")
