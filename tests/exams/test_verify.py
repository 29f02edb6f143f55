"""Public certificate verification: the page, the API, what they reveal (and do not), the
rate limit per client, and the QR code's URL."""

import datetime as dt
import os
import uuid

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from core import throttles as core_throttles
from exams import numbers, services, throttles
from exams.models import Certificate
from exams.qr import qr_svg, verify_url
from tests.factories import InspectorFactory

PHONE = "13912345678"
VERIFY_FIELDS = {"number", "status", "status_display", "holder", "region", "issued_on", "valid_until"}


@pytest.fixture(autouse=True)
def _clear_cache():
    # The rate limit counts in the default cache; each test starts with a clean budget.
    cache.clear()
    yield
    cache.clear()


class LimiterClock:
    """The verify limiter's clock, held still (the limit counts the requests of the last 60
    seconds, so a test's Retry-After and window edges do not depend on the real clock)."""

    def __init__(self):
        self.now = 1_800_000_030.0  # 30 s into a window (the epoch second is a multiple of 60)

    def time(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def limiter_clock(monkeypatch) -> LimiterClock:
    clock = LimiterClock()
    monkeypatch.setattr(throttles, "time", clock)
    return clock


@pytest.fixture
def holder(regions):
    return InspectorFactory(name="张小三", region=regions["changan"], phone=PHONE)


@pytest.fixture
def certificate(holder, regions):
    return services.certificate_issue(
        holder=holder, region=regions["sjz"], actor=None, issued_on=timezone.localdate() - dt.timedelta(days=30)
    )


def unknown_number() -> str:
    """Well formed, right check character, never issued."""
    return numbers.make(province_prefix="13", year=2001, serial=999_999)


def api_url(number):
    return reverse("api-certificate-verify", kwargs={"number": number})


def page_url(number):
    return reverse("verify", kwargs={"number": number})


# --- what verification shows -----------------------------------------------------------------


def test_api_returns_exactly_the_public_fields(api_client, certificate, holder):
    # when
    response = api_client.get(api_url(certificate.number))

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-cache, no-store, max-age=0"
    body = response.json()
    assert set(body) == VERIFY_FIELDS
    assert body["number"] == certificate.number
    assert body["status"] == "valid"
    assert body["status_display"] == "有效"
    assert body["holder"] == "张*三"
    assert body["region"] == "石家庄市"
    assert body["valid_until"] == certificate.valid_until.isoformat()
    text = response.content.decode()
    assert holder.national_id not in text
    assert PHONE not in text
    assert "张小三" not in text


def test_api_needs_no_login_and_ignores_credentials(certificate, inspector_user):
    # given: a client with a session of someone else; the answer must not depend on it
    client = Client()
    client.force_login(inspector_user)

    # when
    anonymous = Client().get(api_url(certificate.number))
    signed_in = client.get(api_url(certificate.number))

    # then
    assert anonymous.status_code == signed_in.status_code == 200
    assert anonymous.json() == signed_in.json()


def test_page_shows_status_masked_holder_region_and_validity(client, certificate, holder):
    # when
    response = client.get(page_url(certificate.number))

    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert '<meta charset="utf-8">' in html
    assert 'name="viewport"' in html
    assert "张*三" in html
    assert "有效" in html
    assert "石家庄市" in html
    assert f"{certificate.valid_until.year}年{certificate.valid_until.month}月{certificate.valid_until.day}日" in html
    assert "tone-green" in html
    assert holder.national_id not in html
    assert PHONE not in html
    assert "张小三" not in html


@pytest.mark.parametrize(
    ("change", "status", "label", "tone"),
    [
        (
            lambda c: services.certificate_suspend(certificate=c, reason="案卷评查不合格", actor=None),
            "suspended",
            "暂扣",
            "red",
        ),
        (lambda c: services.certificate_revoke(certificate=c, reason="出借证件", actor=None), "revoked", "吊销", "red"),
    ],
)
def test_page_and_api_show_a_changed_status(client, certificate, change, status, label, tone):
    # given
    change(certificate)

    # when
    page = client.get(page_url(certificate.number))
    api = client.get(api_url(certificate.number))

    # then
    assert f"tone-{tone}" in page.content.decode()
    assert label in page.content.decode()
    assert api.json()["status"] == status
    assert api.json()["status_display"] == label


def test_number_is_found_however_it_is_typed(client, certificate):
    # given: the printed form, with full-width digits and spaces
    n = certificate.number
    typed = f"冀应急执字第 {n[:2]} {n[2:6]} {n[6:12]} {n[12]}号".translate(
        str.maketrans("0123456789", "０１２３４５６７８９")
    )

    # when
    api = client.get(api_url(typed))
    form = client.get(reverse("verify-form"), {"number": typed})

    # then
    assert api.status_code == 200
    assert api.json()["number"] == n
    assert form.status_code == 302
    assert form["Location"] == page_url(n)


def test_the_form_page_is_chinese_and_has_a_number_box(client, db):
    response = client.get(reverse("verify-form"))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<meta charset="utf-8">' in html
    assert 'name="number"' in html
    assert "行政执法证核验" in html


# --- misses reveal nothing ---------------------------------------------------------------------


@pytest.mark.parametrize("other", ["malformed", "bad-check", "unknown"])
def test_unknown_and_malformed_numbers_get_the_same_404(client, certificate, other):
    # given
    candidates = {
        "malformed": "abc",
        "bad-check": certificate.number[:-1] + ("0" if certificate.number[-1] != "0" else "1"),
        "unknown": unknown_number(),
    }
    reference = unknown_number()

    # when
    api_other, api_ref = client.get(api_url(candidates[other])), client.get(api_url(reference))
    page_other, page_ref = client.get(page_url(candidates[other])), client.get(page_url(reference))

    # then
    assert api_other.status_code == api_ref.status_code == 404
    assert api_other.content == api_ref.content
    assert api_other.json() == {"code": "not_found", "detail": "未找到该证号。", "fields": {}}
    assert page_other.status_code == page_ref.status_code == 404
    assert page_other.content == page_ref.content
    assert candidates[other] not in page_other.content.decode()


def test_a_malformed_number_in_the_form_is_the_same_404(client, certificate):
    # when
    from_form = client.get(reverse("verify-form"), {"number": "<script>1</script>"})
    unknown = client.get(page_url(unknown_number()))

    # then
    assert from_form.status_code == 404
    assert from_form.content == unknown.content


# --- the rate limit ------------------------------------------------------------------------


def test_api_is_throttled_per_client_after_the_limit(client, certificate, settings):
    # given
    settings.VERIFY_RATE = "3/min"
    url = api_url(certificate.number)

    # when
    codes = [client.get(url).status_code for _ in range(4)]
    throttled = client.get(url)

    # then
    assert codes == [200, 200, 200, 429]
    assert throttled.status_code == 429
    body = throttled.json()
    assert set(body) == {"code", "detail", "fields"}
    assert (body["code"], body["fields"]) == ("throttled", {})
    assert throttled["Retry-After"] == "60"  # until the first of the three leaves the window


def test_misses_count_against_the_limit_too(client, certificate, settings):
    # given: walking the number space is what the limit is for
    settings.VERIFY_RATE = "2/min"

    # when
    codes = [client.get(api_url(unknown_number())).status_code for _ in range(3)]

    # then
    assert codes == [404, 404, 429]


def test_page_is_throttled_with_a_chinese_429(client, certificate, settings):
    # given
    settings.VERIFY_RATE = "2/min"
    url = page_url(certificate.number)

    # when
    codes = [client.get(url).status_code for _ in range(2)]
    throttled = client.get(url)

    # then
    assert codes == [200, 200]
    assert throttled.status_code == 429
    html = throttled.content.decode()
    assert "查询过于频繁" in html
    assert '<meta charset="utf-8">' in html
    assert "张*三" not in html
    assert int(throttled["Retry-After"]) > 0


def test_page_and_api_share_one_budget(client, certificate, settings):
    # given
    settings.VERIFY_RATE = "2/min"

    # when
    first = client.get(page_url(certificate.number))
    second = client.get(api_url(certificate.number))
    third_page = client.get(page_url(certificate.number))
    third_api = client.get(api_url(certificate.number))

    # then
    assert (first.status_code, second.status_code) == (200, 200)
    assert (third_page.status_code, third_api.status_code) == (429, 429)


def test_the_budget_is_any_sixty_seconds_not_the_clock_minute(client, certificate, settings, limiter_clock):
    # given: the budget spent one second before a clock minute ends
    settings.VERIFY_RATE = "2/min"
    url = api_url(certificate.number)
    limiter_clock.now = 1_800_000_059.0
    codes = [client.get(url).status_code for _ in range(2)]
    throttled = client.get(url)

    # when: the next clock minute begins (a fixed window let a second budget through here),
    # then 60 seconds after the first two
    limiter_clock.now = 1_800_000_060.0
    at_the_minute = client.get(url)
    limiter_clock.now = 1_800_000_118.9
    just_before = client.get(url)
    limiter_clock.now = 1_800_000_119.0
    fresh = client.get(url)

    # then
    assert codes == [200, 200]
    assert (throttled.status_code, throttled["Retry-After"]) == (429, "60")
    assert (at_the_minute.status_code, at_the_minute["Retry-After"]) == (429, "59")
    assert just_before.status_code == 429
    assert fresh.status_code == 200


def test_no_burst_of_twice_the_limit_across_a_minute_boundary(client, certificate, settings, limiter_clock):
    # given: 30/min, a client sending 120 requests over 1.3 s across hh:mm:00
    settings.VERIFY_RATE = "30/min"
    url = api_url(certificate.number)
    admitted = 0
    for i in range(120):
        limiter_clock.now = 1_800_000_059.4 + i * 0.011
        admitted += client.get(url).status_code == 200

    # then: 30, not 60
    assert admitted == 30


def test_clients_are_counted_apart_and_a_forged_forwarded_for_does_not_help(certificate, settings):
    # given
    settings.VERIFY_RATE = "1/min"
    a, b = Client(REMOTE_ADDR="10.0.0.1"), Client(REMOTE_ADDR="10.0.0.2")
    url = api_url(certificate.number)

    # when
    a_first = a.get(url)
    a_forged = a.get(url, HTTP_X_FORWARDED_FOR="203.0.113.9")
    b_first = b.get(url)

    # then
    assert a_first.status_code == 200
    assert a_forged.status_code == 429
    assert b_first.status_code == 200


def _fail(*args, **kwargs):
    raise AssertionError("the verify limit must not use the cache's get(), set(), add() or incr() on Redis")


@pytest.mark.services("broker")
def test_on_redis_the_limit_counts_in_one_script_with_an_expiry(client, certificate, monkeypatch):
    # given: Redis as the cache (the broker's server, under a prefix of this test's own);
    # Django's get() and set() are two round trips there (and race), the limiter's script one
    url = os.environ["CELERY_BROKER_URL"]
    if not url.startswith("redis://"):
        pytest.skip("the broker is not Redis")
    prefix = f"test-verify-{uuid.uuid4().hex}"
    redis_cache = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": prefix}
    }
    for method in ("get", "set", "add", "incr"):
        monkeypatch.setattr(RedisCache, method, _fail)

    with override_settings(CACHES=redis_cache, VERIFY_RATE="3/min"):
        backend = caches["default"]
        redis = core_throttles.redis_client(backend)
        try:
            # when: page and API together, past the limit
            codes = [client.get(api_url(certificate.number)).status_code for _ in range(2)]
            codes.append(client.get(page_url(certificate.number)).status_code)
            throttled = client.get(api_url(certificate.number))
            keys = redis.keys(f"{prefix}:*")

            # then
            assert codes == [200, 200, 200]
            assert throttled.status_code == 429
            assert throttled.json()["code"] == "throttled"
            assert 0 < int(throttled["Retry-After"]) <= 61
            assert len(keys) == 1
            assert redis.zcard(keys[0]) == 3  # the admitted requests; the refused one is not kept
            assert 0 < redis.ttl(keys[0]) <= 60
            assert core_throttles.redis_client(backend) is redis
        finally:
            if keys := redis.keys(f"{prefix}:*"):
                redis.delete(*keys)


