"""Reads of export jobs, and the office's lists (who falls short of the hours, who lacks one
of the three systems), limited to what the actor may see (personnel.selectors.scope_filter).

One rule for listing, showing and downloading a job, decided by the role the actor holds
now, not the one they held when the job was made: an admin whose current region contains
the job's region. The requester is no exception: moved to another region, or no longer an
admin, they lose their own jobs outside their new scope like anyone else's. Everyone else
gets NotFound (404), the same answer as for a job that does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Exists, OuterRef, Q, QuerySet

from core.errors import NotFound
from personnel import access
from personnel.models import InspectorStatus
from personnel.selectors import inspector_list, scope_filter
from training.models import THREE_SYSTEMS
from training.selectors import coverage_missing, inspector_hours_list

from .models import ExportJob

if TYPE_CHECKING:
    from .figures import Scope


def export_job_list(*, actor) -> QuerySet[ExportJob]:
    """Jobs whose region lies inside the actor's current admin scope (their own included)."""
    qs = ExportJob.objects.select_related("region", "requested_by")
    # An admin may export exactly the regions of their scope, so "their own jobs they may
    # still export" is a subset of the region rule: one filter covers both.
    if not access.scope_for(actor).is_admin:
        return qs.none()
    region_q = scope_filter(actor=actor, region_field="region")
    if region_q is None:  # the whole province
        return qs
    return qs.filter(region_q)


def export_job_get_for_actor(*, actor, job_id) -> ExportJob:
    """One job the actor may see (and so download); NotFound otherwise."""
    try:
        job_id = int(job_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    job = export_job_list(actor=actor).filter(pk=job_id).first()
    if job is None:
        raise NotFound()
    return job


# --- the office's lists (学时未达标名单, 三项制度未覆盖名单) ------------------------------------------


def hours_shortfall_list(*, actor, scope: Scope):
    """Active inspectors of the scope (inside the actor's) whose hours in the year fall short
    of their required hours (``training.rules.hours_met``, through
    ``training.selectors.inspector_hours_list``), by region then name, with ``hours`` and
    ``required``."""
    filters = {"region": scope.region, "status": InspectorStatus.ACTIVE, "met": False}
    return inspector_hours_list(actor=actor, year=scope.year, filters=filters).order_by("region__path", "name", "id")


def coverage_missing_list(*, actor, scope: Scope):
    """Active inspectors of the scope (inside the actor's) who lack at least one of the three
    systems in the year, each once, with ``lacks_<topic>`` for each topic: who lacks what is
    ``training.selectors.coverage_missing``, asked per topic."""
    lacks = {
        f"lacks_{topic}": Exists(
            coverage_missing(actor=actor, year=scope.year, topic=topic, region=scope.region).filter(pk=OuterRef("pk"))
        )
        for topic in THREE_SYSTEMS
    }
    people = inspector_list(actor=actor, filters={"region": scope.region, "status": InspectorStatus.ACTIVE})
    any_lacking = Q()
    for name in lacks:
        any_lacking |= Q(**{name: True})
    return people.annotate(**lacks).filter(any_lacking).order_by("region__path", "name", "id")
