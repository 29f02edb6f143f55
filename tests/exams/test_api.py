"""The exams API as its callers use it: scoping per role, the score grid (read, write,
errors by row and field, all or nothing), the score file import, result history, and
every certificate verb with its refusals."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import Resolver404, resolve
from django.utils import timezone

from exams.api import CertificateViewSet
from exams.models import (
    Certificate,
    CertificateEvent,
    CertificateStatus,
    ExamKind,
    Result,
    ResultChange,
    SittingStatus,
)
from personnel.models import InspectorStatus, Sector
from tests.exams.factories import (
    GENERAL,
    SPECIALIST,
    CertificateFactory,
    ExamFactory,
    ResultFactory,
    SittingFactory,
    parts_of,
    record,
    years_after,
)
from tests.factories import InspectorFactory
from tests.personnel.test_roster_import import xlsx
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training.models import EnrollmentStatus

API = "/api/v1"


@pytest.fixture
def people(regions):
    return {
        "li": InspectorFactory(region=regions["changan"], name="李四"),
        "wang": InspectorFactory(region=regions["qiaoxi"], name="王五", sector=Sector.NON_COAL_MINE),
        "zhao": InspectorFactory(region=regions["lunan"], name="赵六"),
        "sun": InspectorFactory(region=regions["changan"], name="孙七"),
    }


@pytest.fixture
def sjz_sitting(regions):
    """石家庄's qualification exam (通用法律知识 40 + 专门法律知识 60, pass 60)."""
    return SittingFactory(exam=ExamFactory(region=regions["sjz"], title="石家庄执法资格考试"))


@pytest.fixture
def ts_sitting(regions):
    return SittingFactory(exam=ExamFactory(region=regions["ts"], title="唐山执法资格考试"))


def ids(exam):
    parts = parts_of(exam)
    return str(parts[GENERAL].pk), str(parts[SPECIALIST].pk)


def grid_row(sitting, person, general=None, special=None, absent=False):
    g, s = ids(sitting.exam)
    return {"inspector": person.pk, "scores": {g: general, s: special}, "absent": absent}


# --- exams and sittings ----------------------------------------------------------------------


def test_anonymous_is_refused_with_the_error_shape(api_client, sjz_sitting):
    response = api_client.get(f"{API}/exams/")
    assert response.status_code == 401
    assert set(response.json()) == {"code", "detail", "fields"}


def test_city_admin_sees_the_exams_and_sittings_of_their_city_only(client_for, city_admin, sjz_sitting, ts_sitting):
    # given
    client = client_for(city_admin)
    # when
    exams = client.get(f"{API}/exams/").json()
    sittings = client.get(f"{API}/sittings/").json()
    # then
    assert [e["title"] for e in exams["results"]] == ["石家庄执法资格考试"]
    assert exams["results"][0]["parts"][0]["name"] == GENERAL
    assert [s["id"] for s in sittings["results"]] == [sjz_sitting.pk]
    assert client.get(f"{API}/exams/{ts_sitting.exam_id}/").status_code == 404
    assert client.get(f"{API}/sittings/{ts_sitting.pk}/").status_code == 404


def test_an_inspector_sees_only_the_exams_they_sat(client_for, inspector_user, sjz_sitting, ts_sitting):
    # given
    ResultFactory(sitting=sjz_sitting, inspector=inspector_user.inspector)
    client = client_for(inspector_user)
    # then
    assert [e["id"] for e in client.get(f"{API}/exams/").json()["results"]] == [sjz_sitting.exam_id]
    assert [s["id"] for s in client.get(f"{API}/sittings/").json()["results"]] == [sjz_sitting.pk]
    assert client.get(f"{API}/sittings/{ts_sitting.pk}/").status_code == 404


