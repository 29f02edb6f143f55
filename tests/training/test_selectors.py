"""Training reads: hours against the yearly policy, region summaries, three-systems
coverage, person-times against persons, batch counts and scoping by role."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Count, Sum

from core.errors import NotFound
from personnel import access
from personnel.models import InspectorStatus, Sector
from tests.factories import InspectorFactory
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training import selectors
from training.models import BatchStatus, Enrollment, EnrollmentStatus, HoursPolicy

S = EnrollmentStatus


def completed(batch, inspector):
    return EnrollmentFactory(batch=batch, inspector=inspector, status=S.COMPLETED)


@pytest.fixture
def year(regions):
    """A 2025 training year.

    Courses: A (24 h, the three systems), B (16 h, publicity only), L (8 h, legal review).
    张 (长安, coal)    completed A in June and B in September, and A again 2025-12-30..2026-01-01
                      (a 2025 batch: its hours count in 2025): 64 h.
    李 (路南, non-coal) completed A in June: 24 h; a no-show in September.
    王 (province, coal) completed B in September: 16 h; cancelled out of June.
    钱 (桥西, coal)     completed L in 2024 only.
    赵 (长安, chemicals) nothing.
    孙 (长安, coal, retired) completed A in June.
    Policies for 2025: the province 30 h, 石家庄 40 h.
    """
    a = CourseFactory(code="A", hours=Decimal("24"))
    b = CourseFactory(code="B", hours=Decimal("16"), covers_process_recording=False, covers_legal_review=False)
    legal = CourseFactory(code="L", hours=Decimal("8"), covers_publicity=False, covers_process_recording=False)
    province = regions["province"]
    june = BatchFactory(course=a, region=province, starts_on=dt.date(2025, 6, 10), status=BatchStatus.COMPLETED)
    september = BatchFactory(course=b, region=province, starts_on=dt.date(2025, 9, 1), status=BatchStatus.COMPLETED)
    new_year = BatchFactory(course=a, region=province, starts_on=dt.date(2025, 12, 30))
    last_year = BatchFactory(course=legal, region=province, starts_on=dt.date(2024, 5, 6), status=BatchStatus.COMPLETED)

    people = {
        "张": InspectorFactory(name="张", region=regions["changan"], sector=Sector.COAL),
        "李": InspectorFactory(name="李", region=regions["lunan"], sector=Sector.NON_COAL_MINE),
        "王": InspectorFactory(name="王", region=province, sector=Sector.COAL),
        "钱": InspectorFactory(name="钱", region=regions["qiaoxi"], sector=Sector.COAL),
        "赵": InspectorFactory(name="赵", region=regions["changan"], sector=Sector.HAZARDOUS_CHEMICALS),
        "孙": InspectorFactory(
            name="孙", region=regions["changan"], sector=Sector.COAL, status=InspectorStatus.RETIRED
        ),
    }
    completed(june, people["张"])
    completed(september, people["张"])
    completed(new_year, people["张"])
    completed(june, people["李"])
    EnrollmentFactory(batch=september, inspector=people["李"], status=S.NO_SHOW)
    completed(september, people["王"])
    EnrollmentFactory(batch=june, inspector=people["王"], status=S.CANCELLED)
    completed(last_year, people["钱"])
    completed(june, people["孙"])
    HoursPolicy.objects.create(region=province, year=2025, required_hours=Decimal("30"))
    HoursPolicy.objects.create(region=regions["sjz"], year=2025, required_hours=Decimal("40"))
    return people


def hours_by_name(qs):
    return {i.name: (i.hours, i.required, i.met) for i in qs}


# --- hours -----------------------------------------------------------------------------------


def test_hours_are_completed_enrollments_in_the_years_batches(year, province_admin):
    # when
    rows = hours_by_name(selectors.inspector_hours_list(actor=province_admin, year=2025))
    nothing_in_2026 = hours_by_name(selectors.inspector_hours_list(actor=province_admin, year=2026))
    # then: the 2025 batch ending on 2026-01-01 counts in 2025 (its own year), not in 2026;
    # no-shows and cancellations never
    assert {name: hours for name, (hours, _r, _m) in rows.items()} == {
        "张": Decimal("64"),
        "李": Decimal("24"),
        "王": Decimal("16"),
        "钱": Decimal("0"),
        "赵": Decimal("0"),
        "孙": Decimal("24"),
    }
    assert {hours for hours, _r, _m in nothing_in_2026.values()} == {Decimal("0")}


def test_required_hours_come_from_the_nearest_ancestor_policy(year, province_admin):
    # when
    rows = hours_by_name(selectors.inspector_hours_list(actor=province_admin, year=2025))
    # then: 石家庄's 40 h for 长安 and 桥西, the province's 30 h elsewhere
    assert {name: required for name, (_h, required, _m) in rows.items()} == {
        "张": Decimal("40"),
        "李": Decimal("30"),
        "王": Decimal("30"),
        "钱": Decimal("40"),
        "赵": Decimal("40"),
        "孙": Decimal("40"),
    }


def test_met_when_the_hours_reach_the_requirement(year, province_admin):
    rows = hours_by_name(selectors.inspector_hours_list(actor=province_admin, year=2025))
    assert {name for name, (_h, _r, met) in rows.items() if met} == {"张"}  # 64 of 40
    met = selectors.inspector_hours_list(actor=province_admin, year=2025, filters={"met": True})
    assert [i.name for i in met] == ["张"]
    unmet = selectors.inspector_hours_list(actor=province_admin, year=2025, filters={"met": False})
    assert sorted(i.name for i in unmet) == sorted(["李", "王", "钱", "赵", "孙"])


def test_hours_per_row_and_grouped_agree(year, province_admin):
    # The list computes hours per row (a page reads its rows only), the met filter and the
    # summary with one GROUP BY: the two must give the same hours, person by person.
    per_row = hours_by_name(selectors.inspector_hours_list(actor=province_admin, year=2025))
    grouped = {
        **hours_by_name(selectors.inspector_hours_list(actor=province_admin, year=2025, filters={"met": True})),
        **hours_by_name(selectors.inspector_hours_list(actor=province_admin, year=2025, filters={"met": False})),
    }
    assert per_row == grouped
    assert len(per_row) == 6


def test_a_page_of_the_hours_list_reads_only_its_rows_enrollments(year, province_admin):
    # The per-row hours are a correlated subquery, not a join of every enrollment grouped
    # by inspector (which the met filter, needing everyone's hours, still uses).
    join = 'LEFT OUTER JOIN "training_enrollment"'
    assert join not in str(selectors.inspector_hours_list(actor=province_admin, year=2025).query)
    grouped = selectors.inspector_hours_list(actor=province_admin, year=2025, filters={"met": True})
    assert join in str(grouped.query)


def test_without_a_policy_the_default_from_settings_applies(year, province_admin, settings):
    # given: no policy for 2026; 张 completes a 2026 batch of A (24 h)
    assert settings.TRAINING_REQUIRED_HOURS == 60
    completed(BatchFactory(course=CourseFactory(code="A"), starts_on=dt.date(2026, 3, 2)), year["张"])
    # when
    rows = hours_by_name(selectors.inspector_hours_list(actor=province_admin, year=2026))
    # then
    assert rows["张"] == (Decimal("24"), Decimal("60"), False)
    assert {required for _h, required, _m in rows.values()} == {Decimal("60")}
    # and the default is read from the settings, not frozen at import
    settings.TRAINING_REQUIRED_HOURS = 24
    assert hours_by_name(selectors.inspector_hours_list(actor=province_admin, year=2026))["张"][2] is True


def test_a_county_policy_beats_its_city_and_province(year, regions, province_admin):
    HoursPolicy.objects.create(region=regions["changan"], year=2025, required_hours=Decimal("20"))
    rows = hours_by_name(selectors.inspector_hours_list(actor=province_admin, year=2025))
    assert (rows["张"][1], rows["钱"][1], rows["王"][1]) == (Decimal("20"), Decimal("40"), Decimal("30"))
    assert selectors.required_hours_for(region=regions["changan"], year=2025) == Decimal("20")


def test_hours_are_scoped_to_the_actor(year, city_admin, inspector_user):
    # inspector_user is 张三 of 长安
    assert sorted(i.name for i in selectors.inspector_hours_list(actor=city_admin, year=2025)) == sorted(
        ["张", "钱", "赵", "孙", "张三"]
    )
    assert [i.pk for i in selectors.inspector_hours_list(actor=inspector_user, year=2025)] == [
        inspector_user.inspector.pk
    ]


def test_region_hours_summary_counts_active_inspectors_and_hours_delivered(year, regions, province_admin):
    # when
    everyone = selectors.region_hours_summary(actor=province_admin, year=2025)
    tangshan = selectors.region_hours_summary(actor=province_admin, year=2025, region=regions["ts"])
    # then: five active (孙 is retired); hours delivered are every completed hour of the
    # year's batches, 孙's too, and 张's in the batch ending after New Year
    assert everyone == {
        "inspectors": 5,
        "met": 1,
        "met_rate": 20.0,
        "hours_delivered": Decimal("128"),
    }
    assert tangshan == {"inspectors": 1, "met": 0, "met_rate": 0.0, "hours_delivered": Decimal("24")}


def test_region_hours_summary_for_a_city_admin_is_their_city(year, city_admin):
    summary = selectors.region_hours_summary(actor=city_admin, year=2025)
    assert summary == {"inspectors": 3, "met": 1, "met_rate": 33.3, "hours_delivered": Decimal("88")}


def test_region_hours_summary_of_an_empty_region(regions, province_admin):
    summary = selectors.region_hours_summary(actor=province_admin, year=2025, region=regions["ts"])
    assert summary == {"inspectors": 0, "met": 0, "met_rate": None, "hours_delivered": Decimal("0")}


# --- coverage of the three systems -----------------------------------------------------------


def test_coverage_per_sector_and_system(year, province_admin):
    # when
    rows = {row["sector"]: row for row in selectors.coverage(actor=province_admin, year=2025)}
    # then: one row per sector, in order, active inspectors only
    assert list(rows) == [s.value for s in Sector]
    coal = rows[Sector.COAL]
    assert (coal["inspectors"], coal["publicity"], coal["process_recording"], coal["legal_review"]) == (3, 2, 1, 1)
    assert (coal["all_three"], coal["all_three_rate"], coal["publicity_rate"]) == (1, 33.3, 66.7)
    assert coal["sector_display"] == "煤矿"
    non_coal = rows[Sector.NON_COAL_MINE]
    assert (non_coal["inspectors"], non_coal["all_three"], non_coal["all_three_rate"]) == (1, 1, 100.0)
    chemicals = rows[Sector.HAZARDOUS_CHEMICALS]
    assert (chemicals["inspectors"], chemicals["publicity"], chemicals["publicity_rate"]) == (1, 0, 0.0)
    trade = rows[Sector.INDUSTRY_TRADE]
    assert (trade["inspectors"], trade["all_three"], trade["all_three_rate"]) == (0, 0, None)


def test_coverage_of_a_region_and_of_a_city_admin(year, regions, province_admin, city_admin):
    in_sjz = {row["sector"]: row for row in selectors.coverage(actor=city_admin, year=2025)}
    assert (in_sjz[Sector.COAL]["inspectors"], in_sjz[Sector.COAL]["all_three"]) == (2, 1)  # 张 and 钱
    assert in_sjz[Sector.NON_COAL_MINE]["inspectors"] == 0
    tangshan = {row["sector"]: row for row in selectors.coverage(actor=province_admin, year=2025, region=regions["ts"])}
    assert tangshan[Sector.NON_COAL_MINE]["all_three"] == 1
    assert tangshan[Sector.COAL]["inspectors"] == 0


def test_coverage_of_another_year(year, province_admin):
    rows = {row["sector"]: row for row in selectors.coverage(actor=province_admin, year=2024)}
    assert (rows[Sector.COAL]["legal_review"], rows[Sector.COAL]["publicity"], rows[Sector.COAL]["all_three"]) == (
        1,
        0,
        0,
    )


def test_coverage_missing_lists_who_has_not_completed_the_topic(year, province_admin):
    # when
    missing = selectors.coverage_missing(actor=province_admin, year=2025, topic="legal_review")
    coal_missing = selectors.coverage_missing(actor=province_admin, year=2025, topic="legal_review", sector="coal")
    publicity = selectors.coverage_missing(actor=province_admin, year=2025, topic="publicity")
    # then: active inspectors only
    assert sorted(i.name for i in missing) == sorted(["王", "钱", "赵"])
    assert sorted(i.name for i in coal_missing) == sorted(["王", "钱"])
    assert sorted(i.name for i in publicity) == sorted(["钱", "赵"])


# --- person-times and persons ----------------------------------------------------------------


def test_one_inspector_in_three_batches_is_three_person_times_and_one_person(regions, province_admin):
    # given
    course = CourseFactory()
    inspector = InspectorFactory(region=regions["changan"])
    batches = [
        BatchFactory(course=course, region=regions["province"], starts_on=dt.date(2025, m, 3), status="completed")
        for m in (3, 6, 9)
    ]
    for batch in batches:
        completed(batch, inspector)
    # when
    totals = Enrollment.objects.filter(status=S.COMPLETED, batch__course=course).aggregate(
        person_times=Count("id"), persons=Count("inspector", distinct=True), hours=Sum("hours_credited")
    )
    counted = selectors.batch_counts(selectors.batch_list(actor=province_admin, filters={"year": 2025}))
    coverage = {row["sector"]: row for row in selectors.coverage(actor=province_admin, year=2025)}
    hours = selectors.inspector_hours_list(actor=province_admin, year=2025).get(pk=inspector.pk).hours
    # then
    assert totals == {"person_times": 3, "persons": 1, "hours": Decimal("48")}
    assert sum(b.completed_count for b in counted) == 3
    assert coverage[Sector.COAL]["all_three"] == 1
    assert hours == Decimal("48")


# --- batches and enrollments -----------------------------------------------------------------


def test_batch_counts_per_status(regions, province_admin):
    # given
    batch = BatchFactory(region=regions["province"], capacity=2)
    other = BatchFactory(region=regions["province"], starts_on=dt.date(2025, 8, 1))
    plan = [S.ENROLLED, S.ENROLLED, S.WAITLISTED, S.CANCELLED, S.CANCELLED, S.COMPLETED, S.NO_SHOW]
    for n, status in enumerate(plan):
        EnrollmentFactory(
            batch=batch,
            inspector=InspectorFactory(region=regions["changan"]),
            status=status,
            waitlist_position=n if status == S.WAITLISTED else None,
        )
    # when
    rows = {b.pk: b for b in selectors.batch_counts(selectors.batch_list(actor=province_admin))}
    # then
    got = rows[batch.pk]
    assert (
        got.enrolled_count,
        got.waitlisted_count,
        got.cancelled_count,
        got.completed_count,
        got.no_show_count,
    ) == (2, 1, 2, 1, 1)
    assert rows[other.pk].enrolled_count == 0


def test_batch_counts_is_one_query_however_many_batches(regions, province_admin, django_assert_num_queries):
    for n in range(5):
        batch = BatchFactory(region=regions["province"], starts_on=dt.date(2025, 1 + n, 1))
        EnrollmentFactory(batch=batch, inspector=InspectorFactory(region=regions["changan"]))
    access.scope_for(province_admin)  # resolved once per request, cached on the user
    with django_assert_num_queries(1):
        rows = list(selectors.batch_counts(selectors.batch_list(actor=province_admin)))
        assert [b.course.code for b in rows] and [b.region.name for b in rows]
    assert sum(b.enrolled_count for b in rows) == 5


def test_batch_list_by_role(regions, city_admin, province_admin, inspector_user):
    # given: the inspector (长安, coal) sees open batches above them for coal or mixed,
    # and the batches they are in
    province_mixed = BatchFactory(region=regions["province"])
    province_coal = BatchFactory(region=regions["province"], sector=Sector.COAL)
    province_chem = BatchFactory(region=regions["province"], sector=Sector.HAZARDOUS_CHEMICALS)
    province_draft = BatchFactory(region=regions["province"], status=BatchStatus.DRAFT)
    sjz = BatchFactory(region=regions["sjz"])
    qiaoxi = BatchFactory(region=regions["qiaoxi"])
    tangshan = BatchFactory(region=regions["ts"])
    closed_mine = BatchFactory(region=regions["ts"], status=BatchStatus.CLOSED)
    EnrollmentFactory(batch=closed_mine, inspector=inspector_user.inspector)
    # when / then
    assert {b.pk for b in selectors.batch_list(actor=province_admin)} == {
        b.pk for b in (province_mixed, province_coal, province_chem, province_draft, sjz, qiaoxi, tangshan, closed_mine)
    }
    assert {b.pk for b in selectors.batch_list(actor=city_admin)} == {sjz.pk, qiaoxi.pk}
    assert {b.pk for b in selectors.batch_list(actor=inspector_user)} == {
        province_mixed.pk,
        province_coal.pk,
        sjz.pk,
        closed_mine.pk,
    }
    with pytest.raises(NotFound):
        selectors.batch_get_for_actor(actor=city_admin, batch_id=tangshan.pk)


def test_batch_list_filters(regions, province_admin):
    legal = CourseFactory(code="L", covers_publicity=False, covers_process_recording=False)
    coal = BatchFactory(region=regions["sjz"], sector=Sector.COAL, course=legal)
    mixed = BatchFactory(region=regions["ts"], starts_on=dt.date(2024, 6, 1))

    def ids(**filters):
        return {b.pk for b in selectors.batch_list(actor=province_admin, filters=filters)}

    assert ids(year=2024) == {mixed.pk}
    assert ids(sector="") == {mixed.pk}
    assert ids(sector=Sector.COAL) == {coal.pk}
    assert ids(region="130100") == {coal.pk}
    assert ids(region=regions["ts"]) == {mixed.pk}
    assert ids(region="999999") == set()
    assert ids(topic="publicity") == {mixed.pk}
    assert ids(topic="legal_review") == {coal.pk, mixed.pk}
    assert ids(status=BatchStatus.OPEN) == {coal.pk, mixed.pk}


def test_enrollment_list_by_role(regions, city_admin, inspector_user, province_admin):
    # given
    batch = BatchFactory(region=regions["province"], capacity=9)
    mine = EnrollmentFactory(batch=batch, inspector=inspector_user.inspector)
    changan = EnrollmentFactory(batch=batch, inspector=InspectorFactory(region=regions["changan"]))
    tangshan = EnrollmentFactory(batch=batch, inspector=InspectorFactory(region=regions["lunan"]))
    # when / then
    assert {e.pk for e in selectors.enrollment_list(actor=province_admin)} == {mine.pk, changan.pk, tangshan.pk}
    assert {e.pk for e in selectors.enrollment_list(actor=city_admin)} == {mine.pk, changan.pk}
    assert {e.pk for e in selectors.enrollment_list(actor=inspector_user)} == {mine.pk}
    with pytest.raises(NotFound):
        selectors.enrollment_get_for_actor(actor=inspector_user, enrollment_id=changan.pk)
    with pytest.raises(NotFound):
        selectors.enrollment_get_for_actor(actor=city_admin, enrollment_id=tangshan.pk)
