"""Certificate applications (申请): apply, approve level by level, return, withdraw.

A county or city admin applies for inspectors in its scope (one or many at once); each
application passes the levels of its kind's ``ApprovalChain`` (from the inspector's own level
up); an admin approves or returns at a level it holds (the level of the region it is bound to,
above the application's region; a superuser holds every level). The last approval carries the
change out through the certificate services of ``exams.services`` in the same transaction,
their CertificateEvent naming the application. Every step writes its ``ApplicationEvent``.

Many at once: every item is checked first (a fixed number of reads), the refused ones are
answered with their reasons and write nothing, the others are written in bulk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import AccessDenied, Conflict, DomainError, NotFound, ValidationFailed
from personnel import access
from personnel.models import Inspector, Region, RegionLevel
from personnel.selectors import actor_manages_region
from training.selectors import inspector_hours_list

from . import rules
from . import services as certificate_services
from .models import (
    DEFAULT_CHAINS,
    HELD,
    AnnualReview,
    AnnualReviewWindow,
    ApplicationEvent,
    ApplicationKind,
    ApplicationState,
    ApprovalChain,
    Certificate,
    CertificateApplication,
    CertificateStatus,
    ExamKind,
    Result,
)

K = ApplicationKind
E = ApplicationEvent.Kind

# Used when the office removed a kind's chain row in the admin (the migration seeds them).


def _today(today: dt.date | None) -> dt.date:
    return today or timezone.localdate()


def _actor_id(actor):
    return getattr(actor, "pk", None) if actor is not None else None


# --- levels -----------------------------------------------------------------------------------


def actor_level(actor) -> tuple[str, str] | None:
    """The approval level an admin holds and the path it holds it over: ("*", "") for a
    superuser (every level), ("province", path) for a provincial admin, the bound region's
    level and path for a city or county admin; None for anyone else. Cached on the user."""
    cached = getattr(actor, "_application_level", False)
    if cached is not False:
        return cached
    scope = access.scope_for(actor)
    if not scope.is_admin:
        held = None
    elif actor.is_superuser:
        held = ("*", "")
    elif scope.kind == access.ALL:
        held = (RegionLevel.PROVINCE.value, scope.region_path)
    else:
        level = Region.objects.filter(pk=scope.region_id).values_list("level", flat=True).first()
        held = (level, scope.region_path)
    actor._application_level = held
    return held


def actor_holds_level(*, actor, level: str, region_path: str) -> bool:
    """Whether ``actor`` may approve or return at ``level`` an application of the region with
    ``region_path`` (the one rule; the awaiting-me filter below is its query form)."""
    held = actor_level(actor)
    if held is None:
        return False
    mine, path = held
    return mine == "*" or (mine == level and region_path.startswith(path))


def awaiting_q(actor) -> Q:
    """``actor_holds_level`` as a filter: the pending applications at a level the actor holds."""
    held = actor_level(actor)
    if held is None:
        return Q(pk__in=[])
    mine, path = held
    if mine == "*":
        return Q(state=ApplicationState.PENDING)
    return Q(state=ApplicationState.PENDING, level=mine, region__path__startswith=path)


def chain_for(kind: str) -> str:
    stored = ApprovalChain.objects.filter(kind=kind).values_list("levels", flat=True).first()
    return stored or DEFAULT_CHAINS.get(kind, DEFAULT_CHAINS[K.ISSUE])


def approval_chains_ensure(*, using: str = "default", **_signal) -> None:
    """Give every kind its default chain where it has none (post_migrate: after a migrate, and
    after a flush, which empties the table the migration filled). An edited chain is kept."""
    for kind, levels in DEFAULT_CHAINS.items():
        ApprovalChain.objects.using(using).get_or_create(kind=kind, defaults={"levels": levels})


# The approval levels as every page names them: /me/ and /api/v1/me/ (level_display), the
# admin's application list and history, the refusal of an approval at a level not held.
APPROVAL_LEVEL_LABELS = {
    RegionLevel.COUNTY: gettext_lazy("县级"),
    RegionLevel.CITY: gettext_lazy("市级"),
    RegionLevel.PROVINCE: gettext_lazy("省级"),
}


def level_label(level: str) -> str:
    """县级, 市级 or 省级 in the active language; "" for no level (a closed application)."""
    return str(APPROVAL_LEVEL_LABELS[level]) if level in APPROVAL_LEVEL_LABELS else level


# --- eligibility -------------------------------------------------------------------------------


@dataclass
class Eligibility:
    """One inspector's answer for one kind: the certificate and pass it would use, the changes
    it would make (变更), and every refusal (empty: eligible)."""

    inspector: Inspector
    certificate: Certificate | None = None
    source_result: Result | None = None
    changes: dict = field(default_factory=dict)
    refusals: list[rules.Refusal] = field(default_factory=list)

    @property
    def eligible(self) -> bool:
        return not self.refusals


def application_eligibility(
    *,
    kind: str,
    inspectors: list[Inspector],
    year: int | None = None,
    reason: str = "",
    new_region: Region | None = None,
    new_sector: str = "",
    new_unit: str = "",
    today: dt.date | None = None,
) -> dict[int, Eligibility]:
    """``rules.application_refusals`` for each inspector, on facts read in a fixed number of
    queries whatever their number. The API, the admin's apply page and the services ask this."""
    today = _today(today)
    if kind not in K.values:
        raise ValidationFailed(_("未知的申请类别。"), fields={"kind": [_("未知的申请类别。")]})
    ids = [i.pk for i in inspectors]
    open_ids = set(
        CertificateApplication.objects.filter(inspector_id__in=ids, state=ApplicationState.PENDING).values_list(
            "inspector_id", flat=True
        )
    )
    held = {
        c.holder_id: c for c in Certificate.objects.filter(holder_id__in=ids, status__in=HELD).select_related("region")
    }
    revoked = set(
        Certificate.objects.filter(holder_id__in=ids, status=CertificateStatus.REVOKED).values_list(
            "holder_id", flat=True
        )
    )
    passes: dict[int, Result] = {}
    latest: dict[int, tuple[dt.date, bool]] = {}
    hours: dict[int, tuple[Decimal, Decimal]] = {}
    reviewed: set[int] = set()
    window = None
    if kind == K.ISSUE:
        for result in (
            Result.objects.filter(
                inspector_id__in=ids, passed=True, exam__kind=ExamKind.QUALIFICATION, certificate__isnull=True
            )
            .select_related("sitting", "exam", "exam__region")
            .order_by("inspector_id", "-sitting__held_on", "-id")
        ):
            passes.setdefault(result.inspector_id, result)
    elif kind == K.RENEW:
        latest = certificate_services.latest_exam_results(inspector_ids=ids)
    elif kind == K.REVIEW:
        if year is None:
            raise ValidationFailed(_("年审申请须指明年度。"), fields={"year": [_("请填写年度。")]})
        system = certificate_services._system_actor()
        hours = {
            pk: (h, r)
            for pk, h, r in inspector_hours_list(actor=system, year=year)
            .filter(pk__in=ids)
            .values_list("pk", "hours", "required")
        }
        reviewed = set(
            AnnualReview.objects.filter(certificate__holder_id__in=ids, year=year).values_list(
                "certificate__holder_id", flat=True
            )
        )
        window = AnnualReviewWindow.objects.filter(year=year).first()
    out: dict[int, Eligibility] = {}
    for inspector in inspectors:
        certificate = held.get(inspector.pk)
        changes = {}
        if kind == K.CHANGE:
            changes = _changes_of(inspector, new_region=new_region, new_sector=new_sector, new_unit=new_unit)
        hours_of = hours.get(inspector.pk)
        latest_of = latest.get(inspector.pk)
        pass_of = passes.get(inspector.pk)
        facts = rules.ApplicationFacts(
            inspector_name=inspector.name,
            active=inspector.status == "active",
            has_photo=bool(inspector.photo),
            open_application=inspector.pk in open_ids,
            certificate_status=certificate.status if certificate else None,
            certificate_status_display=certificate.get_status_display() if certificate else "",
            valid_until=certificate.valid_until if certificate else None,
            latest_revoked=inspector.pk in revoked,
            pass_on=pass_of.sitting.held_on if pass_of else None,
            latest_exam_on=latest_of[0] if latest_of else None,
            latest_exam_passed=latest_of[1] if latest_of else None,
            hours=hours_of[0] if hours_of else None,
            required=hours_of[1] if hours_of else None,
            reviewed=inspector.pk in reviewed,
            window_opens_on=window.opens_on if window else None,
            reason=reason,
            changes=tuple(changes),
            renewal_window_days=settings.CERTIFICATE_RENEWAL_WINDOW_DAYS,
        )
        out[inspector.pk] = Eligibility(
            inspector=inspector,
            certificate=certificate,
            source_result=pass_of,
            changes=changes,
            refusals=rules.application_refusals(kind=kind, facts=facts, today=today),
        )
    return out


