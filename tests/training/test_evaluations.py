"""评教 (training.evaluations): the participant rates a batch once, after completing it, within
the window; the batch's administrators read the figures and the anonymous list."""

import datetime as dt
import threading

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from core.errors import AccessDenied, Conflict, ValidationFailed
from tests.factories import InspectorFactory, UserFactory
from tests.training.factories import BatchFactory, EnrollmentFactory
from training import services
from training.evaluations import (
    EVALUATION_OPEN_DAYS,
    batch_evaluation_figures,
    evaluation_due,
    evaluation_submit,
)
from training.models import BatchStatus, EnrollmentStatus, Evaluation

S = EnrollmentStatus


def _ended(regions, days_ago=3, status=BatchStatus.COMPLETED, **kwargs):
    """A two-day batch of 石家庄 that ended ``days_ago`` days ago."""
    ends = timezone.localdate() - dt.timedelta(days=days_ago)
    return BatchFactory(
        region=regions["sjz"], starts_on=ends - dt.timedelta(days=1), ends_on=ends, status=status, **kwargs
    )


def _person(regions, username):
    return InspectorFactory(region=regions["changan"], user=UserFactory(username=username))


@pytest.fixture
def done(regions, inspector_user):
    """石家庄's batch that ended three days ago; 张三 (inspector_user) completed it."""
    batch = _ended(regions)
    enrollment = EnrollmentFactory(batch=batch, inspector=inspector_user.inspector, status=S.COMPLETED)
    return enrollment


def _rate(enrollment, actor, content=5, trainer=4, organisation=3, comment="", **kwargs):
    return evaluation_submit(
        enrollment=enrollment,
        actor=actor,
        content=content,
        trainer=trainer,
        organisation=organisation,
        comment=comment,
        **kwargs,
    )


# --- the service -----------------------------------------------------------------------------------


def test_the_participant_rates_a_completed_batch(done, inspector_user):
    # when
    given = _rate(done, inspector_user, comment="  案例很实用  ")

    # then the row is the record: whose (the enrollment), which batch, the scores, when
    assert (given.enrollment_id, given.batch_id) == (done.pk, done.batch_id)
    assert (given.content, given.trainer, given.organisation, given.comment) == (5, 4, 3, "案例很实用")
    assert given.created_at is not None


def test_only_once_and_the_refusal_says_when(done, inspector_user):
    _rate(done, inspector_user)

    with pytest.raises(Conflict) as refused:
        _rate(done, inspector_user, content=1)

    assert refused.value.code == "already_evaluated"
    assert timezone.localdate().isoformat() in refused.value.detail
    assert Evaluation.objects.get().content == 5  # the first stands, unchanged


@pytest.mark.parametrize("status", [S.ENROLLED, S.NO_SHOW, S.CANCELLED, S.WAITLISTED])
def test_not_before_completion(regions, inspector_user, status):
    batch = _ended(regions)
    enrollment = EnrollmentFactory(
        batch=batch,
        inspector=inspector_user.inspector,
        status=status,
        waitlist_position=1 if status == S.WAITLISTED else None,
    )

    with pytest.raises(Conflict) as refused:
        _rate(enrollment, inspector_user)

    assert refused.value.code == "not_completed"
    assert not Evaluation.objects.exists()


def test_completion_is_what_batch_complete_sets(regions, inspector_user, city_admin):
    # given a batch run through the services: enrolled, present both days, completed
    batch = _ended(regions, status=BatchStatus.OPEN)
    me = inspector_user.inspector
    enrollment = services.enrollment_create(
        batch=batch, inspector=me, actor=city_admin, today=batch.enrollment_deadline
    )
    with pytest.raises(Conflict):  # not yet
        _rate(enrollment, inspector_user)
    for n in range(batch.days):
        services.attendance_mark(
            batch=batch, actor=city_admin, day=batch.starts_on + dt.timedelta(days=n), all_present=True
        )
    services.batch_complete(batch=batch, actor=city_admin, today=batch.ends_on)

    # when / then
    assert _rate(enrollment, inspector_user).pk


def test_only_the_participant_themself(done, regions, city_admin, province_admin, superuser):
    someone = _person(regions, "someone")
    for actor in (someone.user, city_admin, province_admin, superuser):
        with pytest.raises(AccessDenied) as refused:
            _rate(done, actor)
        assert refused.value.code == "not_participant"
    assert not Evaluation.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"), [("content", 0), ("trainer", 6), ("organisation", None), ("content", "5分"), ("trainer", True)]
)
def test_scores_one_to_five_with_a_field_error(done, inspector_user, field, value):
    with pytest.raises(ValidationFailed) as refused:
        _rate(done, inspector_user, **{field: value})

    assert list(refused.value.fields) == [field]
    assert "1 至 5 分" in refused.value.fields[field][0]
    assert not Evaluation.objects.exists()


