"""The Content-Security-Policy (core.csp): its header on pages, API answers and redirects; the
one page allowed more (Redoc); frame-ancestors following X-Frame-Options; and no template or
HTML-building code of ours holding what the policy refuses (an inline <script>, a <style>
block, an on...= handler, a style="" attribute), so that a new one fails here before a browser
shows the page unstyled or dead. The browser side: tests/e2e/test_csp_pages.py."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.views.decorators.clickjacking import xframe_options_exempt

from core.csp import HEADER, policy_for

OUR_APPS = ["core", "personnel", "training", "exams", "reports"]
BASE = Path(settings.BASE_DIR)


def directives(response) -> dict[str, list[str]]:
    value = response[HEADER]
    return {part.split()[0]: part.split()[1:] for part in value.split("; ")}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/verify/", "/accounts/login/", "/admin/login/", "/api/v1/me/", "/favicon.ico"])
def test_every_response_carries_the_strict_policy(client, path):
    response = client.get(path)
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]  # X_FRAME_OPTIONS is DENY


@pytest.mark.django_db
def test_redoc_alone_may_use_inline_styles_and_blob_workers(client):
    redoc = directives(client.get("/api/redoc/"))
    assert "'unsafe-inline'" in redoc["style-src"] and "blob:" in redoc["worker-src"]
    assert redoc["script-src"] == ["'self'"]
    swagger = client.get("/api/docs/")
    assert directives(swagger)["style-src"] == ["'self'"]
    html = swagger.content.decode()
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []  # its start-up script has a URL
    assert client.get("/api/docs/?script").status_code == 200


def test_frame_ancestors_follow_x_frame_options(rf, settings):
    from django.http import HttpResponse

    response = HttpResponse()
    response["X-Frame-Options"] = "SAMEORIGIN"
    assert "frame-ancestors 'self'" in policy_for(response)
    settings.X_FRAME_OPTIONS = "SAMEORIGIN"
    assert "frame-ancestors 'self'" in policy_for(HttpResponse())  # a static file: the setting
    exempt = xframe_options_exempt(lambda request: HttpResponse())(rf.get("/"))
    assert "frame-ancestors" not in policy_for(exempt)


# A one-line string literal of Python code with a tag in it.
STRING_WITH_TAG = re.compile(r"'[^'\n]*<[^'\n]*'" + r'|"[^"\n]*<[^"\n]*"')
INLINE = {
    "inline <script>": re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>"),
    "<style> block": re.compile(r"<style[\s>]"),
    "on...= handler": re.compile(r"<[^>]*\son[a-z]+\s*=", re.S),
    'style="" attribute': re.compile(r"<[^>]*\sstyle\s*=", re.S),
}


def test_no_template_or_html_of_ours_needs_unsafe_inline():
    found = []
    for app in OUR_APPS:
        for path in sorted((BASE / app).rglob("*")):
            if path.suffix not in {".html", ".py"} or "migrations" in path.parts or path.name.startswith("test"):
                continue
            text = path.read_text(encoding="utf-8")
            text = re.sub(r"{% comment %}.*?{% endcomment %}|{#.*?#}", "", text, flags=re.S)
            if path.suffix == ".py":  # HTML built in code (format_html and the like): its string literals
                text = "\n".join(STRING_WITH_TAG.findall(text))
            for what, pattern in INLINE.items():
                found += [f"{path.relative_to(BASE)}: {what}: {m.group(0)[:80]!r}" for m in pattern.finditer(text)]
    assert not found, "the Content-Security-Policy refuses these:\n" + "\n".join(found)