def _changes_of(inspector: Inspector, *, new_region, new_sector: str, new_unit: str) -> dict:
    changes = {}
    if new_region is not None and new_region.pk != inspector.region_id:
        changes["region"] = new_region
    if new_sector and new_sector != inspector.sector:
        changes["sector"] = new_sector
    if new_unit and new_unit != inspector.unit:
        changes["unit"] = new_unit
    return changes


# --- apply --------------------------------------------------------------------------------------


@dataclass
class Refused:
    """An item of a batch that was not done: which (inspector or application id) and why."""

    key: int
    errors: list[DomainError]

    @property
    def code(self) -> str:
        return self.errors[0].code

    @property
    def detail(self) -> str:
        return "；".join(e.detail for e in self.errors)

    def as_dict(self, key_name: str) -> dict:
        return {
            key_name: self.key,
            "code": self.code,
            "detail": self.detail,
            "reasons": [{"code": e.code, "detail": e.detail} for e in self.errors],
        }


@dataclass
class Outcome:
    """A batch's answer: the applications done, and the refused items with their reasons."""

    done: list[CertificateApplication] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


def _require_admin(actor) -> None:
    if not access.scope_for(actor).is_admin:
        raise AccessDenied(_("只有管理员可以办理证件申请。"))


@transaction.atomic
def applications_create(
    *,
    actor,
    kind: str,
    inspectors: list[Inspector],
    year: int | None = None,
    reason: str = "",
    note: str = "",
    new_region: Region | None = None,
    new_sector: str = "",
    new_unit: str = "",
    today: dt.date | None = None,
) -> Outcome:
    """Apply for many inspectors at once: each is checked (scope, then
    ``application_eligibility``); the refused ones write nothing and come back with their
    reasons, the others are created (one SUBMITTED event each) in a fixed number of statements."""
    _require_admin(actor)
    today = _today(today)
    if kind == K.REVIEW and year is None:
        year = today.year
    if kind != K.REVIEW:
        year = None
    if new_region is not None and not actor_manages_region(actor=actor, region=new_region):
        raise AccessDenied(_("无权将人员变更到地区“%(r)s”。") % {"r": new_region.name})
    ids = [i.pk for i in inspectors]
    # One application per inspector at a time: the inspector rows are the lock (id order).
    people = {
        p.pk: p
        for p in Inspector.objects.select_for_update(of=("self",))
        .select_related("region")
        .filter(pk__in=ids)
        .order_by("pk")
    }
    outcome = Outcome()
    wanted: list[Inspector] = []
    seen: set[int] = set()
    for pk in ids:
        person = people.get(pk)
        if person is None or not actor_manages_region(actor=actor, region=person.region):
            outcome.refused.append(Refused(pk, [NotFound(_("人员不存在或不在您的管辖范围内。"))]))
        elif pk in seen:
            outcome.refused.append(Refused(pk, [ValidationFailed(_("重复的人员。"), code="duplicate")]))
        else:
            seen.add(pk)
            wanted.append(person)
    answers = application_eligibility(
        kind=kind,
        inspectors=wanted,
        year=year,
        reason=reason,
        new_region=new_region,
        new_sector=new_sector,
        new_unit=new_unit,
        today=today,
    )
    chain = chain_for(kind)
    rows = []
    for person in wanted:
        answer = answers[person.pk]
        if answer.refusals:
            outcome.refused.append(Refused(person.pk, [r.error() for r in answer.refusals]))
            continue
        levels = rules.application_levels(chain=chain, region_level=person.region.level)
        rows.append(
            CertificateApplication(
                kind=kind,
                inspector=person,
                certificate=answer.certificate,
                source_result=answer.source_result,
                region=person.region,
                levels=",".join(levels),
                level=levels[0],
                year=year,
                reason=reason if kind in (K.REPLACE, K.CANCEL) else "",
                note=note[:300],
                new_region=new_region if kind == K.CHANGE and "region" in answer.changes else None,
                new_sector=new_sector if kind == K.CHANGE and "sector" in answer.changes else "",
                new_unit=new_unit if kind == K.CHANGE and "unit" in answer.changes else "",
                created_by_id=_actor_id(actor),
            )
        )
    outcome.done = _create(rows, actor=actor, comment=note)
    return outcome


