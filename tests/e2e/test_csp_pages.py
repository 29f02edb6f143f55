"""The pages pass their Content-Security-Policy (core.csp): on the demo province (seed_demo),
headless Chromium opens, as an anonymous visitor, an inspector and the province's admin,

- the public pages: /verify/, a certificate's result, the register (/register/, its changes), the inspector login, /me/;
- the admin: login, index, every list the province admin sees, the overview and its lists
  page, the batch form with its date widgets' calendar opened and the course's
  "add another" popup, the batch's attendance grid and sign-in sheet, a sitting's score grid,
  an inspector's form and printable dossier;
- the API reference (Swagger UI; Redoc, which alone is allowed inline styles);

and fails on any violation: Chromium's "Refused to ..." console messages and every
securitypolicyviolation event (written to the console by an init script, which the page's
policy does not cover), with the page it happened on. tests/e2e/test_production_static.py
checks the same under gunicorn with debug off.

Skipped when Chromium or Playwright is missing, except under REQUIRE_SERVICES=1 (CI).
"""

import io
import os

import pytest
from django.core.management import call_command
from django.urls import reverse

from exams.models import Certificate, Sitting
from personnel.models import Inspector
from tests.e2e.test_admin_layout import PASSWORD, lists_for
from tests.e2e.test_production_static import CSP_LISTENER, csp_violations
from training.models import Batch

# Sync Playwright runs an event loop in this thread; the database is read before it starts.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(db):
    from django.contrib.auth import get_user_model

    call_command("seed_demo", inspectors=60, stdout=io.StringIO())
    batch = Batch.objects.order_by("-starts_on").first()
    inspector = Inspector.objects.filter(user__username="inspector").first()
    province_admin = get_user_model().objects.get(username="province_admin")
    return {
        "certificate": Certificate.objects.order_by("pk").first().number,
        "batch": batch.pk,
        "sitting": Sitting.objects.order_by("pk").first().pk,
        "inspector": inspector.pk,
        "lists": lists_for(province_admin),
    }


def test_no_page_violates_the_content_security_policy(chromium_available, live_server, demo):
    from playwright.sync_api import sync_playwright

    base = live_server.url
    seen: list[str] = []
    problems: list[str] = []

    def watch(context):
        def on_console(message):
            if csp_violations([message.text]):
                problems.append(f"{message.page.url if message.page else '?'}: {message.text}")

        context.on("console", on_console)
        context.on("weberror", lambda error: problems.append(f"script error: {error.error}"))
        context.add_init_script(CSP_LISTENER)

    def visit(page, path: str) -> None:
        response = page.goto(base + path)
        page.wait_for_load_state("load")
        assert response.status < 400, (path, response.status)
        assert "/login/" in path or "/login/" not in page.url, f"{path}: sent to the login page"
        seen.append(path)

    def login(page, url: str, username: str) -> None:
        page.goto(base + url)
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        with page.expect_navigation():
            page.press("#id_password", "Enter")  # (the language switch has buttons too)

    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_available)
        try:
            # an anonymous visitor
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            watch(context)
            page = context.new_page()
            for path in [
                "/verify/",
                f"/verify/{demo['certificate']}/",
                "/register/",
                "/register/changes/",
                "/accounts/login/",
                "/admin/login/",
            ]:
                visit(page, path)
            visit(page, "/api/docs/")
            page.wait_for_selector(".swagger-ui", timeout=20_000)
            visit(page, "/api/redoc/")
            page.wait_for_timeout(1_500)  # Redoc draws after fetching the schema
            context.close()

            # the inspector
            context = browser.new_context(viewport={"width": 390, "height": 844})
            watch(context)
            page = context.new_page()
            login(page, "/accounts/login/", "inspector")
            visit(page, "/me/")
            context.close()

            # the province's admin
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            context.set_default_timeout(20_000)
            watch(context)
            page = context.new_page()
            login(page, "/admin/login/?next=/admin/", "province_admin")
            for path in demo["lists"]:
                visit(page, path)
            batch = demo["batch"]
            visit(page, reverse("reports:lists"))
            visit(page, f"/admin/training/batch/{batch}/attendance/")
            visit(page, f"/admin/training/batch/{batch}/sign-in-sheet/")
            visit(page, f"/admin/exams/sitting/{demo['sitting']}/grid/")
            visit(page, f"/admin/personnel/inspector/{demo['inspector']}/change/")
            visit(page, f"/admin/personnel/inspector/{demo['inspector']}/dossier/")

            # a form with date widgets (their calendar opened) and a related-object popup
            visit(page, "/admin/training/batch/add/")
            calendar = page.locator("a[id^=calendarlink]").first
            calendar.click()
            page.locator(".calendarbox").first.wait_for(state="visible")
            with page.expect_popup() as opened:
                page.locator("a.related-widget-wrapper-link.add-related").first.click()
            popup = opened.value
            popup.wait_for_load_state("load")
            assert "_popup=1" in popup.url
            seen.append(popup.url)
            context.close()
        finally:
            browser.close()

    assert len(seen) > 15, seen
    assert not problems, "\n".join(problems)
