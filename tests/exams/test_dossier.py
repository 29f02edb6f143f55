"""一人一档: the inspector's file (exams.dossier.inspector_dossier) on the admin change page,
the printable 培训档案 and 学时证明, scoped by the actor; the inspector list masks ID numbers."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from core.errors import NotFound
from exams import services
from exams.dossier import inspector_dossier
from personnel import access
from tests.exams.factories import ExamFactory, ResultFactory, SittingFactory
from tests.factories import InspectorFactory
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training.models import EnrollmentStatus, HoursPolicy
from training.selectors import required_hours_for

YEAR = 2025


@pytest.fixture
def person(inspector_user):
    return inspector_user.inspector  # 张三 of 长安区 (石家庄市)


@pytest.fixture
def world(regions, city_admin, person):
    """张三: 16 h completed in 2025 of a course on 公示 and 全过程记录 (not 法制审核) against
    40 h required; a qualification exam failed, then passed at the second attempt; a
    certificate issued, then suspended."""
    HoursPolicy.objects.create(region=regions["province"], year=YEAR, required_hours=Decimal("40"))
    course = CourseFactory(title="公示与全过程记录专题", covers_legal_review=False, hours=Decimal("16"))
    batch = BatchFactory(course=course, region=regions["province"], starts_on=dt.date(YEAR, 6, 10))
    EnrollmentFactory(batch=batch, inspector=person, status=EnrollmentStatus.COMPLETED)
    exam = ExamFactory(title="2025年行政执法资格考试")
    first = SittingFactory(exam=exam, held_on=dt.date(YEAR, 5, 10))
    second = SittingFactory(exam=exam, held_on=dt.date(YEAR, 6, 20))
    ResultFactory(sitting=first, inspector=person, score=Decimal("50"), attempt=1)
    ResultFactory(sitting=second, inspector=person, score=Decimal("80"), attempt=2)
    certificate = services.certificate_issue(
        holder=person, region=regions["sjz"], actor=city_admin, issued_on=dt.date(YEAR, 7, 1)
    )
    services.certificate_suspend(certificate=certificate, reason="执法检查中违规", actor=city_admin)
    return {"batch": batch, "exam": exam, "certificate": certificate}


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _dossier_url(inspector) -> str:
    return f"/admin/personnel/inspector/{inspector.pk}/dossier/"


def _hours_url(inspector) -> str:
    return f"/admin/personnel/inspector/{inspector.pk}/hours-certificate/"


# --- the selector ------------------------------------------------------------------------------


def test_the_file_holds_hours_against_required_coverage_attempts_and_certificate_events(world, city_admin, person):
    # when
    dossier = inspector_dossier(actor=city_admin, inspector_id=person.pk, today=dt.date(YEAR, 12, 1))

    # then: one year, 16 of 40 hours, not met; 法制审核 not covered
    assert [y.year for y in dossier.years] == [YEAR]
    year = dossier.year(YEAR)
    assert (year.hours, year.required, year.met) == (Decimal("16"), Decimal("40"), False)
    assert [t.batch.pk for t in year.trainings] == [world["batch"].pk]
    assert [c.topic for c in year.missing_topics] == ["legal_review"]
    covered = {c.topic: c.courses for c in year.coverage if c.covered}
    assert covered == {"publicity": ("公示与全过程记录专题",), "process_recording": ("公示与全过程记录专题",)}
    # the exam and both attempts, oldest first
    (record,) = dossier.exams
    assert [(r.result.attempt, r.result.score, r.outcome) for r in record.results] == [
        (1, Decimal("50"), "不合格"),
        (2, Decimal("80"), "合格"),
    ]
    # the certificate, suspended, with its events in words
    (cert,) = dossier.certificates
    assert cert.status_display == "暂扣"
    assert [(e.event.get_kind_display(), e.from_status, e.to_status) for e in cert.events] == [
        ("发证", "-", "有效"),
        ("暂扣", "有效", "暂扣"),
    ]
    # the admin of the region sees the whole number
    assert dossier.national_id == person.national_id


def test_an_inspector_gets_their_own_file_and_nobody_elses(world, inspector_user, person, regions):
    other = InspectorFactory(region=regions["changan"])

    mine = inspector_dossier(actor=inspector_user, inspector_id=person.pk)

    assert mine.inspector == person
    assert mine.national_id == person.masked_national_id
    with pytest.raises(NotFound):
        inspector_dossier(actor=inspector_user, inspector_id=other.pk)


def test_another_citys_admin_is_told_not_found(world, other_city_admin, person):
    with pytest.raises(NotFound):
        inspector_dossier(actor=other_city_admin, inspector_id=person.pk)


@pytest.mark.parametrize(("trainings", "years"), [(1, 1), (10, 1), (10, 10)])
def test_the_number_of_queries_does_not_grow_with_the_file(
    trainings, years, regions, city_admin, person, django_assert_num_queries
):
    # given: n completed trainings over one or several years (a policy in some of them), two
    # results, two certificates with events
    course = CourseFactory(covers_legal_review=False, hours=Decimal("2"))
    for n in range(trainings):
        year = YEAR - n % years
        batch = BatchFactory(course=course, region=regions["sjz"], starts_on=dt.date(year, 1, 5) + dt.timedelta(n * 7))
        EnrollmentFactory(batch=batch, inspector=person, status=EnrollmentStatus.COMPLETED)
    HoursPolicy.objects.create(region=regions["sjz"], year=YEAR, required_hours=Decimal("30"))
    HoursPolicy.objects.create(region=regions["changan"], year=YEAR - 1, required_hours=Decimal("20"))
    exam = ExamFactory()
    ResultFactory(sitting=SittingFactory(exam=exam, held_on=dt.date(YEAR, 3, 1)), inspector=person, attempt=1)
    ResultFactory(sitting=SittingFactory(exam=exam, held_on=dt.date(YEAR, 4, 1)), inspector=person, attempt=2)
    old = services.certificate_issue(
        holder=person, region=regions["sjz"], actor=city_admin, issued_on=dt.date(2018, 1, 1)
    )
    services.certificate_revoke(certificate=old, reason="调离", actor=city_admin)
    services.certificate_issue(holder=person, region=regions["sjz"], actor=city_admin, issued_on=dt.date(YEAR, 1, 2))
    access.scope_for(city_admin)  # the role is read once per login, not per page

    # when / then: the same reads for 1 or 10 trainings, in one year or ten
    with django_assert_num_queries(8):
        dossier = inspector_dossier(actor=city_admin, inspector_id=person.pk, today=dt.date(YEAR, 12, 1))
    assert [y.year for y in dossier.years] == list(range(YEAR, YEAR - years, -1))
    assert sum(y.hours for y in dossier.years) == Decimal(2 * trainings)
    assert sum(len(y.trainings) for y in dossier.years) == trainings
    assert sum(len(c.events) for c in dossier.certificates) == 3
    # each year's required hours as training.selectors.required_hours_for says
    for y in dossier.years:
        assert y.required == required_hours_for(region=regions["changan"], year=y.year), y.year
    assert dossier.year(YEAR).required == Decimal("30")


# --- the admin change page ----------------------------------------------------------------------


def test_the_change_page_shows_the_file_below_the_roster(world, city_admin, person):
    # when
    page = _browser(city_admin).get(f"/admin/personnel/inspector/{person.pk}/change/").content.decode()

    # then: the roster form and history first, then the four sections
    assert page.index("变更记录") < page.index('id="inspector-dossier"')
    for heading in ("培训记录（按年度）", "三项制度覆盖", "考试成绩", "执法证及记录"):
        assert heading in page, heading
    assert "2025 年度：学时 16 / 要求 40" in page
    assert "未达标" in page
    assert 'data-topic="legal_review">未覆盖' in page
    assert "已覆盖（公示与全过程记录专题）" in page
    assert "2025年行政执法资格考试" in page
    assert "第 1 次（共 3 次）" in page and "第 2 次（共 3 次）" in page
    assert "有效 → 暂扣" in page and "执法检查中违规" in page
    assert "suspended" not in page and "valid →" not in page
    # and the buttons to the printable pages
    assert _dossier_url(person) in page
    assert f"{_hours_url(person)}?year=" in page


def test_the_add_page_has_no_file(city_admin, world):
    response = _browser(city_admin).get("/admin/personnel/inspector/add/")
    assert response.status_code == 200
    assert 'id="inspector-dossier"' not in response.content.decode()


# --- the printable pages --------------------------------------------------------------------------


def static_text(name: str) -> str:
    return Path(finders.find(name)).read_text(encoding="utf-8")


def test_the_printed_file_is_an_a4_page_without_the_admin(world, city_admin, person):
    response = _browser(city_admin).get(_dossier_url(person))

    assert response.status_code == 200
    page = response.content.decode()
    # (styles and the print button's script are static files: no inline ones, core.csp)
    assert "exams/print.css" in page and "core/print.js" in page
    assert "size: A4 portrait" in static_text("exams/print.css")
    assert ".no-print { display: none" in static_text("exams/print.css")
    assert 'class="toolbar no-print"' in page and "data-print" in page
    assert "window.print()" in static_text("core/print.js")
    assert 'id="header"' not in page  # not the admin's chrome
    assert "执法人员培训档案" in page and person.national_id in page
    assert "2025 年度：学时 16 / 要求 40" in page and "有效 → 暂扣" in page


def test_the_hours_certificate_states_a_years_hours_with_issuer_and_seal(world, city_admin, person):
    response = _browser(city_admin).get(_hours_url(person), {"year": YEAR})

    assert response.status_code == 200
    page = response.content.decode()
    assert "exams/print.css" in page
    assert "学时证明" in page
    assert "2025 年度累计取得培训学时 16 学时，该年度要求 40 学时。" in page
    assert 'id="hours-met">未达标' in page
    assert 'id="hours-total">16<' in page and 'id="hours-required">40<' in page
    assert "公示与全过程记录专题" in page and "2025年第" in page
    assert "出具单位：石家庄市" in page
    assert "（盖章）" in page and "经办人（签字）" in page


def test_the_hours_certificate_of_a_year_without_training(world, city_admin, person):
    page = _browser(city_admin).get(_hours_url(person), {"year": 2019}).content.decode()
    assert "2019 年度累计取得培训学时 0 学时" in page
    assert "本年度无培训记录。" in page


@pytest.mark.parametrize("year", ["abc", "1800", "２０２５", "2025;--", "99999999999999999999"])
def test_a_bad_year_is_refused_with_a_reason(world, city_admin, person, year):
    response = _browser(city_admin).get(_hours_url(person), {"year": year})
    assert response.status_code == 400
    assert "年度应为" in response.content.decode()


def test_another_citys_admin_gets_404_for_both_pages(world, other_city_admin, person):
    browser = _browser(other_city_admin)
    for url in (_dossier_url(person), _hours_url(person)):
        response = browser.get(url)
        assert response.status_code == 404, url
        assert person.name not in response.content.decode()


@pytest.mark.parametrize("pk", [999_999, 99_999_999_999_999_999_999])
def test_an_inspector_that_does_not_exist_is_404(world, city_admin, pk):
    browser = _browser(city_admin)
    assert browser.get(f"/admin/personnel/inspector/{pk}/dossier/").status_code == 404
    assert browser.get(f"/admin/personnel/inspector/{pk}/hours-certificate/", {"year": YEAR}).status_code == 404


def test_an_inspector_cannot_open_the_admin_file(world, inspector_user, person):
    browser = _browser(inspector_user)
    # not staff: sent to the admin's login
    assert browser.get(_dossier_url(person)).status_code == 302
    # staff by mistake: still refused
    inspector_user.is_staff = True
    inspector_user.save()
    assert browser.get(_dossier_url(person)).status_code == 403
    assert browser.get(_hours_url(person)).status_code == 403


# --- the inspector list -------------------------------------------------------------------------


def test_the_list_masks_id_numbers_and_the_whole_number_still_finds_the_person(city_admin, regions):
    # given
    person = InspectorFactory(region=regions["changan"], name="长安甲")
    InspectorFactory(region=regions["changan"], name="长安乙")
    browser = _browser(city_admin)

    # when
    page = browser.get("/admin/personnel/inspector/").content.decode()

    # then: masked, and the name leads to the person's page
    assert person.masked_national_id in page
    assert person.national_id not in page
    assert f'href="/admin/personnel/inspector/{person.pk}/change/' in page
    found = browser.get("/admin/personnel/inspector/", {"q": person.national_id.lower()})
    assert [p.pk for p in found.context["cl"].result_list] == [person.pk]