def _create(rows: list[CertificateApplication], *, actor, comment: str = "") -> list[CertificateApplication]:
    if not rows:
        return []
    created = CertificateApplication.objects.bulk_create(rows)
    ApplicationEvent.objects.bulk_create(
        [
            ApplicationEvent(
                application=a, kind=E.SUBMITTED, level=a.level, comment=comment[:300], actor_id=_actor_id(actor)
            )
            for a in created
        ]
    )
    return created


def application_create(*, actor, kind: str, inspector: Inspector, **options) -> CertificateApplication:
    """One application (``applications_create`` for one); a refusal raises its first error with
    every reason in ``fields["reasons"]``."""
    outcome = applications_create(actor=actor, kind=kind, inspectors=[inspector], **options)
    if outcome.refused:
        raise _first(outcome.refused[0])
    return outcome.done[0]


def _first(refused: Refused) -> DomainError:
    error = refused.errors[0]
    if len(refused.errors) > 1 or not error.fields:
        error.fields = {**error.fields, "reasons": [e.detail for e in refused.errors]}
        error.detail = refused.detail
    return error


def applications_open_for_passes(*, results: list[Result], actor) -> list[CertificateApplication]:
    """A qualification pass under CERTIFICATE_ON_PASS = "application": a 申领 application for
    each passed result whose holder has none open, submitted on behalf of the score's recorder
    (the photo is checked when it is approved and printed). Called inside the score's
    transaction; a fixed number of statements."""
    ids = {r.inspector_id for r in results}
    people = {p.pk: p for p in Inspector.objects.select_related("region").filter(pk__in=ids)}
    busy = set(
        CertificateApplication.objects.filter(inspector_id__in=ids, state=ApplicationState.PENDING).values_list(
            "inspector_id", flat=True
        )
    )
    chain = chain_for(K.ISSUE)
    rows = []
    for result in results:
        person = people.get(result.inspector_id)
        if person is None or person.pk in busy:
            continue
        busy.add(person.pk)
        levels = rules.application_levels(chain=chain, region_level=person.region.level)
        rows.append(
            CertificateApplication(
                kind=K.ISSUE,
                inspector=person,
                source_result=result,
                region=person.region,
                levels=",".join(levels),
                level=levels[0],
                created_by_id=_actor_id(actor),
            )
        )
    return _create(rows, actor=actor, comment=_("考试合格，自动提交申领"))


