"""Every write of the training app: courses, batches, enrollments, attendance, completion.

Capacity rule: all enrollment writes of a batch lock the batch row (``SELECT ... FOR
UPDATE`` on PostgreSQL; SQLite runs every transaction IMMEDIATE, so writers queue).
Counting the seats and taking one happen under that lock, so capacity is never exceeded
and waitlist positions are handed out in order without gaps. Whoever leaves the waitlist
(cancelled, or promoted to a seat), the positions of those still waiting are renumbered
1..n in the same transaction (``_renumber_waitlist``).

Lock order: a write that enrolls someone locks the inspector(s) first (in id order: one
person's enrollments in overlapping batches go one at a time), then the batch(es) (in id
order). The batch lock is the one every enrollment of a batch queues on, so what does not
need it happens before it: ``enrollment_create`` holds it for two statements.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import Count, DateTimeField, Max, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from core.audit import diff, snapshot
from core.errors import AccessDenied, Conflict, DomainError, NotFound, ValidationFailed
from core.mail import REMINDER_CHUNK, ReminderRun, send_each
from personnel import access
from personnel.models import Inspector, InspectorStatus, Region
from personnel.selectors import actor_manages_region, inspector_list

from . import rules
from .models import (
    ACTIVE_ENROLLMENT,
    Attendance,
    AttendanceEvent,
    AttendanceSource,
    Batch,
    BatchEvent,
    BatchStatus,
    CalendarToken,
    Course,
    CourseEvent,
    Enrollment,
    EnrollmentEvent,
    EnrollmentStatus,
    HoursPolicy,
    HoursPolicyEvent,
)

Kind = EnrollmentEvent.Kind
logger = logging.getLogger(__name__)


def _today(today: dt.date | None) -> dt.date:
    return today or timezone.localdate()


def _require_manager(*, actor, batch: Batch) -> None:
    if not actor_manages_region(actor=actor, region=batch.region):
        raise AccessDenied(_("只有组织地区（%(r)s）及其上级的管理员可以管理该批次。") % {"r": batch.region.name})


def _lock_batch(batch: Batch | int) -> Batch:
    batch_id = batch.pk if isinstance(batch, Batch) else batch
    try:
        return Batch.objects.select_for_update(of=("self",)).select_related("course", "region").get(pk=batch_id)
    except Batch.DoesNotExist:
        raise NotFound() from None


# --- courses ------------------------------------------------------------------------------

_COURSE_FIELDS = {"code", "title", "topics", "hours", "delivery", "description", "active"}
# What a course's event row compares: its columns (the topics are four flags).
_COURSE_SNAPSHOT = (
    "code",
    "title",
    "covers_publicity",
    "covers_process_recording",
    "covers_legal_review",
    "covers_other",
    "hours",
    "delivery",
    "description",
    "active",
)


@transaction.atomic
def course_save(*, actor, course: Course | None = None, data: dict) -> Course:
    """Create or change a course. Courses are shared by the whole province: provincial admins only."""
    if access.scope_for(actor).kind != access.ALL:
        raise AccessDenied(_("课程由省级管理员维护。"))
    unknown = set(data) - _COURSE_FIELDS
    if unknown:
        raise ValidationFailed(fields={f: [_("未知字段。")] for f in unknown})
    created = course is None
    course = course or Course()
    before = {} if created else snapshot(course, _COURSE_SNAPSHOT)
    for key, value in data.items():
        if key == "topics":
            if not value:
                raise ValidationFailed(_("至少选择一个专题。"), fields={"topics": [_("至少选择一个专题。")]})
            course.set_topics(value)
        else:
            setattr(course, key, value)
    if Course.objects.filter(code=course.code).exclude(pk=course.pk).exists():
        raise Conflict(_("课程编号已存在。"), code="duplicate", fields={"code": [_("课程编号已存在。")]})
    course.full_clean(validate_constraints=False, validate_unique=False)
    changes = diff(before, snapshot(course, _COURSE_SNAPSHOT))
    if not changes and not created:
        return course
    course.save()
    CourseEvent.objects.create(
        course=course,
        kind=CourseEvent.Kind.CREATED if created else CourseEvent.Kind.CHANGED,
        changes=changes,
        actor_id=getattr(actor, "pk", None),
    )
    return course


# --- batches ------------------------------------------------------------------------------

_BATCH_FIELDS = {
    "course",
    "year",
    "number",
    "sector",
    "region",
    "starts_on",
    "ends_on",
    "place",
    "capacity",
    "enrollment_deadline",
    "status",
}


def _check_batch(batch: Batch) -> None:
    errors: dict[str, list[str]] = {}
    if batch.ends_on and batch.starts_on and batch.ends_on < batch.starts_on:
        errors["ends_on"] = [_("结束日期不能早于开始日期。")]
    if batch.enrollment_deadline and batch.ends_on and batch.enrollment_deadline > batch.ends_on:
        errors["enrollment_deadline"] = [_("报名截止日期不能晚于结束日期。")]
    if batch.capacity is not None and batch.capacity < 1:
        errors["capacity"] = [_("名额至少为1。")]
    if batch.starts_on and batch.year and batch.starts_on.year != batch.year:
        errors["year"] = [_("年度应与开始日期所在年份一致。")]
    if errors:
        raise ValidationFailed(_("批次信息有误。"), fields=errors)


@transaction.atomic
def batch_create(*, actor, data: dict) -> Batch:
    """Schedule a batch in a region the actor administers; the number within the
    year is the next free one unless given."""
    unknown = set(data) - _BATCH_FIELDS
    if unknown:
        raise ValidationFailed(fields={f: [_("未知字段。")] for f in unknown})
    batch = Batch(**{"status": BatchStatus.DRAFT, **data})
    if batch.status not in rules.NEW_BATCH_STATUSES:
        raise ValidationFailed(_("新批次只能是草稿或报名中。"), fields={"status": [_("新批次只能是草稿或报名中。")]})
    if not batch.year and batch.starts_on:
        batch.year = batch.starts_on.year
    _require_manager(actor=actor, batch=batch)
    _check_batch(batch)
    if not batch.number:
        last = Batch.objects.filter(region=batch.region, year=batch.year).aggregate(m=Max("number"))["m"]
        batch.number = (last or 0) + 1
    if Batch.objects.filter(region=batch.region, year=batch.year, number=batch.number).exists():
        raise Conflict(
            _("%(r)s %(y)d年第%(n)d批已存在。") % {"r": batch.region.name, "y": batch.year, "n": batch.number},
            code="duplicate",
            fields={"number": [_("批次号已存在。")]},
        )
    try:
        with transaction.atomic():
            batch.save()
    except IntegrityError:
        raise Conflict(_("批次号已被占用，请重试。"), code="duplicate") from None
    _batch_event(
        batch=batch, kind=BatchEvent.Kind.CREATED, changes=diff({}, snapshot(batch, _BATCH_FIELDS)), actor=actor
    )
    return batch


# The event a status move writes (an edit without one is CHANGED).
_MOVE_KIND = {
    BatchStatus.OPEN: BatchEvent.Kind.OPENED,
    BatchStatus.CLOSED: BatchEvent.Kind.CLOSED,
    BatchStatus.CANCELLED: BatchEvent.Kind.CANCELLED,
    BatchStatus.COMPLETED: BatchEvent.Kind.COMPLETED,
}


def _batch_event(*, batch: Batch, kind: str, changes: dict, actor, reason: str = "") -> BatchEvent:
    actor_id = actor.pk if actor is not None and getattr(actor, "pk", None) else None
    return BatchEvent.objects.create(batch=batch, kind=kind, changes=changes, reason=reason, actor_id=actor_id)


@transaction.atomic
def batch_update(*, actor, batch: Batch, data: dict) -> Batch:
    """Edit a batch. Status moves follow draft > open > closed; completing has its own
    service; cancelling a batch cancels its enrollments. Capacity cannot drop below
    the seats already taken."""
    unknown = set(data) - _BATCH_FIELDS
    if unknown:
        raise ValidationFailed(fields={f: [_("未知字段。")] for f in unknown})
    batch = _lock_batch(batch)
    _require_manager(actor=actor, batch=batch)
    if batch.status in (BatchStatus.COMPLETED, BatchStatus.CANCELLED):
        raise Conflict(_("已结业或已取消的批次不能修改。"), code="batch_final")
    new_status = data.get("status", batch.status)
    if not rules.batch_status_move_allowed(batch.status, new_status):
        raise Conflict(
            _("批次不能从“%(a)s”变为“%(b)s”。") % {"a": batch.get_status_display(), "b": BatchStatus(new_status).label},
            code="illegal_transition",
            fields={"status": [_("不允许的状态变更。")]},
        )
    if "region" in data and data["region"] != batch.region:
        if batch.enrollments.exists():
            raise Conflict(_("已有报名的批次不能更换组织地区。"), code="has_enrollments")
        if not actor_manages_region(actor=actor, region=data["region"]):
            raise AccessDenied()
    before = snapshot(batch, _BATCH_FIELDS)
    for key, value in data.items():
        setattr(batch, key, value)
    taken = batch.enrollments.filter(status=EnrollmentStatus.ENROLLED).count()
    if batch.capacity < taken:
        raise Conflict(
            _("已有 %(n)d 人报名，名额不能少于该人数。") % {"n": taken},
            code="capacity_below_enrolled",
            fields={"capacity": [_("名额少于已报名人数。")]},
        )
    _check_batch(batch)
    changes = diff(before, snapshot(batch, _BATCH_FIELDS))
    if not changes:
        return batch
    batch.save()
    kind = _MOVE_KIND[new_status] if "status" in changes else BatchEvent.Kind.CHANGED
    _batch_event(batch=batch, kind=kind, changes=changes, actor=actor)
    if new_status == BatchStatus.CANCELLED:
        active = batch.enrollments.filter(status__in=ACTIVE_ENROLLMENT)
        ids = list(active.values_list("id", flat=True))
        active.update(status=EnrollmentStatus.CANCELLED, waitlist_position=None, updated_at=timezone.now())
        _events(ids, Kind.CANCELLED, actor, _("批次取消"))
    elif "capacity" in data:
        _promote(batch=batch, actor=actor)
    return batch


# --- enrollment ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    inspector_id: int
    status: str  # "enrolled" / "waitlisted" / "refused"
    code: str = ""
    detail: str = ""
    enrollment_id: int | None = None
    waitlist_position: int | None = None

    def as_dict(self) -> dict:
        return {
            "inspector": self.inspector_id,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
            "enrollment": self.enrollment_id,
            "waitlist_position": self.waitlist_position,
        }


def _batch_refusal(batch: Batch, today: dt.date) -> tuple[str, str] | None:
    if batch.status in (BatchStatus.CLOSED, BatchStatus.COMPLETED, BatchStatus.CANCELLED, BatchStatus.DRAFT):
        return "batch_not_open", _("批次状态为“%(s)s”，不接受报名。") % {"s": batch.get_status_display()}
    if today > batch.enrollment_deadline:
        return "deadline_passed", _("报名已于 %(d)s 截止。") % {"d": batch.enrollment_deadline.isoformat()}
    return None


def _inspector_refusal(
    batch: Batch, inspector: Inspector, region_path: str, current: Enrollment | None, overlap: Batch | None
) -> tuple[str, str] | None:
    if not region_path.startswith(batch.region.path):
        return "out_of_region", _("%(n)s 不属于组织地区 %(r)s。") % {"n": inspector.name, "r": batch.region.name}
    if inspector.status != InspectorStatus.ACTIVE:
        return "inspector_inactive", _("%(n)s 当前状态为“%(s)s”，不能报名。") % {
            "n": inspector.name,
            "s": inspector.get_status_display(),
        }
    if batch.sector and inspector.sector != batch.sector:
        return "sector_mismatch", _("该批次面向%(b)s行业，%(n)s 属于%(s)s行业。") % {
            "b": batch.get_sector_display(),
            "n": inspector.name,
            "s": inspector.get_sector_display(),
        }
    if current is not None and current.status != EnrollmentStatus.CANCELLED:
        return "already_enrolled", _("%(n)s 已在该批次中（%(s)s）。") % {
            "n": inspector.name,
            "s": current.get_status_display(),
        }
    if overlap is not None:
        return "date_overlap", _("%(n)s 已报名日期重叠的批次：%(b)s（%(f)s 至 %(t)s）。") % {
            "n": inspector.name,
            "b": str(overlap),
            "f": overlap.starts_on.isoformat(),
            "t": overlap.ends_on.isoformat(),
        }
    return None


# The overlap rule: enrollments of the inspectors that hold a place or were completed, in
# another batch (not the one left, not a cancelled one) whose dates overlap ``since`` to
# ``until``. Plain SQL, the columns named by the models: it runs for every enrollment, where
# building it with the ORM cost more CPU than the database spends on it. ``_overlapping``
# selects from it for bulk enroll, replace and move; a single enrollment reads it with the
# batch lock (``_lock_batch_fields``), against the locked row's dates.
_OVERLAP_FROM = """FROM {enrollment} e INNER JOIN {batch} b ON b.{b_id} = e.{e_batch}
WHERE e.{e_inspector} IN ({ids}) AND e.{e_status} IN ({holding})
    AND b.{starts_on} <= {until} AND b.{ends_on} >= {since}
    AND e.{e_batch} NOT IN ({not_these}) AND b.{b_status} <> {cancelled}"""


def _overlapping(batch: Batch, inspector_ids: Iterable[int], *, leaving: Batch | None = None) -> dict[int, Batch]:
    """For each inspector, one other batch on overlapping dates they hold or completed
    (``leaving``: a batch they are moving out of, which does not count)."""
    ids = list(inspector_ids)
    if not ids:
        return {}
    db = connections[DEFAULT_DB_ALIAS]
    statements = _statements(db)
    not_these = [b.pk for b in (batch, leaving) if b is not None]
    if len(ids) == 1 and len(not_these) == 1:  # one enrollment: the statement as built
        sql = statements.overlap_one
    else:
        sql = statements.overlap.format(ids=", ".join(["%s"] * len(ids)), not_these=", ".join(["%s"] * len(not_these)))
    adapt = db.ops.adapt_datefield_value
    cursor = statements.cursor(db)
    cursor.execute(sql, [*ids, adapt(batch.ends_on), adapt(batch.starts_on), *not_these])
    found = dict(cursor.fetchall())
    if not found:  # the usual answer: one narrow statement
        return {}
    # Only a refusal names the other batch: its course and region are read then.
    batches = Batch.objects.select_related("course", "region").in_bulk(set(found.values()))
    return {inspector_id: batches[batch_id] for inspector_id, batch_id in found.items()}


# Renumber a batch's waitlist 1..n in its order (position, then id: the lock order). Two
# statements whatever the length of the list: the unique (batch, position) index is checked
# row by row on both PostgreSQL and SQLite, so the rows that move go first above every
# position in use (rank + the highest position), then down to their rank, which nobody holds
# by then. Rows already at their rank (the head of the list, up to the first gap) stay put.
# The ranks are read from a derived table, computed before the statement writes anything.
_RENUMBER_SQL = """
UPDATE {table} SET {position} = r.rank + {offset}
FROM (
    SELECT {id} AS eid, {position} AS pos,
           ROW_NUMBER() OVER (ORDER BY {position}, {id}) AS rank,
           MAX({position}) OVER () AS top
    FROM {table}
    WHERE {batch} = %s AND {position} IS NOT NULL
) AS r
WHERE {table}.{id} = r.eid AND r.pos <> r.rank
"""


def _renumber_waitlist(batch: Batch) -> None:
    """Close the gaps in the batch's waitlist: positions become 1..n, in order (caller holds
    the batch lock). A constant number of statements."""
    qn = connection.ops.quote_name
    names = {
        "table": qn(Enrollment._meta.db_table),
        "position": qn(Enrollment._meta.get_field("waitlist_position").column),
        "id": qn(Enrollment._meta.pk.column),
        "batch": qn(Enrollment._meta.get_field("batch").column),
    }
    with connection.cursor() as cursor:
        cursor.execute(_RENUMBER_SQL.format(offset="r.top", **names), [batch.pk])
        if cursor.rowcount:
            cursor.execute(_RENUMBER_SQL.format(offset="0", **names), [batch.pk])


def _seats(batch: Batch) -> tuple[int, int]:
    """(seats taken, last waitlist position), read under the batch lock."""
    agg = batch.enrollments.aggregate(
        taken=Count("id", filter=Q(status=EnrollmentStatus.ENROLLED)), last=Max("waitlist_position")
    )
    return agg["taken"], agg["last"] or 0


def _events(enrollment_ids: Iterable[int], kind: str, actor, reason: str = "") -> None:
    actor_id = actor.pk if actor is not None and getattr(actor, "pk", None) else None
    EnrollmentEvent.objects.bulk_create(
        [EnrollmentEvent(enrollment_id=i, kind=kind, actor_id=actor_id, reason=reason) for i in enrollment_ids],
        batch_size=2000,
    )


def _may_enroll(actor, batch: Batch, inspector: Inspector) -> bool:
    scope = access.scope_for(actor)
    if scope.kind == access.SELF:
        return scope.inspector_id == inspector.pk
    return actor_manages_region(actor=actor, region=batch.region)


def _columns(model, qn) -> str:
    return ", ".join(f"{qn(model._meta.db_table)}.{qn(f.column)}" for f in model._meta.concrete_fields)


class _Rows:
    """Model instances from rows of all of ``model``'s columns (in ``_columns`` order),
    converted as the ORM would; the converters are looked up once, for one connection."""

    def __init__(self, model, db):
        fields = model._meta.concrete_fields
        self.model, self.attnames = model, [f.attname for f in fields]
        self.converters = []
        for n, field in enumerate(fields):
            col = field.get_col(model._meta.db_table)
            converters = db.ops.get_db_converters(col) + field.get_db_converters(db)
            if converters:
                self.converters.append((n, col, converters))

    def __call__(self, db, values):
        if self.converters:
            values = list(values)
            for n, col, converters in self.converters:
                for converter in converters:
                    values[n] = converter(values[n], col, db)
        return self.model.from_db(db.alias, self.attnames, values)


# The inspector and their region, the inspector's row locked: plain SQL (the columns named by
# the models), as it runs for every enrollment.
_LOCK_INSPECTOR_SQL = """SELECT {inspector_columns}, {region_columns}
FROM {inspector} INNER JOIN {region} ON {region}.{region_id} = {inspector}.{inspector_region}
WHERE {inspector}.{inspector_id} = %s{lock}"""


def _lock_inspector(inspector_id: int) -> Inspector:
    """Lock the inspector (with their region) before any batch: an inspector's enrollments in
    overlapping batches are written one at a time, so the overlap check sees the other's.
    Lock order everywhere: the inspector(s), in id order, then the batch(es), in id order."""
    db = connections[DEFAULT_DB_ALIAS]
    statements = _statements(db)
    cursor = statements.cursor(db)
    cursor.execute(statements.lock_inspector, [inspector_id])
    row = cursor.fetchone()
    if row is None:
        raise NotFound()
    split = statements.inspector_split
    inspector = statements.inspector(db, row[:split])
    region = statements.region(db, row[split:])
    Inspector.region.field.set_cached_value(inspector, region)
    return inspector


def _enrollment_refusal(
    actor, batch: Batch, inspector: Inspector, current: Enrollment | None, today: dt.date, overlap: Batch | None
) -> DomainError | None:
    """Why ``inspector`` may not enroll in ``batch`` now (the actor's right, the batch's rules,
    then the inspector's, ``overlap`` the other batch on overlapping dates as read), or None."""
    if not _may_enroll(actor, batch, inspector):
        return AccessDenied(_("无权为该人员报名此批次。"))
    refusal = _batch_refusal(batch, today)
    if refusal is None:
        refusal = _inspector_refusal(batch, inspector, inspector.region.path, current, overlap)
    if refusal is not None:
        code, detail = refusal
        return Conflict(detail, code=code)
    return None


# What the checks before the batch lock read from the batch, and the capacity: the lock
# statement reads them again, and any change sends the call through the checks once more.
_LOCKED_BATCH_FIELDS = ("status", "enrollment_deadline", "capacity", "region_id", "sector", "starts_on", "ends_on")


# The batch lock as the locked section's first statement: one row of the batch, the columns
# above, no join, no ordering; with them the overlap rule's answer for the inspector, against
# the row's own dates (a subquery, not locked). Plain SQL (the columns named by the model):
# every enrollment of a batch waits for the one before it to get past here, so it costs no
# more than it must. The inspector is locked by then: the statement's snapshot, taken after
# that lock, sees every enrollment of theirs made before it.
_LOCK_BATCH_SQL = "SELECT {columns}, ({overlap}) FROM {table} t WHERE t.{id} = %s{lock}"


def _lock_batch_fields(batch_id: int, inspector_id: int) -> tuple[dict, int | None]:
    """Take the batch lock in one narrow statement; the batch's status, dates, region, sector
    and capacity as they are under it, and the id of a batch of the (locked) inspector's on
    overlapping dates, or None."""
    db = connections[DEFAULT_DB_ALIAS]
    statements = _statements(db)
    cursor = statements.cursor(db)
    cursor.execute(statements.lock_batch, [inspector_id, batch_id])
    row = cursor.fetchone()
    if row is None:
        raise NotFound()
    return dict(zip(_LOCKED_BATCH_FIELDS, row[:-1], strict=True)), row[-1]


@transaction.atomic
def enrollment_create(*, batch: Batch, inspector: Inspector, actor, today: dt.date | None = None) -> Enrollment:
    """Enroll one inspector: a seat while there is one, the next waitlist place after.
    Refused (with the reason) when the rules of the batch or the inspector say no.

    Three statements and the commit. Before the batch lock: the inspector's lock and row;
    then the rights, the batch's and the inspector's rules, on the batch as the caller loaded
    it (the view's: with its course and region, which the enrollment returned carries). The
    locked section is two statements: the lock, which reads the batch's status, dates,
    region, sector and capacity again and answers the overlap check (its snapshot follows the
    inspector's lock), and one write that counts the seats, inserts the enrollment (or
    re-enrolls a cancelled one) at its place and writes its event (``_take_place``). Should
    the batch have changed since the caller read it, or the inspector hold a batch on
    overlapping dates, the checks run again on the locked row, in their order, and refuse."""
    today = _today(today)
    inspector = _lock_inspector(inspector.pk)
    # The inspector's own row in the batch is not read here: the write re-enrolls it if it is
    # cancelled and leaves it alone otherwise, and only then is it read, to say why.
    refusal = _enrollment_refusal(actor, batch, inspector, None, today, None)
    if refusal is not None:
        raise refusal
    locked, overlap_id = _lock_batch_fields(batch.pk, inspector.pk)
    changed = any(getattr(batch, field) != value for field, value in locked.items())
    if changed or overlap_id is not None:
        if changed:
            batch = Batch.objects.select_related("course", "region").get(pk=batch.pk)
        overlap = None if overlap_id is None else Batch.objects.select_related("course", "region").get(pk=overlap_id)
        refusal = _enrollment_refusal(actor, batch, inspector, None, today, overlap)
        if refusal is not None:
            raise refusal
    enrollment = _take_place(batch, inspector, locked["capacity"], actor)
    if enrollment is None:  # the inspector is in the batch already (not cancelled)
        current = Enrollment.objects.filter(batch_id=batch.pk, inspector_id=inspector.pk).order_by().first()
        code, detail = _inspector_refusal(batch, inspector, inspector.region.path, current, None)
        raise Conflict(detail, code=code)
    return enrollment


class _Insert:
    """An INSERT of a new row of ``model`` as ``save()`` would write it: the fields named in
    ``computed`` as SQL expressions, those in ``given`` (attnames) from the call, the auto_now
    stamps the time of the call, every other field its default (prepared once, unless the
    default is a callable)."""

    CONSTANT, GIVEN, NOW, DEFAULT = range(4)

    def __init__(self, model, db, computed: dict[str, str], given: tuple[str, ...]):
        qn = db.ops.quote_name
        columns, values, self.recipe = [], [], []
        for field in model._meta.concrete_fields:
            if field.primary_key:
                continue
            columns.append(qn(field.column))
            if field.name in computed:
                values.append(computed[field.name])
                continue
            values.append("%s")
            if field.attname in given:
                self.recipe.append((self.GIVEN, given.index(field.attname)))
            elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                # The stamp of the call, prepared once for every such field: datetimes only.
                if not isinstance(field, DateTimeField):
                    raise TypeError(f"{field}: only a DateTimeField's auto_now is stamped here")
                self.recipe.append((self.NOW, None))
            elif callable(field.default):
                self.recipe.append((self.DEFAULT, field))
            else:
                self.recipe.append((self.CONSTANT, field.get_db_prep_save(field.get_default(), connection=db)))
        self.columns, self.values = ", ".join(columns), ", ".join(values)

    def params(self, db, given: tuple, now) -> list:
        """The parameters of one row: ``given`` in the order of the attnames, ``now`` the call's
        stamp as the database takes it."""
        out = []
        for kind, value in self.recipe:
            if kind == self.CONSTANT:
                out.append(value)
            elif kind == self.GIVEN:
                out.append(given[value])
            elif kind == self.NOW:
                out.append(now)
            else:
                out.append(value.get_db_prep_save(value.get_default(), connection=db))
        return out


def _literal(value: str) -> str:
    assert value.isidentifier(), value  # the choices' values: letters and underscores
    return f"'{value}'"


# The seats of a batch, read by the write itself (after the lock, so every enrollment
# committed before it is counted): taken, the length of the waitlist, its last position.
_SEATS_SQL = """SELECT COUNT(CASE WHEN {status} = {enrolled} THEN 1 END) AS taken,
        COUNT({position}) AS waiting,
        COALESCE(MAX({position}), 0) AS last_position,
        CAST(%s AS integer) AS capacity
    FROM {table} WHERE {batch} = %s"""
# Insert the enrollment at its place, or re-enroll the inspector's cancelled row (one row per
# batch and inspector); a row there that is not cancelled is left alone and nothing returned.
_PLACE_SQL = """INSERT INTO {table} ({columns}) SELECT {values} FROM seats WHERE 1 = 1
    ON CONFLICT ({batch}, {inspector}) DO UPDATE
        SET {status} = EXCLUDED.{status}, {position} = EXCLUDED.{position}, {updated} = EXCLUDED.{updated}
        WHERE {table}.{status} = {cancelled}
    RETURNING {returning}"""

# PostgreSQL: the seats, the enrollment and its event in one statement.
_PG_TAKE_PLACE_SQL = """WITH seats AS ({seats}), placed AS ({place}),
    logged AS (INSERT INTO {event_table} ({event_columns}) SELECT {event_values} FROM placed)
SELECT placed.*, seats.waiting, seats.last_position
FROM placed CROSS JOIN seats"""
_TAKE_PLACE_SQL = "WITH seats AS ({seats}) {place}"
# After the insert: the waitlist's length and last position, less the newcomer.
_WAITLIST_SQL = "SELECT COUNT({position}) - 1, MAX({position}) - 1 FROM {table} WHERE {batch} = %s"


class _Statements:
    """The SQL of one enrollment (the inspector's lock, the batch lock with the overlap check,
    the write; the overlap check alone for bulk enroll, replace and move) and what turns its
    rows into models, built once per database connection from the models' names and the
    backend's features. A call then only binds its parameters: formatting the SQL, looking
    up columns and converters and preparing every field's value on each call cost more CPU
    than PostgreSQL spends running the statements."""

    def __init__(self, db):
        self.db = db
        qn = db.ops.quote_name

        def column(model, name: str) -> str:
            return qn(model._meta.get_field(name).column)

        no_key_lock = db.features.has_select_for_no_key_update
        # The inspector's lock, with their region.
        inspector_table = qn(Inspector._meta.db_table)
        self.inspector, self.region = _Rows(Inspector, db), _Rows(Region, db)
        self.inspector_split = len(Inspector._meta.concrete_fields)
        self.lock_inspector = _LOCK_INSPECTOR_SQL.format(
            inspector_columns=_columns(Inspector, qn),
            region_columns=_columns(Region, qn),
            inspector=inspector_table,
            region=qn(Region._meta.db_table),
            region_id=qn(Region._meta.pk.column),
            inspector_region=column(Inspector, "region"),
            inspector_id=qn(Inspector._meta.pk.column),
            lock=f" FOR NO KEY UPDATE OF {inspector_table}" if no_key_lock else "",
        )
        # The overlap rule: for ``_overlapping``, the inspectors and the batches left out stay
        # to be filled in; for the batch lock, one inspector, against the locked row ``t``.
        batch_id, starts_on, ends_on = qn(Batch._meta.pk.column), column(Batch, "starts_on"), column(Batch, "ends_on")
        overlap = {
            "enrollment": qn(Enrollment._meta.db_table),
            "batch": qn(Batch._meta.db_table),
            "e_batch": column(Enrollment, "batch"),
            "e_inspector": column(Enrollment, "inspector"),
            "e_status": column(Enrollment, "status"),
            "b_id": batch_id,
            "b_status": column(Batch, "status"),
            "starts_on": starts_on,
            "ends_on": ends_on,
            "holding": ", ".join(_literal(status) for status in (*ACTIVE_ENROLLMENT, EnrollmentStatus.COMPLETED)),
            "cancelled": _literal(BatchStatus.CANCELLED),
        }
        self.overlap = f"SELECT e.{overlap['e_inspector']}, e.{overlap['e_batch']} {_OVERLAP_FROM}".format(
            ids="{ids}", not_these="{not_these}", until="%s", since="%s", **overlap
        )
        self.overlap_one = self.overlap.format(ids="%s", not_these="%s")
        # The batch lock.
        self.lock_batch = _LOCK_BATCH_SQL.format(
            columns=", ".join(f"t.{column(Batch, f.removesuffix('_id'))}" for f in _LOCKED_BATCH_FIELDS),
            overlap=f"SELECT e.{overlap['e_batch']} {_OVERLAP_FROM} LIMIT 1".format(
                ids="%s", not_these=f"t.{batch_id}", until=f"t.{ends_on}", since=f"t.{starts_on}", **overlap
            ),
            table=qn(Batch._meta.db_table),
            id=batch_id,
            lock=" FOR NO KEY UPDATE" if no_key_lock else "",
        )
        # The write.
        names = {
            "table": qn(Enrollment._meta.db_table),
            "id": qn(Enrollment._meta.pk.column),
            "batch": column(Enrollment, "batch"),
            "inspector": column(Enrollment, "inspector"),
            "status": column(Enrollment, "status"),
            "position": column(Enrollment, "waitlist_position"),
            "updated": column(Enrollment, "updated_at"),
            "enrolled": _literal(EnrollmentStatus.ENROLLED),
            "cancelled": _literal(EnrollmentStatus.CANCELLED),
        }
        status_sql, position_sql = rules.enrollment_place_sql(
            taken="seats.taken", capacity="seats.capacity", last="seats.last_position"
        )
        self.enrollment = _Rows(Enrollment, db)
        self.insert = _Insert(
            Enrollment, db, {"status": status_sql, "waitlist_position": position_sql}, ("batch_id", "inspector_id")
        )
        self.now_field = Enrollment._meta.get_field("created_at")
        seats = _SEATS_SQL.format(**names)
        place = _PLACE_SQL.format(
            columns=self.insert.columns,
            values=self.insert.values,
            returning=", ".join(qn(f.column) for f in Enrollment._meta.concrete_fields),
            **names,
        )
        # PostgreSQL writes the event in the same statement; SQLite has no writes inside WITH.
        self.one_write = db.vendor == "postgresql"
        if self.one_write:
            kind_sql = (
                f"CASE WHEN placed.{names['status']} = {names['enrolled']} "
                f"THEN {_literal(Kind.ENROLLED)} ELSE {_literal(Kind.WAITLISTED)} END"
            )
            self.event_insert = _Insert(
                EnrollmentEvent, db, {"enrollment": f"placed.{names['id']}", "kind": kind_sql}, ("actor_id",)
            )
            self.take_place = _PG_TAKE_PLACE_SQL.format(
                seats=seats,
                place=place,
                event_table=qn(EnrollmentEvent._meta.db_table),
                event_columns=self.event_insert.columns,
                event_values=self.event_insert.values,
            )
        else:
            self.take_place = _TAKE_PLACE_SQL.format(seats=seats, place=place)
            self.waitlist = _WAITLIST_SQL.format(**names)
        self.keep_cursor = db.vendor == "postgresql"
        self._cursor = self._cursor_of = None

    def cursor(self, db):
        """A cursor of ``db`` for these statements, kept from one call to the next: a new
        cursor looks its parameters' and columns' adapters up anew, which costs about as much
        CPU as running a statement. A new one when the connection is not the one the cursor
        was opened on (closed and opened again), when Django has a health check to make first,
        and, when queries are logged (DEBUG, tests), a new logging cursor every time. PostgreSQL
        only: psycopg holds a result whole, where an SQLite cursor kept would keep its last
        SELECT unfinished."""
        if (
            self._cursor is None
            or self._cursor_of is not db.connection
            or not self.keep_cursor
            or db.queries_logged
            or (db.health_check_enabled and not db.health_check_done)
        ):
            cursor = db.cursor()
            if self.keep_cursor and not db.queries_logged:
                self._cursor, self._cursor_of = cursor, db.connection
            return cursor
        return self._cursor


# Per thread (a connection belongs to one thread; the statements hold it, its converters and
# its cursor), so they go with the thread.
_STATEMENTS = threading.local()


def _statements(db) -> _Statements:
    """The enrollment statements of the connection ``db``, built again when the thread's
    connection object is another."""
    statements = getattr(_STATEMENTS, "current", None)
    if statements is None or statements.db is not db:
        statements = _STATEMENTS.current = _Statements(db)
    return statements


def _take_place(batch: Batch, inspector: Inspector, capacity: int, actor) -> Enrollment | None:
    """Under the batch lock: count the seats, insert the enrollment at its place
    (``rules.enrollment_place_sql``) and write its event. One statement on PostgreSQL (the
    event in the same WITH); on SQLite, which has neither row locks (its writers hold the
    database's lock for the whole transaction) nor writes in WITH, the event is a second.
    None when the inspector's row in the batch is there and not cancelled."""
    db = connections[DEFAULT_DB_ALIAS]
    statements = _statements(db)
    now = statements.now_field.get_db_prep_save(timezone.now(), connection=db)
    params = [capacity, batch.pk, *statements.insert.params(db, (batch.pk, inspector.pk), now)]
    cursor = statements.cursor(db)
    if statements.one_write:
        actor_id = actor.pk if actor is not None and getattr(actor, "pk", None) else None
        cursor.execute(statements.take_place, [*params, *statements.event_insert.params(db, (actor_id,), now)])
        row = cursor.fetchone()
        if row is None:
            return None
        *values, waiting, last = row
        # The row as it now is (a new one, or the cancelled one re-enrolled)
        enrollment = statements.enrollment(db, values)
    else:
        cursor.execute(statements.take_place, params)
        row = cursor.fetchone()
        if row is None:
            return None
        enrollment = statements.enrollment(db, row)
        waiting = last = None
        _events([enrollment.pk], Kind.ENROLLED if enrollment.waitlist_position is None else Kind.WAITLISTED, actor)
        if enrollment.waitlist_position is not None:
            cursor.execute(statements.waitlist, [batch.pk])
            waiting, last = cursor.fetchone()
    if enrollment.waitlist_position is not None and waiting != last:
        # A waitlist left with gaps (by a write outside the services): closed up now, the
        # newcomer last.
        _renumber_waitlist(batch)
        enrollment.waitlist_position = (
            Enrollment.objects.filter(pk=enrollment.pk).values_list("waitlist_position", flat=True).get()
        )
    Enrollment.batch.field.set_cached_value(enrollment, batch)
    Enrollment.inspector.field.set_cached_value(enrollment, inspector)
    return enrollment


@transaction.atomic
def batch_bulk_enroll(
    *,
    batch: Batch,
    actor,
    sector: str | None = None,
    region: Region | None = None,
    inspector_ids: list[int] | None = None,
    today: dt.date | None = None,
) -> list[Outcome]:
    """Enroll every active inspector of the batch's sector (or the given one) in the
    region subtree (optionally only the given IDs), seats first, then waitlist, and
    say for each what happened and why. A handful of queries: the candidates are locked
    (in id order) before the batch, the lock order of every enrollment write."""
    batch = Batch.objects.select_related("course", "region").filter(pk=batch.pk).first()
    if batch is None:
        raise NotFound()
    _require_manager(actor=actor, batch=batch)
    today = _today(today)
    filters: dict = {}
    target_region = region or batch.region
    _require_in_region(target_region, batch)
    filters["region"] = target_region
    candidates = inspector_list(actor=actor, filters=filters).order_by("region__path", "name", "id")
    if inspector_ids is not None:
        wanted = set(inspector_ids)
        candidates = candidates.filter(pk__in=wanted)
    else:
        candidates = candidates.filter(status=InspectorStatus.ACTIVE)
        wanted = None
        chosen_sector = sector or batch.sector
        if chosen_sector:
            candidates = candidates.filter(sector=chosen_sector)
    candidates = list(
        candidates.select_related(None)
        .select_related("region")
        .only("id", "name", "status", "sector", "region__path", "region__name")
        .order_by("id")  # rows are locked in id order, so two bulk runs cannot deadlock
        .select_for_update(of=("self",))
    )
    candidates.sort(key=lambda i: (i.region.path, i.name, i.pk))
    # The batch as it is under its lock: each candidate is checked against it below.
    batch = _lock_batch(batch)
    _require_manager(actor=actor, batch=batch)
    _require_in_region(target_region, batch)

    outcomes: list[Outcome] = []
    if wanted is not None:
        found = {i.pk for i in candidates}
        outcomes += [
            Outcome(i, "refused", "not_found", _("人员不存在或不在您的管辖范围内。")) for i in sorted(wanted - found)
        ]
    batch_refusal = _batch_refusal(batch, today)
    if batch_refusal is not None:
        return outcomes + [Outcome(i.pk, "refused", *batch_refusal) for i in candidates]

    current = {
        e.inspector_id: e for e in Enrollment.objects.filter(batch=batch, inspector_id__in=[i.pk for i in candidates])
    }
    overlaps = _overlapping(batch, [i.pk for i in candidates])
    _renumber_waitlist(batch)
    taken, last = _seats(batch)
    to_create: list[Enrollment] = []
    to_reuse: list[Enrollment] = []
    for inspector in candidates:
        refusal = _inspector_refusal(
            batch, inspector, inspector.region.path, current.get(inspector.pk), overlaps.get(inspector.pk)
        )
        if refusal is not None:
            outcomes.append(Outcome(inspector.pk, "refused", *refusal))
            continue
        status, position = rules.enrollment_place(taken, batch.capacity, last)
        if position is None:
            taken += 1
        else:
            last = position
        existing = current.get(inspector.pk)
        if existing is not None:
            existing.status, existing.waitlist_position = status, position
            to_reuse.append(existing)
        else:
            to_create.append(
                Enrollment(batch=batch, inspector_id=inspector.pk, status=status, waitlist_position=position)
            )
    created = Enrollment.objects.bulk_create(to_create, batch_size=2000)
    if to_reuse:
        now = timezone.now()
        for e in to_reuse:
            e.updated_at = now
        Enrollment.objects.bulk_update(to_reuse, ["status", "waitlist_position", "updated_at"], batch_size=1000)
    done = created + to_reuse
    if created and created[0].pk is None:
        # Backends that do not return ids from bulk inserts: read them back in one query.
        ids = dict(
            Enrollment.objects.filter(batch=batch, inspector_id__in=[e.inspector_id for e in created]).values_list(
                "inspector_id", "id"
            )
        )
        for e in created:
            e.pk = e.id = ids[e.inspector_id]
    _events([e.pk for e in done if e.status == EnrollmentStatus.ENROLLED], Kind.ENROLLED, actor, _("批量报名"))
    _events([e.pk for e in done if e.status == EnrollmentStatus.WAITLISTED], Kind.WAITLISTED, actor, _("批量报名"))
    outcomes += [Outcome(e.inspector_id, e.status, "", "", e.pk, e.waitlist_position) for e in done]
    return outcomes


def _require_in_region(region: Region, batch: Batch) -> None:
    if not region.path.startswith(batch.region.path):
        raise ValidationFailed(
            _("地区 %(r)s 不在组织地区范围内。") % {"r": region.name}, fields={"region": [_("超出范围。")]}
        )


def _promote(*, batch: Batch, actor) -> list[Enrollment]:
    """Fill free seats from the head of the waitlist (caller holds the batch lock)."""
    taken, _last = _seats(batch)
    free = batch.capacity - taken
    if free <= 0:
        return []
    promoted = list(batch.enrollments.filter(status=EnrollmentStatus.WAITLISTED).order_by("waitlist_position")[:free])
    for e in promoted:
        e.status, e.waitlist_position = EnrollmentStatus.ENROLLED, None
        e.save(update_fields=["status", "waitlist_position", "updated_at"])
    _events([e.pk for e in promoted], Kind.PROMOTED, actor, _("有人取消，候补转正"))
    if promoted:
        _renumber_waitlist(batch)
    return promoted


def _may_cancel(actor, enrollment: Enrollment) -> bool:
    scope = access.scope_for(actor)
    if scope.kind == access.SELF:
        return scope.inspector_id == enrollment.inspector_id
    return actor_manages_region(actor=actor, region=enrollment.batch.region)


@transaction.atomic
def enrollment_cancel(*, enrollment: Enrollment, actor, reason: str = "") -> Enrollment:
    """Cancel an enrollment; a freed seat goes to the first on the waitlist in the same transaction."""
    batch = _lock_batch(enrollment.batch_id)
    enrollment = Enrollment.objects.select_related("inspector").get(pk=enrollment.pk)
    enrollment.batch = batch
    if not _may_cancel(actor, enrollment):
        raise AccessDenied(_("无权取消该报名。"))
    if enrollment.status not in ACTIVE_ENROLLMENT:
        raise Conflict(
            _("状态为“%(s)s”的报名不能取消。") % {"s": enrollment.get_status_display()}, code="illegal_transition"
        )
    if batch.status in (BatchStatus.COMPLETED, BatchStatus.CANCELLED):
        raise Conflict(_("批次已结束，不能取消报名。"), code="batch_final")
    was_enrolled = enrollment.status == EnrollmentStatus.ENROLLED
    enrollment.status, enrollment.waitlist_position = EnrollmentStatus.CANCELLED, None
    enrollment.save(update_fields=["status", "waitlist_position", "updated_at"])
    _events([enrollment.pk], Kind.CANCELLED, actor, reason)
    if was_enrolled:
        _promote(batch=batch, actor=actor)
    else:  # a place in the waitlist freed: those behind move up
        _renumber_waitlist(batch)
    return enrollment


def _reason_required(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("请填写原因。"), fields={"reason": [_("请填写原因。")]})
    return reason


def _seated_or_waiting(enrollment: Enrollment, batch: Batch) -> None:
    """Replace and move act on a place held or waited for, in a batch still running."""
    if enrollment.status not in ACTIVE_ENROLLMENT:
        raise Conflict(
            _("状态为“%(s)s”的报名不能替换或转班。") % {"s": enrollment.get_status_display()},
            code="illegal_transition",
        )
    if batch.status not in (BatchStatus.OPEN, BatchStatus.CLOSED):
        raise Conflict(_("批次状态为“%(s)s”，不能替换或转班。") % {"s": batch.get_status_display()}, code="batch_final")


def _take(batch: Batch, inspector: Inspector, current: Enrollment | None, status: str, position: int | None):
    """Give ``inspector`` the place (status, waitlist position) in ``batch``, reusing the
    cancelled row of an earlier enrollment there: one row per (batch, inspector)."""
    if current is None:
        return Enrollment.objects.create(batch=batch, inspector=inspector, status=status, waitlist_position=position)
    current.status, current.waitlist_position = status, position
    current.save(update_fields=["status", "waitlist_position", "updated_at"])
    return current


@transaction.atomic
def enrollment_replace(*, enrollment: Enrollment, inspector: Inspector, actor, reason: str) -> Enrollment:
    """Give an enrollment's place to another inspector: same seat, or the same waitlist
    position. The newcomer passes the checks of a new enrollment (region, status, sector,
    not already in the batch, no overlapping batch) except the deadline: replacing someone
    who cannot come is what happens after it. The old enrollment is cancelled; both get a
    ``replaced`` event naming the other. Returns the new enrollment."""
    reason = _reason_required(reason)
    inspector = _lock_inspector(inspector.pk)  # the newcomer, before the batch: the lock order
    batch = _lock_batch(enrollment.batch_id)
    _require_manager(actor=actor, batch=batch)
    old = Enrollment.objects.select_related("inspector").get(pk=enrollment.pk)
    old.batch = batch
    _seated_or_waiting(old, batch)
    if not _may_enroll(actor, batch, inspector):
        raise AccessDenied(_("无权为该人员报名此批次。"))
    current = Enrollment.objects.filter(batch=batch, inspector=inspector).first()
    overlap = _overlapping(batch, [inspector.pk]).get(inspector.pk)
    refusal = _inspector_refusal(batch, inspector, inspector.region.path, current, overlap)
    if refusal is not None:
        code, detail = refusal
        raise Conflict(detail, code=code, fields={"inspector": [detail]})
    status, position = old.status, old.waitlist_position
    # The old row lets go of its waitlist position first: (batch, position) is unique.
    old.status, old.waitlist_position = EnrollmentStatus.CANCELLED, None
    old.save(update_fields=["status", "waitlist_position", "updated_at"])
    new = _take(batch, inspector, current, status, position)
    _events([old.pk], Kind.REPLACED, actor, (_("由 %(n)s 替换：%(r)s") % {"n": inspector.name, "r": reason})[:200])
    _events([new.pk], Kind.REPLACED, actor, (_("替换 %(n)s：%(r)s") % {"n": old.inspector.name, "r": reason})[:200])
    return new


@transaction.atomic
def enrollment_move(
    *, enrollment: Enrollment, to_batch: Batch, actor, reason: str, today: dt.date | None = None
) -> Enrollment:
    """Move an enrollment to another batch of the same course (转班): a seat there while
    there is one, else the end of its waitlist; the place left behind goes to the head of
    the old batch's waitlist. Both batches are locked in id order, so two moves in
    opposite directions cannot deadlock; the inspector is locked before them (the lock order
    of every enrollment write). Returns the enrollment in the new batch."""
    reason = _reason_required(reason)
    if to_batch.pk == enrollment.batch_id:
        raise ValidationFailed(_("请选择另一个批次。"), fields={"batch": [_("已在该批次中。")]})
    inspector = _lock_inspector(enrollment.inspector_id)  # an enrollment's inspector never changes
    locked = {b: _lock_batch(b) for b in sorted((enrollment.batch_id, to_batch.pk))}
    source, target = locked[enrollment.batch_id], locked[to_batch.pk]
    _require_manager(actor=actor, batch=source)
    old = Enrollment.objects.select_related("inspector").get(pk=enrollment.pk)
    old.batch = source
    _seated_or_waiting(old, source)
    if target.course_id != source.course_id:
        message = _("只能转到同一课程的其他批次。")
        raise ValidationFailed(message, fields={"batch": [message]})
    if not _may_enroll(actor, target, old.inspector):
        raise AccessDenied(_("无权为该人员报名此批次。"))
    current = Enrollment.objects.filter(batch=target, inspector=inspector).first()
    refusal = _batch_refusal(target, _today(today))
    if refusal is None:
        overlap = _overlapping(target, [inspector.pk], leaving=source).get(inspector.pk)
        refusal = _inspector_refusal(target, inspector, inspector.region.path, current, overlap)
    if refusal is not None:
        code, detail = refusal
        raise Conflict(detail, code=code, fields={"batch": [detail]})
    was_enrolled = old.status == EnrollmentStatus.ENROLLED
    old.status, old.waitlist_position = EnrollmentStatus.CANCELLED, None
    old.save(update_fields=["status", "waitlist_position", "updated_at"])
    _renumber_waitlist(target)
    taken, last = _seats(target)
    new = _take(target, inspector, current, *rules.enrollment_place(taken, target.capacity, last))
    _events([old.pk], Kind.MOVED, actor, (_("转至 %(b)s：%(r)s") % {"b": target, "r": reason})[:200])
    _events([new.pk], Kind.MOVED, actor, (_("由 %(b)s 转入：%(r)s") % {"b": source, "r": reason})[:200])
    if was_enrolled:
        _promote(batch=source, actor=actor)
    else:
        _renumber_waitlist(source)
    return new


# --- attendance and completion ----------------------------------------------------------


@transaction.atomic
def attendance_mark(
    *,
    batch: Batch,
    actor,
    day: dt.date,
    present: Iterable[int] = (),
    absent: Iterable[int] = (),
    all_present: bool = False,
) -> int:
    """Record one day's attendance for enrolled inspectors (by inspector id); marking
    again overwrites (a scan's "present" marked present again stays the scan's record).
    ``all_present`` marks everyone enrolled present except ``absent``. Each record that
    changes leaves its ``AttendanceEvent`` (``_attendance_write``)."""
    batch = _lock_batch(batch)
    _require_manager(actor=actor, batch=batch)
    enrolled = _enrolled(batch)
    cells = _attendance_cells(batch, day, enrolled, present=present, absent=absent, all_present=all_present)
    _attendance_write(actor=actor, marks={day: {enrolled[i]: here for i, here in cells.items()}})
    return len(cells)


def _enrolled(batch: Batch) -> dict[int, int]:
    """The batch's enrolled people: ``{inspector id: enrollment id}``."""
    return dict(batch.enrollments.filter(status=EnrollmentStatus.ENROLLED).values_list("inspector_id", "id"))


def _attendance_cells(
    batch: Batch, day: dt.date, enrolled: dict[int, int], *, present, absent, all_present: bool = False
) -> dict[int, bool]:
    """One day's marks checked: ``{inspector id: present}``, or the refusal (the day, the
    batch's status, someone both present and absent, someone not enrolled)."""
    refusal = _attendance_refusal(batch, day)
    if refusal is not None:
        raise refusal
    present, absent = set(present), set(absent)
    both = present & absent
    if both:
        raise ValidationFailed(_("同一人不能既出勤又缺勤。"), fields={"present": [str(i) for i in sorted(both)]})
    if all_present:
        present = set(enrolled) - absent
    unknown = (present | absent) - set(enrolled)
    if unknown:
        raise ValidationFailed(
            _("这些人员未在该批次报名（或在候补中）：%(ids)s") % {"ids": ", ".join(map(str, sorted(unknown)))},
            fields={"present": [str(i) for i in sorted(unknown)]},
        )
    return {i: i in present for i in sorted(present | absent)}


def _attendance_write(*, actor, marks: dict[dt.date, dict[int, bool]]) -> None:
    """The office's marks ``{day: {enrollment id: present}}``, checked, written: the records
    that change (new, or the other value) become the office's, in one upsert, and each leaves
    an ``AttendanceEvent`` (one bulk insert); a mark equal to the record (a scan's "present"
    marked present again included) writes nothing. Four statements whatever the days."""
    wanted = [(enrollment_id, day, here) for day, cells in marks.items() for enrollment_id, here in cells.items()]
    if not wanted:
        return
    current = {
        (enrollment_id, day): present
        for enrollment_id, day, present in Attendance.objects.filter(
            enrollment_id__in={e for e, _d, _h in wanted}, day__in=set(marks)
        ).values_list("enrollment_id", "day", "present")
    }
    actor_id = getattr(actor, "pk", None)
    changed = [(e, d, here) for e, d, here in wanted if current.get((e, d)) != here]
    if not changed:
        return
    rows = Attendance.objects.bulk_create(
        [
            Attendance(enrollment_id=e, day=d, present=here, recorded_by_id=actor_id, source=AttendanceSource.OFFICE)
            for e, d, here in changed
        ],
        update_conflicts=True,
        unique_fields=["enrollment", "day"],
        update_fields=["present", "recorded_by", "source", "updated_at"],
        batch_size=2000,
    )
    ids = {(row.enrollment_id, row.day): row.pk for row in rows}
    if None in ids.values():  # (a backend that does not return the upserted rows' ids)
        found = Attendance.objects.filter(enrollment_id__in={e for e, _d, _h in changed}, day__in=set(marks))
        ids = {(e, d): pk for e, d, pk in found.values_list("enrollment_id", "day", "pk")}
    AttendanceEvent.objects.bulk_create(
        [
            AttendanceEvent(
                attendance_id=ids[(e, d)],
                kind=AttendanceEvent.Kind.PRESENT if here else AttendanceEvent.Kind.ABSENT,
                source=AttendanceSource.OFFICE,
                changes={"present": [current.get((e, d)), here]},
                actor_id=actor_id,
            )
            for e, d, here in changed
        ],
        batch_size=2000,
    )


def _attendance_refusal(batch: Batch, day: dt.date) -> DomainError | None:
    """Whether a day of the batch may take attendance at all (the office's and the scans')."""
    if batch.status in (BatchStatus.CANCELLED, BatchStatus.COMPLETED, BatchStatus.DRAFT):
        return Conflict(_("批次状态为“%(s)s”，不能登记考勤。") % {"s": batch.get_status_display()}, code="batch_final")
    if not batch.starts_on <= day <= batch.ends_on:
        return ValidationFailed(
            _("%(d)s 不在培训日期内（%(f)s 至 %(t)s）。")
            % {"d": day.isoformat(), "f": batch.starts_on.isoformat(), "t": batch.ends_on.isoformat()},
            fields={"day": [_("不在培训日期内。")]},
        )
    return None


# --- QR sign-in (training.checkin makes and reads the codes) -------------------------------


@dataclass(frozen=True)
class CheckIn:
    """A scan's outcome: ``recorded`` now, or the day was already recorded present (by a
    scan or by the office)."""

    attendance: Attendance
    already: bool


def check_in_refusal(*, batch: Batch, day: dt.date, now: dt.datetime) -> DomainError | None:
    """Why the batch takes no scans for ``day`` at ``now``: the attendance rules (status, a
    training day), the day being today, and the hours of settings.CHECKIN_HOURS (local time,
    from the first hour up to, not including, the second)."""
    local = timezone.localtime(now)
    if day != local.date():
        return ValidationFailed(
            _("该签到码属于 %(d)s，只能在当天签到（今天是 %(t)s）。")
            % {"d": day.isoformat(), "t": local.date().isoformat()},
            code="wrong_day",
        )
    refusal = _attendance_refusal(batch, day)
    if refusal is not None:
        if refusal.code == "batch_final":
            return Conflict(
                _("批次状态为“%(s)s”，不能签到。") % {"s": batch.get_status_display()}, code="batch_not_running"
            )
        return Conflict(
            _("今天（%(d)s）不是该批次的培训日（%(f)s 至 %(t)s）。")
            % {"d": day.isoformat(), "f": batch.starts_on.isoformat(), "t": batch.ends_on.isoformat()},
            code="batch_not_running",
        )
    opens, closes = settings.CHECKIN_HOURS
    if not opens <= local.hour < closes:
        return Conflict(
            _("签到时间为每天 %(o)02d:00 至 %(c)02d:00，现在是 %(n)s。")
            % {"o": opens, "c": closes, "n": local.strftime("%H:%M")},
            code="outside_hours",
        )
    return None


@transaction.atomic
def attendance_check_in(*, batch: Batch, inspector: Inspector, day: dt.date, now: dt.datetime) -> CheckIn:
    """Record the inspector present on ``day`` from a scan (source 扫码签到, recorded by the
    inspector's own account). Under the batch lock, as every attendance write: a repeat is
    answered "already"; an office record is never overwritten (absent: refused)."""
    batch = _lock_batch(batch)
    refusal = check_in_refusal(batch=batch, day=day, now=now)
    if refusal is not None:
        raise refusal
    enrollment = batch.enrollments.filter(inspector=inspector).first()
    if enrollment is None or enrollment.status != EnrollmentStatus.ENROLLED:
        raise _not_enrolled(batch, enrollment)
    current = Attendance.objects.filter(enrollment=enrollment, day=day).first()
    already = current is not None
    if current is None:
        # The unique (enrollment, day) is the last word if a writer ever came without the
        # batch lock: one row, and this scan reads it (the insert's savepoint rolled back),
        # never a 500; only the scan that wrote the row writes its event.
        try:
            with transaction.atomic():
                current = Attendance.objects.create(
                    enrollment=enrollment,
                    day=day,
                    present=True,
                    recorded_by_id=inspector.user_id,
                    source=AttendanceSource.CHECKIN,
                )
        except IntegrityError:
            current, already = Attendance.objects.get(enrollment=enrollment, day=day), True
        else:
            AttendanceEvent.objects.create(
                attendance=current,
                kind=AttendanceEvent.Kind.CHECKED_IN,
                source=AttendanceSource.CHECKIN,
                changes={"present": [None, True]},
                actor_id=inspector.user_id,
            )
            logger.info("check-in: batch %s day %s inspector %s", batch.pk, day, inspector.pk)
    if not current.present:
        raise Conflict(
            _("培训机构已将您 %(d)s 的考勤登记为缺勤，扫码不能更改；如有异议请联系培训机构。") % {"d": day.isoformat()},
            code="marked_absent",
        )
    return CheckIn(attendance=current, already=already)


def _not_enrolled(batch: Batch, enrollment: Enrollment | None) -> DomainError:
    if enrollment is not None and enrollment.status == EnrollmentStatus.WAITLISTED:
        return AccessDenied(
            _("您在该批次中为候补（第 %(p)s 位），尚未取得名额，不能签到。") % {"p": enrollment.waitlist_position},
            code="waitlisted",
        )
    if enrollment is not None and enrollment.status == EnrollmentStatus.CANCELLED:
        return AccessDenied(_("您在该批次的报名已取消，不能签到。"), code="enrollment_cancelled")
    if enrollment is not None:
        return AccessDenied(
            _("您在该批次的状态为“%(s)s”，不能签到。") % {"s": enrollment.get_status_display()}, code="not_enrolled"
        )
    return AccessDenied(_("您没有报名该批次（%(b)s），不能签到。") % {"b": batch}, code="not_enrolled")


def check_in_count(*, batch: Batch, day: dt.date, latest: int = 5) -> dict:
    """The trainer's live figures: enrolled, present on ``day`` (scanned or marked by the
    office) and the names of the latest scans."""
    enrolled = batch.enrollments.filter(status=EnrollmentStatus.ENROLLED)
    present = Attendance.objects.filter(enrollment__in=enrolled, day=day, present=True)
    names = list(
        present.filter(source=AttendanceSource.CHECKIN)
        .order_by("-created_at", "-id")
        .values_list("enrollment__inspector__name", flat=True)[:latest]
    )
    return {"enrolled": enrolled.count(), "signed_in": present.count(), "latest": names}


@transaction.atomic
def attendance_mark_days(*, batch: Batch, actor, days: dict[dt.date, dict[int, bool]]) -> int:
    """Record several days at once (the admin's grid): ``{day: {inspector id: present}}``,
    each day checked as ``attendance_mark`` checks one, all written together (one upsert,
    one insert of the events) in one transaction, so a refusal of any day records none."""
    batch = _lock_batch(batch)
    _require_manager(actor=actor, batch=batch)
    enrolled = _enrolled(batch)
    marks: dict[dt.date, dict[int, bool]] = {}
    for day in sorted(days):
        cells = days[day]
        checked = _attendance_cells(
            batch,
            day,
            enrolled,
            present=[i for i, here in cells.items() if here],
            absent=[i for i, here in cells.items() if not here],
        )
        marks[day] = {enrolled[i]: here for i, here in checked.items()}
    _attendance_write(actor=actor, marks=marks)
    return sum(len(cells) for cells in marks.values())


@dataclass(frozen=True)
class PlanRow:
    """One person in a completion plan: who, and why they land where they do."""

    enrollment_id: int
    inspector_id: int
    name: str
    region: str
    days_present: int = 0
    missing_days: tuple[dt.date, ...] = ()
    reason: str = ""
    waitlist_position: int | None = None

    def as_dict(self) -> dict:
        return {
            "enrollment": self.enrollment_id,
            "inspector": self.inspector_id,
            "name": self.name,
            "region": self.region,
            "days_present": self.days_present,
            "missing_days": list(self.missing_days),
            "reason": self.reason,
            "waitlist_position": self.waitlist_position,
        }


@dataclass(frozen=True)
class CompletionPlan:
    """What completing a batch does, decided once (``batch_completion_plan``): the preview
    shows it and ``batch_complete`` applies it. ``refusal`` is why it may not be applied now."""

    batch_id: int
    days: tuple[dt.date, ...]
    attendance_recorded: bool
    no_attendance_reason: str
    completed: tuple[PlanRow, ...]  # present every day (or, with no attendance and a reason, the roll)
    excused: tuple[PlanRow, ...]  # missed a day, completed by the admin's override (reason)
    no_show: tuple[PlanRow, ...]  # missed a day: no hours
    waitlist_cancelled: tuple[PlanRow, ...]  # still waiting for a seat: cancelled, in waitlist order
    refusal: DomainError | None = None

    @property
    def counts(self) -> dict[str, int]:
        return {
            "completed": len(self.completed) + len(self.excused),
            "no_show": len(self.no_show),
            "excused": len(self.excused),
            "waitlist_cancelled": len(self.waitlist_cancelled),
        }

    def as_dict(self) -> dict:
        refusal = self.refusal
        return {
            "batch": self.batch_id,
            "days": list(self.days),
            "attendance_recorded": self.attendance_recorded,
            "no_attendance_reason": self.no_attendance_reason,
            "counts": self.counts,
            "completed": [r.as_dict() for r in self.completed],
            "excused": [r.as_dict() for r in self.excused],
            "no_show": [r.as_dict() for r in self.no_show],
            "waitlist_cancelled": [r.as_dict() for r in self.waitlist_cancelled],
            "refusal": None if refusal is None else {"code": refusal.code, "detail": str(refusal.detail)},
        }


def _completion_refusal(batch: Batch, today: dt.date, *, roll: int, recorded: bool, reason: str) -> DomainError | None:
    if batch.status not in (BatchStatus.OPEN, BatchStatus.CLOSED):
        return Conflict(
            _("批次状态为“%(s)s”，不能结业。") % {"s": batch.get_status_display()}, code="illegal_transition"
        )
    if today < batch.ends_on:
        return Conflict(_("批次在 %(d)s 结束，之前不能结业。") % {"d": batch.ends_on.isoformat()}, code="too_early")
    # Nobody enrolled: nobody to mark, nothing to refuse (the waitlist waits only for a full batch).
    if roll and not recorded and not reason:
        return Conflict(
            _("该批次没有登记任何考勤，不能按考勤结业。请先登记考勤；如确已按花名册线下核实，请填写未登记考勤的理由。"),
            code="no_attendance",
            fields={"no_attendance_reason": [_("未登记考勤时必须填写理由。")]},
        )
    return None


def batch_completion_plan(
    *,
    batch: Batch,
    actor,
    overrides: dict[int, str] | None = None,
    no_attendance_reason: str = "",
    today: dt.date | None = None,
) -> CompletionPlan:
    """Who completes, who is a no-show (and which days they miss), who is excused and whose
    waitlist place is cancelled: the one decision of completion, read without writing.

    With attendance recorded, whoever was present every day completes; the others enrolled
    are no-shows unless ``overrides`` (inspector id -> reason) excuses them. With no
    attendance recorded at all, completing is refused unless ``no_attendance_reason`` says
    why (the roll was checked offline): then everyone enrolled completes. The plan shows
    that roll either way; ``refusal`` says whether it may be applied now."""
    _require_manager(actor=actor, batch=batch)
    today = _today(today)
    reason = (no_attendance_reason or "").strip()
    overrides = {int(k): v for k, v in (overrides or {}).items()}
    missing_reason = [i for i, why in overrides.items() if not (why or "").strip()]
    if missing_reason:
        raise ValidationFailed(_("特批结业必须填写理由。"), fields={"overrides": [str(i) for i in missing_reason]})
    days = tuple(batch.starts_on + dt.timedelta(days=n) for n in range(batch.days))
    seats = list(
        batch.enrollments.filter(status__in=(EnrollmentStatus.ENROLLED, EnrollmentStatus.WAITLISTED))
        .select_related("inspector__region")
        .order_by("waitlist_position", "inspector__region__path", "inspector__name", "id")
    )
    enrolled = [e for e in seats if e.status == EnrollmentStatus.ENROLLED]
    unknown = set(overrides) - {e.inspector_id for e in enrolled}
    if unknown:
        raise ValidationFailed(
            _("这些人员不在该批次的已报名名单中：%(ids)s") % {"ids": ", ".join(map(str, sorted(unknown)))},
            fields={"overrides": [str(i) for i in sorted(unknown)]},
        )
    present: dict[int, set[dt.date]] = {e.pk: set() for e in enrolled}
    recorded = Attendance.objects.filter(enrollment__batch=batch).exists()
    for enrollment_id, day in Attendance.objects.filter(enrollment_id__in=list(present), present=True).values_list(
        "enrollment_id", "day"
    ):
        present[enrollment_id].add(day)

    def row(e: Enrollment, **extra) -> PlanRow:
        return PlanRow(e.pk, e.inspector_id, e.inspector.name, e.inspector.region.name, **extra)

    completed, excused, no_show = [], [], []
    for e in enrolled:
        here = present[e.pk]
        missing = tuple(d for d in days if d not in here)
        if not recorded:
            completed.append(row(e, reason=reason))
        elif not missing:
            completed.append(row(e, days_present=len(here & set(days))))
        elif e.inspector_id in overrides:
            excused.append(
                row(e, days_present=len(here), missing_days=missing, reason=overrides[e.inspector_id].strip())
            )
        else:
            no_show.append(row(e, days_present=len(here), missing_days=missing))
    waiting = [row(e, waitlist_position=e.waitlist_position) for e in seats if e.status == EnrollmentStatus.WAITLISTED]
    return CompletionPlan(
        batch_id=batch.pk,
        days=days,
        attendance_recorded=recorded,
        no_attendance_reason=reason if not recorded else "",
        completed=tuple(completed),
        excused=tuple(excused),
        no_show=tuple(no_show),
        waitlist_cancelled=tuple(waiting),
        refusal=_completion_refusal(batch, today, roll=len(enrolled), recorded=recorded, reason=reason),
    )


# The reason written on the waitlist places a completion cancels; undoing the completion
# finds them by it (in any of the site's languages: it is translated when written).
_WAITLIST_CLOSED = gettext_noop("批次结业，候补未获名额")


@transaction.atomic
def batch_complete(
    *,
    batch: Batch,
    actor,
    overrides: dict[int, str] | None = None,
    no_attendance_reason: str = "",
    today: dt.date | None = None,
) -> dict[str, int]:
    """Close a batch as ``batch_completion_plan`` decides: those completing get the course
    hours, the other enrolled are no-shows, the waitlist is cancelled. Refused as the plan
    says (too early, not open or closed, no attendance without a reason)."""
    batch = _lock_batch(batch)
    plan = batch_completion_plan(
        batch=batch, actor=actor, overrides=overrides, no_attendance_reason=no_attendance_reason, today=today
    )
    if plan.refusal is not None:
        raise plan.refusal
    now = timezone.now()
    completed = [r.enrollment_id for r in (*plan.completed, *plan.excused)]
    Enrollment.objects.filter(pk__in=completed).update(
        status=EnrollmentStatus.COMPLETED, hours_credited=batch.course.hours, completed_on=batch.ends_on, updated_at=now
    )
    Enrollment.objects.bulk_update(
        [Enrollment(pk=r.enrollment_id, override_reason=r.reason[:200]) for r in plan.excused],
        ["override_reason"],
        batch_size=1000,
    )
    no_show = [r.enrollment_id for r in plan.no_show]
    Enrollment.objects.filter(pk__in=no_show).update(status=EnrollmentStatus.NO_SHOW, updated_at=now)
    # Whoever is still waiting for a seat did not get one: the batch is over. The events are
    # written in waitlist order, which is the order an undo gives the places back in.
    left_waiting = [r.enrollment_id for r in plan.waitlist_cancelled]
    batch.enrollments.filter(pk__in=left_waiting).update(
        status=EnrollmentStatus.CANCELLED, waitlist_position=None, updated_at=now
    )
    _events(left_waiting, Kind.CANCELLED, actor, _(_WAITLIST_CLOSED))
    if plan.attendance_recorded:
        _events([r.enrollment_id for r in plan.completed], Kind.COMPLETED, actor)
    else:
        by_roll = _("未登记考勤，按花名册结业：%(r)s") % {"r": plan.no_attendance_reason}
        _events([r.enrollment_id for r in plan.completed], Kind.COMPLETED, actor, by_roll[:200])
    for r in plan.excused:
        _events([r.enrollment_id], Kind.COMPLETED, actor, (_("特批：%(r)s") % {"r": r.reason})[:200])
    _events(no_show, Kind.NO_SHOW, actor)
    old_status = batch.status
    batch.status = BatchStatus.COMPLETED
    batch.save(update_fields=["status", "updated_at"])
    counts = plan.counts
    summary = _("结业 %(c)d 人（特批 %(e)d 人），缺席 %(x)d 人") % {
        "c": counts["completed"],
        "e": counts["excused"],
        "x": counts["no_show"],
    }
    if not plan.attendance_recorded:
        summary += _("；未登记考勤，按花名册结业：%(r)s") % {"r": plan.no_attendance_reason}
    _batch_event(
        batch=batch,
        kind=BatchEvent.Kind.COMPLETED,
        changes={"status": [old_status, batch.status]},
        actor=actor,
        reason=summary[:200],
    )
    return counts


def _waitlist_closed_reasons() -> set[str]:
    reasons = {_WAITLIST_CLOSED}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            reasons.add(_(_WAITLIST_CLOSED))
    return reasons


@transaction.atomic
def batch_completion_undo(*, batch: Batch, actor, reason: str) -> Batch:
    """Take back a completion: the completed and no-show enrollments are enrolled again
    (no hours), the waitlist places the completion cancelled come back in their old order,
    and the batch is closed again. Refused once an exam result of one of its sittings exists."""
    batch = _lock_batch(batch)
    _require_manager(actor=actor, batch=batch)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("撤销结业必须填写理由。"), fields={"reason": [_("请填写撤销理由。")]})
    if batch.status != BatchStatus.COMPLETED:
        raise Conflict(
            _("批次状态为“%(s)s”，没有可撤销的结业。") % {"s": batch.get_status_display()},
            code="illegal_transition",
        )
    # exams.Sitting points at the batch (training may not import exams): its results hang
    # on the completions, so the completion stays while any exists.
    if batch.sittings.filter(results__isnull=False).exists():
        raise Conflict(
            _("该批次的考试场次已有成绩，不能撤销结业；请先处理考试成绩。"),
            code="results_depend",
        )
    now = timezone.now()
    finished = list(
        batch.enrollments.filter(status__in=(EnrollmentStatus.COMPLETED, EnrollmentStatus.NO_SHOW))
        .order_by("id")
        .values_list("id", flat=True)
    )
    batch.enrollments.filter(pk__in=finished).update(
        status=EnrollmentStatus.ENROLLED,
        hours_credited=Decimal("0"),
        completed_on=None,
        override_reason="",
        updated_at=now,
    )
    # The waitlist places the completion cancelled: still cancelled, and their last event is
    # that cancellation (nothing can change a completed batch's enrollments in between). The
    # events were written in waitlist order; the places come back 1..n in that order.
    last_events = (
        EnrollmentEvent.objects.filter(enrollment__batch=batch, enrollment__status=EnrollmentStatus.CANCELLED)
        .order_by("enrollment_id", "-at", "-id")
        .values_list("enrollment_id", "kind", "reason", "id")
    )
    latest: dict[int, tuple[str, str, int]] = {}
    for enrollment_id, kind, why, event_id in last_events:
        latest.setdefault(enrollment_id, (kind, why, event_id))
    closed = _waitlist_closed_reasons()
    restored = sorted(
        (event_id, enrollment_id)
        for enrollment_id, (kind, why, event_id) in latest.items()
        if kind == Kind.CANCELLED and why in closed
    )
    _renumber_waitlist(batch)
    _taken, last = _seats(batch)
    Enrollment.objects.bulk_update(
        [
            Enrollment(pk=enrollment_id, status=EnrollmentStatus.WAITLISTED, waitlist_position=position, updated_at=now)
            for position, (_event_id, enrollment_id) in enumerate(restored, start=last + 1)
        ],
        ["status", "waitlist_position", "updated_at"],
        batch_size=1000,
    )
    _events([*finished, *(e for _i, e in restored)], Kind.UNCOMPLETED, actor, reason[:200])
    old_status = batch.status
    batch.status = BatchStatus.CLOSED
    batch.save(update_fields=["status", "updated_at"])
    _batch_event(
        batch=batch,
        kind=BatchEvent.Kind.UNCOMPLETED,
        changes={"status": [old_status, batch.status]},
        actor=actor,
        reason=reason[:200],
    )
    return batch


