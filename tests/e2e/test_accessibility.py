"""Every page the project renders passes axe-core with no WCAG 2.0 A or AA violation, in
Chinese and in English, and the overview and the lists do not shift after the first paint.

The pages are the permission matrix's (tests/security/test_permission_matrix.py): every GET
of a page it discovers, as every role it expects to get 200 there, with the first object of
the world (tests/security/conftest.py) that role sees; and a few it does not visit (the
admin's index, login and password change, the 404 page). Each is opened in headless Chromium
at 1366 x 768, and the public and inspector pages (/verify/..., /register/..., the logins, /me/ and its exams, /checkin/) also at
390 x 844, in zh-hans, and in en as the anonymous visitor, the inspector and the province's
admin (whose pages are every other admin's); axe-core (the copy bundled with axe-playwright-python) runs
with the tags wcag2a and wcag2aa only. Every violation is printed with its rule, impact,
target and URL; ``<html lang>`` must be the language asked for.

One server for the module, one browser per test: the world is built once and committed (the
server answers from another thread), the database is emptied after the module.

Layout shift: the overview and two lists, measured with a buffered PerformanceObserver after
load, must stay under 0.01 (Django's admin sidebar script used to add its class late: 0.498).
"""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections, transaction
from django.test import Client, override_settings
from django.test.testcases import LiveServerThread, _StaticFilesHandler

from tests.e2e.conftest import CHROMIUM, LAUNCH_ARGS, _missing
from tests.security.conftest import ADMIN_ROLES, ROLES, build_world
from tests.security.test_permission_matrix import concrete, discovered, expectations, expected_status

# Sync Playwright runs an event loop in this thread, and Django refuses ORM calls made while
# one runs; the database work is done before the browser starts.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

# The world is the module's (committed in ``site``, emptied after the module); django_db only
# gives the tests the test database.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]

LANGUAGES = ("zh-hans", "en")
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
AXE = Path(__import__("axe_playwright_python").__file__).with_name("axe.min.js")
# The admin's sidebar (every model's link) is the same on every page of a role: checked on the
# first page that has it, left out after (half of axe's time on an admin page).
AXE_RUN = """async (checkSidebar) => {
  const sidebar = document.getElementById("nav-sidebar");
  const context = sidebar && !checkSidebar ? {exclude: [["#nav-sidebar"]]} : document;
  const result = await axe.run(context, {
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa"]},
    resultTypes: ["violations"],
  });
  return {
    sidebarChecked: Boolean(sidebar && checkSidebar),
    lang: document.documentElement.lang,
    violations: result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(" ")),
    })),
  };
}"""
LAYOUT_SHIFT = """() => new Promise((resolve) => {
  let total = 0;
  const shifts = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.hadRecentInput) continue;
      total += entry.value;
      for (const source of entry.sources || []) {
        const node = source.node;
        shifts.push(`${entry.value.toFixed(3)} ${node ? (node.id ? "#" + node.id : node.nodeName) : "?"}`);
      }
    }
  }).observe({type: "layout-shift", buffered: true});
  setTimeout(() => resolve({total, shifts}), 300);
})"""

# GET endpoints the matrix visits that are no page: JSON, files, feeds, redirects.
NOT_PAGES = {
    "/healthz",
    "/favicon.ico",
    "/api/schema/",
    "/calendar/{token}.ics",
    "/admin/overview/lists/{name}.xlsx",
    "/admin/exams/sitting/{object_id}/template.xlsx",
    "/admin/exams/sitting/{object_id}/analysis.xlsx",
    "/admin/exams/exam/{object_id}/analysis.xlsx",
    "/admin/exams/question/template.xlsx",
    "/admin/reports/exportjob/{object_id}/download/",
}
# Pages the matrix leaves out (the admin's own views), by role.
MORE_PAGES = {
    **{role: ["/admin/", "/admin/password_change/"] for role in ADMIN_ROLES},
    "anonymous": ["/admin/login/"],
}
NOT_FOUND = "/no-such-page/"  # the 404 page, as someone not logged in
# Seen at a phone's size too: the public pages and the inspector's.
PHONE_PREFIXES = ("/verify/", "/register/", "/accounts/login/", "/admin/login/", "/me/", "/checkin/", NOT_FOUND)
# The API reference (Swagger UI, Redoc) speaks English whatever the site's language.
IN_ENGLISH = {"/api/docs/", "/api/redoc/"}
# The score grid and the attendance grid (made accessible in their own change).
GRIDS = {"/admin/exams/sitting/{object_id}/grid/", "/admin/training/batch/{object_id}/attendance/"}


