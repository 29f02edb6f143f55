"""The training API: courses, batches and their workflow verbs, enrollments, hours,
coverage of the three systems, hours policies and the caller's calendar link.

Views validate input with serializers, read through the scoped selectors and hand
every write to a service; the rules live there, not here.
"""

import datetime as dt
from collections import Counter

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.settings import api_settings

from core.errors import AccessDenied, NotFound
from personnel import access
from personnel.models import Inspector
from personnel.selectors import (
    actor_manages_region,
    inspector_get_for_actor,
    inspector_in_scope,
    region_get_for_actor,
    scope_filter,
)

from . import rules, selectors, services
from .evaluations import batch_evaluation_figures, batch_evaluation_rows, evaluation_submit
from .models import Attendance, AttendanceSource, Enrollment, HoursPolicy, HoursPolicyEvent
from .serializers import (
    AttendanceGridSerializer,
    AttendanceInputSerializer,
    BatchEvaluationsSerializer,
    BatchEventSerializer,
    BatchFilterSerializer,
    BatchInputSerializer,
    BatchOutputSerializer,
    BatchUpdateSerializer,
    BulkEnrollInputSerializer,
    BulkEnrollResultSerializer,
    CalendarLinkSerializer,
    CancelInputSerializer,
    CompleteInputSerializer,
    CompleteResultSerializer,
    CompletionPlanSerializer,
    CourseFilterSerializer,
    CourseInputSerializer,
    CourseSerializer,
    CourseUpdateSerializer,
    CoverageMissingFilterSerializer,
    CoverageRowSerializer,
    EnrollInputSerializer,
    EnrollmentEventSerializer,
    EnrollmentFilterSerializer,
    EnrollmentOutputSerializer,
    EvaluationGivenSerializer,
    EvaluationInputSerializer,
    HoursFilterSerializer,
    HoursPolicyEventSerializer,
    HoursPolicyFilterSerializer,
    HoursPolicyInputSerializer,
    HoursPolicySerializer,
    HoursPolicyUpdateSerializer,
    HoursSummarySerializer,
    InspectorBriefSerializer,
    InspectorHoursSerializer,
    MoveInputSerializer,
    ReplaceInputSerializer,
    UncompleteInputSerializer,
    YearRegionFilterSerializer,
    enrollment_json,
)

ID = r"\d+"
BATCH_ORDER = ("-year", "region__path", "number", "id")
INSPECTOR_ORDER = ("region__path", "name", "id")


def _params(serializer_class, request):
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data


def _region(actor, code: str | None):
    """A region code from the query or body, as a Region the actor may see (404 otherwise)."""
    return region_get_for_actor(actor=actor, code=code) if code else None


# --- courses ------------------------------------------------------------------------------------


class CourseViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Courses: every role reads them; provincial admins create and edit them."""

    serializer_class = CourseSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    lookup_value_regex = ID

    def get_queryset(self):
        filters = _params(CourseFilterSerializer, self.request) if self.action == "list" else {}
        return selectors.course_list(actor=self.request.user, filters=filters)

    def get_object(self):
        course = selectors.course_list(actor=self.request.user).filter(pk=self.kwargs["pk"]).first()
        if course is None:
            raise NotFound()
        return course

    @extend_schema(parameters=[CourseFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=CourseInputSerializer, responses={201: CourseSerializer})
    def create(self, request, *args, **kwargs):
        data = CourseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        course = services.course_save(actor=request.user, data=data.validated_data)
        return Response(CourseSerializer(course).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CourseUpdateSerializer, responses={200: CourseSerializer})
    def partial_update(self, request, *args, **kwargs):
        course = self.get_object()
        data = CourseUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        course = services.course_save(actor=request.user, course=course, data=data.validated_data)
        return Response(CourseSerializer(course).data)


# --- batches ------------------------------------------------------------------------------------


class BatchViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Batches in the caller's scope, each with its enrollment counts; admins of the
    organising region schedule and run them, inspectors see theirs and the open ones."""

    serializer_class = BatchOutputSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    lookup_value_regex = ID

    def get_queryset(self):
        filters = _params(BatchFilterSerializer, self.request) if self.action == "list" else {}
        qs = selectors.batch_counts(selectors.batch_list(actor=self.request.user, filters=filters))
        # Meta.ordering does not apply to a GROUP BY query; pages need a stable order.
        return qs.order_by(*BATCH_ORDER)

    def get_object(self):
        return selectors.batch_get_for_actor(actor=self.request.user, batch_id=self.kwargs["pk"])

    def _with_counts(self, batch_id):
        batch = selectors.batch_counts(selectors.batch_list(actor=self.request.user)).filter(pk=batch_id).first()
        if batch is None:
            raise NotFound()
        return batch

    def _out(self, batch, **kwargs):
        return Response(BatchOutputSerializer(self._with_counts(batch.pk)).data, **kwargs)

    @extend_schema(parameters=[BatchFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def retrieve(self, request, *args, **kwargs):
        return Response(BatchOutputSerializer(self._with_counts(self.kwargs["pk"])).data)

    @extend_schema(request=BatchInputSerializer, responses={201: BatchOutputSerializer})
    def create(self, request, *args, **kwargs):
        data = BatchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        batch = services.batch_create(actor=request.user, data=data.validated_data)
        return self._out(batch, status=status.HTTP_201_CREATED)

    @extend_schema(request=BatchUpdateSerializer, responses={200: BatchOutputSerializer})
    def partial_update(self, request, *args, **kwargs):
        batch = self.get_object()
        data = BatchUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        batch = services.batch_update(actor=request.user, batch=batch, data=data.validated_data)
        return self._out(batch)

    @extend_schema(
        request=EnrollInputSerializer,
        responses={
            201: OpenApiResponse(EnrollmentOutputSerializer, description="已报名，或名额已满时进入候补"),
            404: OpenApiResponse(description="批次或人员不存在，或不在您的范围内"),
            409: OpenApiResponse(
                description="拒绝报名：deadline_passed / batch_not_open / sector_mismatch / inspector_inactive / "
                "already_enrolled / date_overlap / out_of_region"
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def enroll(self, request, pk=None):
        """Enroll one inspector (an inspector enrolls themself with their own id)."""
        batch = self.get_object()
        data = EnrollInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        inspector_id = data.validated_data["inspector"]
        if not inspector_in_scope(actor=request.user, inspector_id=inspector_id):
            raise NotFound()
        # The service reads the inspector (with their region) itself, locking the row, and
        # answers 404 when there is none: only the id is handed over. The enrollment comes
        # back with the batch (its course and region) and that inspector: no read to answer.
        inspector = Inspector(pk=inspector_id)
        enrollment = services.enrollment_create(batch=batch, inspector=inspector, actor=request.user)
        # EnrollmentOutputSerializer's JSON (it stays the schema), written directly.
        return Response(enrollment_json(enrollment, actor=request.user), status=status.HTTP_201_CREATED)

    @extend_schema(request=BulkEnrollInputSerializer, responses={200: BulkEnrollResultSerializer})
    @action(detail=True, methods=["post"], url_path="bulk-enroll")
    def bulk_enroll(self, request, pk=None):
        """Enroll all active inspectors of a sector in a region subtree (or the listed ones);
        each one's outcome says enrolled, waitlisted or refused and why."""
        batch = self.get_object()
        data = BulkEnrollInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcomes = services.batch_bulk_enroll(
            batch=batch,
            actor=request.user,
            sector=data.validated_data.get("sector"),
            region=_region(request.user, data.validated_data.get("region")),
            inspector_ids=data.validated_data.get("inspectors"),
        )
        tally = Counter(o.status for o in outcomes)
        summary = {key: tally.get(key, 0) for key in ("enrolled", "waitlisted", "refused")}
        return Response({"summary": summary, "outcomes": [o.as_dict() for o in outcomes]})

    @extend_schema(methods=["GET"], responses={200: AttendanceGridSerializer})
    @extend_schema(methods=["POST"], request=AttendanceInputSerializer, responses={200: AttendanceGridSerializer})
    @action(detail=True, methods=["get", "post"])
    def attendance(self, request, pk=None):
        """GET: the attendance grid (per enrolled inspector, the days present). POST: mark one day."""
        batch = self.get_object()
        marked = None
        if request.method == "POST":
            data = AttendanceInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            marked = services.attendance_mark(batch=batch, actor=request.user, **data.validated_data)
        grid = _attendance_grid(actor=request.user, batch=batch)
        if marked is not None:
            grid["marked"] = marked
        return Response(AttendanceGridSerializer(grid).data)

    @extend_schema(
        request=CompleteInputSerializer,
        responses={
            200: CompleteResultSerializer,
            409: OpenApiResponse(description="拒绝结业：illegal_transition / too_early / no_attendance"),
        },
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """Close the batch by attendance; ``overrides`` completes the listed inspectors anyway (reason
        required). A batch with no attendance recorded needs ``no_attendance_reason`` (then everyone
        enrolled completes by the roll). ``completion-preview`` shows the same decision first."""
        batch = self.get_object()
        data = CompleteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        counts = services.batch_complete(batch=batch, actor=request.user, **data.validated_data)
        return Response(counts)

    @extend_schema(request=CompleteInputSerializer, responses={200: CompletionPlanSerializer})
    @action(detail=True, methods=["post"], url_path="completion-preview")
    def completion_preview(self, request, pk=None):
        """What ``complete`` would do with the same body, without doing it: who completes, who is a
        no-show (and which days they missed), who is excused, whose waitlist place is cancelled, and
        why it would be refused now (``refusal``)."""
        batch = self.get_object()
        data = CompleteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        plan = services.batch_completion_plan(batch=batch, actor=request.user, **data.validated_data)
        return Response(CompletionPlanSerializer(plan.as_dict()).data)

    @extend_schema(
        request=UncompleteInputSerializer,
        responses={
            200: BatchOutputSerializer,
            409: OpenApiResponse(description="不能撤销：illegal_transition（未结业）/ results_depend（考试已有成绩）"),
        },
    )
    @action(detail=True, methods=["post"])
    def uncomplete(self, request, pk=None):
        """Undo a completion (reason required): completed and no-show enrollments are enrolled
        again, the waitlist the completion cancelled comes back, the batch is closed again."""
        batch = self.get_object()
        data = UncompleteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        batch = services.batch_completion_undo(batch=batch, actor=request.user, reason=data.validated_data["reason"])
        return self._out(batch)

    @extend_schema(responses={200: BatchEventSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)  # the whole trail, not a page
    def events(self, request, pk=None):
        """The batch's history for its administrators: creation, edits and status moves, oldest first."""
        batch = self.get_object()
        if not access.scope_for(request.user).is_admin:
            raise AccessDenied()
        events = batch.events.select_related("actor").order_by("at", "id")
        return Response(BatchEventSerializer(events, many=True).data)

    @extend_schema(
        methods=["GET"],
        responses={
            200: BatchEvaluationsSerializer,
            403: OpenApiResponse(description="只有组织地区及其上级的管理员可以查看评教结果"),
        },
    )
    @extend_schema(
        methods=["POST"],
        request=EvaluationInputSerializer,
        responses={
            201: EvaluationGivenSerializer,
            400: OpenApiResponse(description="评分不在 1-5 分之间，或意见建议过长（按字段说明）"),
            403: OpenApiResponse(description="not_participant：只有参加该期培训的本人可以评价"),
            409: OpenApiResponse(description="拒绝评价：not_completed / already_evaluated / evaluation_closed"),
        },
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def evaluations(self, request, pk=None):
        """评教. GET: for the batch's administrators, the figures (response rate, the means) and
        every evaluation, anonymous (scores, comment, day; never who). POST: the participant's own
        rating, once, after completion."""
        batch = self.get_object()
        if request.method == "POST":
            return self._evaluate(request, batch)
        if not actor_manages_region(actor=request.user, region=batch.region):
            raise AccessDenied(_("只有组织地区（%(r)s）及其上级的管理员可以查看评教结果。") % {"r": batch.region.name})
        body = {
            "summary": batch_evaluation_figures(batch),
            "evaluations": batch_evaluation_rows(batch),
        }
        return Response(BatchEvaluationsSerializer(body).data)

    def _evaluate(self, request, batch):
        scope = access.scope_for(request.user)
        enrollment = None
        if scope.kind == access.SELF:
            mine = Enrollment.objects.filter(batch=batch, inspector_id=scope.inspector_id).order_by()[:1]
            enrollment = next(iter(mine), None)
        if enrollment is None:
            raise AccessDenied(_("只有参加该期培训的本人可以评价。"), code="not_participant")
        data = EvaluationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = evaluation_submit(enrollment=enrollment, actor=request.user, **data.validated_data)
        body = {
            "batch": batch.pk,
            "content": given.content,
            "trainer": given.trainer,
            "organisation": given.organisation,
            "comment": given.comment,
            "given_on": timezone.localtime(given.created_at).date(),
        }
        return Response(EvaluationGivenSerializer(body).data, status=status.HTTP_201_CREATED)


def _attendance_grid(*, actor, batch) -> dict:
    """Rows for the inspectors holding a seat that the actor may see (an inspector: their own)."""
    enrollments = list(
        selectors.enrollment_list(actor=actor, filters={"batch": batch.pk})
        .filter(rules.seated())
        .order_by("inspector__region__path", "inspector__name", "id")
    )
    marks: dict[int, dict[bool, list]] = {e.pk: {True: [], False: []} for e in enrollments}
    scanned: dict[int, list] = {e.pk: [] for e in enrollments}
    for enrollment_id, day, present, source in (
        Attendance.objects.filter(enrollment_id__in=list(marks))
        .order_by("day")
        .values_list("enrollment_id", "day", "present", "source")
    ):
        marks[enrollment_id][present].append(day)
        if source == AttendanceSource.CHECKIN:
            scanned[enrollment_id].append(day)
    days = [batch.starts_on + dt.timedelta(days=i) for i in range(batch.days)]
    rows = [
        {
            "inspector": e.inspector_id,
            "name": e.inspector.name,
            "enrollment": e.pk,
            "status": e.status,
            "days_present": marks[e.pk][True],
            "days_absent": marks[e.pk][False],
            "days_checked_in": scanned[e.pk],
        }
        for e in enrollments
    ]
    return {"batch": batch.pk, "days": days, "rows": rows}


# --- enrollments -------------------------------------------------------------------------------


class EnrollmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Enrollments of the inspectors in the caller's scope (an inspector: their own)."""

    serializer_class = EnrollmentOutputSerializer
    lookup_value_regex = ID

    def get_queryset(self):
        filters = _params(EnrollmentFilterSerializer, self.request) if self.action == "list" else {}
        return selectors.enrollment_list(actor=self.request.user, filters=filters)

    def get_object(self):
        return selectors.enrollment_get_for_actor(actor=self.request.user, enrollment_id=self.kwargs["pk"])

    @extend_schema(parameters=[EnrollmentFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=CancelInputSerializer, responses={200: EnrollmentOutputSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel; a freed seat goes to the first on the waitlist."""
        enrollment = self.get_object()
        data = CancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.enrollment_cancel(enrollment=enrollment, actor=request.user, reason=data.validated_data["reason"])
        enrollment = self.get_object()
        return Response(EnrollmentOutputSerializer(enrollment, context=self.get_serializer_context()).data)

    def _enrollment_out(self, enrollment_id):
        enrollment = selectors.enrollment_get_for_actor(actor=self.request.user, enrollment_id=enrollment_id)
        return Response(EnrollmentOutputSerializer(enrollment, context=self.get_serializer_context()).data)

    @extend_schema(
        request=ReplaceInputSerializer,
        responses={
            200: OpenApiResponse(EnrollmentOutputSerializer, description="新人员的报名：原席位，或原候补序号"),
            403: OpenApiResponse(description="不是该批次组织地区（或其上级）的管理员"),
            404: OpenApiResponse(description="报名或新人员不存在，或不在您的范围内"),
            409: OpenApiResponse(
                description="拒绝替换：illegal_transition（报名已结束）/ batch_final（批次已结业或取消）/ "
                "already_enrolled / date_overlap / out_of_region / inspector_inactive / sector_mismatch"
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def replace(self, request, pk=None):
        """Give the place (the seat, or the waitlist position) to another inspector, who passes the
        checks of a new enrollment except the deadline; the old enrollment is cancelled."""
        enrollment = self.get_object()
        data = ReplaceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        inspector = inspector_get_for_actor(actor=request.user, inspector_id=data.validated_data["inspector"])
        new = services.enrollment_replace(
            enrollment=enrollment, inspector=inspector, actor=request.user, reason=data.validated_data["reason"]
        )
        return self._enrollment_out(new.pk)

    @extend_schema(
        request=MoveInputSerializer,
        responses={
            200: OpenApiResponse(
                EnrollmentOutputSerializer,
                description="在新批次的报名：有空余名额为已报名，否则为候补（排在末位）",
            ),
            400: OpenApiResponse(description="不是同一课程的批次，或就是原批次"),
            403: OpenApiResponse(description="不是两个批次组织地区（或其上级）的管理员"),
            404: OpenApiResponse(description="报名或批次不存在，或不在您的范围内"),
            409: OpenApiResponse(
                description="拒绝转班：illegal_transition / batch_final / batch_not_open / deadline_passed / "
                "already_enrolled / date_overlap / out_of_region / inspector_inactive / sector_mismatch"
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        """Move to another batch of the same course (转班): a seat there if free, else the end of its
        waitlist; the place left behind goes to the head of the old batch's waitlist."""
        enrollment = self.get_object()
        data = MoveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        to_batch = selectors.batch_get_for_actor(actor=request.user, batch_id=data.validated_data["batch"])
        new = services.enrollment_move(
            enrollment=enrollment, to_batch=to_batch, actor=request.user, reason=data.validated_data["reason"]
        )
        return self._enrollment_out(new.pk)

    @extend_schema(responses={200: EnrollmentEventSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)  # the whole trail, not a page
    def events(self, request, pk=None):
        """The audit trail: who did what to this enrollment, oldest first."""
        enrollment = self.get_object()
        events = enrollment.events.select_related("actor").order_by("at", "id")
        return Response(EnrollmentEventSerializer(events, many=True).data)


# --- hours and coverage ---------------------------------------------------------------------------


class HoursViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Each inspector's training hours in a year against the required hours of their region."""

    serializer_class = InspectorHoursSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            # The required-hours expression reads the policies; the schema needs no database.
            return Inspector.objects.none()
        params = _params(HoursFilterSerializer, self.request)
        filters = {k: params[k] for k in ("region", "sector", "met") if params.get(k) is not None}
        qs = selectors.inspector_hours_list(actor=self.request.user, year=params["year"], filters=filters)
        return qs.order_by(*INSPECTOR_ORDER)  # a stable order for the pages (no Meta.ordering under GROUP BY)

    @extend_schema(parameters=[HoursFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[YearRegionFilterSerializer], responses={200: HoursSummarySerializer})
    @action(detail=False, methods=["get"], pagination_class=None)
    def summary(self, request):
        """Active inspectors in scope (or a region in it), how many meet the yearly hours, hours delivered."""
        params = _params(YearRegionFilterSerializer, request)
        region = _region(request.user, params.get("region"))
        body = selectors.region_hours_summary(actor=request.user, year=params["year"], region=region)
        body = {"year": params["year"], "region": region.code if region else None, **body}
        return Response(HoursSummarySerializer(body).data)


class CoverageViewSet(viewsets.GenericViewSet):
    """Sector x three systems: who has completed a course on each system in a year."""

    serializer_class = CoverageRowSerializer
    pagination_class = None
    filter_backends = []  # parameters are validated by serializers; there is no queryset to introspect

    @extend_schema(parameters=[YearRegionFilterSerializer], responses={200: CoverageRowSerializer(many=True)})
    def list(self, request):
        """Per sector: active inspectors, and how many completed each of the three systems (and all three)."""
        params = _params(YearRegionFilterSerializer, request)
        rows = selectors.coverage(
            actor=request.user, year=params["year"], region=_region(request.user, params.get("region"))
        )
        return Response(CoverageRowSerializer(rows, many=True).data)

    @extend_schema(parameters=[CoverageMissingFilterSerializer], responses={200: InspectorBriefSerializer(many=True)})
    @action(
        detail=False,
        methods=["get"],
        pagination_class=api_settings.DEFAULT_PAGINATION_CLASS,
        serializer_class=InspectorBriefSerializer,
    )
    def missing(self, request):
        """Active inspectors who have not completed a course on the topic that year."""
        params = _params(CoverageMissingFilterSerializer, request)
        qs = selectors.coverage_missing(
            actor=request.user,
            year=params["year"],
            topic=params["topic"],
            sector=params.get("sector"),
            region=_region(request.user, params.get("region")),
        )
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(InspectorBriefSerializer(page, many=True, context={"request": request}).data)


# --- hours policies --------------------------------------------------------------------------------


class HoursPolicyViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Required yearly hours per region (the nearest ancestor's policy applies), for the admins of that region."""

    serializer_class = HoursPolicySerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    lookup_value_regex = ID

    def get_queryset(self):
        qs = HoursPolicy.objects.select_related("region")
        q = scope_filter(actor=self.request.user, region_field="region")
        if q is not None:
            qs = qs.filter(q)
        if self.action == "list":
            year = _params(HoursPolicyFilterSerializer, self.request).get("year")
            if year:
                qs = qs.filter(year=year)
        return qs

    def get_object(self):
        policy = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if policy is None:
            raise NotFound()
        return policy

    @extend_schema(parameters=[HoursPolicyFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=HoursPolicyInputSerializer, responses={201: HoursPolicySerializer})
    def create(self, request, *args, **kwargs):
        """Set the required hours of a region for a year (replaces an existing figure)."""
        data = HoursPolicyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.hours_policy_set(actor=request.user, **data.validated_data)
        return Response(HoursPolicySerializer(policy).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=HoursPolicyUpdateSerializer, responses={200: HoursPolicySerializer})
    def partial_update(self, request, *args, **kwargs):
        policy = self.get_object()
        data = HoursPolicyUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.hours_policy_set(
            actor=request.user,
            region=policy.region,
            year=policy.year,
            required_hours=data.validated_data["required_hours"],
        )
        return Response(HoursPolicySerializer(policy).data)

    @extend_schema(responses={200: HoursPolicyEventSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)
    def events(self, request, pk=None):
        """Who set this region's hours for this year, when, from what to what (oldest first;
        also the figures of a policy deleted before)."""
        policy = self.get_object()
        events = HoursPolicyEvent.objects.filter(region_id=policy.region_id, year=policy.year)
        events = events.select_related("actor", "region").order_by("at", "id")
        return Response(HoursPolicyEventSerializer(events, many=True).data)


# --- the caller's own calendar ----------------------------------------------------------------------


class MeViewSet(viewsets.GenericViewSet):
    """Things that belong to the signed-in inspector."""

    serializer_class = CalendarLinkSerializer
    pagination_class = None

    def _inspector(self):
        scope = access.scope_for(self.request.user)
        if scope.kind != access.SELF:
            raise NotFound(_("只有执法人员账号有培训日历。"))
        return inspector_get_for_actor(actor=self.request.user, inspector_id=scope.inspector_id)

    def _link(self, token):
        path = reverse("calendar-feed", kwargs={"token": token.token})
        return Response(CalendarLinkSerializer({"path": path, "url": self.request.build_absolute_uri(path)}).data)

    @extend_schema(responses={200: CalendarLinkSerializer, 404: OpenApiResponse(description="不是执法人员账号")})
    @action(detail=False, methods=["get"])
    def calendar(self, request):
        """The secret URL of the inspector's training calendar (iCal), for a calendar app to subscribe to."""
        return self._link(services.calendar_token_for(inspector=self._inspector()))

    @extend_schema(
        request=None,
        responses={200: CalendarLinkSerializer, 404: OpenApiResponse(description="不是执法人员账号")},
    )
    @action(detail=False, methods=["post"], url_path="calendar/rotate")
    def calendar_rotate(self, request):
        """Issue a new secret URL; the old one stops working."""
        return self._link(services.calendar_token_rotate(inspector=self._inspector()))
