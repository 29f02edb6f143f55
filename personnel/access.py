"""Who may see what: the one place that turns a user into a scope.

Roles:
- provincial admin: a superuser, or a region admin bound to a province: everything;
- regional admin: a ``RegionAdmin`` bound to a city or county: that region and its subtree;
- inspector: a user linked to an ``Inspector``: only themself;
- anyone else: nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

ALL = "all"
REGION = "region"
SELF = "self"
NONE = "none"

ROLE_LABELS = {
    ALL: _("省级管理员"),
    REGION: _("地区管理员"),
    SELF: _("执法人员"),
    NONE: _("无权限"),
}


@dataclass(frozen=True)
class Scope:
    kind: str
    region_path: str = ""
    region_id: int | None = None
    inspector_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.kind in (ALL, REGION)

    def covers_path(self, path: str) -> bool:
        """True when a region with this materialized path is inside the scope."""
        if self.kind == ALL:
            return True
        if self.kind == REGION:
            return path.startswith(self.region_path)
        return False

    @property
    def label(self) -> str:
        return str(ROLE_LABELS[self.kind])


def scope_for(user) -> Scope:
    """Resolve (and cache on the user object) what this user may see."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Scope(NONE)
    cached = getattr(user, "_personnel_scope", None)
    if cached is not None:
        return cached
    scope = _resolve(user)
    user._personnel_scope = scope
    return scope


def _resolve(user) -> Scope:
    from .models import Inspector, RegionAdmin, RegionLevel

    if user.is_superuser:
        return Scope(ALL)
    binding = _loaded(user, "region_admin")
    if binding is _NOT_LOADED:
        binding = RegionAdmin.objects.select_related("region").filter(user=user).order_by()[:1]
        binding = next(iter(binding), None)
    if binding is not None:
        if binding.region.level == RegionLevel.PROVINCE and binding.region.parent_id is None:
            return Scope(ALL, region_path=binding.region.path, region_id=binding.region_id)
        return Scope(REGION, region_path=binding.region.path, region_id=binding.region_id)
    inspector = _loaded(user, "inspector")
    if inspector is _NOT_LOADED:
        inspector_id = Inspector.objects.filter(user=user).values_list("id", flat=True).order_by()[:1]
        inspector_id = next(iter(inspector_id), None)
    else:
        inspector_id = inspector.pk if inspector is not None else None
    if inspector_id is not None:
        return Scope(SELF, inspector_id=inspector_id)
    return Scope(NONE)


_NOT_LOADED = object()


def _loaded(user, name: str):
    """The user's one-to-one row ``name`` (or None when there is none) if the query that
    loaded the user loaded it too (the API token's: settings.API_TOKEN_USER_RELATED);
    _NOT_LOADED otherwise."""
    related = getattr(user.__class__, name).related  # __class__: request.user may be a lazy object
    return related.get_cached_value(user) if related.is_cached(user) else _NOT_LOADED
