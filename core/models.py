"""Model bases shared by every app, and the API tokens (core.tokens issues and checks them)."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TimeStamped(models.Model):
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        abstract = True


class TokenRevokeReason(models.TextChoices):
    LOGOUT = "logout", _("退出登录")
    REVOKED = "revoked", _("本人撤销")
    PASSWORD_CHANGED = "password_changed", _("密码已更改")
    DEACTIVATED = "deactivated", _("账号已停用")
    SUPERSEDED = "superseded", _("超过令牌数量上限")


class ApiToken(TimeStamped):
    """An API token of one user (one per device or client). Only a hash of the key is kept:
    the key itself is shown once, when the token is issued. It ends at ``expires_at`` (fixed,
    not sliding) or when revoked."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("账号"), on_delete=models.CASCADE, related_name="api_tokens"
    )
    key_hash = models.CharField(_("密钥摘要"), max_length=64, unique=True)
    name = models.CharField(_("名称"), max_length=200, blank=True)
    expires_at = models.DateTimeField(_("过期时间"))
    last_used_at = models.DateTimeField(_("最近使用时间"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    revoked_reason = models.CharField(_("撤销原因"), max_length=20, choices=TokenRevokeReason.choices, blank=True)

    class Meta:
        verbose_name = _("API 令牌")
        verbose_name_plural = _("API 令牌")
        indexes = [models.Index(fields=["user", "revoked_at", "expires_at"], name="apitoken_user_live")]
        constraints = [
            models.CheckConstraint(condition=models.Q(expires_at__gt=models.F("created_at")), name="apitoken_expires"),
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True, revoked_reason="")
                | (models.Q(revoked_at__isnull=False) & ~models.Q(revoked_reason="")),
                name="apitoken_revoked_with_reason",
            ),
        ]

    def __str__(self):
        return f"{self.user} · {self.name or self.pk}"


class ChangeEvent(models.Model):
    """Base of an audit row that records a change to one record: who, when, and the fields
    changed as ``{field: [old, new]}`` (``core.audit.diff``). A subclass adds its record's
    foreign key, its ``kind`` with its choices, and its names."""

    changes = models.JSONField(_("变更"), default=dict, blank=True, help_text=_("字段：[原值, 新值]"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True, on_delete=models.SET_NULL
    )
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.get_kind_display()} {timezone.localtime(self.at):%Y-%m-%d %H:%M}"
