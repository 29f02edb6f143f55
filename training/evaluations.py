"""评教 (course evaluation), in one place: who may rate a batch and when, the one write
(``evaluation_submit``), what an inspector still has to rate (``evaluation_due``), and the
figures every surface shows (the batch admin, ``/api/v1/batches/{id}/evaluations/``, the
overview and the yearly workbook's 评教 sheet): ``evaluation_counts`` over enrollments and
``evaluation_figures`` derived from them (``docs/definitions.md``, ``docs/evaluation.md``).

The rules: only the enrollment's own inspector, only once, only once their enrollment is
completed (``training.rules.completed``, what ``batch_complete`` sets), and within
``EVALUATION_OPEN_DAYS`` after the batch's last day. The Evaluation row is never changed;
submitting it writes its ``EvaluationEvent`` (who, when, the scores) in the same
transaction. Evaluations are anonymous to everyone reading them: no surface shows whose
rating it is (nor its event).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import AccessDenied, Conflict, NotFound, ValidationFailed
from personnel import access

from . import rules
from .models import Enrollment, Evaluation, EvaluationEvent

# The three questions, in the order every surface shows them: (field, label).
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("content", gettext_lazy("课程内容")),
    ("trainer", gettext_lazy("授课教师")),
    ("organisation", gettext_lazy("组织安排")),
)
SCORES = range(1, 6)
COMMENT_MAX = Evaluation._meta.get_field("comment").max_length
# A participant may rate from their completion until this many days after the batch's last day.
EVALUATION_OPEN_DAYS = 90


def closes_on(ends_on: dt.date) -> dt.date:
    """The last day a batch ending on ``ends_on`` may be rated."""
    return ends_on + dt.timedelta(days=EVALUATION_OPEN_DAYS)


def rating_open(ends_on: dt.date, today: dt.date) -> bool:
    return today <= closes_on(ends_on)


# --- the write ------------------------------------------------------------------------------------


def _score(value) -> int | None:
    """A score 1-5 from the API (an int) or a form (text); None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            return None
        value = int(value)
    return value if isinstance(value, int) and value in SCORES else None


def _checked(content, trainer, organisation, comment) -> tuple[dict, str]:
    errors: dict[str, list[str]] = {}
    scores = {}
    for name, value in (("content", content), ("trainer", trainer), ("organisation", organisation)):
        score = _score(value)
        if score is None:
            label = dict(QUESTIONS)[name]
            errors[name] = [_("请为“%(q)s”选择 1 至 5 分。") % {"q": label}]
        scores[name] = score
    comment = (comment or "").strip()
    if "\x00" in comment:  # (PostgreSQL refuses it in text: never a 500)
        errors["comment"] = [_("意见建议含有无效字符。")]
    elif len(comment) > COMMENT_MAX:
        errors["comment"] = [_("意见建议最多 %(n)d 字（现有 %(m)d 字）。") % {"n": COMMENT_MAX, "m": len(comment)}]
    if errors:
        raise ValidationFailed(_("评价内容有误，请检查标出的项目。"), fields=errors)
    return scores, comment


def _already(evaluation: Evaluation) -> Conflict:
    day = timezone.localtime(evaluation.created_at).date()
    return Conflict(
        _("您已于 %(d)s 评价过该培训，每期培训只能评价一次。") % {"d": day.isoformat()}, code="already_evaluated"
    )


@transaction.atomic
def evaluation_submit(
    *,
    enrollment: Enrollment,
    actor,
    content,
    trainer,
    organisation,
    comment: str = "",
    today: dt.date | None = None,
) -> Evaluation:
    """The participant's own rating of a batch they completed: once, 1-5 on each question and
    an optional comment. Refused: someone else (403), not completed, already rated, closed (409),
    a score outside 1-5 or a comment too long (400, by field)."""
    scope = access.scope_for(actor)
    if scope.kind != access.SELF or scope.inspector_id != enrollment.inspector_id:
        raise AccessDenied(_("只有参加该期培训的本人可以评价。"), code="not_participant")
    # The enrollment's row lock: two submits at once queue here, and the second sees the first.
    locked = Enrollment.objects.select_for_update(of=("self",)).select_related("batch").filter(pk=enrollment.pk)
    enrollment = next(iter(locked), None)
    if enrollment is None:
        raise NotFound()
    if enrollment.status != rules.S.COMPLETED:
        raise Conflict(
            _("培训结业后才能评价（您的报名状态为“%(s)s”）。") % {"s": enrollment.get_status_display()},
            code="not_completed",
        )
    existing = Evaluation.objects.filter(enrollment=enrollment).first()
    if existing is not None:
        raise _already(existing)
    today = today or timezone.localdate()
    if not rating_open(enrollment.batch.ends_on, today):
        raise Conflict(
            _("该期培训的评价已于 %(d)s 截止。") % {"d": closes_on(enrollment.batch.ends_on).isoformat()},
            code="evaluation_closed",
        )
    scores, comment = _checked(content, trainer, organisation, comment)
    try:
        with transaction.atomic():
            evaluation = Evaluation.objects.create(
                enrollment=enrollment, batch=enrollment.batch, comment=comment, **scores
            )
    except IntegrityError:
        # (the one-to-one caught a second submit the lock did not: an enrollment read unlocked)
        raise _already(Evaluation.objects.get(enrollment=enrollment)) from None
    EvaluationEvent.objects.create(
        evaluation=evaluation,
        kind=EvaluationEvent.Kind.SUBMITTED,
        changes={name: [None, score] for name, score in scores.items()},
        # (an actor without a user row, the demo's participants, is recorded as nobody)
        actor_id=getattr(actor, "pk", None),
    )
    return evaluation