# --- policy and calendar --------------------------------------------------------------------


@transaction.atomic
def hours_policy_set(*, actor, region: Region, year: int, required_hours) -> HoursPolicy:
    """Set the yearly required hours for a region (and, by default, everything under it).
    The annual review suspends by this figure, so each change leaves its event row
    (who, when, old and new hours); setting the same figure again writes nothing."""
    if not actor_manages_region(actor=actor, region=region):
        raise AccessDenied()
    if required_hours is None or required_hours < 0:
        raise ValidationFailed(fields={"required_hours": [_("学时不能为负数。")]})
    required_hours = Decimal(str(required_hours)).quantize(Decimal("0.1"))  # as stored, so "same" compares equal
    policy = HoursPolicy.objects.select_for_update().filter(region=region, year=year).first()
    old_hours = policy.required_hours if policy is not None else None
    if policy is None:
        try:
            with transaction.atomic():
                policy = HoursPolicy.objects.create(region=region, year=year, required_hours=required_hours)
        except IntegrityError:
            # Set by someone else at the same moment: take their row (locked) and change it.
            policy = HoursPolicy.objects.select_for_update().get(region=region, year=year)
            old_hours = policy.required_hours
    if old_hours is not None:
        if old_hours == required_hours:
            return policy
        policy.required_hours = required_hours
        policy.save(update_fields=["required_hours", "updated_at"])
    policy.refresh_from_db(fields=["required_hours"])  # the stored (rounded) figure
    _hours_policy_event(
        policy=policy, kind=HoursPolicyEvent.Kind.SET, old=old_hours, new=policy.required_hours, actor=actor
    )
    return policy


