"""The online exam API for candidates (their phone) and, read-only, for the office.

Candidates (an inspector's account; anyone else gets 404, as on /api/v1/me/):
  GET  /api/v1/online-sittings/            the online sittings open to me (with my attempt)
  POST /api/v1/sittings/{id}/start/        start (or resume) my attempt: the paper
  GET  /api/v1/attempts/                   my attempts (no items)
  GET  /api/v1/attempts/{id}/              my attempt with its paper (another's: 404)
  PUT  /api/v1/attempts/{id}/answers/      {"answers": {"1": "B", "2": "AC"}} (partial)
  POST /api/v1/attempts/{id}/submit/       hand in
  POST /api/v1/practice/                   a practice paper {"category": "", "count": 20}
Options are shown in display order lettered A, B, ... and answers use those letters; the
server maps them to the question's own letters (exams.online). The right answers and
explanations are never sent before a practice paper is submitted, and never for an exam.
Every attempt carries ``server_time``, ``deadline`` and ``seconds_left``: the server's clock.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from core.errors import NotFound
from personnel import access
from personnel.models import Inspector

from . import online
from .models import Attempt, AttemptState, QuestionKind, Sitting, SubmittedBy
from .serializers import SCORE

ID_MAX = 2**63 - 1
MAX_ANSWERS = 500  # answers in one save: a whole paper and more, not an unbounded body

# --- output shapes (documentation of what the views write) -----------------------------------------------


class OptionSerializer(serializers.Serializer):
    letter = serializers.CharField(help_text="显示字母（A、B、C……，按显示顺序）")
    text = serializers.CharField()


class AttemptItemSerializer(serializers.Serializer):
    position = serializers.IntegerField(help_text="题序，从 1 起")
    part = serializers.CharField(help_text="所属科目（练习为空）")
    kind = serializers.ChoiceField(choices=QuestionKind.choices)
    kind_display = serializers.CharField()
    stem = serializers.CharField()
    options = OptionSerializer(many=True)
    points = serializers.DecimalField(**SCORE)
    answer = serializers.CharField(help_text="已保存的作答（显示字母），未答为空")
    answered_at = serializers.DateTimeField(allow_null=True)
    correct = serializers.BooleanField(required=False, help_text="仅在可查看成绩时给出")
    awarded = serializers.DecimalField(**SCORE, required=False, help_text="仅在可查看成绩时给出")
    right_answer = serializers.CharField(required=False, help_text="仅练习交卷后给出（显示字母）")
    explanation = serializers.CharField(required=False, help_text="仅练习交卷后给出")


class AttemptExamSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    pass_mark = serializers.DecimalField(**SCORE)


class AttemptSittingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    exam = AttemptExamSerializer()
    held_on = serializers.DateField()
    opens_at = serializers.DateTimeField()
    closes_at = serializers.DateTimeField()
    duration_minutes = serializers.IntegerField()
    score_shown = serializers.CharField()
    status = serializers.CharField()


class PartScoreSerializer(serializers.Serializer):
    part = serializers.IntegerField()
    name = serializers.CharField()
    score = serializers.DecimalField(**SCORE)


class AttemptSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    practice = serializers.BooleanField()
    sitting = AttemptSittingSerializer(allow_null=True)
    state = serializers.ChoiceField(choices=AttemptState.choices)
    state_display = serializers.CharField()
    started_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField()
    server_time = serializers.DateTimeField()
    seconds_left = serializers.IntegerField(help_text="到截止时间的秒数（已交卷为 0）")
    submitted_at = serializers.DateTimeField(allow_null=True)
    submitted_by = serializers.CharField(help_text="candidate 考生交卷 / timeout 到时自动交卷；未交卷为空")
    score_visible = serializers.BooleanField()
    score = serializers.DecimalField(**SCORE, allow_null=True, help_text="可查看成绩时给出")
    part_scores = PartScoreSerializer(many=True)
    passed = serializers.BooleanField(allow_null=True, help_text="可查看成绩时给出（练习为空）")
    attempt_number = serializers.IntegerField(allow_null=True, help_text="第几次考试（计入成绩后）")
    items_total = serializers.IntegerField()
    items_answered = serializers.IntegerField()


class AttemptDetailSerializer(AttemptSerializer):
    items = AttemptItemSerializer(many=True)


class AnswersInputSerializer(serializers.Serializer):
    answers = serializers.DictField(
        child=serializers.CharField(allow_blank=True, allow_null=True, max_length=12),
        help_text='{"题序": "显示字母"}，如 {"1": "B", "2": "AC"}；"" 清除该题作答',
    )

    def validate_answers(self, value):
        if len(value) > MAX_ANSWERS:
            raise serializers.ValidationError(_("一次最多保存 %(n)d 题。") % {"n": MAX_ANSWERS})
        return value


class AnswersSavedSerializer(serializers.Serializer):
    saved = serializers.DictField(child=serializers.CharField(allow_blank=True))
    server_time = serializers.DateTimeField()
    deadline = serializers.DateTimeField()
    seconds_left = serializers.IntegerField()


class PracticeInputSerializer(serializers.Serializer):
    category = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=64, help_text="分类，空为全部"
    )
    count = serializers.IntegerField(required=False, default=20, min_value=1, max_value=online.PRACTICE_MAX)


class OnlineSittingSerializer(AttemptSittingSerializer):
    open_now = serializers.BooleanField(help_text="此刻在开考时间内")
    attempt = AttemptSerializer(allow_null=True, help_text="我在本场次的答卷（未开始为空）")


class SittingAttemptSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    inspector = serializers.DictField()
    state = serializers.CharField()
    started_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    submitted_by = serializers.CharField()
    score = serializers.DecimalField(**SCORE, allow_null=True)
    result = serializers.IntegerField(allow_null=True)


NOT_AN_INSPECTOR = OpenApiResponse(description="答卷不存在、不是本人的，或不是执法人员账号")
CLOSED = OpenApiResponse(
    description="deadline_passed（已到截止时间，答卷已自动提交）、attempt_submitted（已交卷）、"
    "not_open_yet / window_closed / sitting_closed / not_a_candidate / attempts_exhausted / already_passed"
)


# --- shaping ----------------------------------------------------------------------------------------------


def candidate_id(user) -> int:
    """The signed-in inspector's id; anyone else is answered 404 (as /api/v1/me/ does)."""
    scope = access.scope_for(user)
    if scope.kind != access.SELF or scope.inspector_id is None:
        raise NotFound()
    return scope.inspector_id