def test_scores_from_a_form_are_text(done, inspector_user):
    given = _rate(done, inspector_user, content="2", trainer=" 5 ", organisation="1")

    assert (given.content, given.trainer, given.organisation) == (2, 5, 1)


def test_a_nul_in_the_comment_is_a_field_error_not_a_500(client, done, inspector_user):
    client.force_login(inspector_user)

    client.post(
        f"/me/evaluations/{done.batch_id}/", {"content": "4", "trainer": "4", "organisation": "4", "comment": "a\x00b"}
    )

    assert "意见建议含有无效字符。" in client.get("/me/").content.decode()
    assert not Evaluation.objects.exists()


def test_the_comment_is_bounded(done, inspector_user):
    with pytest.raises(ValidationFailed) as refused:
        _rate(done, inspector_user, comment="很" * 1001)

    assert "1000" in refused.value.fields["comment"][0]
    assert _rate(done, inspector_user, comment="好" * 1000).comment == "好" * 1000


def test_the_window_closes(regions, inspector_user):
    batch = _ended(regions, days_ago=EVALUATION_OPEN_DAYS + 1)
    enrollment = EnrollmentFactory(batch=batch, inspector=inspector_user.inspector, status=S.COMPLETED)

    with pytest.raises(Conflict) as refused:
        _rate(enrollment, inspector_user)
    assert refused.value.code == "evaluation_closed"

    # the last day is still open
    assert _rate(enrollment, inspector_user, today=batch.ends_on + dt.timedelta(days=EVALUATION_OPEN_DAYS)).pk


def test_what_is_due(regions, inspector_user):
    me = inspector_user.inspector
    rated = EnrollmentFactory(batch=_ended(regions, days_ago=5), inspector=me, status=S.COMPLETED)
    due = EnrollmentFactory(batch=_ended(regions, days_ago=10), inspector=me, status=S.COMPLETED)
    EnrollmentFactory(batch=_ended(regions, days_ago=EVALUATION_OPEN_DAYS + 5), inspector=me, status=S.COMPLETED)
    EnrollmentFactory(batch=_ended(regions, days_ago=2), inspector=me, status=S.NO_SHOW)
    EnrollmentFactory(batch=_ended(regions, days_ago=2), status=S.COMPLETED)  # someone else's
    _rate(rated, inspector_user)

    assert [e.pk for e in evaluation_due(inspector=me)] == [due.pk]


@pytest.mark.django_db(transaction=True)
def test_two_submits_at_once_give_one_evaluation(regions):
    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    user = UserFactory(username="twice")
    me = InspectorFactory(region=regions["changan"], user=user)
    enrollment = EnrollmentFactory(batch=_ended(regions), inspector=me, status=S.COMPLETED)
    outcomes = []
    start = threading.Barrier(2)

    def submit():
        try:
            start.wait()
            _rate(enrollment, user)
            outcomes.append("ok")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["already_evaluated", "ok"]
    assert Evaluation.objects.filter(enrollment=enrollment).count() == 1


# --- the figures --------------------------------------------------------------------------------------


def test_figures_of_a_batch(regions, inspector_user):
    batch = _ended(regions)
    people = [_person(regions, f"p{i}") for i in range(3)]
    done = [EnrollmentFactory(batch=batch, inspector=p, status=S.COMPLETED) for p in people]
    EnrollmentFactory(batch=batch, inspector=inspector_user.inspector, status=S.COMPLETED)  # did not rate
    EnrollmentFactory(batch=batch, status=S.NO_SHOW)
    _rate(done[0], people[0].user, 5, 5, 4)
    _rate(done[1], people[1].user, 4, 3, 4)
    _rate(done[2], people[2].user, 3, 5, 2, comment="时间太紧")

    figures = batch_evaluation_figures(batch)

    assert figures == {
        "completers": 4,
        "evaluations": 3,
        "response_rate": 0.75,
        "content": 4.0,
        "trainer": 4.33,
        "organisation": 3.33,
        "overall": 3.89,  # 35 points / 9 answers
    }


def test_an_undone_completion_takes_its_evaluation_out_of_the_figures(regions, inspector_user):
    batch = _ended(regions)
    enrollment = EnrollmentFactory(batch=batch, inspector=inspector_user.inspector, status=S.COMPLETED)
    _rate(enrollment, inspector_user)
    type(enrollment).objects.filter(pk=enrollment.pk).update(status=S.ENROLLED, hours_credited=0)

    figures = batch_evaluation_figures(batch)

    assert (figures["completers"], figures["evaluations"], figures["response_rate"], figures["overall"]) == (
        0,
        0,
        None,
        None,
    )