def pages(world, role: str, *, grids: bool) -> list[tuple[str, str]]:
    """(template, path) of every page ``role`` gets with 200 in the permission matrix: the
    first object of the world the role sees for a page with one in its path."""
    table = expectations()
    found = []
    for method, template in sorted(discovered()):
        if method != "GET" or template.startswith("/api/v1") or template in NOT_PAGES:
            continue
        if (template in GRIDS) != grids:
            continue
        expect = table[(method, template)]
        for key, path in concrete(world, template, expect):
            if expected_status(expect, role, key) == 200:
                found.append((template, path))
                break
    if not grids:
        found += [(path, path) for path in MORE_PAGES.get(role, [])]
        if role == "anonymous":
            found.append((NOT_FOUND, NOT_FOUND))
    return found


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker, tmp_path_factory):
    """The permission matrix's world, committed, served by a live server in a thread; a
    session cookie per role. The database is emptied afterwards."""
    reason = _missing()
    if reason is not None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    media = tmp_path_factory.mktemp("a11y-media")
    overrides = override_settings(
        MEDIA_ROOT=media,
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        ALLOWED_HOSTS=["localhost", "127.0.0.1"],
        VERIFY_RATE=None,
        CERTIFICATE_ON_PASS="issue",  # as the world is built for the permission matrix
    )
    with overrides, django_db_blocker.unblock():
        try:
            with transaction.atomic():
                world = build_world()
            cookies = {}
            for role, user in world.users.items():
                if user is None:
                    continue
                client = Client()
                client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
                cookies[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
            shared = {c.alias: c for c in connections.all() if c.vendor == "sqlite" and c.is_in_memory_db()}
            for conn in shared.values():
                conn.inc_thread_sharing()
            server = LiveServerThread("localhost", _StaticFilesHandler, connections_override=shared)
            server.daemon = True
            server.start()
            server.is_ready.wait()
            if server.error:
                raise server.error
            # The pages too, before any browser starts (the schema generator behind
            # discovered() may read the database).
            listed = {(role, grids): pages(world, role, grids=grids) for role in ROLES for grids in (False, True)}
            try:
                yield {"url": f"http://localhost:{server.port}", "cookies": cookies, "pages": listed}
            finally:
                server.terminate()
                for conn in shared.values():
                    conn.dec_thread_sharing()
        finally:
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def browser(site):
    """Chromium, started for each test after its database fixture and stopped before that
    fixture's teardown: an ORM call while Playwright's event loop runs gets a connection of
    its own that nothing closes (PostgreSQL could then not drop the test database)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


def _context(browser, site, role: str, language: str):
    context = browser.new_context(viewport=DESKTOP, locale="en-US" if language == "en" else "zh-CN")
    context.set_default_timeout(20_000)
    cookies = [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": site["url"]}]
    if role in site["cookies"]:
        cookies.append({"name": settings.SESSION_COOKIE_NAME, "value": site["cookies"][role], "url": site["url"]})
    context.add_cookies(cookies)
    context.add_init_script(path=str(AXE))
    return context


def violations(browser, site, role: str, language: str, *, grids: bool) -> tuple[list[str], int]:
    """Every violation on the role's pages in the language, and how many pages were run. A
    response that is no HTML page (a download, JSON, a feed) is passed over: NOT_PAGES only
    saves the visit."""
    from playwright.sync_api import Error as PlaywrightError

    context = _context(browser, site, role, language)
    page = context.new_page()
    problems, runs, sidebar_checked = [], 0, False
    try:
        for template, path in site["pages"][(role, grids)]:
            sizes = [DESKTOP, PHONE] if path.startswith(PHONE_PREFIXES) else [DESKTOP]
            for size in sizes:
                page.set_viewport_size(size)
                where = f"{path} [{role}, {language}, {size['width']}x{size['height']}]"
                try:
                    response = page.goto(site["url"] + path)
                except PlaywrightError as error:
                    if "Download is starting" in str(error):
                        break  # a file, no page: axe has nothing to check
                    raise
                want = 404 if template == NOT_FOUND else 200
                if response.status != want:
                    problems.append(f"{where}: status {response.status}, expected {want}")
                    continue
                if not response.headers.get("content-type", "").startswith("text/html"):
                    break  # JSON, a file shown inline, a feed: no page for axe
                result = page.evaluate(AXE_RUN, not sidebar_checked)
                sidebar_checked = sidebar_checked or result["sidebarChecked"]
                runs += 1
                lang = "en" if template in IN_ENGLISH else language
                if result["lang"] != lang:
                    problems.append(f'{where}: <html lang="{result["lang"]}">, expected "{lang}"')
                for v in result["violations"]:
                    problems += [f"{where}: {v['id']} ({v['impact']}) at {t}: {v['help']}" for t in v["targets"]]
    finally:
        context.close()
    return problems, runs


# Every role in Chinese; in English the roles whose pages are the others' (the province's admin
# sees every admin page the other admins see, with more rows): the run stays within minutes.
IN_ENGLISH_AS = ("anonymous", "inspector", "province_admin")
RUNS = [(role, "zh-hans") for role in ROLES] + [(role, "en") for role in IN_ENGLISH_AS]
GRID_RUNS = [(role, "zh-hans") for role in ADMIN_ROLES] + [("province_admin", "en")]


@pytest.mark.parametrize(("role", "language"), RUNS)
def test_every_page_passes_axe(browser, site, role, language):
    problems, runs = violations(browser, site, role, language, grids=False)
    assert runs >= 3, runs
    assert not problems, f"{len(problems)} WCAG 2.0 A/AA violation(s) as {role} in {language}:\n" + "\n".join(problems)


@pytest.mark.parametrize(("role", "language"), GRID_RUNS)
def test_the_grids_pass_axe(browser, site, role, language):
    """The score grid and the attendance grid, as every admin who sees them."""
    problems, runs = violations(browser, site, role, language, grids=True)
    assert runs >= 1, runs
    assert not problems, f"{len(problems)} WCAG 2.0 A/AA violation(s) as {role} in {language}:\n" + "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_overview_and_lists_do_not_shift(browser, site, language):
    context = _context(browser, site, "province_admin", language)
    page = context.new_page()
    shifted = []
    try:
        for path in ("/admin/overview/", "/admin/personnel/inspector/", "/admin/training/batch/"):
            page.goto(site["url"] + path, wait_until="load")
            found = page.evaluate(LAYOUT_SHIFT)
            if found["total"] >= 0.01:
                shifted.append(f"{path} [{language}]: cumulative layout shift {found['total']:.3f} {found['shifts']}")
    finally:
        context.close()
    assert not shifted, "\n".join(shifted)
