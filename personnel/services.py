"""Writes to regions and inspectors. Every caller (API, admin, commands) comes here."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from core.errors import AccessDenied, Conflict, ValidationFailed

from . import access, idcard
from .models import Inspector, InspectorStatus, Region, RegionAdmin, RegionLevel
from .selectors import actor_manages_region

_CHILD_LEVEL = {RegionLevel.PROVINCE: RegionLevel.CITY, RegionLevel.CITY: RegionLevel.COUNTY}


def _require_admin_of(*, actor, region: Region) -> None:
    if not actor_manages_region(actor=actor, region=region):
        raise AccessDenied(_("无权管理地区“%(region)s”的数据。") % {"region": region.name})


@transaction.atomic
def region_create(*, code: str, name: str, level: str, parent: Region | None = None, actor=None) -> Region:
    """Create a region under its parent; the level must follow the parent's."""
    if actor is not None:
        if parent is None:
            if access.scope_for(actor).kind != access.ALL:
                raise AccessDenied()
        else:
            _require_admin_of(actor=actor, region=parent)
    if parent is None and level != RegionLevel.PROVINCE:
        raise ValidationFailed(_("顶级地区必须是省级。"), fields={"level": [_("顶级地区必须是省级。")]})
    if parent is not None and _CHILD_LEVEL.get(parent.level) != level:
        raise ValidationFailed(
            _("%(parent)s的下级不能是该级别。") % {"parent": parent.name}, fields={"level": [_("级别与上级不符。")]}
        )
    region = Region(code=code, name=name, level=level, parent=parent)
    try:
        region.full_clean(exclude=["path", "depth"])
    except ValidationError as exc:
        raise ValidationFailed(_("地区信息有误。"), fields=exc.message_dict) from None
    region.save()
    return region


def _clean_inspector(inspector: Inspector) -> None:
    try:
        inspector.national_id = idcard.normalize(inspector.national_id)
        inspector.full_clean(exclude=["gender", "birth_date", "user"], validate_unique=False)
        inspector.derive_from_national_id()
    except ValidationError as exc:
        raise ValidationFailed(_("人员信息有误。"), fields=exc.message_dict) from None
    except idcard.IdNumberError as exc:
        raise ValidationFailed(str(exc), fields={"national_id": [str(exc)]}) from None


@transaction.atomic
def inspector_create(
    *,
    actor,
    name: str,
    national_id: str,
    region: Region,
    sector: str,
    position: str = "",
    phone: str = "",
    status: str = InspectorStatus.ACTIVE,
    hired_on: dt.date | None = None,
) -> Inspector:
    """Register an inspector in a region the actor administers; ID numbers are unique."""
    _require_admin_of(actor=actor, region=region)
    inspector = Inspector(
        name=name,
        national_id=national_id,
        region=region,
        sector=sector,
        position=position,
        phone=phone,
        status=status,
        hired_on=hired_on,
    )
    _clean_inspector(inspector)
    if Inspector.objects.filter(national_id=inspector.national_id).exists():
        raise Conflict(_("身份证号已登记。"), code="duplicate", fields={"national_id": [_("身份证号已登记。")]})
    try:
        with transaction.atomic():
            inspector.save()
    except IntegrityError:
        # Two requests raced past the exists() check; the unique index decided.
        raise Conflict(
            _("身份证号已登记。"), code="duplicate", fields={"national_id": [_("身份证号已登记。")]}
        ) from None
    return inspector


_UPDATABLE = {"name", "region", "sector", "position", "phone", "status", "hired_on"}


@transaction.atomic
def inspector_update(*, actor, inspector: Inspector, data: dict) -> Inspector:
    """Change an inspector's fields; moving to another region needs rights on both."""
    unknown = set(data) - _UPDATABLE
    if unknown:
        raise ValidationFailed(
            _("不能修改这些字段：%(f)s") % {"f": ", ".join(sorted(unknown))},
            fields={f: [_("不可修改。")] for f in unknown},
        )
    inspector = Inspector.objects.select_for_update().select_related("region").get(pk=inspector.pk)
    _require_admin_of(actor=actor, region=inspector.region)
    for field, value in data.items():
        setattr(inspector, field, value)
    if "region" in data:
        _require_admin_of(actor=actor, region=data["region"])
    _clean_inspector(inspector)
    inspector.save()
    return inspector


@transaction.atomic
def inspector_link_user(*, inspector: Inspector, user) -> Inspector:
    """Give an inspector a login (demo data, admin). A login belongs to one person, and
    an administrator's login is not also an inspector's (the roles would be ambiguous)."""
    if user is not None:
        if Inspector.objects.filter(user=user).exclude(pk=inspector.pk).exists():
            raise Conflict(_("该账号已关联其他执法人员。"), code="user_taken", fields={"user": [_("账号已被使用。")]})
        if RegionAdmin.objects.filter(user=user).exists() or user.is_superuser:
            raise Conflict(
                _("管理员账号不能关联为执法人员。"), code="user_is_admin", fields={"user": [_("管理员账号。")]}
            )
    inspector.user = user
    inspector.save(update_fields=["user", "updated_at"])
    return inspector


@transaction.atomic
def region_admin_assign(*, user, region: Region) -> RegionAdmin:
    """Make a user the administrator of a region (and its subtree)."""
    binding, _created = RegionAdmin.objects.update_or_create(user=user, defaults={"region": region})
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return binding
