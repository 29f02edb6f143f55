"""Writes to regions and inspectors. Every caller (API, admin, commands, imports) comes
here, and every write leaves its event row (``InspectorEvent``, ``RegionEvent``) in the
same transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import diff, snapshot
from core.errors import AccessDenied, Conflict, ValidationFailed

from . import access, idcard, photos
from .models import Inspector, InspectorEvent, InspectorStatus, Region, RegionAdmin, RegionEvent, RegionLevel
from .selectors import actor_manages_region

_CHILD_LEVEL = {RegionLevel.PROVINCE: RegionLevel.CITY, RegionLevel.CITY: RegionLevel.COUNTY}

# Personal numbers go into the trail masked (as in the logs): that they changed, not what they are.
PERSONAL = {"national_id": idcard.mask, "phone": idcard.mask}
INSPECTOR_FIELDS = ("name", "national_id", "region", "sector", "position", "unit", "phone", "status", "hired_on")
REGION_FIELDS = ("code", "name", "level", "parent")


def _actor_id(actor) -> int | None:
    return getattr(actor, "pk", None)


def inspector_event(*, inspector: Inspector, kind: str, changes: dict, actor) -> InspectorEvent:
    return InspectorEvent.objects.create(inspector=inspector, kind=kind, changes=changes, actor_id=_actor_id(actor))


def inspector_changes(before: dict, inspector: Inspector) -> dict:
    """The ``{field: [old, new]}`` of an inspector against ``before`` (a ``snapshot``), personal numbers masked."""
    return diff(before, snapshot(inspector, INSPECTOR_FIELDS), mask=PERSONAL)


def _require_admin_of(*, actor, region: Region) -> None:
    if not actor_manages_region(actor=actor, region=region):
        raise AccessDenied(_("无权管理地区“%(region)s”的数据。") % {"region": region.name})


def national_id_held_refusal(*, actor, holder: Inspector) -> Conflict:
    """Why an ID number already registered to ``holder`` cannot be registered (or imported)
    by this actor. Held inside their scope: "already registered" (they can see the person).
    Held outside it: the same words wherever and whoever holds it, that it cannot be registered
    here and that an admin above (whose region contains both) can resolve it, so the answer
    tells nothing about a person the actor may not see."""
    if access.scope_for(actor).covers_path(holder.region.path):
        return Conflict(_("身份证号已登记。"), code="duplicate", fields={"national_id": [_("身份证号已登记。")]})
    return Conflict(
        national_id_not_here_message(), code="national_id_not_here", fields={"national_id": [_("不能在此登记。")]}
    )


def national_id_not_here_message() -> str:
    """The one wording of "this number cannot be registered here" (services, imports)."""
    return _("该身份证号不能在此登记。如需办理，请联系上级管理员（其管辖范围同时包含您的地区）。")


def _held_by(national_id: str) -> Inspector | None:
    return Inspector.objects.select_related("region").filter(national_id=national_id).first()


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
    RegionEvent.objects.create(
        region=region,
        kind=RegionEvent.Kind.CREATED,
        changes=diff({}, snapshot(region, REGION_FIELDS)),
        actor_id=_actor_id(actor),
    )
    return region


_REGION_UPDATABLE = {"code", "name", "level", "parent"}


@transaction.atomic
def region_update(*, actor, region: Region, data: dict) -> Region:
    """Change a region (provincial admins only: a code or a parent changes the paths of the
    whole subtree); the level must still follow the parent's, and a region cannot move under itself."""
    unknown = set(data) - _REGION_UPDATABLE
    if unknown:
        raise ValidationFailed(
            _("不能修改这些字段：%(f)s") % {"f": ", ".join(sorted(unknown))},
            fields={f: [_("不可修改。")] for f in unknown},
        )
    if access.scope_for(actor).kind != access.ALL:
        raise AccessDenied(_("地区由省级管理员维护。"))
    region = Region.objects.select_for_update().get(pk=region.pk)
    before, old_path = snapshot(region, REGION_FIELDS), region.path
    for field, value in data.items():
        setattr(region, field, value)
    parent = region.parent
    if parent is not None and parent.path.startswith(old_path):
        raise ValidationFailed(_("不能把地区移到它自己或其下级之下。"), fields={"parent": [_("不能是自身或下级。")]})
    if parent is None and region.level != RegionLevel.PROVINCE:
        raise ValidationFailed(_("顶级地区必须是省级。"), fields={"level": [_("顶级地区必须是省级。")]})
    if parent is not None and _CHILD_LEVEL.get(parent.level) != region.level:
        raise ValidationFailed(
            _("%(parent)s的下级不能是该级别。") % {"parent": parent.name}, fields={"level": [_("级别与上级不符。")]}
        )
    if region.level != before["level"] and region.children.exists():
        raise Conflict(_("有下级地区的地区不能改变级别。"), code="has_children", fields={"level": [_("有下级地区。")]})
    try:
        region.full_clean(exclude=["path", "depth"])
    except ValidationError as exc:
        raise ValidationFailed(_("地区信息有误。"), fields=exc.message_dict) from None
    changes = diff(before, snapshot(region, REGION_FIELDS))
    if not changes:
        return region
    region.save()
    RegionEvent.objects.create(region=region, kind=RegionEvent.Kind.CHANGED, changes=changes, actor_id=_actor_id(actor))
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
    unit: str = "",
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
        unit=unit,
        phone=phone,
        status=status,
        hired_on=hired_on,
    )
    _clean_inspector(inspector)
    holder = _held_by(inspector.national_id)
    if holder is not None:
        raise national_id_held_refusal(actor=actor, holder=holder)
    try:
        with transaction.atomic():
            inspector.save()
    except IntegrityError:
        # Two requests raced past the check; the unique index decided.
        holder = _held_by(inspector.national_id)
        if holder is None:
            raise
        raise national_id_held_refusal(actor=actor, holder=holder) from None
    inspector_event(
        inspector=inspector, kind=InspectorEvent.Kind.CREATED, changes=inspector_changes({}, inspector), actor=actor
    )
    return inspector