# --- approve, return, withdraw -------------------------------------------------------------------


def _locked(ids: list[int], actor) -> dict[int, CertificateApplication]:
    from .selectors import application_list

    visible = application_list(actor=actor).filter(pk__in=ids).values_list("pk", flat=True)
    return {
        a.pk: a
        for a in CertificateApplication.objects.select_for_update(of=("self",))
        .select_related("region", "inspector", "inspector__region", "certificate", "source_result__exam__region")
        .filter(pk__in=list(visible))
        .order_by("pk")
    }


def _check_level(application: CertificateApplication, actor) -> DomainError | None:
    if application.state != ApplicationState.PENDING:
        message = _("申请状态为“%(s)s”，不能审批。") % {"s": application.get_state_display()}
        return Conflict(message, code="not_pending")
    if not actor_holds_level(actor=actor, level=application.level, region_path=application.region.path):
        message = _("该申请正待%(l)s审批，您无权在此层级审批。") % {"l": level_label(application.level)}
        return AccessDenied(message, code="level_not_held")
    return None


def _sorted_ids(ids) -> list[int]:
    out = []
    for raw in ids:
        try:
            out.append(int(raw))
        except (TypeError, ValueError):
            raise ValidationFailed(_("申请编号必须是整数。"), fields={"ids": [_("必须是整数。")]}) from None
    return out


