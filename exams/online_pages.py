"""The candidate's online exam pages (在线考试), phone first: the sittings open to me and the
practice entry, a sitting's page (start or resume), the paper, the confirm step before handing
in, and the result (the score when the sitting shows it; answers and explanations after a
practice paper).

Every page is whole without script: the paper is one form whose 保存答案 posts every answer
through the same service as the API (exams.online.answers_save), and 交卷 goes through a
confirm page listing the unanswered questions. exams/static/exams/online.js adds saving each
answer as it is given (PUT /api/v1/attempts/{id}/answers/), one question a page, and the time
left counted down from the server's deadline; when it runs out the server decides and the page
shows the submitted state. No inline script or style (core.csp).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from core.errors import DomainError, NotFound
from personnel import access
from personnel.models import Inspector

from . import online
from .models import Attempt, AttemptState, Sitting, SubmittedBy
from .questions import drawable_questions

MESSAGE_TAG = "online"
PRACTICE_COUNTS = (10, 20, 50)
RECENT_ATTEMPTS = 10


def _inspector(request) -> Inspector | None:
    """The signed-in inspector, or None for an account without an inspector's file."""
    scope = access.scope_for(request.user)
    if scope.kind != access.SELF or scope.inspector_id is None:
        return None
    return Inspector.objects.select_related("region").get(pk=scope.inspector_id)


def _candidate(request) -> Inspector:
    """The signed-in inspector; an account without an inspector's file has no papers (404,
    as the API answers it). Only the list (``exams_page``) explains that in words."""
    inspector = _inspector(request)
    if inspector is None:
        raise Http404
    return inspector


def _not_inspector(request):
    scope = access.scope_for(request.user)
    return render(request, "exams/not_inspector.html", {"is_admin": scope.is_admin or request.user.is_staff})


def _refused(request, exc: DomainError) -> None:
    messages.error(request, exc.detail, extra_tags=MESSAGE_TAG)


def _attempt(inspector: Inspector, attempt_id: int) -> Attempt:
    """My attempt, brought up to date (an overdue one is submitted by the server first);
    anyone else's answers 404 like a missing one."""
    try:
        attempt = online.attempt_get_for(inspector=inspector, attempt_id=attempt_id)
    except NotFound:
        raise Http404 from None
    return Attempt.objects.select_related("sitting", "sitting__exam", "result").get(pk=attempt.pk)


@dataclass(frozen=True)
class SittingRow:
    sitting: Sitting
    attempt: Attempt | None
    state: str  # upcoming, open, active, submitted, closed
    state_display: str


def _sitting_state(sitting: Sitting, attempt: Attempt | None, now) -> tuple[str, str]:
    if attempt is not None and attempt.state == AttemptState.SUBMITTED:
        return "submitted", _("已交卷")
    if attempt is not None:
        # Past its deadline the server submits it the moment it is opened.
        return ("active", _("答题中")) if now < attempt.deadline else ("submitted", _("已到时交卷"))
    # Whether it can be started now is the service's rule (the API's open_now reads it too).
    refusal = online.start_refusal(sitting=sitting, now=now)
    if refusal is None:
        return "open", _("可开始答题")
    if refusal.code == "not_open_yet":
        return "upcoming", _("未开考")
    return "closed", _("已截止")


# --- the list ----------------------------------------------------------------------------------------


@never_cache
@login_required
@require_safe
def exams_page(request):
    """``/me/exams/``: the online sittings open to me (window, duration, my state), my recent
    papers, and the practice entry."""
    inspector = _inspector(request)
    if inspector is None:
        return _not_inspector(request)
    now = timezone.now()
    rows = []
    for sitting in online.online_sittings_for(inspector=inspector, now=now):
        state, label = _sitting_state(sitting, sitting.my_attempt, now)
        rows.append(SittingRow(sitting, sitting.my_attempt, state, label))
    recent = list(online.attempt_list_for(inspector=inspector).filter(state=AttemptState.SUBMITTED)[:RECENT_ATTEMPTS])
    practice = online.attempt_list_for(inspector=inspector).filter(practice=True, state=AttemptState.ACTIVE).first()
    categories = list(
        drawable_questions(inspector.region).order_by("category").values_list("category", flat=True).distinct()
    )
    context = {
        "inspector": inspector,
        "sittings": rows,
        "recent": [{"attempt": a, "score_visible": online.score_visible(a)} for a in recent],
        "practice": practice if practice is not None and practice.deadline > now else None,
        "categories": categories,
        "counts": PRACTICE_COUNTS,
    }
    return render(request, "exams/online/exams.html", context)


# --- a sitting: start or resume -------------------------------------------------------------------


def _my_sitting(inspector: Inspector, sitting_id: int) -> Sitting:
    try:
        return online.online_sitting_for_candidate(inspector=inspector, sitting_id=sitting_id)
    except NotFound:
        raise Http404 from None


@never_cache
@login_required
@require_safe
def sitting_page(request, sitting_id: int):
    """A sitting before starting: its window, duration and rules, and the 开始答题 button.
    Started already: straight to the paper (or the result)."""
    inspector = _candidate(request)
    sitting = _my_sitting(inspector, sitting_id)
    attempt = Attempt.objects.filter(sitting=sitting, inspector=inspector, practice=False).first()
    if attempt is not None:
        return redirect("online-attempt", attempt_id=attempt.pk)
    now = timezone.now()
    state, label = _sitting_state(sitting, None, now)
    refusal = online.start_refusal(sitting=sitting, now=now)
    context = {
        "sitting": sitting,
        "exam": sitting.exam,
        "parts": list(sitting.exam.parts.all()),
        "state": state,
        "state_display": label,
        "refusal": refusal.message if refusal is not None else "",
    }
    return render(request, "exams/online/sitting.html", context)