def candidate(user) -> Inspector:
    return Inspector.objects.select_related("region").get(pk=candidate_id(user))


def _sitting(sitting: Sitting | None) -> dict | None:
    if sitting is None:
        return None
    exam = sitting.exam
    return {
        "id": sitting.pk,
        "exam": {"id": exam.pk, "title": exam.title, "pass_mark": exam.pass_mark},
        "held_on": sitting.held_on,
        "opens_at": sitting.opens_at,
        "closes_at": sitting.closes_at,
        "duration_minutes": sitting.duration_minutes,
        "score_shown": sitting.score_shown,
        "status": sitting.status,
    }


def attempt_json(attempt: Attempt, *, items: bool, now=None) -> dict:
    """An attempt as the candidate sees it (``items``: with its paper)."""
    now = now or timezone.now()
    visible = online.score_visible(attempt)
    paper = online.attempt_paper(attempt) if items else None
    if paper is not None:
        total, answered = len(paper), sum(1 for row in paper if row["answer"])
    else:
        total, answered = attempt.items_total, attempt.items_answered
    parts = []
    if visible and attempt.sitting_id:
        names = {str(p.pk): p.name for p in attempt.sitting.exam.parts.all()}
        parts = [{"part": int(k), "name": names.get(k, ""), "score": v} for k, v in attempt.part_scores.items()]
    result = attempt.result if attempt.result_id else None
    active = attempt.state == AttemptState.ACTIVE
    body = {
        "id": attempt.pk,
        "practice": attempt.practice,
        "sitting": _sitting(attempt.sitting) if attempt.sitting_id else None,
        "state": attempt.state,
        "state_display": attempt.get_state_display(),
        "started_at": attempt.started_at,
        "deadline": attempt.deadline,
        "server_time": now,
        "seconds_left": max(0, int((attempt.deadline - now).total_seconds())) if active else 0,
        "submitted_at": attempt.submitted_at,
        "submitted_by": attempt.submitted_by,
        "score_visible": visible,
        "score": attempt.score if visible else None,
        "part_scores": parts,
        "passed": result.passed if (visible and result is not None) else None,
        "attempt_number": result.attempt if result is not None else None,
        "items_total": total,
        "items_answered": answered,
    }
    if items:
        body["items"] = paper
        return AttemptDetailSerializer(body).data
    return AttemptSerializer(body).data


def _with_counts(qs):
    from django.db.models import Count, Q

    return qs.select_related("result").annotate(
        items_total=Count("items"), items_answered=Count("items", filter=~Q(items__answer=""))
    )


def sitting_start(request, sitting_id) -> Response:
    """POST /api/v1/sittings/{id}/start/ (SittingViewSet.start)."""
    inspector = candidate(request.user)
    sitting = online.online_sitting_for_candidate(inspector=inspector, sitting_id=sitting_id)
    attempt = online.attempt_start(sitting=sitting, inspector=inspector)
    return Response(attempt_json(_reload(attempt), items=True))


def _reload(attempt: Attempt) -> Attempt:
    return Attempt.objects.select_related("sitting", "sitting__exam", "result").get(pk=attempt.pk)


def sitting_attempts_json(sitting: Sitting, attempts) -> list[dict]:
    return [
        {
            "id": a.pk,
            "inspector": {"id": a.inspector_id, "name": a.inspector.name},
            "state": a.state,
            "started_at": a.started_at,
            "deadline": a.deadline,
            "submitted_at": a.submitted_at,
            "submitted_by": a.submitted_by,
            "score": a.score,
            "result": a.result_id,
        }
        for a in attempts
    ]