# --- what an inspector still has to rate ------------------------------------------------------------


def evaluation_candidates(inspector) -> QuerySet[Enrollment]:
    """An inspector's completed enrollments, the latest batch first: those they may rate (or
    rated) while the batch's window is open. ``inspector`` is an id or an ``OuterRef``."""
    return Enrollment.objects.filter(rules.completed(), inspector_id=inspector).order_by("-batch__ends_on", "-batch_id")


def evaluation_due(*, inspector, today: dt.date | None = None) -> list[Enrollment]:
    """The inspector's completed enrollments not rated yet whose window is still open, the
    latest batch first (with their batch, course and organiser)."""
    today = today or timezone.localdate()
    earliest_end = today - dt.timedelta(days=EVALUATION_OPEN_DAYS)
    inspector_id = getattr(inspector, "pk", inspector)
    return list(
        evaluation_candidates(inspector_id)
        .filter(batch__ends_on__gte=earliest_end, evaluation__isnull=True)
        .select_related("batch", "batch__course", "batch__region")
    )


# --- the figures ---------------------------------------------------------------------------------------

COUNT_KEYS = ("completers", "evaluations", "content_sum", "trainer_sum", "organisation_sum")


def evaluation_aggregates(prefix: str = "") -> dict:
    """The additive counts of a group of enrollments (``prefix``: the path to the enrollment):
    结业人数 (completers), 评价份数 (evaluations of completed enrollments: one taken back by an
    undone completion counts again only when it completes again) and each question's sum.
    An evaluation counts for the batch it rated: an enrollment whose completion was undone and
    which then moved to another batch (转班) carries its old rating along, which is not the new
    batch's."""
    done = rules.completed(prefix)
    rated = done & Q(**{f"{prefix}evaluation__batch_id": F(f"{prefix}batch_id")})
    return {
        "completers": Count(f"{prefix}id", filter=done),
        "evaluations": Count(f"{prefix}evaluation__id", filter=rated),
        **{f"{name}_sum": Sum(f"{prefix}evaluation__{name}", filter=rated) for name, _label in QUESTIONS},
    }


def evaluation_counts(enrollments: QuerySet[Enrollment], by: str | None = None) -> dict:
    """``evaluation_aggregates`` of ``enrollments``, in all (key None) or per value of ``by``
    (``"batch_id"``, ``"batch__course_id"``, ``"batch__region_id"``): one GROUP BY."""
    qs = enrollments.filter(rules.completed()).order_by()
    if by is None:
        return {None: _plain(qs.aggregate(**evaluation_aggregates()))}
    rows = qs.values(_k=F(by))
    return {row.pop("_k"): _plain(row) for row in rows.annotate(**evaluation_aggregates())}


def _plain(row: dict) -> dict:
    return {key: int(row.get(key) or 0) for key in COUNT_KEYS}


def add_counts(rows: Iterable[dict]) -> dict:
    """Counts of several groups summed (a region and the regions under it)."""
    total = dict.fromkeys(COUNT_KEYS, 0)
    for row in rows:
        for key in COUNT_KEYS:
            total[key] += int(row.get(key) or 0)
    return total


def response_rate(evaluations: int, completers: int) -> float | None:
    """参评率 = evaluations / completers; None when nobody completed."""
    return round(evaluations / completers, 4) if completers else None


def mean_score(total: int, evaluations: int) -> float | None:
    """A question's 平均分: its sum over the evaluations, to two places; None with none."""
    return round(total / evaluations, 2) if evaluations else None


def evaluation_figures(counts: dict | None) -> dict:
    """The figures shown from a group's counts: completers, evaluations, response rate, each
    question's mean and the overall mean (of all three questions' scores together, which with
    every evaluation answering all three is the mean of the three means)."""
    c = add_counts([counts or {}])
    n = c["evaluations"]
    sums = [c[f"{name}_sum"] for name, _label in QUESTIONS]
    return {
        "completers": c["completers"],
        "evaluations": n,
        "response_rate": response_rate(n, c["completers"]),
        **{name: mean_score(c[f"{name}_sum"], n) for name, _label in QUESTIONS},
        "overall": round(sum(sums) / (3 * n), 2) if n else None,
    }


def batch_evaluation_figures(batch) -> dict:
    """A batch's figures (all its participants, whatever their region)."""
    batch_id = getattr(batch, "pk", batch)
    return evaluation_figures(evaluation_counts(Enrollment.objects.filter(batch_id=batch_id))[None])


def batch_evaluation_rows(batch) -> list[dict]:
    """A batch's evaluations, newest first, as every reader sees them: the scores, the comment
    and the day, never who gave them. Those the figures count (of completed enrollments)."""
    batch_id = getattr(batch, "pk", batch)
    rows = (
        Evaluation.objects.filter(rules.completed("enrollment__"), batch_id=batch_id, enrollment__batch_id=batch_id)
        .order_by("-created_at", "-id")
        .values_list("content", "trainer", "organisation", "comment", "created_at")
    )
    return [
        {
            "content": content,
            "trainer": trainer,
            "organisation": organisation,
            "comment": comment,
            "given_on": timezone.localtime(at).date(),
        }
        for content, trainer, organisation, comment, at in rows
    ]
