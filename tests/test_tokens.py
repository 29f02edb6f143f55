"""API tokens: they end (expiry, logout, revocation, password change, deactivation), a user
sees and revokes only their own, keys are never stored or shown again, and an anonymous
call is a 401 with the token challenge."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import ApiToken, TokenRevokeReason
from core.tokens import api_token_issue, api_tokens_revoke_for_user
from tests.factories import UserFactory

LOGIN = "/api/v1/auth/token/"
TOKENS = "/api/v1/auth/tokens/"
ME = "/api/v1/regions/"  # any endpoint that wants a logged-in user
PASSWORD = "pass-Word-123"


def _login(username: str, *, agent: str = "pytest-client/1.0", **extra) -> dict:
    response = APIClient().post(LOGIN, {"username": username, "password": PASSWORD, **extra}, HTTP_USER_AGENT=agent)
    assert response.status_code == 200, response.content
    return response.json()


def _as(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def alice(regions):
    return UserFactory(username="alice")


@pytest.fixture
def bob(regions):
    return UserFactory(username="bob")


# --- login ------------------------------------------------------------------------------------


def test_login_issues_a_token_with_a_fixed_expiry_and_stores_only_its_hash(alice, settings):
    # given
    before = timezone.now()

    # when
    body = _login("alice", agent="RosterSync/2.1")

    # then: the key works, ends API_TOKEN_TTL after login, and is stored only as its hash
    token = ApiToken.objects.get(pk=body["id"])
    assert set(body) == {"token", "id", "name", "created_at", "expires_at"}
    assert len(body["token"]) == 40
    assert token.key_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"] not in str(list(ApiToken.objects.values_list()))
    assert before + settings.API_TOKEN_TTL <= token.expires_at <= timezone.now() + settings.API_TOKEN_TTL
    assert dt.datetime.fromisoformat(body["expires_at"]) == token.expires_at
    assert token.name == "RosterSync/2.1"
    assert _as(body["token"]).get(ME).status_code == 200


def test_a_name_given_at_login_names_the_token(alice):
    body = _login("alice", name="笔记本")
    assert body["name"] == "笔记本"


def test_several_logins_give_several_tokens_that_all_work(alice):
    # when: two devices log in
    first, second = _login("alice"), _login("alice")

    # then: both work, independently
    assert first["token"] != second["token"]
    assert _as(first["token"]).get(ME).status_code == 200
    assert _as(second["token"]).get(ME).status_code == 200


def test_a_stale_token_in_the_header_does_not_block_a_new_login(alice):
    # given: a client that still sends its revoked token
    old = _login("alice")
    assert _as(old["token"]).delete(LOGIN).status_code == 204

    # when it logs in again with the old header still set
    response = _as(old["token"]).post(LOGIN, {"username": "alice", "password": PASSWORD})

    # then
    assert response.status_code == 200
    assert _as(response.json()["token"]).get(ME).status_code == 200


def test_beyond_the_limit_a_new_login_revokes_the_oldest(alice, settings):
    # given
    settings.API_TOKEN_MAX_PER_USER = 2
    first, second = _login("alice"), _login("alice")

    # when
    third = _login("alice")

    # then
    assert _as(first["token"]).get(ME).json()["code"] == "token_revoked"
    assert ApiToken.objects.get(pk=first["id"]).revoked_reason == TokenRevokeReason.SUPERSEDED
    assert _as(second["token"]).get(ME).status_code == 200
    assert _as(third["token"]).get(ME).status_code == 200


def test_ended_tokens_are_purged_at_the_owners_next_login(alice, bob):
    # given: alice's token ended long ago, one of hers ended yesterday, bob's ended long ago
    long_ago = timezone.now() - dt.timedelta(days=60)
    old, _key = api_token_issue(user=alice, name="old")
    recent, _key = api_token_issue(user=alice, name="recent")
    bobs, _key = api_token_issue(user=bob, name="bob's")
    ApiToken.objects.filter(pk__in=[old.pk, bobs.pk]).update(
        created_at=long_ago, expires_at=long_ago + dt.timedelta(hours=12)
    )
    ApiToken.objects.filter(pk=recent.pk).update(
        created_at=timezone.now() - dt.timedelta(days=2), expires_at=timezone.now() - dt.timedelta(days=1)
    )

    # when
    _login("alice")

    # then: alice's long-ended token is gone; the recent one and bob's are untouched
    assert not ApiToken.objects.filter(pk=old.pk).exists()
    assert ApiToken.objects.filter(pk__in=[recent.pk, bobs.pk]).count() == 2


def test_wrong_credentials_get_no_token(alice):
    response = APIClient().post(LOGIN, {"username": "alice", "password": "wrong"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not ApiToken.objects.exists()


# --- tokens that end --------------------------------------------------------------------------


def test_an_expired_token_is_refused_with_401(alice):
    # given
    body = _login("alice")
    ApiToken.objects.filter(pk=body["id"]).update(
        created_at=timezone.now() - dt.timedelta(hours=13), expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    # when
    response = _as(body["token"]).get(ME)

    # then
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"code": "token_expired", "detail": "令牌已过期，请重新登录。", "fields": {}}


def test_an_unknown_key_is_refused_with_401(alice):
    response = _as("0" * 40).get(ME)
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_a_password_change_revokes_every_token_of_the_user(alice, bob):
    # given
    first, second = _login("alice"), _login("alice")
    bobs = _login("bob")

    # when
    alice.set_password("another-Password-9")
    alice.save()

    # then: alice's tokens are revoked, bob's still works
    for body in (first, second):
        response = _as(body["token"]).get(ME)
        assert (response.status_code, response.json()["code"]) == (401, "token_revoked")
    assert set(ApiToken.objects.filter(user=alice).values_list("revoked_reason", flat=True)) == {
        TokenRevokeReason.PASSWORD_CHANGED
    }
    assert _as(bobs["token"]).get(ME).status_code == 200


def test_a_password_change_through_the_admin_form_revokes_too(alice, superuser, client):
    # given
    body = _login("alice")
    client.force_login(superuser)

    # when: the admin's own password form, as an administrator would use it
    response = client.post(
        f"/admin/auth/user/{alice.pk}/password/",
        {"password1": "another-Password-9", "password2": "another-Password-9", "usable_password": "true"},
    )

    # then
    assert response.status_code == 302
    assert _as(body["token"]).get(ME).json()["code"] == "token_revoked"


def test_deactivation_revokes_every_token_of_the_user(alice):
    # given
    body = _login("alice")

    # when
    alice.is_active = False
    alice.save(update_fields=["is_active"])

    # then: revoked, and stays revoked when the account comes back
    assert ApiToken.objects.get(pk=body["id"]).revoked_reason == TokenRevokeReason.DEACTIVATED
    alice.is_active = True
    alice.save()
    assert _as(body["token"]).get(ME).json()["code"] == "token_revoked"


def test_a_save_that_changes_neither_password_nor_activity_revokes_nothing(alice):
    # given
    body = _login("alice")

    # when: what every login does, and an ordinary edit
    alice.last_login = timezone.now()
    alice.save(update_fields=["last_login"])
    alice.first_name = "Alice"
    alice.save()

    # then
    assert _as(body["token"]).get(ME).status_code == 200


def test_an_inactive_users_token_is_refused(alice):
    # given: deactivated without a save signal (a bulk update), the token row still live
    body = _login("alice")
    get_user_model().objects.filter(pk=alice.pk).update(is_active=False)

    # when
    response = _as(body["token"]).get(ME)

    # then
    assert (response.status_code, response.json()["code"]) == (401, "user_inactive")


def test_last_use_is_written_at_most_once_a_minute(alice):
    # given
    body = _login("alice")
    client = _as(body["token"])

    # when: two calls in a row
    with CaptureQueriesContext(connection) as first:
        client.get(ME)
    used = ApiToken.objects.get(pk=body["id"]).last_used_at
    with CaptureQueriesContext(connection) as second:
        client.get(ME)

    # then: noted once; the second call writes nothing to the token
    writes = [q["sql"] for q in (*first.captured_queries, *second.captured_queries) if q["sql"].startswith("UPDATE")]
    assert len(writes) == 1 and "core_apitoken" in writes[0]
    assert used is not None
    assert ApiToken.objects.get(pk=body["id"]).last_used_at == used

    # and a minute later it is noted again
    ApiToken.objects.filter(pk=body["id"]).update(last_used_at=used - dt.timedelta(minutes=2))
    client.get(ME)
    assert ApiToken.objects.get(pk=body["id"]).last_used_at > used


# --- logout, list, revoke one -----------------------------------------------------------------


def test_logout_revokes_only_the_token_of_the_request(alice):
    # given: two devices
    laptop, phone = _login("alice"), _login("alice")

    # when: the laptop logs out
    response = _as(laptop["token"]).delete(LOGIN)

    # then
    assert response.status_code == 204
    assert _as(laptop["token"]).get(ME).json()["code"] == "token_revoked"
    assert ApiToken.objects.get(pk=laptop["id"]).revoked_reason == TokenRevokeReason.LOGOUT
    assert _as(phone["token"]).get(ME).status_code == 200


def test_logout_without_a_token_is_401(alice):
    # given: logged in through the session, not a token
    client = APIClient()
    client.force_login(alice)

    # then: there is no token of this request to revoke
    assert client.delete(LOGIN).status_code == 401
    assert APIClient().delete(LOGIN).status_code == 401


def test_the_list_shows_ones_own_live_tokens_and_never_a_key(alice, bob):
    # given: alice on two devices (one logged out since), bob on one
    laptop = _login("alice", name="laptop")
    phone = _login("alice", name="phone")
    gone = _login("alice", name="gone")
    _as(gone["token"]).delete(LOGIN)
    _login("bob")

    # when
    response = _as(laptop["token"]).get(TOKENS)

    # then
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["id"], r["name"], r["current"]) for r in rows] == [
        (phone["id"], "phone", False),
        (laptop["id"], "laptop", True),
    ]
    assert set(rows[0]) == {"id", "name", "created_at", "expires_at", "last_used_at", "current"}
    text = response.content.decode()
    assert laptop["token"] not in text and phone["token"] not in text


def test_one_revokes_one_of_ones_own_tokens(alice):
    # given
    laptop, phone = _login("alice"), _login("alice")

    # when: from the laptop, the lost phone is revoked
    response = _as(laptop["token"]).delete(f"{TOKENS}{phone['id']}/")

    # then
    assert response.status_code == 204
    assert _as(phone["token"]).get(ME).json()["code"] == "token_revoked"
    assert ApiToken.objects.get(pk=phone["id"]).revoked_reason == TokenRevokeReason.REVOKED
    assert _as(laptop["token"]).get(ME).status_code == 200
    assert _as(laptop["token"]).delete(f"{TOKENS}{phone['id']}/").status_code == 404  # already gone


def test_someone_elses_token_is_not_found(alice, bob):
    # given
    alices, bobs = _login("alice"), _login("bob")

    # when
    response = _as(alices["token"]).delete(f"{TOKENS}{bobs['id']}/")

    # then: 404, exactly as for a token that does not exist, and bob's still works
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert _as(alices["token"]).delete(f"{TOKENS}999999/").json() == response.json()
    assert _as(bobs["token"]).get(ME).status_code == 200


def test_revoking_for_a_user_is_counted_once(alice):
    # given
    _login("alice")
    _login("alice")

    # when: revoked twice
    first = api_tokens_revoke_for_user(user=alice, reason=TokenRevokeReason.DEACTIVATED)
    second = api_tokens_revoke_for_user(user=alice, reason=TokenRevokeReason.PASSWORD_CHANGED)

    # then: the first reason stays
    assert (first, second) == (2, 0)
    assert set(ApiToken.objects.values_list("revoked_reason", flat=True)) == {TokenRevokeReason.DEACTIVATED}


# --- anonymous: 401 with the challenge; authenticated but not allowed: 403 ----------------------


@pytest.mark.parametrize("path", [ME, TOKENS, "/api/v1/inspectors/", "/api/v1/me/"])
def test_an_anonymous_call_is_401_with_the_token_challenge(db, path):
    response = APIClient().get(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"code": "not_authenticated", "detail": response.json()["detail"], "fields": {}}


def test_a_logged_in_user_who_may_not_is_still_403(inspector_user):
    # given: an inspector, with a token
    key = _login("inspector1")["token"]

    # when: an admin-only verb
    response = _as(key).post("/api/v1/exams/", {}, format="json")

    # then
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response


def test_the_session_still_opens_the_api(alice):
    client = APIClient()
    client.force_login(alice)
    assert client.get(ME).status_code == 200


# --- the schema -------------------------------------------------------------------------------


def test_the_schema_describes_the_token_scheme_and_endpoints(db):
    # when
    schema = APIClient().get("/api/schema/?format=json").json()

    # then
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert "expires_at" in scheme["description"] and "401" in scheme["description"]
    login = schema["paths"]["/api/v1/auth/token/"]
    assert set(login) >= {"post", "delete"}
    assert login["post"].get("security", []) == []  # no credentials to log in
    assert {"tokenAuth": []} in login["delete"]["security"]
    assert "get" in schema["paths"]["/api/v1/auth/tokens/"]
    assert "delete" in schema["paths"]["/api/v1/auth/tokens/{id}/"]


# --- the migration of DRF's tokens ------------------------------------------------------------


class _Editor:
    """What the data migration uses of a schema editor (a real one cannot run inside the
    test's transaction on SQLite)."""

    connection = connection

    def execute(self, sql, params=()):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def test_drf_tokens_become_hashed_tokens_that_still_work_until_the_default_expiry(alice, settings):
    # given: DRF's table as the previous version left it, with alice's key in clear
    from django.apps import apps

    legacy_key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp, user_id int)")
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, %s, %s)", [legacy_key, timezone.now(), alice.pk])
        cursor.execute(
            "INSERT INTO django_migrations (app, name, applied) VALUES ('authtoken', '0001_initial', %s)",
            [timezone.now()],
        )
    migration = importlib.import_module("core.migrations.0001_api_token")

    # when
    migration.migrate_drf_tokens(apps, _Editor())

    # then: the old key works, ends API_TOKEN_TTL from now, and no key is left in clear
    token = ApiToken.objects.get(user=alice)
    assert token.key_hash == hashlib.sha256(legacy_key.encode()).hexdigest()
    assert abs(token.expires_at - (timezone.now() + settings.API_TOKEN_TTL)) < dt.timedelta(minutes=1)
    assert _as(legacy_key).get(ME).status_code == 200
    assert "authtoken_token" not in connection.introspection.table_names()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations WHERE app = 'authtoken'")
        assert cursor.fetchone()[0] == 0