# --- the API ------------------------------------------------------------------------------------------


def _url(batch):
    return f"/api/v1/batches/{batch.pk}/evaluations/"


def test_api_the_participant_posts_once(done, inspector_user, client_for):
    client = client_for(inspector_user)
    body = {"content": 5, "trainer": 4, "organisation": 4, "comment": "很好"}

    first = client.post(_url(done.batch), body, format="json")
    again = client.post(_url(done.batch), body, format="json")

    assert first.status_code == 201, first.content
    assert first.json() == {
        "batch": done.batch_id,
        "content": 5,
        "trainer": 4,
        "organisation": 4,
        "comment": "很好",
        "given_on": timezone.localdate().isoformat(),
    }
    assert again.status_code == 409
    assert again.json()["code"] == "already_evaluated"


def test_api_field_errors(done, inspector_user, client_for):
    response = client_for(inspector_user).post(_url(done.batch), {"content": 9, "trainer": 4, "organisation": 0})

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"content", "organisation"}


def test_api_an_admin_cannot_rate(done, city_admin, client_for):
    response = client_for(city_admin).post(_url(done.batch), {"content": 5, "trainer": 5, "organisation": 5})

    assert response.status_code == 403
    assert response.json()["code"] == "not_participant"


def test_api_the_batchs_admins_read_it_anonymously(done, inspector_user, regions, client_for, city_admin):
    _rate(done, inspector_user, comment="讲得透彻")

    body = client_for(city_admin).get(_url(done.batch)).json()

    assert body["summary"]["evaluations"] == 1
    assert body["summary"]["response_rate"] == 1.0
    assert body["evaluations"] == [
        {
            "content": 5,
            "trainer": 4,
            "organisation": 3,
            "comment": "讲得透彻",
            "given_on": timezone.localdate().isoformat(),
        }
    ]
    text = str(body)
    assert inspector_user.inspector.name not in text
    assert inspector_user.inspector.national_id not in text


def test_api_who_reads_it(done, client_for, inspector_user, province_admin, county_admin, other_city_admin):
    url = _url(done.batch)
    assert client_for(province_admin).get(url).status_code == 200
    assert client_for(other_city_admin).get(url).status_code == 404  # not their batch: not seen
    assert client_for(county_admin).get(url).status_code == 404  # organised above them
    assert client_for(inspector_user).get(url).status_code == 403  # a participant rates, reads nothing


# --- /me/: the form, and whether it was rated -----------------------------------------------------------


def test_me_page_offers_the_form_and_then_says_rated(client, done, inspector_user):
    client.force_login(inspector_user)

    page = client.get("/me/").content.decode()
    assert "待评价的培训" in page
    action = f'action="/me/evaluations/{done.batch_id}/"'
    assert action in page
    assert page.count('type="radio" name="content"') == 5
    assert "<legend>课程内容</legend>" in page

    answer = client.post(
        f"/me/evaluations/{done.batch_id}/", {"content": "4", "trainer": "5", "organisation": "3", "comment": "好"}
    )
    assert answer.status_code == 302
    assert answer["Location"] == "/me/#evaluations"

    page = client.get("/me/").content.decode()
    assert "已评价，感谢您的反馈。" in page
    assert "已评价" in page and action not in page
    given = Evaluation.objects.get(enrollment=done)
    assert (given.content, given.trainer, given.organisation, given.comment) == (4, 5, 3, "好")


def test_me_page_says_what_was_wrong(client, done, inspector_user):
    client.force_login(inspector_user)

    client.post(f"/me/evaluations/{done.batch_id}/", {"content": "4", "trainer": "9"})

    page = client.get("/me/").content.decode()
    assert "请为“授课教师”选择 1 至 5 分。" in page
    assert "请为“组织安排”选择 1 至 5 分。" in page
    assert not Evaluation.objects.exists()


def test_me_form_posts_only_for_ones_own_enrollment(client, done, regions, city_admin):
    other = _person(regions, "other")
    client.force_login(other.user)
    assert client.post(f"/me/evaluations/{done.batch_id}/", {"content": "5"}).status_code == 404
    client.force_login(city_admin)
    assert client.post(f"/me/evaluations/{done.batch_id}/", {"content": "5"}).status_code == 404
    assert client.get(f"/me/evaluations/{done.batch_id}/").status_code == 405
    assert not Evaluation.objects.exists()