_UPDATABLE = {"name", "region", "sector", "position", "unit", "phone", "status", "hired_on"}


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
    before = snapshot(inspector, INSPECTOR_FIELDS)
    for field, value in data.items():
        setattr(inspector, field, value)
    if "region" in data:
        _require_admin_of(actor=actor, region=data["region"])
    _clean_inspector(inspector)
    changes = inspector_changes(before, inspector)
    if not changes:
        return inspector
    inspector.save()
    inspector_event(inspector=inspector, kind=InspectorEvent.Kind.CHANGED, changes=changes, actor=actor)
    return inspector


@transaction.atomic
def inspector_link_user(*, inspector: Inspector, user, actor=None) -> Inspector:
    """Give an inspector a login (demo data, admin). A login belongs to one person, and
    an administrator's login is not also an inspector's (the roles would be ambiguous)."""
    if user is not None:
        if Inspector.objects.filter(user=user).exclude(pk=inspector.pk).exists():
            raise Conflict(_("该账号已关联其他执法人员。"), code="user_taken", fields={"user": [_("账号已被使用。")]})
        if RegionAdmin.objects.filter(user=user).exists() or user.is_superuser:
            raise Conflict(
                _("管理员账号不能关联为执法人员。"), code="user_is_admin", fields={"user": [_("管理员账号。")]}
            )
    old = Inspector.objects.filter(pk=inspector.pk).values_list("user__username", flat=True).first()
    inspector.user = user
    inspector.save(update_fields=["user", "updated_at"])
    new = user.get_username() if user is not None else None
    if old != new:
        inspector_event(
            inspector=inspector, kind=InspectorEvent.Kind.USER_LINKED, changes={"user": [old, new]}, actor=actor
        )
    return inspector


@transaction.atomic
def region_admin_assign(*, user, region: Region, actor=None) -> RegionAdmin:
    """Make a user the administrator of a region (and its subtree). An inspector's login
    is not also an administrator's (the roles would be ambiguous)."""
    if Inspector.objects.filter(user=user).exists():
        raise Conflict(
            _("执法人员的账号不能同时是管理员账号。"), code="user_is_inspector", fields={"user": [_("执法人员账号。")]}
        )
    previous = RegionAdmin.objects.select_for_update().filter(user=user).select_related("region").first()
    if previous is not None and previous.region_id == region.pk:
        binding = previous
    else:
        binding, _created = RegionAdmin.objects.update_or_create(user=user, defaults={"region": region})
        name = user.get_username()
        if previous is not None:
            RegionEvent.objects.create(
                region=previous.region,
                kind=RegionEvent.Kind.ADMIN_REMOVED,
                changes={"admin": [name, None]},
                actor_id=_actor_id(actor),
            )
        RegionEvent.objects.create(
            region=region,
            kind=RegionEvent.Kind.ADMIN_ASSIGNED,
            changes={"admin": [None, name]},
            actor_id=_actor_id(actor),
        )
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return binding