@transaction.atomic
def hours_policy_delete(*, actor, policy: HoursPolicy) -> None:
    """Remove a region's figure for a year (the nearest ancestor's then applies); the
    event row keeps the region, year and the figure removed."""
    policy = HoursPolicy.objects.select_for_update().select_related("region").filter(pk=policy.pk).first()
    if policy is None:
        raise NotFound()
    if not actor_manages_region(actor=actor, region=policy.region):
        raise AccessDenied()
    _hours_policy_event(
        policy=policy, kind=HoursPolicyEvent.Kind.DELETED, old=policy.required_hours, new=None, actor=actor
    )
    policy.delete()


def _hours_policy_event(*, policy: HoursPolicy, kind: str, old, new, actor) -> HoursPolicyEvent:
    return HoursPolicyEvent.objects.create(
        policy=policy,
        region_id=policy.region_id,
        year=policy.year,
        kind=kind,
        old_hours=old,
        new_hours=new,
        actor_id=getattr(actor, "pk", None),
    )


def calendar_token_for(*, inspector: Inspector) -> CalendarToken:
    token, _created = CalendarToken.objects.get_or_create(inspector=inspector)
    return token


@transaction.atomic
def calendar_token_rotate(*, inspector: Inspector) -> CalendarToken:
    """Issue a new secret; the old calendar URL stops working."""
    token = calendar_token_for(inspector=inspector)
    token.token = CalendarToken._meta.get_field("token").default()
    token.save(update_fields=["token", "updated_at"])
    return token