def test_without_drf_tokens_the_migration_does_nothing(db):
    from django.apps import apps

    migration = importlib.import_module("core.migrations.0001_api_token")
    migration.migrate_drf_tokens(apps, _Editor())
    assert not ApiToken.objects.exists()


def test_token_errors_follow_accept_language(alice):
    # given
    body = _login("alice")
    _as(body["token"]).delete(LOGIN)

    # when
    response = _as(body["token"]).get(ME, HTTP_ACCEPT_LANGUAGE="en")

    # then
    assert response.json() == {
        "code": "token_revoked",
        "detail": "The token has been revoked; log in again.",
        "fields": {},
    }


@pytest.mark.parametrize("method", ["get", "put", "patch", "trace"])
def test_other_methods_on_the_login_path_are_405_with_or_without_a_token(alice, method):
    key = _login("alice")["token"]
    assert getattr(APIClient(), method)(LOGIN).status_code == 405
    assert getattr(_as(key), method)(LOGIN).status_code == 405


@pytest.mark.parametrize("field", ["username", "password"])
def test_an_overlong_login_is_refused_before_authentication(api_client, field):
    # given: a name far longer than any account's (axes would store it in 255 characters)
    body = {"username": "someone", "password": "secret", field: "x" * 100_000}
    # when
    response = api_client.post("/api/v1/auth/token/", body, format="json")
    # then
    assert response.status_code == 400
    assert field in response.json()["fields"]