@transaction.atomic
def region_admin_remove(*, binding: RegionAdmin, actor) -> None:
    """Take a region away from its administrator (the login stays; it no longer enters the admin)."""
    if not getattr(actor, "is_superuser", False):
        raise AccessDenied()
    RegionEvent.objects.create(
        region=binding.region,
        kind=RegionEvent.Kind.ADMIN_REMOVED,
        changes={"admin": [binding.user.get_username(), None]},
        actor_id=_actor_id(actor),
    )
    binding.delete()


# --- Photos: the card photo of one inspector, or many from a zip. The file is stored under a
# fresh random name before the row points to it; if the transaction then fails the new file is
# removed, and the file it replaced is removed only once the change has committed.


@dataclass(frozen=True)
class PhotoImportResult:
    written: int
    errors: list  # personnel.photos.ZipEntryError, each naming the entry and why

    @property
    def ok(self) -> bool:
        return not self.errors


def inspector_photo_set(*, actor, inspector: Inspector, data: bytes) -> Inspector:
    """Set an inspector's card photo from an uploaded JPEG or PNG (normalised by
    ``personnel.photos``); refused with the reason for a bad file or outside the actor's scope."""
    _require_admin_of(actor=actor, region=inspector.region)
    try:
        normalised = photos.photo_normalize(data)
    except photos.PhotoError as exc:
        raise ValidationFailed(exc.message, fields={"photo": [exc.message]}) from None
    return _photos_write(actor=actor, by_id={inspector.pk: normalised})[0]


def inspector_photos_import(*, actor, data: bytes) -> PhotoImportResult:
    """Set the photos of many inspectors from a zip of ``<ID number>.jpg``/``.png``. Every
    entry is checked first (file, ID number known and in the actor's scope); if any is bad,
    nothing is written and each bad entry is named with why."""
    if not access.scope_for(actor).is_admin:
        raise AccessDenied(_("无权上传照片。"))
    try:
        found, errors = photos.photos_from_zip(data)
    except photos.PhotoError as exc:
        return PhotoImportResult(written=0, errors=[photos.ZipEntryError("", exc.message)])
    holders = {
        i.national_id: i
        for i in Inspector.objects.select_related("region").filter(national_id__in=[p.national_id for p in found])
    }
    scope = access.scope_for(actor)
    by_id: dict[int, bytes] = {}
    for photo in found:
        holder = holders.get(photo.national_id)
        # The same words for a number nobody holds and one held outside the scope.
        if holder is None or not scope.covers_path(holder.region.path):
            errors.append(photos.ZipEntryError(photo.name, _("您管辖范围内没有此身份证号的执法人员")))
        else:
            by_id[holder.pk] = photo.data
    if errors:
        order = {p.name: n for n, p in enumerate(found)}
        errors.sort(key=lambda e: order.get(e.name, -1))
        return PhotoImportResult(written=0, errors=errors)
    written = _photos_write(actor=actor, by_id=by_id)
    return PhotoImportResult(written=len(written), errors=[])


def _photos_write(*, actor, by_id: dict[int, bytes]) -> list[Inspector]:
    storage = Inspector._meta.get_field("photo").storage
    stored = {pk: storage.save(f"photos/{uuid.uuid4().hex}.jpg", ContentFile(data)) for pk, data in by_id.items()}
    try:
        with transaction.atomic():
            inspectors = list(
                Inspector.objects.select_for_update().select_related("region").filter(pk__in=by_id).order_by("pk")
            )
            scope = access.scope_for(actor)
            for inspector in inspectors:
                if not (scope.is_admin and scope.covers_path(inspector.region.path)):
                    raise AccessDenied(_("无权管理地区“%(region)s”的数据。") % {"region": inspector.region.name})
            replaced = [i.photo.name for i in inspectors if i.photo]
            unused = [name for pk, name in stored.items() if pk not in {i.pk for i in inspectors}]
            now = timezone.now()
            events = []
            for inspector in inspectors:
                old = inspector.photo.name or None
                inspector.photo = stored[inspector.pk]
                inspector.updated_at = now
                events.append(
                    InspectorEvent(
                        inspector=inspector,
                        kind=InspectorEvent.Kind.PHOTO_SET,
                        changes={"photo": [old, inspector.photo.name]},
                        actor_id=_actor_id(actor),
                    )
                )
            Inspector.objects.bulk_update(inspectors, ["photo", "updated_at"], batch_size=500)
            InspectorEvent.objects.bulk_create(events, batch_size=500)
            transaction.on_commit(lambda: _delete_files(storage, [*replaced, *unused]), robust=True)
    except BaseException:
        _delete_files(storage, stored.values())
        raise
    return inspectors


def _delete_files(storage, names) -> None:
    for name in names:
        storage.delete(name)