def test_api_me_says_whether_it_was_rated(api_client, done, inspector_user, regions):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    me = inspector_user.inspector
    old = EnrollmentFactory(batch=_ended(regions, days_ago=EVALUATION_OPEN_DAYS + 1), inspector=me, status=S.COMPLETED)
    rated = EnrollmentFactory(batch=_ended(regions, days_ago=1), inspector=me, status=S.COMPLETED)
    _rate(rated, inspector_user)
    api_client.force_authenticate(inspector_user)
    api_client.get("/api/v1/me/")  # the calendar token

    with CaptureQueriesContext(db) as queries:
        body = api_client.get("/api/v1/me/").json()

    assert [(e["batch"], e["given_on"]) for e in body["evaluations"]] == [
        (rated.batch_id, timezone.localdate().isoformat()),
        (done.batch_id, None),
    ]
    assert old.batch_id not in {e["batch"] for e in body["evaluations"]}  # closed
    assert (
        body["evaluations"][1]["closes_on"]
        == (done.batch.ends_on + dt.timedelta(days=EVALUATION_OPEN_DAYS)).isoformat()
    )
    assert len(queries) <= 5  # forced authentication: no token to read (the budget is six with one)


# --- the admin -------------------------------------------------------------------------------------------


def test_admin_lists_the_evaluations_of_ones_batches_without_names(
    client, done, inspector_user, city_admin, other_city_admin
):
    _rate(done, inspector_user, comment="讲得透彻")
    city_admin.is_staff = other_city_admin.is_staff = True
    city_admin.save()
    other_city_admin.save()

    client.force_login(city_admin)
    page = client.get("/admin/training/evaluation/")
    assert page.status_code == 200
    assert [e.pk for e in page.context["cl"].result_list] == [Evaluation.objects.get().pk]
    text = page.content.decode()
    assert "讲得透彻" in text
    assert inspector_user.inspector.name not in text
    detail = client.get(f"/admin/training/evaluation/{Evaluation.objects.get().pk}/change/").content.decode()
    assert inspector_user.inspector.name not in detail

    client.force_login(other_city_admin)
    assert list(client.get("/admin/training/evaluation/").context["cl"].result_list) == []


def test_admin_batch_and_course_pages_show_the_figures(client, regions, city_admin, other_city_admin):
    batch = _ended(regions)
    people = [_person(regions, f"p{i}") for i in range(4)]
    done = [EnrollmentFactory(batch=batch, inspector=p, status=S.COMPLETED) for p in people]
    _rate(done[0], people[0].user, 5, 5, 4)
    _rate(done[1], people[1].user, 4, 3, 4)
    _rate(done[2], people[2].user, 3, 5, 2)
    city_admin.is_staff = other_city_admin.is_staff = True
    city_admin.save()
    other_city_admin.save()
    client.force_login(city_admin)

    page = client.get(f"/admin/training/batch/{batch.pk}/change/").content.decode()
    assert "75.0%" in page and "4.33" in page and "3.89" in page
    assert f"batch__id__exact={batch.pk}" in page

    course_page = client.get(f"/admin/training/course/{batch.course_id}/change/").content.decode()
    assert "75.0%" in course_page and "3.89" in course_page

    # 唐山's admin reads the course too, but none of its batches are theirs
    client.force_login(other_city_admin)
    course_page = client.get(f"/admin/training/course/{batch.course_id}/change/").content.decode()
    assert "暂无结业学员" in course_page and "3.89" not in course_page


def test_a_rating_moved_with_its_enrollment_stays_with_the_batch_it_rated(regions, inspector_user):
    # given: rated, then (completion undone, 转班) the enrollment completed in another batch
    first, second = _ended(regions), _ended(regions)
    enrollment = EnrollmentFactory(batch=first, inspector=inspector_user.inspector, status=S.COMPLETED)
    _rate(enrollment, inspector_user)
    type(enrollment).objects.filter(pk=enrollment.pk).update(batch=second)

    # then: neither batch counts it (the first has no completer left, the second did not get it)
    assert batch_evaluation_figures(second)["completers"] == 1
    assert batch_evaluation_figures(second)["evaluations"] == 0
    assert batch_evaluation_figures(first)["evaluations"] == 0


def test_me_json_with_evaluations_is_what_the_serializer_wrote(done, inspector_user, regions):
    from django.test import RequestFactory
    from rest_framework.renderers import JSONRenderer

    from exams.me import MeDashboardSerializer, dashboard_json, inspector_dashboard

    rated = EnrollmentFactory(batch=_ended(regions, days_ago=1), inspector=inspector_user.inspector, status=S.COMPLETED)
    _rate(rated, inspector_user)
    request = RequestFactory().get("/api/v1/me/")
    data = inspector_dashboard(actor=inspector_user)

    written = dashboard_json(data, request)

    assert len(written["evaluations"]) == 2
    expected = MeDashboardSerializer(data, context={"request": request}).data
    assert JSONRenderer().render(written) == JSONRenderer().render(expected)
