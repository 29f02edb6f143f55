"""The app as deployed serves its own static files: `collectstatic` into a temporary
STATIC_ROOT, then gunicorn alone (debug off, no proxy, a SQLite file database) answers

- the public check page /verify/ and the admin login page with their stylesheets linked under
  hashed names (site.<12 hex>.css), each of which answers 200 with a year's immutable
  Cache-Control, and gzip-compressed when the client accepts it;
- a Content-Security-Policy header on pages and static files alike;
- HEAD with the GET status and no body (a page, a static file);
- /favicon.ico, redirected to the hashed icon;

and, when Chromium is here, /verify/ drawn with its stylesheet (the top bar in the brand colour)
without a single CSP violation.

The server's database is always a SQLite file of its own, migrated here, so nothing here depends
on the pass's database: the whole module carries the ``browser`` marker and CI runs it once, in
the services pass (the server, collectstatic included, is most of its time).
"""

from __future__ import annotations

import gzip
import http.client
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness import BASE_DIR, gunicorn, server_env

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(sys.executable).with_name("gunicorn").exists(),
        reason="gunicorn is missing (pip install -r requirements.txt)",
    ),
]

YEAR = 365 * 24 * 60 * 60
HASHED_CSS = r"/static/{}\.[0-9a-f]{{12}}\.css"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """gunicorn with debug off on a collected STATIC_ROOT; yields its base URL."""
    tmp = tmp_path_factory.mktemp("production-static")
    env = server_env(
        f"sqlite:///{tmp / 'db.sqlite3'}",
        cache_url=None,
        DJANGO_STATIC_ROOT=str(tmp / "static"),
        DATABASE_CONN_MAX_AGE="0",
    )
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp / "static" / "staticfiles.json").exists()  # the manifest of hashed names
    with gunicorn(env, workers=1, worker_class="sync", threads=1, log_path=tmp / "gunicorn.log") as server:
        yield server.base_url


def request(base_url: str, method: str, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def max_age(cache_control: str) -> int:
    found = re.search(r"max-age=(\d+)", cache_control)
    return int(found.group(1)) if found else 0


@pytest.mark.parametrize(
    ("page", "stylesheets"),
    [
        ("/verify/", ["exams/site"]),
        ("/admin/login/", ["admin/css/base", "core/admin"]),
    ],
)
def test_pages_link_hashed_stylesheets_served_with_long_cache(served, page, stylesheets):
    status, headers, body = request(served, "GET", page)
    assert status == 200, body[:500]
    csp = headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    html = body.decode()
    for name in stylesheets:
        found = re.search(HASHED_CSS.format(re.escape(name)), html)
        assert found, f"{page}: no hashed link to {name}.css in\n{html[:1500]}"
        url = found.group(0)

        status, headers, css = request(served, "GET", url)
        assert status == 200 and headers["content-type"].startswith("text/css")
        assert max_age(headers["cache-control"]) >= YEAR and "immutable" in headers["cache-control"]
        assert "content-security-policy" in headers

        status, zipped_headers, zipped = request(served, "GET", url, {"Accept-Encoding": "gzip"})
        assert status == 200 and zipped_headers.get("content-encoding") == "gzip"
        assert gzip.decompress(zipped) == css and len(zipped) < len(css)

        status, head_headers, nothing = request(served, "HEAD", url)
        assert (status, nothing) == (200, b"")
        assert head_headers["content-length"] == str(len(css))


def test_head_of_a_page_answers_without_a_body(served):
    status, headers, body = request(served, "HEAD", "/verify/")
    assert (status, body) == (200, b"")
    assert "content-security-policy" in headers


def test_favicon_redirects_to_the_hashed_icon(served):
    status, headers, _ = request(served, "GET", "/favicon.ico")
    assert status == 302 and max_age(headers.get("cache-control", "")) >= 3600
    assert re.fullmatch(r"/static/core/favicon\.[0-9a-f]{12}\.ico", headers["location"]), headers["location"]
    status, headers, icon = request(served, "GET", headers["location"])
    assert status == 200 and icon and max_age(headers["cache-control"]) >= YEAR


def test_verify_page_drawn_with_its_styles_and_no_csp_violation(served, chromium_available):
    from playwright.sync_api import sync_playwright

    messages: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_available)
        try:
            page = browser.new_page()
            page.on("console", lambda m: messages.append(m.text))
            page.add_init_script(CSP_LISTENER)
            failed: list[str] = []
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.goto(f"{served}/verify/")
            page.wait_for_load_state("load")
            topbar = page.evaluate("getComputedStyle(document.querySelector('.topbar')).backgroundColor")
            box = page.evaluate("getComputedStyle(document.body).boxSizing")
        finally:
            browser.close()
    assert topbar == "rgb(31, 78, 153)"  # --brand in exams/static/exams/site.css
    assert box == "border-box"
    assert not failed, failed
    assert not csp_violations(messages), messages


# Injected before any page script (Playwright's init scripts are not subject to the page's CSP):
# every violation is written to the console, where the test collects it with Chromium's own
# "Refused to ..." messages.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def csp_violations(messages: list[str]) -> list[str]:
    return [m for m in messages if m.startswith("CSP violation") or "Refused to" in m]