# --- the schema ----------------------------------------------------------------------------------


def test_the_schema_documents_the_verify_api(db):
    # given
    from drf_spectacular.generators import SchemaGenerator

    # when
    schema = SchemaGenerator().get_schema(request=None, public=True)

    # then
    operation = schema["paths"]["/api/v1/certificates/verify/{number}/"]["get"]
    assert operation["operationId"] == "certificates_verify"
    assert operation["security"] == []  # public: no authentication (core.schema)
    assert set(operation["responses"]) == {"200", "404", "429", "500", "503"}
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/Verify"}
    assert set(schema["components"]["schemas"]["Verify"]["properties"]) == VERIFY_FIELDS


# --- the QR code -------------------------------------------------------------------------------


def test_verify_url_prefers_site_url(rf, settings):
    # given
    settings.SITE_URL = "https://zhifa.example.gov.cn/"

    # when
    url = verify_url(rf.get("/", HTTP_HOST="127.0.0.1"), "1320250000017")

    # then
    assert url == "https://zhifa.example.gov.cn/verify/1320250000017/"


def test_verify_url_falls_back_to_the_request_host(rf, settings):
    settings.SITE_URL = ""

    url = verify_url(rf.get("/", HTTP_HOST="testserver"), "1320250000017")

    assert url == "http://testserver/verify/1320250000017/"


def test_qr_svg_is_an_inline_svg():
    svg = qr_svg("https://zhifa.example.gov.cn/verify/1320250000017/")

    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg


def test_a_certificate_past_its_date_verifies_as_expired_before_the_nightly_sweep(api_client, certificate):
    # given: a valid certificate whose date passed yesterday; the nightly sweep has not run
    Certificate.objects.filter(pk=certificate.pk).update(
        status="valid", valid_until=timezone.localdate() - dt.timedelta(days=1)
    )
    # when
    body = api_client.get(api_url(certificate.number)).json()
    # then
    assert body["status"] == "expired"
