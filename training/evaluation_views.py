"""The inspector's 评教 form on ``/me/`` posts here: the service decides, the page says how it went.

Post/redirect/get: the answer (thanks, or why not, naming each field) is a message shown in the
form's section of ``/me/`` (``exams/templates/exams/me.html``), whatever the outcome.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError, ValidationFailed
from personnel import access

from .evaluations import evaluation_submit
from .models import Enrollment

# The messages of this form carry this tag: the section shows only its own.
TAG = "evaluation"


@login_required
@require_POST
def evaluation_post(request, batch_id: int):
    """``/me/evaluations/<batch id>/``: the signed-in inspector rates a batch they completed."""
    scope = access.scope_for(request.user)
    if scope.kind != access.SELF:
        raise Http404
    mine = Enrollment.objects.filter(batch_id=batch_id, inspector_id=scope.inspector_id).order_by()[:1]
    enrollment = next(iter(mine), None)
    if enrollment is None:
        raise Http404
    form = request.POST
    try:
        evaluation_submit(
            enrollment=enrollment,
            actor=request.user,
            content=form.get("content"),
            trainer=form.get("trainer"),
            organisation=form.get("organisation"),
            comment=form.get("comment", ""),
        )
    except ValidationFailed as exc:
        details = [message for errors in exc.fields.values() for message in errors]
        messages.error(request, " ".join([exc.detail, *details]), extra_tags=TAG)
    except DomainError as exc:
        messages.error(request, exc.detail, extra_tags=TAG)
    else:
        messages.success(request, _("已评价，感谢您的反馈。"), extra_tags=TAG)
    return redirect(reverse("me") + "#evaluations")