# --- reminders -----------------------------------------------------------------------------


def batch_reminders_send(*, today: dt.date | None = None) -> ReminderRun:
    """E-mail every enrolled inspector whose batch starts within the reminder window.

    Each chunk of enrollments is claimed (``reminder_sent_at``) in a short transaction
    that commits before any mail goes out; the mails are sent after that commit
    (``on_commit``), so SMTP never holds a transaction, a rolled-back claim sends nothing,
    and two runs at once never claim the same enrollment. One recipient's SMTP error is
    logged and their claim released (the next run retries them); the others go on.
    The counts cover the mails sent by the time this returns: all of them, unless the
    caller holds a transaction, in which case they go when it commits."""
    today = _today(today)
    horizon = today + dt.timedelta(days=settings.TRAINING_REMINDER_DAYS_BEFORE)
    due = list(
        _reminders_due(today, horizon)
        .exclude(inspector__user__email="")
        .filter(inspector__user__email__isnull=False)
        .order_by("batch__starts_on", "id")
        .values_list("id", flat=True)
    )
    run = ReminderRun()
    for start in range(0, len(due), REMINDER_CHUNK):
        _claim_and_send(due[start : start + REMINDER_CHUNK], today, horizon, run)
    return run


def _reminders_due(today: dt.date, horizon: dt.date):
    return Enrollment.objects.filter(
        status=EnrollmentStatus.ENROLLED,
        reminder_sent_at__isnull=True,
        batch__status__in=(BatchStatus.OPEN, BatchStatus.CLOSED),
        batch__starts_on__gte=today,
        batch__starts_on__lte=horizon,
    )