def test_an_exam_is_created_with_its_parts_in_order(client_for, city_admin):
    # when
    response = client_for(city_admin).post(
        f"{API}/exams/",
        {
            "title": "2025年执法资格考试",
            "kind": "qualification",
            "pass_mark": "72",
            "parts": [{"name": GENERAL, "max_score": "40"}, {"name": SPECIALIST, "max_score": "80"}],
        },
        format="json",
    )
    # then
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["region"]["code"] == "130100"  # the admin's own region by default
    assert [(p["name"], p["max_score"]) for p in body["parts"]] == [(GENERAL, "40.0"), (SPECIALIST, "80.0")]
    assert (body["pass_mark"], body["max_score"]) == ("72.0", "120.0")


def test_an_exam_with_twice_the_same_part_or_a_pass_mark_above_the_maximum_is_a_400(client_for, city_admin):
    client = client_for(city_admin)
    same = [{"name": GENERAL, "max_score": "40"}, {"name": GENERAL, "max_score": "60"}]
    response = client.post(f"{API}/exams/", {"title": "考试", "kind": "course", "parts": same}, format="json")
    assert response.status_code == 400
    assert "parts" in response.json()["fields"]
    high = {"title": "考试", "kind": "course", "pass_mark": "90", "parts": [{"name": GENERAL, "max_score": "40"}]}
    response = client.post(f"{API}/exams/", high, format="json")
    assert response.status_code == 400
    assert "pass_mark" in response.json()["fields"]


def test_exam_creation_is_refused_outside_the_admins_region_and_to_inspectors(client_for, city_admin, inspector_user):
    body = {"title": "考试", "kind": "course", "region": "130200", "parts": [{"name": GENERAL, "max_score": "100"}]}
    assert client_for(city_admin).post(f"{API}/exams/", body, format="json").status_code == 403
    assert client_for(inspector_user).post(f"{API}/exams/", body, format="json").status_code == 403


def test_exams_filter_by_kind(client_for, province_admin, regions):
    ExamFactory(region=regions["province"], kind=ExamKind.ANNUAL)
    ExamFactory(region=regions["province"], kind=ExamKind.QUALIFICATION)
    body = client_for(province_admin).get(f"{API}/exams/", {"kind": "annual"}).json()
    assert [e["kind"] for e in body["results"]] == ["annual"]


def test_a_sitting_is_created_for_a_visible_exam_only(client_for, city_admin, sjz_sitting, ts_sitting):
    client = client_for(city_admin)
    body = {"exam": sjz_sitting.exam_id, "held_on": "2025-09-01", "place": "石家庄考点"}
    response = client.post(f"{API}/sittings/", body, format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["status"], response.json()["exam"]["id"]) == ("scheduled", sjz_sitting.exam_id)
    response = client.post(f"{API}/sittings/", {**body, "exam": ts_sitting.exam_id}, format="json")
    assert response.status_code == 400
    assert "exam" in response.json()["fields"]


def test_sittings_filter_by_exam_status_and_year(client_for, province_admin, sjz_sitting, ts_sitting):
    SittingFactory(exam=sjz_sitting.exam, held_on=dt.date(2024, 5, 1), status=SittingStatus.CLOSED)
    client = client_for(province_admin)
    assert client.get(f"{API}/sittings/", {"exam": sjz_sitting.exam_id}).json()["count"] == 2
    assert client.get(f"{API}/sittings/", {"status": "closed"}).json()["count"] == 1
    assert client.get(f"{API}/sittings/", {"year": 2025}).json()["count"] == 2
    assert client.get(f"{API}/sittings/", {"status": "bogus"}).status_code == 400


# --- the score grid --------------------------------------------------------------------------


@pytest.fixture
def batch_sitting(regions, people):
    """A course exam of a 石家庄 batch: 李四 and 王五 completed it, 孙七 only enrolled."""
    batch = BatchFactory(region=regions["sjz"])
    EnrollmentFactory(batch=batch, inspector=people["li"], status=EnrollmentStatus.COMPLETED)
    EnrollmentFactory(batch=batch, inspector=people["wang"], status=EnrollmentStatus.COMPLETED)
    EnrollmentFactory(batch=batch, inspector=people["sun"], status=EnrollmentStatus.ENROLLED)
    exam = ExamFactory(region=regions["sjz"], kind=ExamKind.COURSE, course=batch.course, title="结业考试")
    return SittingFactory(exam=exam, batch=batch)