@transaction.atomic
def applications_approve(*, actor, ids: list[int], comment: str = "", today: dt.date | None = None) -> Outcome:
    """Approve many at the level each waits at: a level that is not the last moves it up
    (bulk); the last carries the change out through the certificate service (年审 in bulk,
    ``services.certificates_review_many``; each other kind on its own, in a savepoint). An
    application not visible, not pending, at a level the actor does not hold, or whose change
    the certificate service refuses is answered in ``refused`` and left as it was."""
    _require_admin(actor)
    ids = _sorted_ids(ids)
    found = _locked(ids, actor)
    outcome = Outcome()
    ready: list[CertificateApplication] = []
    seen: set[int] = set()
    for pk in ids:
        application = found.get(pk)
        if application is None:
            outcome.refused.append(Refused(pk, [NotFound(_("申请不存在或不在您的管辖范围内。"))]))
            continue
        if pk in seen:
            continue
        seen.add(pk)
        error = _check_level(application, actor)
        if error is not None:
            outcome.refused.append(Refused(pk, [error]))
        else:
            ready.append(application)
    now = timezone.now()
    moving: dict[str, list[CertificateApplication]] = {}
    final: list[CertificateApplication] = []
    for application in ready:
        following = rules.next_level(levels=application.level_list, level=application.level)
        if following is None:
            final.append(application)
        else:
            moving.setdefault(following, []).append(application)
    events = []
    for following, group in moving.items():
        CertificateApplication.objects.filter(pk__in=[a.pk for a in group]).update(level=following, updated_at=now)
        for a in group:
            events.append(_step(a, E.APPROVED, a.level, comment, actor))
            a.level = following
            outcome.done.append(a)
    carried = _carry_out(final, actor=actor, today=today, refused=outcome.refused)
    for a in carried:
        events.append(_step(a, E.APPROVED, a.level, comment, actor))
        events.append(_step(a, E.CARRIED_OUT, a.level, "", actor))
        a.state, a.level, a.closed_at = ApplicationState.APPROVED, "", now
        outcome.done.append(a)
    if carried:
        CertificateApplication.objects.filter(pk__in=[a.pk for a in carried]).update(
            state=ApplicationState.APPROVED, level="", closed_at=now, updated_at=now
        )
        issued = [a for a in carried if a.kind == K.ISSUE]
        if issued:  # 申领 learns its new certificate
            CertificateApplication.objects.bulk_update(issued, ["certificate"], batch_size=1000)
    ApplicationEvent.objects.bulk_create(events)
    return outcome


def _step(application, kind: str, level: str, comment: str, actor) -> ApplicationEvent:
    return ApplicationEvent(
        application=application, kind=kind, level=level, comment=(comment or "")[:300], actor_id=_actor_id(actor)
    )