def _claim_and_send(ids: list[int], today: dt.date, horizon: dt.date, run: ReminderRun) -> None:
    with transaction.atomic():
        # Rows another run holds are skipped (it is claiming them); the conditions are
        # checked again under the lock, so a row claimed meanwhile is not taken twice.
        claimed = list(
            _reminders_due(today, horizon)
            .filter(pk__in=ids)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("batch", "batch__course", "batch__region", "inspector", "inspector__user")
            .order_by("id")
        )
        if not claimed:
            return
        claimed_at = timezone.now()
        Enrollment.objects.filter(pk__in=[e.pk for e in claimed]).update(reminder_sent_at=claimed_at)
        transaction.on_commit(lambda: _send_claimed(claimed, claimed_at, run))


def _send_claimed(claimed: list[Enrollment], claimed_at, run: ReminderRun) -> None:
    """After the claim committed: one mail each; a failure releases that claim only."""

    def release(enrollment: Enrollment, exc: Exception) -> None:
        with transaction.atomic():
            Enrollment.objects.filter(pk=enrollment.pk, reminder_sent_at=claimed_at).update(reminder_sent_at=None)
            _events([enrollment.pk], Kind.REMINDER_FAILED, None, type(exc).__name__)

    send_each(
        claimed,
        mail=_reminder_mail,
        sent=lambda enrollment: _events([enrollment.pk], Kind.REMINDED, None),
        failed=release,
        run=run,
        what=lambda enrollment: f"training reminder for enrollment {enrollment.pk}",
    )


def _reminder_mail(enrollment: Enrollment) -> dict:
    batch = enrollment.batch
    return {
        "subject": _("培训提醒：%(b)s 将于 %(d)s 开始") % {"b": str(batch), "d": batch.starts_on.isoformat()},
        "message": _(
            "%(name)s 您好：\n\n您报名的 %(batch)s 将于 %(start)s 开始，%(end)s 结束，地点：%(place)s。\n请按时参加。\n"
        )
        % {
            "name": enrollment.inspector.name,
            "batch": str(batch),
            "start": batch.starts_on.isoformat(),
            "end": batch.ends_on.isoformat(),
            "place": batch.place or "-",
        },
        "from_email": None,
        "recipient_list": [enrollment.inspector.user.email],
    }