@login_required
@require_POST
def sitting_start(request, sitting_id: int):
    """开始答题 (or resume): the paper drawn once, then the attempt's page."""
    inspector = _candidate(request)
    sitting = _my_sitting(inspector, sitting_id)
    try:
        attempt = online.attempt_start(sitting=sitting, inspector=inspector)
    except DomainError as exc:
        _refused(request, exc)
        existing = Attempt.objects.filter(sitting=sitting, inspector=inspector, practice=False).first()
        if existing is not None:
            return redirect("online-attempt", attempt_id=existing.pk)
        return redirect("online-sitting", sitting_id=sitting.pk)
    return redirect("online-attempt", attempt_id=attempt.pk)


@login_required
@require_POST
def practice_start(request):
    """练习: a practice paper from my region's bank (one category or all), or the one I have
    not finished."""
    inspector = _candidate(request)
    try:
        count = int(request.POST.get("count") or 20)
    except ValueError:
        count = 0
    try:
        attempt = online.practice_start(
            inspector=inspector, category=(request.POST.get("category") or "").strip() or None, count=count
        )
    except DomainError as exc:
        _refused(request, exc)
        return redirect("online-exams")
    return redirect("online-attempt", attempt_id=attempt.pk)


# --- the paper and the result ------------------------------------------------------------------------


def _items(attempt: Attempt) -> list[dict]:
    rows = online.attempt_paper(attempt)
    for row in rows:
        row["multiple"] = row["kind"] == "multiple"
        row["options"] = [{**o, "checked": o["letter"] in row["answer"]} for o in row["options"]]
    return rows


def time_left_text(seconds: int) -> str:
    """The time left as the page's clock shows it: 1:05:09, 42:07."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _part_scores(attempt: Attempt) -> list[dict]:
    if not attempt.sitting_id:
        return []
    parts = list(attempt.sitting.exam.parts.all())
    return [
        {"name": p.name, "max": p.max_score, "score": attempt.part_scores.get(str(p.pk))}
        for p in parts
        if str(p.pk) in attempt.part_scores
    ]


@never_cache
@login_required
@require_safe
def attempt_page(request, attempt_id: int):
    """The paper while the attempt is active; the submitted state and the result after."""
    inspector = _candidate(request)
    attempt = _attempt(inspector, attempt_id)
    items = _items(attempt)
    now = timezone.now()
    context = {
        "attempt": attempt,
        "sitting": attempt.sitting,
        "title": attempt.sitting.exam.title if attempt.sitting_id else _("练习"),
        "items": items,
        "answered": sum(1 for row in items if row["answer"]),
    }
    if attempt.state == AttemptState.ACTIVE:
        seconds_left = max(0, int((attempt.deadline - now).total_seconds()))
        context.update(
            seconds_left=seconds_left,
            time_left=time_left_text(seconds_left),
            api_url=reverse("attempt-detail", args=[attempt.pk]),
            answers_url=reverse("attempt-answers", args=[attempt.pk]),
        )
        return render(request, "exams/online/paper.html", context)
    visible = online.score_visible(attempt)
    context.update(
        score_visible=visible,
        timed_out=attempt.submitted_by == SubmittedBy.TIMEOUT,
        parts=_part_scores(attempt) if visible else [],
        right=sum(1 for row in items if row.get("correct")),
        result=attempt.result if visible else None,
    )
    return render(request, "exams/online/result.html", context)


def _posted_answers(request, items: list[dict]) -> dict[int, str]:
    """The answers of the paper's form: every question of it (a blank one clears the answer)."""
    return {row["position"]: "".join(sorted(request.POST.getlist(f"q-{row['position']}"))) for row in items}


@login_required
@require_POST
def attempt_answers(request, attempt_id: int):
    """The paper's form without script: every answer saved through the service, then back
    to the paper (保存答案) or on to the confirm step (交卷)."""
    inspector = _candidate(request)
    attempt = _attempt(inspector, attempt_id)
    if attempt.state != AttemptState.ACTIVE:
        messages.error(request, _("答卷已提交，不能再修改答案。"), extra_tags=MESSAGE_TAG)
        return redirect("online-attempt", attempt_id=attempt.pk)
    answers = _posted_answers(request, online.attempt_paper(attempt))
    try:
        online.answers_save(attempt=attempt, inspector=inspector, answers=answers)
    except DomainError as exc:
        _refused(request, exc)
        return redirect("online-attempt", attempt_id=attempt.pk)
    if request.POST.get("then") == "submit":
        return redirect("online-submit", attempt_id=attempt.pk)
    messages.success(request, _("答案已保存。"), extra_tags=MESSAGE_TAG)
    return redirect("online-attempt", attempt_id=attempt.pk)


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def attempt_submit(request, attempt_id: int):
    """交卷: GET shows the confirm step (the questions not answered, each a link back to it);
    POST hands in. The server's clock decides: after the deadline it counts as submitted by
    time."""
    inspector = _candidate(request)
    attempt = _attempt(inspector, attempt_id)
    if attempt.state != AttemptState.ACTIVE:
        return redirect("online-attempt", attempt_id=attempt.pk)
    if request.method == "POST":
        online.attempt_submit(attempt=attempt, by=SubmittedBy.CANDIDATE)
        return redirect("online-attempt", attempt_id=attempt.pk)
    items = _items(attempt)
    context = {
        "attempt": attempt,
        "title": attempt.sitting.exam.title if attempt.sitting_id else _("练习"),
        "unanswered": [row for row in items if not row["answer"]],
        "total": len(items),
        "paper_url": reverse("online-attempt", args=[attempt.pk]),
        "time_left": time_left_text(int((attempt.deadline - timezone.now()).total_seconds())),
    }
    return render(request, "exams/online/submit.html", context)