def _carry_out(final: list[CertificateApplication], *, actor, today, refused: list[Refused]):
    """The certificate changes of the last approvals; returns the applications carried out."""
    done = []
    reviews = [a for a in final if a.kind == K.REVIEW]
    if reviews:
        try:
            with transaction.atomic():
                certificate_services.certificates_review_many(
                    items=[(a.certificate_id, a.year, a) for a in reviews], actor=actor
                )
            done.extend(reviews)
        except DomainError:
            # One of them is refused: find which, each in its own savepoint.
            for a in reviews:
                try:
                    with transaction.atomic():
                        certificate_services.certificates_review_many(
                            items=[(a.certificate_id, a.year, a)], actor=actor
                        )
                    done.append(a)
                except DomainError as exc:
                    refused.append(Refused(a.pk, [exc]))
    for a in final:
        if a.kind == K.REVIEW:
            continue
        try:
            with transaction.atomic():
                _carry_out_one(a, actor=actor, today=today)
            done.append(a)
        except DomainError as exc:
            refused.append(Refused(a.pk, [exc]))
    return done


def _carry_out_one(a: CertificateApplication, *, actor, today) -> None:
    s = certificate_services
    if a.kind == K.ISSUE:
        result = a.source_result
        a.certificate = s.certificate_issue(
            holder=a.inspector,
            region=result.exam.region if result is not None else a.region,
            actor=actor,
            issued_on=today,
            source_result=result,
            check_access=False,
            application=a,
        )
    elif a.kind == K.RENEW:
        s.certificate_renew(certificate=a.certificate, actor=actor, today=today, application=a)
    elif a.kind == K.REPLACE:
        s.certificate_replace(certificate=a.certificate, reason=a.get_reason_display(), actor=actor, application=a)
    elif a.kind == K.CHANGE:
        changes = _changes_of(a.inspector, new_region=a.new_region, new_sector=a.new_sector, new_unit=a.new_unit)
        s.certificate_change(certificate=a.certificate, actor=actor, changes=changes, application=a)
    elif a.kind == K.CANCEL:
        s.certificate_cancel(certificate=a.certificate, reason=a.get_reason_display(), actor=actor, application=a)
    else:  # 年审 one at a time (the bulk path is certificates_review_many)
        s.certificate_review(certificate=a.certificate, year=a.year, actor=actor, application=a)


def application_approve(*, actor, application: CertificateApplication, comment: str = "", today=None):
    """Approve one (``applications_approve`` for one); a refusal raises its error."""
    outcome = applications_approve(actor=actor, ids=[application.pk], comment=comment, today=today)
    if outcome.refused:
        raise _first(outcome.refused[0])
    return outcome.done[0]


def _need_comment(comment: str) -> str:
    comment = (comment or "").strip()
    if not comment:
        raise ValidationFailed(_("退回须填写意见。"), code="comment_required", fields={"comment": [_("请填写意见。")]})
    return comment[:300]


@transaction.atomic
def applications_return(*, actor, ids: list[int], comment: str) -> Outcome:
    """Return many with one comment (required), at the level each waits at; each closes as
    returned (the unit may apply again)."""
    _require_admin(actor)
    comment = _need_comment(comment)
    ids = _sorted_ids(ids)
    found = _locked(ids, actor)
    outcome = Outcome()
    now = timezone.now()
    events = []
    for pk in dict.fromkeys(ids):
        application = found.get(pk)
        if application is None:
            outcome.refused.append(Refused(pk, [NotFound(_("申请不存在或不在您的管辖范围内。"))]))
            continue
        error = _check_level(application, actor)
        if error is not None:
            outcome.refused.append(Refused(pk, [error]))
            continue
        events.append(_step(application, E.RETURNED, application.level, comment, actor))
        application.state, application.level, application.closed_at = ApplicationState.RETURNED, "", now
        outcome.done.append(application)
    if outcome.done:
        CertificateApplication.objects.filter(pk__in=[a.pk for a in outcome.done]).update(
            state=ApplicationState.RETURNED, level="", closed_at=now, updated_at=now
        )
    ApplicationEvent.objects.bulk_create(events)
    return outcome


