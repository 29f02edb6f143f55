"""The online exam API: a candidate starts, saves, reloads and submits over HTTP; sees only their
own paper, never an answer or explanation before a practice paper is submitted; the office
reads a sitting's attempts."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from exams import online
from exams.models import Attempt, AttemptItem, Result
from tests.exams.test_online import TRADE, exam, online_sitting, right_answers  # noqa: F401 (exam: a fixture)
from tests.factories import InspectorFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def sitting(exam, now):  # noqa: F811
    return online_sitting(exam, opens=now - dt.timedelta(hours=1), hours=3, minutes=30)


@pytest.fixture
def me(regions):
    return InspectorFactory(region=regions["changan"], user=UserFactory(username="phone"), name="手机考生")


def _client(client_for, user):
    return client_for(user)


def test_start_gives_my_paper_without_answers_and_a_reload_the_same(client_for, me, sitting):
    api = client_for(me.user)
    # when
    first = api.post(f"/api/v1/sittings/{sitting.pk}/start/")
    again = api.post(f"/api/v1/sittings/{sitting.pk}/start/")
    # then
    assert first.status_code == 200, first.content
    body = first.json()
    assert again.json()["id"] == body["id"]
    assert body["state"] == "active" and body["items_total"] == 10 and body["items_answered"] == 0
    assert 0 < body["seconds_left"] <= 30 * 60 and body["server_time"] and body["deadline"]
    assert body["score"] is None and body["score_visible"] is False
    item = body["items"][0]
    assert set(item) == {
        "position", "part", "kind", "kind_display", "stem", "options", "points", "answer", "answered_at",
    }  # fmt: skip
    assert [o["letter"] for o in item["options"]] == list("ABCD")[: len(item["options"])]
    text = first.content.decode()
    assert "解析" not in text and "right_answer" not in text and '"seed"' not in text


def test_answers_are_saved_partially_and_idempotently_and_shown_on_reload(client_for, me, sitting):
    api = client_for(me.user)
    attempt_id = api.post(f"/api/v1/sittings/{sitting.pk}/start/").json()["id"]
    url = f"/api/v1/attempts/{attempt_id}/answers/"
    # when
    r1 = api.put(url, {"answers": {"1": "b", "2": "A"}}, format="json")
    r2 = api.put(url, {"answers": {"2": "A"}}, format="json")
    # then
    assert r1.status_code == 200, r1.content
    assert r1.json()["saved"] == {"1": "B", "2": "A"} and r2.json()["saved"] == {"2": "A"}
    assert r1.json()["seconds_left"] > 0
    paper = api.get(f"/api/v1/attempts/{attempt_id}/").json()
    assert [i["answer"] for i in paper["items"][:3]] == ["B", "A", ""]
    assert paper["items_answered"] == 2


def test_bad_answers_are_400_and_write_nothing(client_for, me, sitting):
    api = client_for(me.user)
    attempt_id = api.post(f"/api/v1/sittings/{sitting.pk}/start/").json()["id"]
    url = f"/api/v1/attempts/{attempt_id}/answers/"
    too_many = {"answers": {str(p): "A" for p in range(1, 502)}}
    for body in (
        {"answers": {"1": "Q"}},
        {"answers": {"x": "A"}},
        {"answers": {"99999999999999999999": "A"}},
        {},
        too_many,
    ):
        response = api.put(url, body, format="json")
        assert response.status_code == 400, (body, response.content)
    assert not AttemptItem.objects.exclude(answer="").exists()


def test_after_the_deadline_an_answer_is_409_and_the_attempt_submitted(client_for, me, sitting):
    api = client_for(me.user)
    attempt_id = api.post(f"/api/v1/sittings/{sitting.pk}/start/").json()["id"]
    Attempt.objects.filter(pk=attempt_id).update(deadline=timezone.now() - dt.timedelta(seconds=1))
    response = api.put(f"/api/v1/attempts/{attempt_id}/answers/", {"answers": {"1": "A"}}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "deadline_passed"
    body = api.get(f"/api/v1/attempts/{attempt_id}/").json()
    assert (body["state"], body["submitted_by"], body["seconds_left"]) == ("submitted", "timeout", 0)


def test_submit_scores_and_shows_the_score_on_submit(client_for, me, sitting):
    api = client_for(me.user)
    attempt_id = api.post(f"/api/v1/sittings/{sitting.pk}/start/").json()["id"]
    right = right_answers(Attempt.objects.get(pk=attempt_id))
    api.put(
        f"/api/v1/attempts/{attempt_id}/answers/", {"answers": {str(k): v for k, v in right.items()}}, format="json"
    )
    # when
    response = api.post(f"/api/v1/attempts/{attempt_id}/submit/")
    # then
    body = response.json()
    assert response.status_code == 200, body
    assert (body["state"], body["score"], body["passed"], body["attempt_number"]) == ("submitted", "100.0", True, 1)
    assert [p["score"] for p in body["part_scores"]] == ["40.0", "60.0"]
    assert all(i["correct"] for i in body["items"]) and "right_answer" not in response.content.decode()
    assert Result.objects.get(inspector=me).score == 100
    assert api.post(f"/api/v1/attempts/{attempt_id}/submit/").json()["submitted_at"] == body["submitted_at"]
    assert api.put(f"/api/v1/attempts/{attempt_id}/answers/", {"answers": {"1": "A"}}, format="json").status_code == 409


def test_a_candidate_sees_only_their_own_attempts(client_for, me, sitting, regions, province_admin):
    other = InspectorFactory(region=regions["changan"], user=UserFactory(username="other"))
    theirs = online.attempt_start(sitting=sitting, inspector=other)
    api = client_for(me.user)
    assert api.get(f"/api/v1/attempts/{theirs.pk}/").status_code == 404
    assert api.get(f"/api/v1/attempts/{theirs.pk + 1000}/").status_code == 404
    assert api.put(f"/api/v1/attempts/{theirs.pk}/answers/", {"answers": {"1": "A"}}, format="json").status_code == 404
    assert api.post(f"/api/v1/attempts/{theirs.pk}/submit/").status_code == 404
    assert api.get("/api/v1/attempts/").json()["count"] == 0
    # an admin is no candidate: 404 like /api/v1/me/; the office reads the sitting's attempts
    office = client_for(province_admin)
    assert office.get(f"/api/v1/attempts/{theirs.pk}/").status_code == 404
    assert office.post(f"/api/v1/sittings/{sitting.pk}/start/").status_code == 404
    rows = office.get(f"/api/v1/sittings/{sitting.pk}/attempts/").json()["results"]
    assert [(r["inspector"]["id"], r["state"]) for r in rows] == [(other.pk, "active")]
    assert client_for(me.user).get(f"/api/v1/sittings/{sitting.pk}/attempts/").status_code in (403, 404)


def test_the_candidate_list_of_online_sittings_and_my_attempts(client_for, me, sitting):
    api = client_for(me.user)
    rows = api.get("/api/v1/online-sittings/").json()
    assert [(r["id"], r["open_now"], r["attempt"]) for r in rows] == [(sitting.pk, True, None)]
    api.post(f"/api/v1/sittings/{sitting.pk}/start/")
    rows = api.get("/api/v1/online-sittings/").json()
    assert rows[0]["attempt"]["state"] == "active" and rows[0]["attempt"]["items_total"] == 10
    mine = api.get("/api/v1/attempts/").json()
    assert mine["count"] == 1 and "items" not in mine["results"][0]


def test_practice_over_the_api(client_for, me, exam):  # noqa: F811
    api = client_for(me.user)
    response = api.post("/api/v1/practice/", {"category": TRADE, "count": 3}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["practice"] and body["sitting"] is None and len(body["items"]) == 3
    assert "explanation" not in json.dumps(body)
    api.put(f"/api/v1/attempts/{body['id']}/answers/", {"answers": {"1": "A"}}, format="json")
    done = api.post(f"/api/v1/attempts/{body['id']}/submit/").json()
    assert done["score_visible"] and all("right_answer" in i and "explanation" in i for i in done["items"])
    assert not Result.objects.exists()
    assert api.post("/api/v1/practice/", {"count": 0}, format="json").status_code == 400


# --- the admin -------------------------------------------------------------------------------------------


def test_the_admin_creates_an_online_sitting_through_the_service(exam, province_admin):  # noqa: F811
    from django.test import Client

    from exams.models import ExamEvent, Sitting

    client = Client()
    client.force_login(province_admin)
    form = {
        "exam": exam.pk,
        "held_on": "2026-03-02",
        "place": "",
        "mode": "online",
        "opens_at_0": "2026-03-02",
        "opens_at_1": "09:00:00",
        "closes_at_0": "2026-03-02",
        "closes_at_1": "08:00:00",
        "duration_minutes": "60",
        "score_shown": "on_submit",
    }
    refused = client.post("/admin/exams/sitting/add/", form)
    assert refused.status_code == 200 and not Sitting.objects.exists()
    form["closes_at_1"] = "17:00:00"
    response = client.post("/admin/exams/sitting/add/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    sitting = Sitting.objects.get()
    assert (sitting.mode, sitting.duration_minutes) == ("online", 60)
    assert ExamEvent.objects.get(sitting=sitting).changes["duration_minutes"] == [None, 60]
    page = client.get(f"/admin/exams/sitting/{sitting.pk}/change/").content.decode()
    assert "在线答卷" in page and "答题中 0 人" in page


def test_the_admin_action_submits_overdue_attempts(client_for, me, sitting, province_admin):
    from django.test import Client

    attempt = online.attempt_start(sitting=sitting, inspector=me)
    Attempt.objects.filter(pk=attempt.pk).update(deadline=timezone.now() - dt.timedelta(minutes=1))
    client = Client()
    client.force_login(province_admin)
    page = client.get(f"/admin/exams/sitting/{sitting.pk}/change/").content.decode()
    assert me.name in page and "答题中 1 人" in page
    response = client.post(
        "/admin/exams/sitting/",
        {"action": "submit_overdue_attempts", "_selected_action": [sitting.pk]},
        follow=True,
    )
    assert "已提交 1 份超时答卷" in response.content.decode()
    attempt.refresh_from_db()
    assert attempt.state == "submitted" and attempt.submitted_by == "timeout"


def test_an_online_sitting_over_the_api(client_for, exam, province_admin):  # noqa: F811
    api = client_for(province_admin)
    body = {
        "exam": exam.pk,
        "held_on": "2026-03-02",
        "mode": "online",
        "opens_at": "2026-03-02T09:00:00+08:00",
        "closes_at": "2026-03-02T17:00:00+08:00",
        "duration_minutes": 90,
        "score_shown": "on_close",
    }
    response = api.post("/api/v1/sittings/", body, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["mode"], response.json()["duration_minutes"], response.json()["score_shown"]) == (
        "online",
        90,
        "on_close",
    )
    refused = api.post("/api/v1/sittings/", {**body, "duration_minutes": None}, format="json")
    assert refused.status_code == 400 and "duration_minutes" in refused.json()["fields"]