def test_the_grid_has_one_row_per_candidate_with_their_result(client_for, city_admin, batch_sitting, people):
    # given
    record(batch_sitting, people["li"], city_admin, 30, 45)
    # when
    body = client_for(city_admin).get(f"{API}/sittings/{batch_sitting.pk}/results/").json()
    # then
    assert [p["name"] for p in body["parts"]] == [GENERAL, SPECIALIST]
    rows = {r["inspector"]["name"]: r for r in body["rows"]}
    assert set(rows) == {"李四", "王五"}
    g, s = ids(batch_sitting.exam)
    assert rows["李四"]["scores"] == {g: "30.0", s: "45.0"}
    assert (rows["李四"]["total"], rows["李四"]["passed"], rows["李四"]["attempt"]) == ("75.0", True, 1)
    assert rows["王五"]["result"] is None and rows["王五"]["scores"] == {}
    assert rows["李四"]["inspector"]["national_id"] == people["li"].national_id  # the admin's own region


def test_writing_the_grid_records_every_row_with_history(client_for, city_admin, batch_sitting, people):
    # given
    rows = [grid_row(batch_sitting, people["li"], 30, "45.5"), grid_row(batch_sitting, people["wang"], absent=True)]
    # when
    response = client_for(city_admin).post(f"{API}/sittings/{batch_sitting.pk}/results/", rows, format="json")
    # then
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "ok": True,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "absent": 1,
        "certificates": 0,
    }
    li = Result.objects.get(inspector=people["li"])
    assert (li.score, li.passed) == (Decimal("75.5"), True)
    assert Result.objects.get(inspector=people["wang"]).absent
    assert set(ResultChange.objects.values_list("source", flat=True)) == {"grid"}


def test_every_bad_row_of_the_grid_is_reported_by_index_and_field_and_nothing_is_written(
    client_for, city_admin, batch_sitting, people, regions
):
    # given
    g, s = ids(batch_sitting.exam)
    outsider = InspectorFactory(region=regions["changan"], name="局外人")
    rows = [
        grid_row(batch_sitting, people["li"], 30, 45),  # 0: good
        grid_row(batch_sitting, people["wang"], 41, "abc"),  # 1: above maximum, not a number
        grid_row(batch_sitting, people["sun"], 10, 10),  # 2: enrolled, not completed: no candidate
        grid_row(batch_sitting, people["li"], 20, 20),  # 3: 李四 again
        {"inspector": people["wang"].pk, "scores": {g: 10}, "absent": False},  # 4: specialist missing (and twice)
        {"inspector": outsider.pk, "scores": {g: 1, s: 1, "999999": 3}, "absent": True},  # 5
        {"inspector": "x", "scores": {}},  # 6: not an id
        grid_row(batch_sitting, people["zhao"], 10, 10),  # 7: works in 唐山: unknown here
    ]
    # when
    response = client_for(city_admin).post(f"{API}/sittings/{batch_sitting.pk}/results/", rows, format="json")
    # then
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    errors = body["fields"]["rows"]
    assert set(errors) == {"1", "2", "3", "4", "5", "6", "7"}
    assert set(errors["1"]["scores"]) == {g, s}
    assert "超过满分" in errors["1"]["scores"][g][0] and "不是数字" in errors["1"]["scores"][s][0]
    assert "不是本场考试的考生" in errors["2"]["inspector"][0]
    assert "序号 0" in errors["3"]["inspector"][0]
    assert "缺少" in errors["4"]["scores"][s][0]
    assert set(errors["5"]["scores"]) == {g, s, "999999"}
    assert "inspector" in errors["5"]  # not a candidate of the batch
    assert "inspector" in errors["6"]
    assert "未找到" in errors["7"]["inspector"][0]
    assert not Result.objects.exists()
    assert not ResultChange.objects.exists()


