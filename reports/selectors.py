"""Reads of export jobs, limited to what the actor may see (personnel.selectors.scope_filter).

One rule for listing, showing and downloading a job, decided by the role the actor holds
now, not the one they held when the job was made: an admin whose current region contains
the job's region. The requester is no exception: moved to another region, or no longer an
admin, they lose their own jobs outside their new scope like anyone else's. Everyone else
gets NotFound (404), the same answer as for a job that does not exist.
"""

from __future__ import annotations

from django.db.models import QuerySet

from core.errors import NotFound
from personnel import access
from personnel.selectors import scope_filter

from .models import ExportJob


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