def application_return(*, actor, application: CertificateApplication, comment: str) -> CertificateApplication:
    outcome = applications_return(actor=actor, ids=[application.pk], comment=comment)
    if outcome.refused:
        raise _first(outcome.refused[0])
    return outcome.done[0]


@transaction.atomic
def application_withdraw(*, actor, application: CertificateApplication, comment: str = "") -> CertificateApplication:
    """The applying side (an admin whose scope holds the application's region) withdraws a
    pending application."""
    _require_admin(actor)
    found = _locked([application.pk], actor).get(application.pk)
    if found is None:
        raise NotFound(_("申请不存在或不在您的管辖范围内。"))
    if found.state != ApplicationState.PENDING:
        message = _("申请状态为“%(s)s”，不能撤回。") % {"s": found.get_state_display()}
        raise Conflict(message, code="not_pending")
    level = found.level
    found.state, found.level, found.closed_at = ApplicationState.WITHDRAWN, "", timezone.now()
    found.save(update_fields=["state", "level", "closed_at", "updated_at"])
    _step(found, E.WITHDRAWN, level, comment, actor).save()
    return found


# --- reminders ------------------------------------------------------------------------------------


def application_reminders_send(*, today: dt.date | None = None):
    """Daily: each admin with an e-mail address who must act is told how many applications
    wait at their level in their subtree, and (a city admin, or the province) how the annual
    review stands where it is amber or red (``annual_review_progress``). Read first, in a fixed
    number of queries; the mails go after (``core.mail.send_each``: one failure is that
    recipient's only). Returns the ``ReminderRun``."""
    from django.db.models import Count

    from core.mail import ReminderRun, send_each
    from personnel.models import RegionAdmin

    from .selectors import annual_review_progress

    today = _today(today)
    waiting = list(
        CertificateApplication.objects.filter(state=ApplicationState.PENDING)
        .order_by()
        .values("level", "region__path")
        .annotate(n=Count("id"))
        .values_list("level", "region__path", "n")
    )
    system = certificate_services._system_actor()
    late = [r for r in annual_review_progress(actor=system, year=today.year, today=today) if r["colour"] != "green"]
    items = []
    for binding in (
        RegionAdmin.objects.select_related("user", "region").exclude(user__email="").filter(user__is_active=True)
    ):
        level, path = binding.region.level, binding.region.path
        count = sum(n for lv, where, n in waiting if lv == level and where.startswith(path))
        # The review figures go to whom they are about: a city its own row, the province all.
        if level == RegionLevel.PROVINCE:
            cities = late
        elif level == RegionLevel.CITY:
            cities = [r for r in late if r["region"] == binding.region.code]
        else:
            cities = []
        if count or cities:
            items.append((binding.user, count, cities))

    def mail(item) -> dict:
        user, count, cities = item
        lines = []
        if count:
            lines.append(_("有 %(n)d 件证件申请待您审批。") % {"n": count})
        for row in cities:
            state = _("已逾期") if row["colour"] == "red" else _("临近截止")
            lines.append(
                _("%(r)s %(y)d 年度年审%(s)s（截止 %(d)s）：应审 %(due)d，已办结 %(ok)d，逾期 %(late)d。")
                % {
                    "r": row["region_name"],
                    "y": today.year,
                    "s": state,
                    "d": row["deadline"],
                    "due": row["due"],
                    "ok": row["approved"],
                    "late": row["overdue"],
                }
            )
        return {
            "subject": _("证件申请待办提醒"),
            "message": "\n".join(lines) + "\n",
            "from_email": None,
            "recipient_list": [user.email],
        }

    run = ReminderRun()
    send_each(
        items,
        mail=mail,
        sent=lambda item: None,
        failed=lambda item, exc: None,
        run=run,
        what=lambda item: f"application reminder for user {item[0].pk}",
    )
    return run