def test_the_grid_reports_the_attempt_rules_up_front(client_for, city_admin, regions, people):
    # given: one attempt; 李四 has used it
    exam = ExamFactory(region=regions["sjz"], max_attempts=1)
    ResultFactory(sitting=SittingFactory(exam=exam, held_on=dt.date(2025, 3, 1)), inspector=people["li"], score=40)
    sitting = SittingFactory(exam=exam, held_on=dt.date(2025, 6, 1))
    rows = [grid_row(sitting, people["li"], 30, 40), grid_row(sitting, people["wang"], 30, 40)]
    # when
    response = client_for(city_admin).put(f"{API}/sittings/{sitting.pk}/results/", rows, format="json")
    # then
    assert response.status_code == 400
    assert list(response.json()["fields"]["rows"]) == ["0"]
    assert "用完" in response.json()["fields"]["rows"]["0"]["inspector"][0]
    assert not Result.objects.filter(sitting=sitting).exists()


def test_saving_the_grid_unchanged_after_a_certificate_was_issued_is_fine(client_for, city_admin, sjz_sitting, people):
    # given: 李四 passed the qualification exam: a certificate came from this result
    client = client_for(city_admin)
    rows = [grid_row(sjz_sitting, people["li"], 30, 40)]
    first = client.post(f"{API}/sittings/{sjz_sitting.pk}/results/", rows, format="json").json()
    assert first["certificates"] == 1
    # when
    again = client.post(f"{API}/sittings/{sjz_sitting.pk}/results/", {"rows": rows}, format="json")
    # then
    assert again.status_code == 200, again.json()
    assert (again.json()["unchanged"], again.json()["certificates"]) == (1, 0)
    assert Certificate.objects.count() == 1


def test_the_grid_is_for_admins_of_the_exam(client_for, inspector_user, other_city_admin, sjz_sitting, people):
    ResultFactory(sitting=sjz_sitting, inspector=inspector_user.inspector)
    url = f"{API}/sittings/{sjz_sitting.pk}/results/"
    assert client_for(inspector_user).get(url).status_code == 403
    assert client_for(other_city_admin).get(url).status_code == 404
    rows = [grid_row(sjz_sitting, people["li"], 30, 40)]
    assert client_for(other_city_admin).post(url, rows, format="json").status_code == 404


def test_a_closed_sitting_refuses_the_grid_with_409(client_for, city_admin, sjz_sitting, people):
    sjz_sitting.status = SittingStatus.CLOSED
    sjz_sitting.save()
    rows = [grid_row(sjz_sitting, people["li"], 30, 40)]
    response = client_for(city_admin).post(f"{API}/sittings/{sjz_sitting.pk}/results/", rows, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "sitting_closed"


def test_the_score_file_import_endpoint(client_for, city_admin, sjz_sitting, people):
    # given
    url = f"{API}/sittings/{sjz_sitting.pk}/results/import/"
    header = ["身份证号", GENERAL, SPECIALIST]
    good = xlsx([[people["li"].national_id, 30, 40], [people["wang"].national_id, 20, 10]], header=header)
    bad = xlsx([[people["li"].national_id, 50, 40]], header=header)
    client = client_for(city_admin)
    # when
    dry = client.post(url, {"file": _upload(good), "dry_run": "true"}, format="multipart")
    refused = client.post(url, {"file": _upload(bad)}, format="multipart")
    done = client.post(url, {"file": _upload(good)}, format="multipart")
    # then
    assert dry.status_code == 200 and dry.json()["dry_run"] and dry.json()["created"] == 2
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {"row": 2, "column": "B 通用法律知识", "message": refused.json()["errors"][0]["message"]}
    ]
    assert done.status_code == 200
    assert (done.json()["created"], done.json()["certificates"]) == (2, 1)
    assert set(ResultChange.objects.values_list("source", flat=True)) == {"import"}