# --- viewsets ---------------------------------------------------------------------------------------------


class AttemptViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """My online attempts (exams and practice): the paper, saving answers, handing in."""

    serializer_class = AttemptSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no inspector
            return Attempt.objects.none()
        return online.attempt_list_for(inspector=candidate_id(self.request.user))

    def _own(self, pk) -> Attempt:
        if not 1 <= int(pk) <= ID_MAX:
            raise NotFound()
        attempt = online.attempt_get_for(inspector=candidate_id(self.request.user), attempt_id=pk)
        return _reload(attempt)

    @extend_schema(responses={200: AttemptSerializer(many=True), 404: NOT_AN_INSPECTOR})
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(_with_counts(self.get_queryset()))
        now = timezone.now()
        return self.get_paginated_response([attempt_json(a, items=False, now=now) for a in page])

    @extend_schema(responses={200: AttemptDetailSerializer, 404: NOT_AN_INSPECTOR})
    def retrieve(self, request, pk=None):
        return Response(attempt_json(self._own(pk), items=True))

    @extend_schema(
        request=AnswersInputSerializer,
        responses={
            200: AnswersSavedSerializer,
            400: OpenApiResponse(description="答案有误：fields.answers.<题序> 说明，未保存任何答案"),
            404: NOT_AN_INSPECTOR,
            409: CLOSED,
        },
    )
    @action(detail=True, methods=["put"], parser_classes=[JSONParser])
    def answers(self, request, pk=None):
        """Save answers at once (partial: positions left out stay as they are; the same body
        twice is the same state). Refused at or after the deadline (409 deadline_passed)."""
        inspector_id = candidate_id(request.user)
        if not 1 <= int(pk) <= ID_MAX:
            raise NotFound()
        data = AnswersInputSerializer(data=request.data)
        if not data.is_valid():
            # Another's attempt, or none, is not found whatever the body (checked on this path
            # only: a good save has the check in its one locking read).
            if not Attempt.objects.filter(pk=pk, inspector_id=inspector_id).exists():
                raise NotFound()
            data.is_valid(raise_exception=True)
        now = timezone.now()
        saved = online.answers_save(
            attempt=int(pk), inspector=inspector_id, answers=data.validated_data["answers"], now=now
        )
        body = {
            "saved": {str(k): v for k, v in saved.answers.items()},
            "server_time": now,
            "deadline": saved.deadline,
            "seconds_left": max(0, int((saved.deadline - now).total_seconds())),
        }
        return Response(AnswersSavedSerializer(body).data)

    @extend_schema(request=None, responses={200: AttemptDetailSerializer, 404: NOT_AN_INSPECTOR})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """Hand in (again: the same answer). After the deadline it counts as submitted by time."""
        attempt = self._own(pk)
        attempt = online.attempt_submit(attempt=attempt, by=SubmittedBy.CANDIDATE)
        return Response(attempt_json(_reload(attempt), items=True))


class OnlineSittingViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The online sittings I may sit, open now or later, each with my attempt if I started."""

    serializer_class = OnlineSittingSerializer
    pagination_class = None  # a handful at most

    def get_queryset(self):
        return Sitting.objects.none()  # the list is built by exams.online.online_sittings_for

    @extend_schema(responses={200: OnlineSittingSerializer(many=True), 404: NOT_AN_INSPECTOR})
    def list(self, request, *args, **kwargs):
        inspector = candidate(request.user)
        now = timezone.now()
        sittings = online.online_sittings_for(inspector=inspector, now=now)
        attempts = {
            a.sitting_id: a
            for a in _with_counts(
                Attempt.objects.filter(pk__in=[s.my_attempt.pk for s in sittings if s.my_attempt])
            ).select_related("sitting", "sitting__exam")
        }
        out = []
        for s in sittings:
            row = _sitting(s)
            row["open_now"] = online.start_refusal(sitting=s, now=now) is None
            mine = attempts.get(s.pk)
            row["attempt"] = attempt_json(mine, items=False, now=now) if mine else None
            out.append(row)
        return Response(OnlineSittingSerializer(out, many=True).data)


class PracticeViewSet(viewsets.GenericViewSet):
    """练习: a paper from the bank of my region, not counted (no result)."""

    serializer_class = AttemptDetailSerializer

    def get_queryset(self):
        return Attempt.objects.none()

    @extend_schema(
        request=PracticeInputSerializer,
        responses={201: AttemptDetailSerializer, 404: NOT_AN_INSPECTOR, 409: OpenApiResponse(description="题库无题")},
    )
    def create(self, request):
        """Start a practice paper, or get back the one not yet submitted."""
        inspector = candidate(request.user)
        data = PracticeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attempt = online.practice_start(
            inspector=inspector, category=data.validated_data["category"] or None, count=data.validated_data["count"]
        )
        return Response(attempt_json(_reload(attempt), items=True), status=status.HTTP_201_CREATED)
