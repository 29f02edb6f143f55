"""Reads of regions and inspectors, always limited to what the actor may see.

A queryset that leaves this module is already scoped; object access goes through
``*_get_for_actor`` which answers NotFound (404) for what the actor may not see.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from core.errors import NotFound

from . import access
from .models import Inspector, Region


def region_subtree(*, region: Region) -> QuerySet[Region]:
    """The region and everything under it, as one indexed prefix query."""
    return Region.objects.filter(path__startswith=region.path)


def region_list(*, actor) -> QuerySet[Region]:
    """Regions the actor may see: all, their subtree, or (an inspector) their own region."""
    scope = access.scope_for(actor)
    qs = Region.objects.select_related("parent")
    if scope.kind == access.ALL:
        return qs
    if scope.kind == access.REGION:
        return qs.filter(path__startswith=scope.region_path)
    if scope.kind == access.SELF:
        return qs.filter(inspectors__id=scope.inspector_id)
    return qs.none()


def region_get_for_actor(*, actor, code: str) -> Region:
    region = region_list(actor=actor).filter(code=code).first()
    if region is None:
        raise NotFound()
    return region


def scope_filter(*, actor, region_field: str, inspector_field: str | None = None) -> Q | None:
    """The Q that limits any model to the actor's scope, given the lookup paths to a
    Region and (for the inspector's own rows) to an Inspector. None means no limit.

    Every scoped selector in every app builds on this, so the rule lives in one place.
    """
    scope = access.scope_for(actor)
    if scope.kind == access.ALL:
        return None
    if scope.kind == access.REGION:
        return Q(**{f"{region_field}__path__startswith": scope.region_path})
    if scope.kind == access.SELF and inspector_field is not None:
        return Q(**{inspector_field: scope.inspector_id})
    return Q(pk__in=[])


def inspector_list(*, actor, filters: dict | None = None) -> QuerySet[Inspector]:
    """Inspectors the actor may see, optionally filtered by sector, status,
    region (its whole subtree) and a search over name / ID number."""
    qs = Inspector.objects.select_related("region", "region__parent")
    q = scope_filter(actor=actor, region_field="region", inspector_field="id")
    if q is not None:
        qs = qs.filter(q)
    filters = filters or {}
    if filters.get("sector"):
        qs = qs.filter(sector=filters["sector"])
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    region = filters.get("region")
    if region:
        path = region.path if isinstance(region, Region) else _path_of(region)
        qs = qs.filter(region__path__startswith=path) if path else qs.none()
    search = (filters.get("search") or "").strip()
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(national_id__startswith=search.upper()))
    return qs


def _path_of(code: str) -> str | None:
    return Region.objects.filter(code=code).values_list("path", flat=True).first()


def inspector_get_for_actor(*, actor, inspector_id) -> Inspector:
    inspector = inspector_list(actor=actor).filter(pk=inspector_id).first()
    if inspector is None:
        raise NotFound()
    return inspector


def inspector_in_scope(*, actor, inspector_id: int) -> bool:
    """Whether an inspector with this id is one the actor may see (scope_filter's rule),
    without reading the row: no query for the province's admins (everyone) or an inspector
    (their own id), one narrow indexed query for a region's admin. Says nothing of whether the
    row exists: for a caller that reads (and locks) it next, as enrolling does."""
    scope = access.scope_for(actor)
    if scope.kind == access.ALL:
        return True
    if scope.kind == access.SELF:
        return inspector_id == scope.inspector_id
    q = scope_filter(actor=actor, region_field="region", inspector_field="id")
    return Inspector.objects.filter(q, pk=inspector_id).exists()


def can_see_full_national_id(*, actor, inspector: Inspector) -> bool:
    """Only admins whose region contains the inspector's region see the whole number."""
    scope = access.scope_for(actor)
    return scope.is_admin and scope.covers_path(inspector.region.path)


def actor_manages_region(*, actor, region: Region) -> bool:
    scope = access.scope_for(actor)
    return scope.is_admin and scope.covers_path(region.path)