def _upload(data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("成绩.xlsx", data, content_type="application/octet-stream")


# --- results and their history ---------------------------------------------------------------


def test_an_inspector_asking_for_another_inspectors_results_gets_404(client_for, inspector_user, sjz_sitting, people):
    # given
    mine = ResultFactory(sitting=sjz_sitting, inspector=inspector_user.inspector)
    theirs = ResultFactory(sitting=sjz_sitting, inspector=people["li"])
    client = client_for(inspector_user)
    # when
    listed = client.get(f"{API}/results/").json()
    # then
    assert [r["id"] for r in listed["results"]] == [mine.pk]
    assert "*" in listed["results"][0]["inspector"]["national_id"]  # even their own, the personnel rule
    assert client.get(f"{API}/results/{theirs.pk}/").status_code == 404
    assert client.get(f"{API}/results/{theirs.pk}/history/").status_code == 404
    assert client.get(f"{API}/results/", {"inspector": people["li"].pk}).json()["count"] == 0


def test_a_city_admin_sees_results_of_their_inspectors_only(client_for, city_admin, ts_sitting, people):
    ResultFactory(sitting=ts_sitting, inspector=people["li"])
    other = ResultFactory(sitting=ts_sitting, inspector=people["zhao"])
    client = client_for(city_admin)
    assert [r["inspector"]["name"] for r in client.get(f"{API}/results/").json()["results"]] == ["李四"]
    assert client.get(f"{API}/results/{other.pk}/").status_code == 404


def test_results_filter(client_for, province_admin, sjz_sitting, ts_sitting, people):
    ResultFactory(sitting=sjz_sitting, inspector=people["li"], score=Decimal("80"))
    ResultFactory(sitting=sjz_sitting, inspector=people["wang"], score=Decimal("20"))
    ResultFactory(sitting=ts_sitting, inspector=people["zhao"], absent=True)
    client = client_for(province_admin)

    def count(**params):
        return client.get(f"{API}/results/", params).json()["count"]

    assert count(sitting=sjz_sitting.pk) == 2
    assert count(exam=ts_sitting.exam_id) == 1
    assert count(inspector=people["li"].pk) == 1
    assert count(passed="true") == 1
    assert count(passed="false") == 1
    assert count(absent="true") == 1
    assert count(year=2025) == 3
    assert count(year=2024) == 0


def test_history_shows_old_new_and_who(client_for, city_admin, sjz_sitting, people):
    # given: recorded, then corrected
    client = client_for(city_admin)
    url = f"{API}/sittings/{sjz_sitting.pk}/results/"
    client.post(url, [grid_row(sjz_sitting, people["wang"], 10, 20)], format="json")
    client.post(url, [grid_row(sjz_sitting, people["wang"], 15, 20)], format="json")
    result = Result.objects.get(inspector=people["wang"])
    # when
    history = client.get(f"{API}/results/{result.pk}/history/").json()
    # then
    assert [(h["old_score"], h["new_score"], h["actor"], h["source"]) for h in history] == [
        (None, "30.0", "sjz_admin", "grid"),
        ("30.0", "35.0", "sjz_admin", "grid"),
    ]
    g, _s = ids(sjz_sitting.exam)
    assert (history[1]["old_parts"][g], history[1]["new_parts"][g]) == ("10.0", "15.0")


# --- certificates ----------------------------------------------------------------------------


@pytest.fixture
def certificates(people):
    return {
        "li": CertificateFactory(holder=people["li"]),
        "wang": CertificateFactory(holder=people["wang"], status=CertificateStatus.SUSPENDED),
        "zhao": CertificateFactory(holder=people["zhao"]),
    }


def act(client, certificate, verb, **body):
    return client.post(f"{API}/certificates/{certificate.pk}/{verb}/", body, format="json")


def test_certificates_are_scoped_and_a_city_admin_cannot_act_on_another_city(client_for, city_admin, certificates):
    client = client_for(city_admin)
    listed = client.get(f"{API}/certificates/").json()
    assert {c["holder"]["name"] for c in listed["results"]} == {"李四", "王五"}
    assert client.get(f"{API}/certificates/{certificates['zhao'].pk}/").status_code == 404
    response = act(client, certificates["zhao"], "suspend", reason="出借证件")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    certificates["zhao"].refresh_from_db()
    assert certificates["zhao"].status == CertificateStatus.VALID


def test_an_inspector_sees_their_own_certificate_and_may_not_act_on_it(client_for, inspector_user, certificates):
    own = CertificateFactory(holder=inspector_user.inspector)
    client = client_for(inspector_user)
    assert [c["id"] for c in client.get(f"{API}/certificates/").json()["results"]] == [own.pk]
    assert act(client, own, "suspend", reason="自己").status_code == 403
    assert client.get(f"{API}/certificates/{certificates['li'].pk}/").status_code == 404


def test_certificate_filters(client_for, province_admin, people, regions):
    today = timezone.localdate()
    soon = CertificateFactory(holder=people["li"], issued_on=today - dt.timedelta(days=1700))
    soon.valid_until = today + dt.timedelta(days=20)
    soon.save()
    CertificateFactory(holder=people["wang"])
    CertificateFactory(holder=people["zhao"], status=CertificateStatus.REVOKED)
    client = client_for(province_admin)

    def numbers(**params):
        return [c["number"] for c in client.get(f"{API}/certificates/", params).json()["results"]]

    assert numbers(expiring_within=30) == [soon.number]
    assert len(numbers(status="revoked")) == 1
    assert len(numbers(region="130100")) == 2
    assert numbers(region="130200", status="revoked") == numbers(status="revoked")
    assert len(numbers(sector=Sector.NON_COAL_MINE)) == 1
    assert numbers(search="李四") == [soon.number]
    # all but the check character: the first ten are the year and "9000" of every factory number,
    # which the others share whenever ``soon`` is issued in their year, 2024 (late 2028 on)
    assert numbers(search=soon.number[:-1]) == [soon.number]
    assert client.get(f"{API}/certificates/", {"expiring_within": -1}).status_code == 400


def test_suspend_reinstate_and_revoke_write_events(client_for, city_admin, certificates):
    # given
    client = client_for(city_admin)
    li = certificates["li"]
    # when
    suspended = act(client, li, "suspend", reason="执法过错调查")
    reinstated = act(client, li, "reinstate", reason="调查结束")
    revoked = act(client, li, "revoke", reason="出借执法证")
    # then
    assert [r.status_code for r in (suspended, reinstated, revoked)] == [200, 200, 200]
    assert [r.json()["status"] for r in (suspended, reinstated, revoked)] == ["suspended", "valid", "revoked"]
    events = client.get(f"{API}/certificates/{li.pk}/events/").json()
    assert [(e["kind"], e["reason"], e["from_status"], e["to_status"], e["actor"]) for e in events] == [
        ("suspended", "执法过错调查", "valid", "suspended", "sjz_admin"),
        ("reinstated", "调查结束", "suspended", "valid", "sjz_admin"),
        ("revoked", "出借执法证", "valid", "revoked", "sjz_admin"),
    ]


@pytest.mark.parametrize(
    ("start", "verb"),
    [
        (CertificateStatus.REVOKED, "reinstate"),
        (CertificateStatus.REVOKED, "renew"),
        (CertificateStatus.EXPIRED, "suspend"),
        (CertificateStatus.VALID, "reinstate"),
        (CertificateStatus.RETURNED, "revoke"),
        (CertificateStatus.EXPIRED, "review"),
    ],
)
def test_refused_transitions_are_409_illegal_transition(client_for, city_admin, people, start, verb):
    # given
    certificate = CertificateFactory(holder=people["li"], status=start)
    # when
    response = act(client_for(city_admin), certificate, verb, reason="理由", year=2025)
    # then
    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    certificate.refresh_from_db()
    assert certificate.status == start
    assert not CertificateEvent.objects.filter(certificate=certificate).exists()


def test_a_reason_is_required_to_suspend(client_for, city_admin, certificates):
    response = act(client_for(city_admin), certificates["li"], "suspend")
    assert response.status_code == 400
    assert "reason" in response.json()["fields"]


def test_return_when_the_holder_retired(client_for, city_admin, certificates, people):
    client = client_for(city_admin)
    refused = act(client, certificates["li"], "return")
    assert refused.status_code == 409 and refused.json()["code"] == "holder_still_active"
    people["li"].status = InspectorStatus.RETIRED
    people["li"].save()
    response = act(client, certificates["li"], "return")
    assert response.status_code == 200
    assert response.json()["status"] == "returned"


def test_renew_near_expiry_after_a_passed_annual_exam(client_for, city_admin, people, regions):
    # given: valid for 30 more days; the annual exam was passed ten days ago
    today = timezone.localdate()
    certificate = CertificateFactory(holder=people["li"], issued_on=today - dt.timedelta(days=1800))
    certificate.valid_until = today + dt.timedelta(days=30)
    certificate.save()
    annual = SittingFactory(
        exam=ExamFactory(region=regions["sjz"], kind=ExamKind.ANNUAL), held_on=today - dt.timedelta(days=10)
    )
    ResultFactory(sitting=annual, inspector=people["li"], score=Decimal("85"))
    # when
    response = act(client_for(city_admin), certificate, "renew")
    # then
    assert response.status_code == 200, response.json()
    assert response.json()["valid_until"] == years_after(certificate.valid_until, 5).isoformat()
    assert response.json()["renewal_count"] == 1


def test_renew_far_from_expiry_is_refused_as_not_eligible(client_for, city_admin, certificates):
    response = act(client_for(city_admin), certificates["li"], "renew")
    assert response.status_code == 409
    assert response.json()["code"] == "not_eligible"


def test_annual_review_passes_with_the_hours_and_a_failed_one_suspends(client_for, city_admin, certificates, people):
    # given: 李四 completed a 60-hour course in 2025; 闲人 completed nothing
    batch = BatchFactory(course=CourseFactory(hours=Decimal("60")))
    EnrollmentFactory(batch=batch, inspector=people["li"], status=EnrollmentStatus.COMPLETED)
    idle = CertificateFactory(holder=InspectorFactory(region=people["li"].region, name="闲人"))
    client = client_for(city_admin)
    # when
    passed = act(client, certificates["li"], "review", year=2025)
    failed = act(client, idle, "review", year=2025)
    # then
    assert passed.status_code == 200, passed.json()
    assert passed.json()["review"]["passed"] is True
    assert passed.json()["certificate"]["status"] == "valid"
    assert failed.json()["review"]["passed"] is False
    assert failed.json()["certificate"]["status"] == "suspended"
    again = act(client, certificates["li"], "review", year=2025)
    assert again.status_code == 409 and again.json()["code"] == "already_reviewed"


def test_the_verify_path_is_not_taken_by_the_certificate_viewset(certificates):
    try:
        match = resolve(f"{API}/certificates/verify/{certificates['li'].number}/")
    except Resolver404:
        return
    assert getattr(match.func, "cls", None) is not CertificateViewSet


# --- constant query counts -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["exams", "sittings", "results", "certificates"])
def test_list_query_count_does_not_grow_with_rows(client_for, city_admin, regions, path, django_assert_max_num_queries):
    client = client_for(city_admin)

    def grow(n):
        for _i in range(n):
            sitting = SittingFactory(exam=ExamFactory(region=regions["changan"]))
            inspector = InspectorFactory(region=regions["qiaoxi"])
            ResultFactory(sitting=sitting, inspector=inspector)
            CertificateFactory(holder=inspector)

    grow(2)
    with django_assert_max_num_queries(8) as small:
        assert client.get(f"{API}/{path}/").status_code == 200
    grow(12)
    with django_assert_max_num_queries(len(small.captured_queries)):
        body = client.get(f"{API}/{path}/").json()
    assert body["count"] == 14


def test_grid_query_count_does_not_grow_with_candidates(
    client_for, city_admin, batch_sitting, regions, django_assert_max_num_queries
):
    client = client_for(city_admin)
    url = f"{API}/sittings/{batch_sitting.pk}/results/"
    with django_assert_max_num_queries(12) as small:
        client.get(url)
    for _i in range(15):
        person = InspectorFactory(region=regions["changan"])
        EnrollmentFactory(batch=batch_sitting.batch, inspector=person, status=EnrollmentStatus.COMPLETED)
        ResultFactory(sitting=batch_sitting, inspector=person)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert len(client.get(url).json()["rows"]) == 17
