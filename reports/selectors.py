"""Reads of export jobs, limited to what the actor may see (personnel.selectors.scope_filter).

One rule for listing, showing and downloading a job: the requester, and admins of a
region that contains the job's scope. Everyone else gets NotFound (404), the same
answer as for a job that does not exist.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from core.errors import NotFound
from personnel import access
from personnel.selectors import scope_filter

from .models import ExportJob


def export_job_list(*, actor) -> QuerySet[ExportJob]:
    """Jobs the actor requested, plus (for admins) jobs whose scope lies inside their region."""
    qs = ExportJob.objects.select_related("region", "requested_by")
    if not getattr(actor, "is_authenticated", False) or actor.pk is None:
        return qs.none()
    own = Q(requested_by_id=actor.pk)
    if not access.scope_for(actor).is_admin:
        return qs.filter(own)
    region_q = scope_filter(actor=actor, region_field="region")
    if region_q is None:  # the whole province
        return qs
    return qs.filter(own | region_q)


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
