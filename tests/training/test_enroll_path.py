"""The enroll endpoint's own path: the JSON written by ``enrollment_json`` is what
EnrollmentOutputSerializer writes for the same enrollment and caller, the batch is read in the
caller's scope by one statement, a call with a token sends no more than the token, the batch
and the service's statements, and the role counted is the one the user holds at that call."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from core.errors import NotFound
from core.tokens import api_token_issue
from personnel.models import Inspector, RegionAdmin
from tests.factories import RegionAdminFactory, UserFactory
from tests.training.factories import BatchFactory, EnrollmentFactory
from training import selectors, services
from training.models import Batch, EnrollmentStatus
from training.serializers import EnrollmentOutputSerializer, enrollment_json

BATCHES = "/api/v1/batches/"


def _serializer_json(enrollment, actor) -> bytes:
    request = RequestFactory().post("/")
    request.user = actor
    return JSONRenderer().render(EnrollmentOutputSerializer(enrollment, context={"request": request}).data)


def _token_client(user) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=user, name='test')[1]}")


def _enroll(client, batch, inspector):
    return client.post(f"{BATCHES}{batch.pk}/enroll/", {"inspector": inspector.pk}, format="json")


@pytest.mark.parametrize("language, zone", [("zh-hans", None), ("en", "UTC")])
def test_the_json_of_a_new_enrollment_is_what_the_serializer_writes(province_admin, batch, coal, language, zone):
    # given: what the service hands the view (two seats, then the waitlist)
    created = [services.enrollment_create(batch=batch, inspector=i, actor=province_admin) for i in coal[:3]]
    assert [e.status for e in created] == [EnrollmentStatus.ENROLLED] * 2 + [EnrollmentStatus.WAITLISTED]

    with translation.override(language), timezone.override(zone or timezone.get_default_timezone()):
        for enrollment in created:
            # when
            written = enrollment_json(enrollment, actor=province_admin)
            # then
            assert JSONRenderer().render(written) == _serializer_json(enrollment, province_admin)
    assert written["waitlist_position"] == 1
    assert written["inspector"]["national_id"] == coal[2].national_id  # the admin sees the whole number


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_json_of_a_completed_enrollment_read_by_its_inspector_is_the_serializers(
    inspector_user, city_admin, regions, course, language
):
    # given: every field filled, read back through the selector, by the inspector (masked
    # number) and by an admin
    me = inspector_user.inspector
    past = BatchFactory(course=course, region=regions["sjz"], starts_on=dt.date(2025, 3, 3), sector="coal")
    row = EnrollmentFactory(
        batch=past,
        inspector=me,
        status=EnrollmentStatus.COMPLETED,
        hours_credited=Decimal("15.5"),
        completed_on=dt.date(2025, 3, 5),
        override_reason="病假后补课，特批结业",
    )
    for actor in (inspector_user, city_admin):
        enrollment = selectors.enrollment_get_for_actor(actor=actor, enrollment_id=row.pk)
        with translation.override(language):
            # when
            written = enrollment_json(enrollment, actor=actor)
            # then
            assert JSONRenderer().render(written) == _serializer_json(enrollment, actor)
        masked = actor is inspector_user
        assert (written["inspector"]["national_id"] == me.national_id) is not masked
        assert written["hours_credited"] == "15.5" and written["completed_on"] == "2025-03-05"


def test_the_api_answers_with_the_serializers_json(city_admin, batch, coal):
    client = _token_client(city_admin)

    response = _enroll(client, batch, coal[0])

    assert response.status_code == 201, response.content
    body = response.json()
    enrollment = selectors.enrollment_get_for_actor(actor=city_admin, enrollment_id=body["id"])
    assert response.content == _serializer_json(enrollment, city_admin)


def _statements(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_an_enroll_call_with_a_token_sends_the_token_the_batch_and_the_services_statements(province_admin, batch, coal):
    # given: the service's own statements for one enrollment (a seat: every call below takes one)
    Batch.objects.filter(pk=batch.pk).update(capacity=10)
    as_read = selectors.batch_get_for_actor(actor=province_admin, batch_id=batch.pk)  # as the view reads it
    with CaptureQueriesContext(connection) as queries:
        services.enrollment_create(batch=as_read, inspector=Inspector(pk=coal[0].pk), actor=province_admin)
    service = len(_statements(queries))
    client = _token_client(province_admin)
    assert _enroll(client, batch, coal[1]).status_code == 201  # notes the token's use (once a minute)

    # when
    with CaptureQueriesContext(connection) as queries:
        response = _enroll(client, batch, coal[2])

    # then
    assert response.status_code == 201, response.content
    sqls = _statements(queries)
    assert len([s for s in sqls if 'FROM "core_apitoken"' in s]) == 1
    batch_reads = [s for s in sqls if s.startswith("SELECT") and 'FROM "training_batch"' in s]
    assert len(batch_reads) == 2, batch_reads  # the view's read, then the service's lock
    # the view's read: the batch with its course and region by its key, nothing else
    assert " JOIN " in batch_reads[0] and "ORDER BY" not in batch_reads[0] and "LIKE" not in batch_reads[0]
    assert len(sqls) == service + 2, "\n".join(sqls)


def test_an_admin_reads_a_batch_of_their_subtree_only(city_admin, other_city_admin, province_admin, batch):
    # given
    with CaptureQueriesContext(connection) as queries:
        got = selectors.batch_get_for_actor(actor=city_admin, batch_id=str(batch.pk))
        assert (got.course.code, got.region.code) == (batch.course.code, batch.region.code)
    assert len(queries) == 1
    assert selectors.batch_get_for_actor(actor=province_admin, batch_id=batch.pk).pk == batch.pk
    # then: another city's admin, and ids that are no batch's, are a 404
    with pytest.raises(NotFound):
        selectors.batch_get_for_actor(actor=other_city_admin, batch_id=batch.pk)
    for batch_id in ("0", "abc", "-1", "²", str(2**63), 10**30, batch.pk + 1000):
        with pytest.raises(NotFound):
            selectors.batch_get_for_actor(actor=province_admin, batch_id=batch_id)


def test_a_role_counts_from_the_call_after_it_changes(city_admin, batch, coal, regions):
    # given: a city admin enrolls with a token
    client = _token_client(city_admin)
    assert _enroll(client, batch, coal[0]).status_code == 201
    # when: the binding is taken away, the same token's next call sees no batch
    RegionAdmin.objects.filter(user=city_admin).delete()
    assert _enroll(client, batch, coal[1]).status_code == 404
    # and a user given a region between two calls has it from the next one
    newcomer = UserFactory(username="newcomer")
    client = _token_client(newcomer)
    assert _enroll(client, batch, coal[1]).status_code == 404
    RegionAdminFactory(user=newcomer, region=regions["sjz"])
    assert _enroll(client, batch, coal[1]).status_code == 201


def test_an_admins_batch_read_agrees_with_batch_list(
    province_admin, city_admin, other_city_admin, county_admin, course, regions
):
    # given: batches organised at every level
    batches = [BatchFactory(course=course, region=regions[code]) for code in ("province", "sjz", "changan", "ts")]
    for admin in (province_admin, city_admin, other_city_admin, county_admin):
        listed = set(selectors.batch_list(actor=admin).values_list("pk", flat=True))
        for batch in batches:
            # when
            try:
                found = selectors.batch_get_for_actor(actor=admin, batch_id=batch.pk).pk
            except NotFound:
                found = None
            # then: the read by key sees exactly what the scoped list holds
            assert (found == batch.pk) is (batch.pk in listed), (admin.username, batch.region.code)
