"""The permission matrix: every URL of the API and of the pages, as every role.

The endpoints are discovered, not listed: the API operations from the OpenAPI schema, the
pages and admin views from the URL configuration. Each must have an entry in EXPECT, so a
new endpoint fails here ("new endpoint without an expectation") until someone writes down
who may call it.

For each role (anonymous, inspector, county admin, city admin of the other city, city
admin, provincial admin) every path parameter is filled in turn with every object of its
kind in the world (tests/security/conftest.py) and with one that does not exist; a hidden
object must answer exactly like a missing one. Then, for every answer:

- the status is the one written in EXPECT for that role (and that object);
- a 2xx body (JSON, HTML, iCalendar, xlsx, CSV) contains no marker of an object the role has no
  business seeing: names, ID numbers (whole and masked), phones, certificate numbers, batch
  labels and places, exam titles;
- a list holds exactly the objects in the role's scope (SEES), and says so in its count;
- a write that should not succeed leaves every row of the four apps as it was.

After the token was revoked: for each role a token that ended in one of the ways a token
ends (logout, password change, deactivation, expiry, revoked from another device) is sent to
every API operation, which must answer exactly what it answers an anonymous caller (a 401
saying why) and write nothing.

Each request runs in a savepoint that is rolled back, so the world is the same for all.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import openpyxl
import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, transaction
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from core.models import ApiToken
from core.tokens import api_token_issue
from exams import numbers
from personnel import services as personnel
from personnel.models import RegionAdmin
from tests.factories import national_id_for
from tests.security.conftest import ROLES, World

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
OUR_APPS = ("personnel", "training", "exams", "reports")
# Admin views that belong to Django's admin itself, not to any model of ours.
ADMIN_INTERNALS = {
    "index",
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "jsi18n",
    "autocomplete",
    "view_on_site",
    "app_list",
}
# Third-party models in the admin: only their lists are walked (a region admin has no Django
# permission on them, so every list must refuse); their other views are the admin's own.
THIRD_PARTY_ADMIN = ("auth", "axes")

ANON, INSP, COUNTY, OTHER, CITY, PROV = ROLES  # anonymous, inspector, county, other city, city, province


def R(anon, inspector, county, other, city, province) -> dict[str, int]:
    """Statuses by role, in the order of the header comments in EXPECT."""
    return dict(zip(ROLES, (anon, inspector, county, other, city, province), strict=True))


def ALL(status) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


# --- who sees what (the oracle: written by hand, not read from the selectors) -----------------

EVERYONE = "*"
PEOPLE_SEEN = {
    ANON: set(),
    INSP: {"zhang"},
    COUNTY: {"zhang", "li"},
    OTHER: {"zhao"},
    CITY: {"zhang", "li", "wang", "zhou"},
    PROV: {"zhang", "li", "wang", "zhou", "zhao"},
}
ENROLLMENTS = {
    "b_prov:zhang",
    "b_prov:zhao",
    "b_prov:li",
    "b_sjz:zhang",
    "b_sjz:wang",
    "b_sjz:zhou",
    "b_changan:zhang",
    "b_changan:li",
    "b_ts:zhao",
    "b_sjz_done:zhang",
    "b_sjz_done:wang",
    "b_ts_done:zhao",
}
RESULTS = {"s_sjz:zhang", "s_sjz:wang", "s_sjz:zhou", "s_ts:zhao", "s_prov:li", "s_prov:zhao"}
APPLICATIONS = {"cancel:zhang", "cancel:zhou", "cancel:zhao"}


def _of_people(keys: set[str]) -> dict[str, set[str]]:
    """Rows that belong to a person (enrollment, result): seen with the person."""
    return {role: {k for k in keys if k.split(":")[1] in PEOPLE_SEEN[role]} for role in ROLES}


SEES: dict[str, dict[str, set[str] | str]] = {
    "inspector": PEOPLE_SEEN,
    "certificate": PEOPLE_SEEN,
    "enrollment": _of_people(ENROLLMENTS),
    "result": _of_people(RESULTS),
    "application": _of_people(APPLICATIONS),
    # Reference data of the office: every admin sees it (the province alone changes it).
    "approval_chain": {**dict.fromkeys(ROLES, EVERYONE), ANON: set(), INSP: set()},
    "review_window": {**dict.fromkeys(ROLES, EVERYONE), ANON: set(), INSP: set()},
    "region": {
        ANON: set(),
        INSP: {"changan"},
        COUNTY: {"changan"},
        OTHER: {"ts", "lunan"},
        CITY: {"sjz", "changan", "qiaoxi"},
        PROV: {"province", "sjz", "ts", "changan", "qiaoxi", "lunan"},
    },
    "course": {**dict.fromkeys(ROLES, EVERYONE), ANON: set()},
    "batch": {
        ANON: set(),
        # their own batches, and the open ones organised above them
        INSP: {"b_prov", "b_sjz", "b_changan", "b_sjz_done"},
        COUNTY: {"b_changan"},
        OTHER: {"b_ts", "b_ts_done"},
        CITY: {"b_sjz", "b_changan", "b_sjz_done"},
        PROV: EVERYONE,
    },
    "policy": {ANON: set(), INSP: set(), COUNTY: {"changan"}, OTHER: {"ts"}, CITY: {"sjz", "changan"}, PROV: EVERYONE},
    "exam": {ANON: set(), INSP: {"ex_sjz"}, COUNTY: set(), OTHER: {"ex_ts"}, CITY: {"ex_sjz"}, PROV: EVERYONE},
    "sitting": {ANON: set(), INSP: {"s_sjz"}, COUNTY: set(), OTHER: {"s_ts"}, CITY: {"s_sjz"}, PROV: EVERYONE},
    # 评教: the administrators of the batch's organiser (石家庄's batch: its city and the province).
    "evaluation": {ANON: set(), INSP: set(), COUNTY: set(), OTHER: set(), CITY: {"b_sjz_done:zhang"}, PROV: EVERYONE},
    # 题库: the banks of the regions an admin administers; an inspector never sees it (the answers).
    "question": {
        ANON: set(),
        INSP: set(),
        COUNTY: {"q_changan"},
        OTHER: {"q_ts"},
        CITY: {"q_sjz", "q_changan"},
        PROV: EVERYONE,
    },
    # 在线答卷: the candidate's own alone (the office reads them per sitting, not here).
    "attempt": {ANON: set(), INSP: {"p_zhang"}, COUNTY: set(), OTHER: set(), CITY: set(), PROV: set()},
    "export_job": {
        ANON: set(),
        INSP: set(),
        COUNTY: {"j_sjz_changan", "j_changan"},
        OTHER: {"j_ts"},
        CITY: {"j_sjz", "j_sjz_changan", "j_changan", "j_sjz_totals", "j_sjz_detail"},
        PROV: EVERYONE,
    },
    # API tokens: one's own alone (every user who logs in has one in the world).
    "api_token": {role: set() if role == ANON else {role} for role in ROLES},
    # RegionAdmin bindings are the superuser's business alone.
    "region_admin": {role: set() for role in ROLES},
    # Capabilities: whoever holds the number or the secret.
    "cert_number": dict.fromkeys(ROLES, EVERYONE),
    "calendar_token": dict.fromkeys(ROLES, EVERYONE),
}
SEES["region_code"] = SEES["region"]
# Kinds that are another view of the rows of a kind.
ROWS = {"region_code": "region", "cert_number": "certificate"}

# What a role may meet anywhere (through its own rows: 张's enrollment shows the province's
# batch to his county admin); every other marker in a 2xx body is a leak.
_SJZ_SIDE_BATCHES = {"batch:b_prov", "batch:b_sjz", "batch:b_changan", "batch:b_sjz_done"}
_ZHAO = {"inspector:zhao", "certificate:zhao", "batch:b_prov", "batch:b_ts", "batch:b_ts_done"}
ALLOWED: dict[str, set[str] | str] = {
    ANON: set(),
    INSP: {"inspector:zhang", "certificate:zhang", "exam:ex_sjz", *_SJZ_SIDE_BATCHES},
    COUNTY: {
        *(f"{kind}:{p}" for kind in ("inspector", "certificate") for p in PEOPLE_SEEN[COUNTY]),
        *_SJZ_SIDE_BATCHES,
        "exam:ex_sjz",
        "exam:ex_prov",
        "question:q_changan",
    },
    CITY: {
        *(f"{kind}:{p}" for kind in ("inspector", "certificate") for p in PEOPLE_SEEN[CITY]),
        *_SJZ_SIDE_BATCHES,
        "exam:ex_sjz",
        "exam:ex_prov",
        "question:q_sjz",
        "question:q_changan",
    },
    OTHER: {*_ZHAO, "exam:ex_ts", "exam:ex_prov", "question:q_ts"},
    PROV: EVERYONE,
    # a calendar feed shows its owner's world, whoever fetches it
    "owner:zhang": {"inspector:zhang", "certificate:zhang", "exam:ex_sjz", *_SJZ_SIDE_BATCHES},
    "owner:zhao": {*_ZHAO, "exam:ex_ts", "exam:ex_prov"},
}


# --- the expectation table ---------------------------------------------------------------------

# The token authentication comes first: an anonymous API call is challenged (401 with
# "WWW-Authenticate: Token"); 403 is for someone authenticated who may not.
ANON_API = 401
HIDDEN_API = {**ALL(404), ANON: ANON_API}
StatusSpec = int | set[int] | Callable[[str], int]


@dataclass(frozen=True)
class Expect:
    """What one (method, path template) answers.

    ``ok``: the status per role when the object in the path is one the role sees (or when
    the path has no object); a callable takes the object's key. ``hidden``: the status per
    role for an object out of scope, and for one that does not exist.
    """

    ok: dict[str, StatusSpec]
    kind: str | None = None  # what fills the path's parameter
    hidden: dict[str, int] = field(default_factory=lambda: HIDDEN_API)
    missing: dict[str, int] | None = None  # for an object that does not exist, when not ``hidden``
    lists: str | None = None  # the kind a list returns: its ids and count are checked
    query: dict | Callable[[World], dict] | None = None
    body: dict | list | None = None  # writes: {} unless said (a form for pages)
    multipart: bool = False  # an API write that takes a file upload
    success: set[int] | None = None  # statuses of a write that went through (default: 2xx)
    fixed: dict[str, list[str]] | None = None  # values for the other path parameters
    # "actor", "public" (the certificate in the path only), "owner", "register" (the public
    # register: holders' names and certificate numbers, never an ID number nor a phone)
    markers: str = "actor"
    check: Callable[[World, str, dict], None] | None = None  # more about a JSON body


def _active_in_scope(role: str) -> int:
    return len(PEOPLE_SEEN[role])  # everyone in the world is active


def _coverage_total(world: World, role: str, body) -> None:
    assert sum(row["inspectors"] for row in body) == _active_in_scope(role), body


def _summary_total(world: World, role: str, body) -> None:
    assert body["inspectors"] == _active_in_scope(role), body


def _missing_people(world: World, role: str, body) -> None:
    # 张 and 赵 completed a three-systems batch that year; 王 missed a day of his.
    by_pk = {row.pk: key for key, row in world.objects["inspector"].items()}
    listed = {by_pk[item["id"]] for item in body["results"]}
    assert listed == PEOPLE_SEEN[role] & {"li", "wang", "zhou"}, listed


def _done_year(world: World) -> dict:
    return {"year": world.objects["batch"]["b_sjz_done"].year}


def _missing_topic(world: World) -> dict:
    return {"topic": "publicity", **_done_year(world)}


# Who may cancel an enrollment: the inspector their own, an admin of the batch's region; a
# finished one (completed, no-show, cancelled) cannot be cancelled by anyone.
_FINISHED = {"b_sjz:zhou", "b_sjz_done:zhang", "b_sjz_done:wang", "b_ts_done:zhao"}
_MANAGES = {COUNTY: ("b_changan",), OTHER: ("b_ts", "b_ts_done"), CITY: ("b_sjz", "b_changan", "b_sjz_done")}


def _cancel(role: str) -> Callable[[str], int]:
    def status(key: str) -> int:
        batch = key.split(":")[0]
        if role not in (INSP, PROV) and batch not in _MANAGES[role]:
            return 403
        return 409 if key in _FINISHED else 200

    return status


def _unless_done(key: str) -> int:
    return 409 if key.endswith("_done") else 200


def _renew(key: str) -> int:
    # 张's certificate runs out within the renewal window and he passed this year's annual
    # exam; the others are too far from expiry, or suspended (赵).
    return 200 if key == "zhang" else 409


def _card(key: str) -> int:
    return 409 if key == "zhao" else 200


_ADMIN_CANCEL = {role: _cancel(role) for role in ROLES}

# The level each admin holds over an application it sees: the county 张's (waiting at county
# level), the city 周's (at city level, its last); nobody else's (赵's waits at 路南区's county
# level; the province's level is in no chain yet). Held: 200; seen but not held: 403.
_HOLDS = {COUNTY: {"cancel:zhang"}, CITY: {"cancel:zhou"}}


def _holds(role: str) -> Callable[[str], int]:
    return lambda key: 200 if key in _HOLDS.get(role, ()) else 403


_LEVEL = {ANON: ANON_API, INSP: 403, **{role: _holds(role) for role in (COUNTY, OTHER, CITY, PROV)}}

#                                                          anon  insp  county other city  prov
EXPECT: dict[tuple[str, str], Expect] = {
    # --- API: auth and public verification
    ("POST", "/api/v1/auth/token/"): Expect(ALL(400)),
    # Logout revokes the token of the request: the roles here are logged in by session, no token.
    ("DELETE", "/api/v1/auth/token/"): Expect(ALL(401)),
    ("GET", "/api/v1/auth/tokens/"): Expect(R(401, 200, 200, 200, 200, 200), lists="api_token"),
    ("DELETE", "/api/v1/auth/tokens/{id}/"): Expect(R(401, 204, 204, 204, 204, 204), kind="api_token"),
    ("GET", "/api/v1/certificates/verify/{number}/"): Expect(
        ALL(200), kind="cert_number", hidden=ALL(404), markers="public"
    ),
    # The public register (公示): no login; the same rows for everyone.
    ("GET", "/api/v1/register/"): Expect(ALL(200), markers="register"),
    ("GET", "/api/v1/register/changes/"): Expect(ALL(200), markers="register"),
    # --- API: regions and inspectors
    ("GET", "/api/v1/regions/"): Expect(R(401, 200, 200, 200, 200, 200), lists="region"),
    ("GET", "/api/v1/regions/{code}/"): Expect(R(401, 200, 200, 200, 200, 200), kind="region_code"),
    ("GET", "/api/v1/inspectors/"): Expect(R(401, 200, 200, 200, 200, 200), lists="inspector"),
    ("POST", "/api/v1/inspectors/"): Expect(R(401, 400, 400, 400, 400, 400)),
    ("GET", "/api/v1/inspectors/{id}/"): Expect(R(401, 200, 200, 200, 200, 200), kind="inspector"),
    ("PATCH", "/api/v1/inspectors/{id}/"): Expect(R(401, 403, 200, 200, 200, 200), kind="inspector"),
    # The histories: for the administrators who see the object; an inspector is refused their own.
    ("GET", "/api/v1/inspectors/{id}/events/"): Expect(R(401, 403, 200, 200, 200, 200), kind="inspector"),
    ("POST", "/api/v1/inspectors/import/"): Expect(R(401, 403, 400, 400, 400, 400), multipart=True),
    # --- API: courses and batches
    ("GET", "/api/v1/courses/"): Expect(R(401, 200, 200, 200, 200, 200), lists="course"),
    ("POST", "/api/v1/courses/"): Expect(R(401, 400, 400, 400, 400, 400)),
    ("GET", "/api/v1/courses/{id}/"): Expect(R(401, 200, 200, 200, 200, 200), kind="course"),
    ("PATCH", "/api/v1/courses/{id}/"): Expect(R(401, 403, 403, 403, 403, 200), kind="course"),
    ("GET", "/api/v1/batches/"): Expect(R(401, 200, 200, 200, 200, 200), lists="batch"),
    ("POST", "/api/v1/batches/"): Expect(R(401, 400, 400, 400, 400, 400)),
    ("GET", "/api/v1/batches/{id}/"): Expect(R(401, 200, 200, 200, 200, 200), kind="batch"),
    # An empty change: accepted by the organisers, except on a finished batch.
    ("PATCH", "/api/v1/batches/{id}/"): Expect(
        R(401, 403, _unless_done, _unless_done, _unless_done, _unless_done), kind="batch"
    ),
    ("GET", "/api/v1/batches/{id}/attendance/"): Expect(R(401, 200, 200, 200, 200, 200), kind="batch"),
    ("POST", "/api/v1/batches/{id}/attendance/"): Expect(R(401, 400, 400, 400, 400, 400), kind="batch"),
    ("POST", "/api/v1/batches/{id}/bulk-enroll/"): Expect(R(401, 403, 200, 200, 200, 200), kind="batch"),
    ("POST", "/api/v1/batches/{id}/complete/"): Expect(R(401, 403, 409, 409, 409, 409), kind="batch"),
    # The plan is read, not written: the organisers get it (with why it would be refused now).
    ("POST", "/api/v1/batches/{id}/completion-preview/"): Expect(R(401, 403, 200, 200, 200, 200), kind="batch"),
    # An empty body: the reason is missing (checked before the service, as for attendance).
    ("POST", "/api/v1/batches/{id}/uncomplete/"): Expect(R(401, 400, 400, 400, 400, 400), kind="batch"),
    ("POST", "/api/v1/batches/{id}/enroll/"): Expect(R(401, 400, 400, 400, 400, 400), kind="batch"),
    ("GET", "/api/v1/batches/{id}/events/"): Expect(R(401, 403, 200, 200, 200, 200), kind="batch"),
    # 评教: the batch's administrators read it (anonymous); only a participant rates (an empty
    # body: 400 before anything is written), an administrator is not one.
    ("GET", "/api/v1/batches/{id}/evaluations/"): Expect(R(401, 403, 200, 200, 200, 200), kind="batch"),
    ("POST", "/api/v1/batches/{id}/evaluations/"): Expect(R(401, 400, 403, 403, 403, 403), kind="batch"),
    # --- API: enrollments, hours, coverage, policies, the inspector's calendar
    ("GET", "/api/v1/enrollments/"): Expect(R(401, 200, 200, 200, 200, 200), lists="enrollment"),
    ("GET", "/api/v1/enrollments/{id}/"): Expect(R(401, 200, 200, 200, 200, 200), kind="enrollment"),
    ("POST", "/api/v1/enrollments/{id}/cancel/"): Expect({**_ADMIN_CANCEL, ANON: ANON_API}, kind="enrollment"),
    # An empty body: the new inspector (the batch) and the reason are missing.
    ("POST", "/api/v1/enrollments/{id}/replace/"): Expect(R(401, 400, 400, 400, 400, 400), kind="enrollment"),
    ("POST", "/api/v1/enrollments/{id}/move/"): Expect(R(401, 400, 400, 400, 400, 400), kind="enrollment"),
    ("GET", "/api/v1/enrollments/{id}/events/"): Expect(R(401, 200, 200, 200, 200, 200), kind="enrollment"),
    ("GET", "/api/v1/hours/"): Expect(R(401, 200, 200, 200, 200, 200), lists="inspector"),
    ("GET", "/api/v1/hours/summary/"): Expect(R(401, 200, 200, 200, 200, 200), check=_summary_total),
    ("GET", "/api/v1/coverage/"): Expect(R(401, 200, 200, 200, 200, 200), query=_done_year, check=_coverage_total),
    ("GET", "/api/v1/coverage/missing/"): Expect(
        R(401, 200, 200, 200, 200, 200), query=_missing_topic, check=_missing_people
    ),
    ("GET", "/api/v1/hours-policies/"): Expect(R(401, 200, 200, 200, 200, 200), lists="policy"),
    ("POST", "/api/v1/hours-policies/"): Expect(R(401, 400, 400, 400, 400, 400)),
    ("PATCH", "/api/v1/hours-policies/{id}/"): Expect(R(401, 400, 400, 400, 400, 400), kind="policy"),
    ("GET", "/api/v1/hours-policies/{id}/events/"): Expect(R(401, 200, 200, 200, 200, 200), kind="policy"),
    ("GET", "/api/v1/me/"): Expect(R(401, 200, 404, 404, 404, 404)),
    ("GET", "/api/v1/me/calendar/"): Expect(R(401, 200, 404, 404, 404, 404)),
    ("POST", "/api/v1/me/calendar/rotate/"): Expect(R(401, 200, 404, 404, 404, 404)),
    # --- API: exams, sittings, results, certificates
    ("GET", "/api/v1/exams/"): Expect(R(401, 200, 200, 200, 200, 200), lists="exam"),
    ("POST", "/api/v1/exams/"): Expect(R(401, 403, 400, 400, 400, 400)),
    ("GET", "/api/v1/exams/{id}/"): Expect(R(401, 200, 200, 200, 200, 200), kind="exam"),
    ("GET", "/api/v1/sittings/"): Expect(R(401, 200, 200, 200, 200, 200), lists="sitting"),
    ("POST", "/api/v1/sittings/"): Expect(R(401, 403, 400, 400, 400, 400)),
    ("GET", "/api/v1/sittings/{id}/"): Expect(R(401, 200, 200, 200, 200, 200), kind="sitting"),
    # The score grid is for admins: an inspector is refused before the sitting is looked up.
    ("GET", "/api/v1/sittings/{id}/results/"): Expect(
        R(401, 403, 200, 200, 200, 200), kind="sitting", hidden={**HIDDEN_API, INSP: 403}
    ),
    ("POST", "/api/v1/sittings/{id}/results/"): Expect(
        R(401, 403, 400, 400, 400, 400), kind="sitting", hidden={**HIDDEN_API, INSP: 403}
    ),
    ("PUT", "/api/v1/sittings/{id}/results/"): Expect(
        R(401, 403, 400, 400, 400, 400), kind="sitting", hidden={**HIDDEN_API, INSP: 403}
    ),
    ("POST", "/api/v1/sittings/{id}/results/import/"): Expect(
        R(401, 403, 400, 400, 400, 400), kind="sitting", hidden={**HIDDEN_API, INSP: 403}, multipart=True
    ),
    # 在线考试 (exams.api_online): only an inspector is a candidate (anyone else: 404, as on
    # /api/v1/me/); the world's sittings are on paper, so none can be started. An attempt is its
    # candidate's alone; an empty body of answers is 400 for them, 404 for anyone else's.
    ("POST", "/api/v1/sittings/{id}/start/"): Expect(R(401, 404, 404, 404, 404, 404), kind="sitting"),
    ("GET", "/api/v1/sittings/{id}/attempts/"): Expect(
        R(401, 403, 200, 200, 200, 200), kind="sitting", hidden={**HIDDEN_API, INSP: 403}
    ),
    ("GET", "/api/v1/online-sittings/"): Expect(R(401, 200, 404, 404, 404, 404)),
    ("GET", "/api/v1/attempts/"): Expect(R(401, 200, 404, 404, 404, 404), lists="attempt"),
    ("GET", "/api/v1/attempts/{id}/"): Expect(R(401, 200, 404, 404, 404, 404), kind="attempt"),
    ("PUT", "/api/v1/attempts/{id}/answers/"): Expect(R(401, 400, 404, 404, 404, 404), kind="attempt"),
    ("POST", "/api/v1/attempts/{id}/submit/"): Expect(R(401, 200, 404, 404, 404, 404), kind="attempt"),
    # 练习: 张 gets back the practice paper he has not handed in
    ("POST", "/api/v1/practice/"): Expect(R(401, 201, 404, 404, 404, 404)),
    ("GET", "/api/v1/results/"): Expect(R(401, 200, 200, 200, 200, 200), lists="result"),
    ("GET", "/api/v1/results/{id}/"): Expect(R(401, 200, 200, 200, 200, 200), kind="result"),
    ("GET", "/api/v1/results/{id}/history/"): Expect(R(401, 200, 200, 200, 200, 200), kind="result"),
    ("GET", "/api/v1/certificates/"): Expect(R(401, 200, 200, 200, 200, 200), lists="certificate"),
    ("GET", "/api/v1/certificates/{id}/"): Expect(R(401, 200, 200, 200, 200, 200), kind="certificate"),
    ("GET", "/api/v1/certificates/{id}/events/"): Expect(R(401, 200, 200, 200, 200, 200), kind="certificate"),
    # The printed card (PDF): admins whose region holds the holder; a suspended card (赵) is not printed.
    ("GET", "/api/v1/certificates/{id}/card/"): Expect(R(401, 403, _card, _card, _card, _card), kind="certificate"),
    # Empty bodies: the verbs that need a reason answer 400 to those who may use them.
    ("POST", "/api/v1/certificates/{id}/suspend/"): Expect(R(401, 403, 400, 400, 400, 400), kind="certificate"),
    ("POST", "/api/v1/certificates/{id}/reinstate/"): Expect(R(401, 403, 400, 400, 400, 400), kind="certificate"),
    ("POST", "/api/v1/certificates/{id}/revoke/"): Expect(R(401, 403, 400, 400, 400, 400), kind="certificate"),
    # Every holder is still at work: nothing to take back.
    ("POST", "/api/v1/certificates/{id}/return/"): Expect(R(401, 403, 409, 409, 409, 409), kind="certificate"),
    ("POST", "/api/v1/certificates/{id}/renew/"): Expect(
        R(401, 403, _renew, _renew, _renew, _renew), kind="certificate"
    ),
    ("POST", "/api/v1/certificates/{id}/review/"): Expect(R(401, 403, 200, 200, 200, 200), kind="certificate"),
    # --- API: applications (申请). Empty bodies: the kind and the inspectors (or ids) are missing.
    ("GET", "/api/v1/applications/"): Expect(R(401, 200, 200, 200, 200, 200), lists="application"),
    ("POST", "/api/v1/applications/"): Expect(R(401, 400, 400, 400, 400, 400)),
    ("GET", "/api/v1/applications/{id}/"): Expect(R(401, 200, 200, 200, 200, 200), kind="application"),
    # Approve or return only at a level held (a county admin not at city level, nor anyone
    # outside the region: 404); the inspector sees their own and may not act on it.
    ("POST", "/api/v1/applications/{id}/approve/"): Expect(_LEVEL, kind="application"),
    ("POST", "/api/v1/applications/{id}/return/"): Expect(_LEVEL, kind="application", body={"comment": "材料不全"}),
    ("POST", "/api/v1/applications/{id}/withdraw/"): Expect(R(401, 403, 200, 200, 200, 200), kind="application"),
    ("POST", "/api/v1/applications/approve/"): Expect(R(401, 400, 400, 400, 400, 400)),
    ("GET", "/api/v1/applications/progress/"): Expect(R(401, 200, 200, 200, 200, 200)),
    # --- API: the question bank (题库). An inspector is refused before any lookup (the bank
    # holds the answers); empty bodies: a new question lacks its content, an empty change is none.
    ("GET", "/api/v1/questions/"): Expect(R(401, 403, 200, 200, 200, 200), lists="question"),
    ("POST", "/api/v1/questions/"): Expect(R(401, 403, 400, 400, 400, 400)),
    **{
        (method, f"/api/v1/questions/{{id}}/{suffix}"): Expect(
            R(401, 403, 200, 200, 200, 200), kind="question", hidden={**HIDDEN_API, INSP: 403}
        )
        for method, suffix in (("GET", ""), ("PATCH", ""), ("GET", "versions/"))
    },
    ("POST", "/api/v1/questions/import/"): Expect(R(401, 403, 400, 400, 400, 400), multipart=True),
    ("GET", "/api/v1/questions/template/"): Expect(R(401, 403, 200, 200, 200, 200)),
    # --- API: exports
    ("GET", "/api/v1/exports/"): Expect(R(401, 200, 200, 200, 200, 200), lists="export_job"),
    ("POST", "/api/v1/exports/"): Expect(R(401, 400, 400, 400, 400, 400)),
    ("GET", "/api/v1/exports/{id}/"): Expect(R(401, 200, 200, 200, 200, 200), kind="export_job"),
    ("GET", "/api/v1/exports/{id}/download/"): Expect(R(401, 200, 200, 200, 200, 200), kind="export_job"),
    # --- pages
    ("GET", "/"): Expect(ALL(302)),
    ("GET", "/healthz"): Expect(ALL(200)),
    ("GET", "/favicon.ico"): Expect(ALL(302)),
    ("GET", "/api/v1/"): Expect(R(401, 200, 200, 200, 200, 200)),
    ("GET", "/api/schema/"): Expect(ALL(200)),
    ("GET", "/api/docs/"): Expect(ALL(200)),
    ("GET", "/api/redoc/"): Expect(ALL(200)),
    ("GET", "/i18n/setlang/"): Expect(ALL(302)),
    ("POST", "/i18n/setlang/"): Expect(ALL(302), body={"language": "zh-hans"}),
    ("GET", "/verify/"): Expect(ALL(200)),
    ("GET", "/verify/{number}/"): Expect(ALL(200), kind="cert_number", hidden=ALL(404), markers="public"),
    ("GET", "/register/"): Expect(ALL(200), markers="register"),
    ("GET", "/register/changes/"): Expect(ALL(200), markers="register"),
    ("GET", "/calendar/{token}.ics"): Expect(ALL(200), kind="calendar_token", hidden=ALL(404), markers="owner"),
    ("GET", "/me/"): Expect(R(302, 200, 200, 200, 200, 200)),
    # 评教 from /me/: the inspector's own batches answer with the page again (here each refused:
    # not completed, or its window closed), anyone else's and an admin's are not found.
    ("POST", "/me/evaluations/{batch_id}/"): Expect(
        R(302, 302, 404, 404, 404, 404), kind="batch", hidden=R(302, 404, 404, 404, 404, 404)
    ),
    ("GET", "/me/evaluations/{batch_id}/"): Expect(ALL(405) | {ANON: 302}, kind="batch", hidden=ALL(405) | {ANON: 302}),
    # 在线考试 pages (exams.online_pages): the list explains itself to an account without an
    # inspector; every other page is the inspector's own (anyone else: 404, as the API). The
    # world's sittings are on paper (none to start); 张's practice paper is his alone; handing
    # it in is a write that goes through (a redirect to its result).
    ("GET", "/me/exams/"): Expect(R(302, 200, 200, 200, 200, 200)),
    ("POST", "/me/exams/practice/"): Expect(R(302, 302, 404, 404, 404, 404)),
    ("GET", "/me/exams/practice/"): Expect(ALL(405) | {ANON: 302}),
    ("GET", "/me/exams/sittings/{sitting_id}/"): Expect(
        R(302, 404, 404, 404, 404, 404), kind="sitting", hidden=R(302, 404, 404, 404, 404, 404)
    ),
    ("POST", "/me/exams/sittings/{sitting_id}/start/"): Expect(
        R(302, 404, 404, 404, 404, 404), kind="sitting", hidden=R(302, 404, 404, 404, 404, 404)
    ),
    ("GET", "/me/exams/sittings/{sitting_id}/start/"): Expect(
        ALL(405) | {ANON: 302}, kind="sitting", hidden=ALL(405) | {ANON: 302}
    ),
    ("GET", "/me/exams/attempts/{attempt_id}/"): Expect(
        R(302, 200, 404, 404, 404, 404), kind="attempt", hidden=R(302, 404, 404, 404, 404, 404)
    ),
    ("POST", "/me/exams/attempts/{attempt_id}/answers/"): Expect(
        R(302, 302, 404, 404, 404, 404), kind="attempt", hidden=R(302, 404, 404, 404, 404, 404)
    ),
    ("GET", "/me/exams/attempts/{attempt_id}/answers/"): Expect(
        ALL(405) | {ANON: 302}, kind="attempt", hidden=ALL(405) | {ANON: 302}
    ),
    ("GET", "/me/exams/attempts/{attempt_id}/submit/"): Expect(
        R(302, 200, 404, 404, 404, 404), kind="attempt", hidden=R(302, 404, 404, 404, 404, 404)
    ),
    ("POST", "/me/exams/attempts/{attempt_id}/submit/"): Expect(
        R(302, 302, 404, 404, 404, 404), kind="attempt", hidden=R(302, 404, 404, 404, 404, 404), success={302}
    ),
    # 扫码签到: the inspector's page (a form without a token; an empty code is 400), refused to
    # accounts without an inspector; the trainer's page and its live figures, for the admins who
    # manage the batch (an inspector is refused before the batch is looked up).
    ("GET", "/checkin/"): Expect(R(302, 200, 403, 403, 403, 403)),
    ("POST", "/checkin/"): Expect(R(302, 400, 403, 403, 403, 403)),
    ("GET", "/checkin/batch/{batch_id}/"): Expect(
        R(302, 403, 200, 200, 200, 200), kind="batch", hidden=R(302, 403, 404, 404, 404, 404)
    ),
    ("GET", "/api/v1/checkin/batches/{batch_id}/"): Expect(
        R(401, 403, 200, 200, 200, 200), kind="batch", hidden={**HIDDEN_API, INSP: 403}
    ),
    ("GET", "/accounts/login/"): Expect(R(200, 302, 302, 302, 302, 302)),
    ("POST", "/accounts/login/"): Expect(R(200, 302, 302, 302, 302, 302)),
    ("GET", "/accounts/logout/"): Expect(ALL(405)),
    ("POST", "/accounts/logout/"): Expect(ALL(302)),
    ("GET", "/admin/overview/"): Expect(R(302, 403, 200, 200, 200, 200)),
    ("GET", "/admin/overview/lists/"): Expect(R(302, 403, 200, 200, 200, 200)),
    # Both lists, each read for names from outside the role's scope.
    ("GET", "/admin/overview/lists/{name}.xlsx"): Expect(
        R(302, 403, 200, 200, 200, 200), fixed={"name": ["hours-shortfall", "coverage-missing"]}
    ),
    # 试题分析 (exams.admin_analysis): admin pages, to the admins who see the sitting or the exam.
    **{
        ("GET", f"/admin/exams/{kind}/{{object_id}}/{page}"): Expect(
            R(302, 302, 200, 200, 200, 200), kind=kind, hidden=R(302, 302, 404, 404, 404, 404)
        )
        for kind in ("sitting", "exam")
        for page in ("analysis/", "analysis.xlsx")
    },
}

# --- the admin: every view of every model of ours ---------------------------------------------

STAFF = (COUNTY, OTHER, CITY, PROV)
TO_LOGIN = {ANON: 302, INSP: 302}  # not staff: the admin sends them to its login page


def _staff(status_by_role: dict[str, int] | int) -> dict[str, int]:
    per_role = status_by_role if isinstance(status_by_role, dict) else dict.fromkeys(STAFF, status_by_role)
    return {**TO_LOGIN, **per_role}


PROVINCE_ONLY = {COUNTY: 403, OTHER: 403, CITY: 403, PROV: 200}
# A hidden object: the change and history pages send the admin back to the index ("does
# not exist"), like a missing one; refused outright when the model is not theirs at all.
ADMIN_HIDDEN = _staff(302)


@dataclass(frozen=True)
class AdminModel:
    kind: str
    add: dict[str, int] | int = 200  # GET of the add page, per staff role
    change: dict[str, int] | int = 200  # GET of a visible object's page
    change_post: dict[str, int] | int = 200  # an empty form back: re-shown with its errors
    refused: bool = False  # no view of it for any region admin (the superuser's alone)
    extra: dict = field(default_factory=dict)  # custom views: (method, suffix) -> Expect


ADMIN_MODELS: dict[str, AdminModel] = {
    "personnel/region": AdminModel("region", add=PROVINCE_ONLY, change_post=PROVINCE_ONLY),
    "personnel/inspector": AdminModel(
        "inspector",
        extra={
            ("GET", "import/"): Expect(_staff(200)),
            ("POST", "import/"): Expect(_staff(200)),
            # 一人一档, printable: the inspector's file and a year's 学时证明
            ("GET", "{object_id}/dossier/"): Expect(_staff(200), kind="inspector", hidden=_staff(404)),
            ("GET", "{object_id}/hours-certificate/"): Expect(_staff(200), kind="inspector", hidden=_staff(404)),
            # Photos in bulk (a zip); an empty POST re-shows the form
            ("GET", "photos/"): Expect(_staff(200)),
            ("POST", "photos/"): Expect(_staff(200)),
            # The photo itself, to those who see the inspector; nobody in this world has one (404)
            ("GET", "{object_id}/photo/"): Expect(_staff(404), kind="inspector", hidden=_staff(404)),
        },
    ),
    "personnel/regionadmin": AdminModel("region_admin", add=403, change=403, change_post=403, refused=True),
    "training/course": AdminModel("course", add=PROVINCE_ONLY, change_post=PROVINCE_ONLY),
    # The office's pages of a batch (training.admin_workflow): an empty POST is shown again
    # (no day ticked, no confirmation, no reason), nothing written.
    "training/batch": AdminModel(
        "batch",
        extra={
            (method, f"{{object_id}}/{suffix}/"): Expect(_staff(200), kind="batch", hidden=_staff(404))
            for suffix in ("attendance", "complete", "undo-completion")
            for method in ("GET", "POST")
        }
        | {("GET", "{object_id}/sign-in-sheet/"): Expect(_staff(200), kind="batch", hidden=_staff(404))},
    ),
    "training/hourspolicy": AdminModel("policy"),
    # 评教: read-only and anonymous (given on /me/ or through the API, never changed).
    "training/evaluation": AdminModel("evaluation", add=403, change_post=403),
    "training/enrollment": AdminModel(
        "enrollment",
        add=403,
        change_post=403,
        # cancel / replace / move: a form for whoever sees the enrollment; the service decides on POST
        extra={
            (method, f"{{object_id}}/{verb}/"): Expect(_staff(200), kind="enrollment", hidden=_staff(404))
            for method in ("GET", "POST")
            for verb in ("cancel", "replace", "move")
        },
    ),
    # 组卷规则 (exams.admin_questions): the exam's paper rules page; an empty POST re-shows the table
    "exams/exam": AdminModel(
        "exam",
        extra={
            (method, "{object_id}/paper-rules/"): Expect(_staff(200), kind="exam", hidden=_staff(404))
            for method in ("GET", "POST")
        },
    ),
    # With results, only the place can still be edited, and a blank place is a valid form.
    "exams/sitting": AdminModel(
        "sitting",
        change_post=302,
        extra={
            ("GET", "{object_id}/grid/"): Expect(_staff(200), kind="sitting", hidden=_staff(404)),
            ("POST", "{object_id}/grid/"): Expect(_staff(200), kind="sitting", hidden=_staff(404)),
            ("GET", "{object_id}/import/"): Expect(_staff(200), kind="sitting", hidden=_staff(404)),
            ("POST", "{object_id}/import/"): Expect(_staff(200), kind="sitting", hidden=_staff(404)),
            ("GET", "{object_id}/template.xlsx"): Expect(_staff(200), kind="sitting", hidden=_staff(404)),
        },
    ),
    # 题库: the import page (an empty POST re-shows the form) and the template
    "exams/question": AdminModel(
        "question",
        extra={
            ("GET", "import/"): Expect(_staff(200)),
            ("POST", "import/"): Expect(_staff(200)),
            ("GET", "template.xlsx"): Expect(_staff(200)),
        },
    ),
    "exams/result": AdminModel("result", add=403, change_post=403),
    "exams/certificate": AdminModel(
        "certificate",
        add=403,
        change_post=403,
        extra={
            ("GET", "{object_id}/do/{verb}/"): Expect(
                _staff(200), kind="certificate", hidden=_staff(404), fixed={"verb": ["suspend", "no-such-verb"]}
            ),
            ("POST", "{object_id}/do/{verb}/"): Expect(
                _staff(200), kind="certificate", hidden=_staff(404), fixed={"verb": ["suspend", "no-such-verb"]}
            ),
        },
    ),
    # 申请: read-only rows (the apply page and the actions write); an empty apply form is shown again.
    "exams/certificateapplication": AdminModel(
        "application",
        add=403,
        change_post=403,
        extra={("GET", "apply/"): Expect(_staff(200)), ("POST", "apply/"): Expect(_staff(200))},
    ),
    "exams/approvalchain": AdminModel("approval_chain", add=PROVINCE_ONLY, change_post=PROVINCE_ONLY),
    "exams/annualreviewwindow": AdminModel("review_window", add=PROVINCE_ONLY, change_post=PROVINCE_ONLY),
    "reports/exportjob": AdminModel(
        "export_job",
        add=403,
        change_post=403,
        extra={
            ("GET", "new/"): Expect(_staff(200)),
            ("POST", "new/"): Expect(_staff(200)),
        },
    ),
}


def _admin_expectations() -> dict[tuple[str, str], Expect]:
    out = {}
    for model, spec in ADMIN_MODELS.items():
        base = f"/admin/{model}/"
        refused = _staff(403)
        hidden = refused if spec.refused else ADMIN_HIDDEN
        out[("GET", base)] = Expect(refused if spec.refused else _staff(200), lists=None if spec.refused else spec.kind)
        out[("GET", base + "add/")] = Expect(_staff(spec.add))
        out[("POST", base + "add/")] = Expect(_staff(spec.add))
        out[("GET", base + "{object_id}/change/")] = Expect(_staff(spec.change), kind=spec.kind, hidden=hidden)
        # The history page looks the object up before it asks about permissions.
        out[("GET", base + "{object_id}/history/")] = Expect(
            _staff(spec.change), kind=spec.kind, hidden=hidden, missing=ADMIN_HIDDEN
        )
        # POSTing a change form: refused before the lookup to whoever may not change it.
        change_post = _staff(spec.change_post)
        post_hidden = {role: 403 if change_post[role] == 403 else status for role, status in hidden.items()}
        out[("POST", base + "{object_id}/change/")] = Expect(
            change_post, kind=spec.kind, hidden=post_hidden, success={302} if spec.change_post == 302 else None
        )
        # Deleting is the superuser's alone, everywhere.
        out[("GET", base + "{object_id}/delete/")] = Expect(refused, kind=spec.kind, hidden=refused)
        out[("POST", base + "{object_id}/delete/")] = Expect(
            refused, kind=spec.kind, hidden=refused, body={"post": "yes"}
        )
        for (method, suffix), expect in spec.extra.items():
            out[(method, base + suffix)] = expect
    for model in admin.site._registry:
        if model._meta.app_label in THIRD_PARTY_ADMIN:
            out[("GET", f"/admin/{model._meta.app_label}/{model._meta.model_name}/")] = Expect(_staff(403))
    return out


# --- discovery ------------------------------------------------------------------------------------


def api_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (method.upper(), path) for path, item in schema["paths"].items() for method in item if method in HTTP_METHODS
    }


def _template(pattern) -> str | None:
    """A URL pattern as a path template (``verify/{number}/``); None for the format-suffix
    twins DRF adds to every route (``.json``), which are the same views."""
    if isinstance(pattern, RoutePattern):
        route = str(pattern)
        if "drf_format_suffix" in route:
            return None
        return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
    if isinstance(pattern, RegexPattern):
        regex = pattern.regex.pattern
        if "(?P<format>" in regex:
            return None
        regex = regex.removeprefix("^").removesuffix("$")
        return re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: "{id}" if m[1] == "pk" else "{" + m[1] + "}", regex)
    raise TypeError(pattern)


def url_templates() -> dict[str, str | None]:
    """Every path template of the URL configuration with its URL name, less the admin's own
    views, the other views of third-party admins and the API (which the schema lists)."""
    found: dict[str, str | None] = {}

    def walk(patterns, prefix: str, namespace: str | None):
        for p in patterns:
            part = _template(p.pattern)
            if part is None:
                continue
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + part, p.namespace or namespace)
                continue
            assert isinstance(p, URLPattern)
            path = "/" + prefix + part
            if namespace == "admin" and (p.name in ADMIN_INTERNALS or _admin_model_internal(path, p.name)):
                continue
            found[path] = p.name

    walk(get_resolver().url_patterns, "", None)
    return found


def _admin_model_internal(path: str, name: str | None) -> bool:
    parts = path.strip("/").split("/")
    if len(parts) < 3:  # admin/<app>/ lists of one app
        return True
    if parts[1] in THIRD_PARTY_ADMIN:
        return not (name or "").endswith("_changelist")
    # ModelAdmin's unnamed redirect from <object_id>/ to <object_id>/change/
    return name is None


@functools.cache
def discovered() -> frozenset[tuple[str, str]]:
    """(method, template) of every endpoint: the API from the schema; a page answers GET
    and whatever EXPECT says it accepts."""
    ops = api_operations()
    api_paths = {path for _m, path in ops}
    endpoints = set(ops)
    table = expectations()
    for path in url_templates():
        if path in api_paths:
            continue
        endpoints.add(("GET", path))
        endpoints |= {(m, t) for m, t in table if t == path}
    return frozenset(endpoints)


def expectations() -> dict[tuple[str, str], Expect]:
    return {**EXPECT, **_admin_expectations()}


# --- requests ------------------------------------------------------------------------------------

MISSING = {
    "region_code": "139999",
    "cert_number": numbers.make(province_prefix="13", year=2020, serial=999_999),
    "calendar_token": "no-such-token",
}
MISSING_PK = 999_999


def _rows(world: World, kind: str) -> dict[str, object]:
    return world.objects[ROWS.get(kind, kind)]


def _value(kind: str, row) -> str:
    if kind == "region_code":
        return row.code
    if kind == "cert_number":
        return row.number
    if kind == "calendar_token":
        return row.token
    return str(row.pk)


def _sees(kind: str, role: str, key: str) -> bool:
    seen = SEES[kind][role]
    return seen == EVERYONE or key in seen


def concrete(world: World, template: str, expect: Expect) -> list[tuple[str | None, str]]:
    """(object key, path) for every object of the kind, and (None, path) for a missing one."""
    fixed = expect.fixed or {}
    main = [n for n in re.findall(r"{(\w+)}", template) if n not in fixed]
    if main:
        assert len(main) == 1 and expect.kind, f"{template}: say what fills {main}"
        slot = "{" + main[0] + "}"
        rows = _rows(world, expect.kind)
        items = [(key, template.replace(slot, _value(expect.kind, row))) for key, row in rows.items()]
        items.append((None, template.replace(slot, MISSING.get(expect.kind, str(MISSING_PK)))))
    else:
        assert expect.kind is None, f"{template}: a kind but no parameter"
        items = [(None, template)]
    for name, values in fixed.items():
        # the first value is the real one; the others must answer like a missing object
        items = [
            (key if n == 0 else None, path.replace("{" + name + "}", value))
            for key, path in items
            for n, value in enumerate(values)
        ]
    return items


def expected_status(expect: Expect, role: str, key: str | None) -> StatusSpec:
    if expect.kind is not None and key is None and expect.missing is not None:
        return expect.missing[role]
    visible = expect.kind is None or (key is not None and _sees(expect.kind, role, key))
    if not visible:
        return expect.hidden[role]
    spec = expect.ok[role]
    return spec(key) if callable(spec) else spec


def _may_write(expect: Expect, role: str, key: str | None, want) -> bool:
    """Whether the expected answer is a write that went through (else nothing may change)."""
    visible = expect.kind is None or (key is not None and _sees(expect.kind, role, key))
    if not visible or not isinstance(want, int):
        return False
    return want in expect.success if expect.success else 200 <= want < 300


def _matches(status: int, spec) -> bool:
    return status in spec if isinstance(spec, set) else status == spec


# --- reading bodies ----------------------------------------------------------------------------


def body_text(response) -> str:
    # A streamed file is read, not closed: the test client closes it once read, and closing
    # it again sends request_finished with nothing to keep the test's connection open.
    content = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    ctype = response.get("Content-Type", "")
    if "spreadsheetml" in ctype:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
        cells = [
            str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row if v is not None
        ]
        return "\n".join(cells)
    text = content.decode("utf-8", errors="replace")
    if "json" in ctype:
        # \u escapes would hide names from the search
        return json.dumps(json.loads(text), ensure_ascii=False)
    return text


def foreign_markers(world: World, perspective: str) -> dict[str, str]:
    allowed = ALLOWED[perspective]
    if allowed == EVERYONE:
        return {}
    return {m: obj for obj, markers in world.markers.items() if obj not in allowed for m in markers if m}


def register_markers(world: World) -> set[str]:
    """What the public register may show: the names of the certificate holders and their
    certificate numbers (not their ID numbers, whole or masked, nor their phones)."""
    certificates = world.objects["certificate"].values()
    return {c.holder.name for c in certificates} | {c.number for c in certificates}


def listed_keys(world: World, kind: str, response) -> tuple[list[str], int]:
    """The keys of the objects a list shows, and the count it claims."""
    by_pk = {row.pk: key for key, row in world.objects[ROWS.get(kind, kind)].items()}
    if response.get("Content-Type", "").startswith("application/json"):
        body = response.json()
        items = body["results"] if isinstance(body, dict) else body
        count = body["count"] if isinstance(body, dict) else len(body)
        pks = [item["id"] for item in items]
    else:  # an admin changelist
        changelist = response.context["cl"]
        pks = [obj.pk for obj in changelist.result_list]
        count = changelist.result_count
    return [by_pk.get(pk, f"unknown pk {pk}") for pk in pks], count


def expected_keys(world: World, kind: str, role: str) -> set[str]:
    seen = SEES[kind][role]
    return set(world.objects[ROWS.get(kind, kind)]) if seen == EVERYONE else set(seen)


# --- the database, to tell that a refused write wrote nothing ----------------------------------

SNAPSHOT_MODELS = [m for app in OUR_APPS for m in apps.get_app_config(app).get_models()]


WRITE_TO_OUR_TABLES = re.compile(
    r'\s*(INSERT INTO|UPDATE|DELETE FROM)\s+"?(' + "|".join(OUR_APPS) + ")_", re.IGNORECASE
)


def snapshot() -> dict[str, list[tuple]]:
    return {m._meta.label: list(m.objects.order_by("pk").values_list()) for m in SNAPSHOT_MODELS}


# --- the tests ---------------------------------------------------------------------------------


def test_every_endpoint_has_an_expectation():
    # given every endpoint the schema and the URL configuration know
    endpoints = discovered()
    table = expectations()

    # then each has its line in the table, and the table names nothing that is gone
    missing = sorted(endpoints - set(table))
    stale = sorted(set(table) - endpoints)
    assert not missing, "new endpoint without an expectation: " + ", ".join(f"{m} {p}" for m, p in missing)
    assert not stale, "expectation for an endpoint that no longer exists: " + ", ".join(f"{m} {p}" for m, p in stale)


@pytest.fixture
def _no_throttling(settings):
    # Every certificate is looked up from every role: far beyond the public check's limit.
    settings.VERIFY_RATE = None
    cache.clear()
    yield
    cache.clear()


def _client(world: World, role: str) -> APIClient:
    client = APIClient()
    client.raise_request_exception = False  # a 500 is an answer to report, not a crash
    user = world.users[role]
    if user is not None:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _send(client, method: str, path: str, expect: Expect, world: World):
    query = expect.query(world) if callable(expect.query) else expect.query
    if method == "GET":
        return client.get(path, query or {})
    body = {} if expect.body is None else expect.body
    if expect.multipart:
        return client.generic(method, path, *_multipart(body))
    if path.startswith("/api/"):
        return client.generic(method, path, json.dumps(body), content_type="application/json")
    return client.generic(method, path, urlencode(body), content_type="application/x-www-form-urlencoded")


def _multipart(body: dict) -> tuple[bytes, str]:
    return encode_multipart(BOUNDARY, body), MULTIPART_CONTENT


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(world, db, role, _no_throttling):
    """Every endpoint, every object, as one role: statuses, leaks, counts, refused writes."""
    table = expectations()
    before = snapshot()
    client = _client(world, role)
    problems: list[str] = []

    for method, template in sorted(discovered()):
        expect = table.get((method, template))
        if expect is None:
            problems.append(f"new endpoint without an expectation: {method} {template}")
            continue
        for key, path in concrete(world, template, expect):
            want = expected_status(expect, role, key)
            with transaction.atomic(), CaptureQueriesContext(connection) as queries:
                response = _send(client, method, path, expect, world)
                # Only a request that sent a write to our tables can have changed them.
                wrote = (
                    not _may_write(expect, role, key, want)
                    and any(WRITE_TO_OUR_TABLES.match(q["sql"]) for q in queries.captured_queries)
                    and snapshot() != before
                )
                transaction.set_rollback(True)
            label = f"{method} {path} [{key or 'missing'}]"
            if not _matches(response.status_code, want):
                problems.append(f"{label}: {response.status_code}, expected {want}")
            if wrote:
                problems.append(f"{label}: a refused write changed the database")
            if 200 <= response.status_code < 300:
                problems.extend(_leaks(world, role, expect, key, label, response))
            if template.endswith("/logout/") and method == "POST":
                client = _client(world, role)  # logged out: log in again for what follows

    assert not problems, f"{len(problems)} problem(s) as {role}:\n" + "\n".join(problems)


# --- after the token ended: one way of ending per role, every API endpoint --------------------


def _logout(world: World, user, token, client) -> str:
    assert client.delete("/api/v1/auth/token/").status_code == 204
    return "token_revoked"


def _password_changed(world: World, user, token, client) -> str:
    user = get_user_model().objects.get(pk=user.pk)  # not the world's shared instance
    user.set_password("a-New-password-42")
    user.save()
    return "token_revoked"


def _deactivated(world: World, user, token, client) -> str:
    user = get_user_model().objects.get(pk=user.pk)
    user.is_active = False
    user.save(update_fields=["is_active"])
    return "token_revoked"


def _expired(world: World, user, token, client) -> str:
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk).update(created_at=now - dt.timedelta(days=1), expires_at=now)
    return "token_expired"


def _revoked_from_another_device(world: World, user, token, client) -> str:
    _other, key = api_token_issue(user=user, name="phone")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert other.delete(f"/api/v1/auth/tokens/{token.pk}/").status_code == 204
    return "token_revoked"


TOKEN_ENDINGS = {
    INSP: _logout,
    COUNTY: _password_changed,
    OTHER: _deactivated,
    CITY: _expired,
    PROV: _revoked_from_another_device,
}


@pytest.mark.parametrize("role", list(TOKEN_ENDINGS))
def test_after_the_token_was_revoked(world, db, role, _no_throttling):
    """A token that ended (logout, password change, deactivation, expiry, revoked from another
    device) opens nothing: every API operation, with every object, answers exactly what it
    answers to an anonymous caller, a 401 says why, and no write goes through."""
    # given: a token of the role that worked, then ended
    token, key = api_token_issue(user=world.users[role], name="laptop")
    client = APIClient()
    client.raise_request_exception = False
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/auth/tokens/").status_code == 200
    code = TOKEN_ENDINGS[role](world, world.users[role], token, client)
    table = expectations()
    before = snapshot()
    problems: list[str] = []

    # when: every operation of the API is called with it
    for method, template in sorted(api_operations()):
        expect = table.get((method, template))
        if expect is None:
            continue  # reported by test_every_endpoint_has_an_expectation
        for key_, path in concrete(world, template, expect):
            want = expected_status(expect, ANON, key_)
            with transaction.atomic(), CaptureQueriesContext(connection) as queries:
                response = _send(client, method, path, expect, world)
                wrote = any(WRITE_TO_OUR_TABLES.match(q["sql"]) for q in queries.captured_queries) and (
                    snapshot() != before
                )
                transaction.set_rollback(True)

            # then
            label = f"{method} {path} [{key_ or 'missing'}]"
            if not _matches(response.status_code, want):
                problems.append(f"{label}: {response.status_code}, expected {want} (as anonymous)")
            if response.status_code == 401:
                body = response.json()
                if body.get("code") != code or response.get("WWW-Authenticate") != "Token":
                    problems.append(f"{label}: 401 {body}, expected code {code} and the Token challenge")
            if wrote:
                problems.append(f"{label}: a write went through")

    assert not problems, f"{len(problems)} problem(s) as {role} with an ended token:\n" + "\n".join(problems)


# --- after the role changed: the role held now decides, not the one held then ----------------
#
# An admin's binding is moved (or taken away and the login given to an inspector); from then
# on every export endpoint (API and admin: list, detail, download, pages) answers them as it
# answers the role they hold now, their own earlier jobs included.


def _superuser():
    return get_user_model().objects.create(username="root-matrix", is_staff=True, is_superuser=True)


def _moved_to(region: str) -> Callable[[World, object], None]:
    def move(world: World, user) -> None:
        personnel.region_admin_assign(user=user, region=world.objects["region"][region], actor=_superuser())

    return move


def _made_an_inspector(world: World, user) -> None:
    root = _superuser()
    personnel.region_admin_remove(binding=RegionAdmin.objects.get(user=user), actor=root)
    personnel.inspector_link_user(inspector=world.objects["inspector"]["li"], user=user, actor=root)


@dataclass(frozen=True)
class RoleChange:
    was: str
    change: Callable[[World, object], None]
    now: str
    admin_pages: bool = True  # False: the login stays staff, unlike the role it now matches


ROLE_CHANGES = {
    "city admin moved to 唐山": RoleChange(CITY, _moved_to("ts"), OTHER),
    "province admin moved to 石家庄": RoleChange(PROV, _moved_to("sjz"), CITY),
    "city admin moved down to 长安区": RoleChange(CITY, _moved_to("changan"), COUNTY),
    # the admin pages of a former admin are in tests/reports/test_exports_api.py
    "county admin now an inspector": RoleChange(COUNTY, _made_an_inspector, INSP, admin_pages=False),
}
AFTER_THE_CHANGE_KINDS = {"export_job"}


@pytest.mark.parametrize("change", list(ROLE_CHANGES))
def test_after_the_role_changed(world, db, change, _no_throttling):
    """Every export endpoint, every job (their own earlier ones too), for an admin whose role
    changed: statuses, leaks, list contents and counts are those of the role they hold now."""
    # given: a role that worked, then changed
    spec = ROLE_CHANGES[change]
    user = world.users[spec.was]
    assert user.export_jobs.exists()  # they made jobs while in their former role
    spec.change(world, get_user_model().objects.get(pk=user.pk))
    client = _client(world, spec.was)
    table = expectations()
    before = snapshot()
    problems: list[str] = []

    # when: every export endpoint is called with every job
    for method, template in sorted(discovered()):
        expect = table.get((method, template))
        if expect is None or not {expect.kind, expect.lists} & AFTER_THE_CHANGE_KINDS:
            continue
        if not spec.admin_pages and not template.startswith("/api/"):
            continue
        for key, path in concrete(world, template, expect):
            want = expected_status(expect, spec.now, key)
            with transaction.atomic():
                response = _send(client, method, path, expect, world)
                changed = snapshot() != before
                transaction.set_rollback(True)

            # then
            label = f"{method} {path} [{key or 'missing'}]"
            if not _matches(response.status_code, want):
                problems.append(f"{label}: {response.status_code}, expected {want} (as {spec.now})")
            if changed and not _may_write(expect, spec.now, key, want):
                problems.append(f"{label}: a refused write changed the database")
            if 200 <= response.status_code < 300:
                problems.extend(_leaks(world, spec.now, expect, key, label, response))

    assert not problems, f"{len(problems)} problem(s) after '{change}':\n" + "\n".join(problems)


def _leaks(world: World, role: str, expect: Expect, key: str | None, label: str, response) -> list[str]:
    problems = []
    text = body_text(response)
    if expect.markers == "public":
        foreign = {m: o for m, o in foreign_markers(world, ANON).items() if o != f"certificate:{key}"}
    elif expect.markers == "owner":
        foreign = foreign_markers(world, f"owner:{key}") if key else {}
    elif expect.markers == "register":
        published = register_markers(world)
        foreign = {m: o for m, o in foreign_markers(world, ANON).items() if m not in published}
    else:
        foreign = foreign_markers(world, role)
    for marker, obj in foreign.items():
        if marker in text:
            problems.append(f"{label}: shows {obj} ({marker})")
    if expect.lists:
        keys, count = listed_keys(world, expect.lists, response)
        want = expected_keys(world, expect.lists, role)
        if set(keys) != want or count != len(want) or len(keys) != len(set(keys)):
            problems.append(f"{label}: lists {sorted(keys)} (count {count}), expected {sorted(want)}")
    if expect.check is not None:
        try:
            expect.check(world, role, response.json())
        except AssertionError as exc:
            problems.append(f"{label}: {exc}")
    return problems


# --- writes with a body that would go through, for whoever may make them ------------------------


@dataclass(frozen=True)
class Write:
    method: str
    path: Callable[[World], str]
    body: Callable[[World], dict | list]
    status: dict[str, int]


def _pk(kind: str, key: str) -> Callable[[World], int]:
    return lambda w: w.pk(kind, key)


def _year(w: World) -> int:
    return w.today.year


def _new_person(region: str) -> Callable[[World], dict]:
    return lambda w: {
        "name": "新来的",
        "national_id": national_id_for(region, seq=909, birth="19900101"),
        "region": region,
        "sector": "coal",
    }


def _new_batch(region: str) -> Callable[[World], dict]:
    def body(w: World) -> dict:
        start = w.today + dt.timedelta(days=120)
        return {
            "course": "SEC-HY",
            "region": region,
            "starts_on": start.isoformat(),
            "ends_on": start.isoformat(),
            "enrollment_deadline": start.isoformat(),
            "capacity": 5,
        }

    return body


def _new_exam(region: str) -> Callable[[World], dict]:
    return lambda w: {
        "title": "补考",
        "kind": "annual",
        "region": region,
        "parts": [{"name": "综合", "max_score": "100"}],
    }


#                                                                       anon  insp  county other city  prov
WRITES: dict[str, Write] = {
    # a new inspector in 唐山: its admins and the province
    "inspector in 唐山": Write(
        "POST", lambda w: "/api/v1/inspectors/", _new_person("130202"), R(401, 403, 403, 201, 403, 201)
    ),
    "inspector in 长安区": Write(
        "POST", lambda w: "/api/v1/inspectors/", _new_person("130102"), R(401, 403, 201, 403, 201, 201)
    ),
    "edit 赵": Write(
        "PATCH",
        lambda w: f"/api/v1/inspectors/{w.pk('inspector', 'zhao')}/",
        lambda w: {"position": "科长"},
        R(401, 404, 404, 200, 404, 200),
    ),
    # moving 张 to 唐山 needs rights on both regions
    "move 张 to 唐山": Write(
        "PATCH",
        lambda w: f"/api/v1/inspectors/{w.pk('inspector', 'zhang')}/",
        lambda w: {"region": "130202"},
        R(401, 403, 403, 404, 403, 200),
    ),
    "batch in 长安区": Write(
        "POST", lambda w: "/api/v1/batches/", _new_batch("130102"), R(401, 403, 201, 403, 201, 201)
    ),
    "batch in 唐山": Write("POST", lambda w: "/api/v1/batches/", _new_batch("130200"), R(401, 403, 403, 201, 403, 201)),
    # 李 into 石家庄's batch: its admins; the county admin does not see the batch
    "enroll 李 in 石家庄's batch": Write(
        "POST",
        lambda w: f"/api/v1/batches/{w.pk('batch', 'b_sjz')}/enroll/",
        lambda w: {"inspector": w.pk("inspector", "li")},
        R(401, 404, 404, 404, 201, 201),
    ),
    # 赵 into 石家庄's batch: nobody there sees him; the province is told he is out of region
    "enroll 赵 in 石家庄's batch": Write(
        "POST",
        lambda w: f"/api/v1/batches/{w.pk('batch', 'b_sjz')}/enroll/",
        lambda w: {"inspector": w.pk("inspector", "zhao")},
        R(401, 404, 404, 404, 404, 409),
    ),
    "attendance in 石家庄's batch": Write(
        "POST",
        lambda w: f"/api/v1/batches/{w.pk('batch', 'b_sjz')}/attendance/",
        lambda w: {"day": w.objects["batch"]["b_sjz"].starts_on.isoformat(), "all_present": True},
        R(401, 403, 404, 404, 200, 200),
    ),
    "hours policy of 唐山": Write(
        "POST",
        lambda w: "/api/v1/hours-policies/",
        lambda w: {"region": "130200", "year": _year(w), "required_hours": "12"},
        R(401, 403, 403, 201, 403, 201),
    ),
    # an export of another region: the same 400 as for a region that does not exist
    "export of 唐山": Write(
        "POST",
        lambda w: "/api/v1/exports/",
        lambda w: {"kind": "roster", "year": _year(w), "region": "130200"},
        R(401, 403, 400, 202, 400, 202),
    ),
    "exam of 唐山": Write("POST", lambda w: "/api/v1/exams/", _new_exam("130200"), R(401, 403, 403, 201, 403, 201)),
    # a sitting of 唐山's exam: an exam one does not see is "not found" in the form
    "sitting of 唐山's exam": Write(
        "POST",
        lambda w: "/api/v1/sittings/",
        lambda w: {"exam": w.pk("exam", "ex_ts"), "held_on": w.today.isoformat()},
        R(401, 403, 400, 201, 400, 201),
    ),
    "suspend 周's certificate": Write(
        "POST",
        lambda w: f"/api/v1/certificates/{w.pk('certificate', 'zhou')}/suspend/",
        lambda w: {"reason": "测试"},
        R(401, 404, 404, 404, 200, 200),
    ),
    "cancel 赵's seat in 唐山": Write(
        "POST",
        lambda w: f"/api/v1/enrollments/{w.pk('enrollment', 'b_ts:zhao')}/cancel/",
        lambda w: {"reason": "测试"},
        R(401, 404, 404, 200, 404, 200),
    ),
}


@pytest.mark.parametrize("role", ROLES)
def test_writes_with_a_valid_body(world, db, role, _no_throttling):
    """A write that would succeed for its admins: refused (and writing nothing) for the others."""
    before = snapshot()
    client = _client(world, role)
    problems = []
    for name, write in WRITES.items():
        want = write.status[role]
        with transaction.atomic():
            response = client.generic(
                write.method, write.path(world), json.dumps(write.body(world)), content_type="application/json"
            )
            changed = snapshot() != before
            transaction.set_rollback(True)
        if response.status_code != want:
            problems.append(f"{name}: {response.status_code} {response.content[:300]!r}, expected {want}")
        if changed and not 200 <= want < 300:
            problems.append(f"{name}: refused, yet the database changed")
        if not changed and 200 <= want < 300:
            problems.append(f"{name}: accepted, yet nothing was written")
    assert not problems, "\n".join(problems)


def test_markers_are_real(world, db):
    """The leak search finds what it looks for: every marker shows where it belongs."""
    # given the province, who sees everything, and the inspector, who sees himself masked
    province = _client(world, PROV)
    texts = [
        body_text(province.get(path))
        for path in (
            "/api/v1/inspectors/",
            "/api/v1/certificates/",
            "/api/v1/batches/",
            "/api/v1/exams/",
            "/api/v1/questions/",
        )
    ]
    own = body_text(_client(world, INSP).get(f"/api/v1/inspectors/{world.pk('inspector', 'zhang')}/"))

    # then every name, number, phone, label, place and title is found, and the masked form too
    text = "\n".join(texts)
    unmasked = {m for ms in world.markers.values() for m in ms if "*" not in m}
    assert {m for m in unmasked if m not in text} == set()
    assert "1301**********111X" in own
    assert world.objects["inspector"]["zhang"].national_id not in own
