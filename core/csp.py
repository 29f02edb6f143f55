"""The Content-Security-Policy every response carries (ContentSecurityPolicyMiddleware, near
the top of settings.MIDDLEWARE so static files get it too).

Scripts and styles come from this site's own files only: no inline <script>, no onclick=,
no <style> block, no style="" attribute, no eval (the pages keep theirs in app/static/...;
Django's admin needs nothing more). A page that injects content (an attacker's markup in a
name, say) cannot run script through it. ``frame-ancestors`` says what X-Frame-Options says
(DENY: 'none'; SAMEORIGIN: 'self'; a view exempt from it: no directive).

One view needs more: the API reference at /api/redoc/ (Redoc styles itself with injected
<style> elements and parses the schema in a blob: worker); it is wrapped in ``csp_extend``.
tests/core/test_csp.py and tests/e2e/test_production_static.py check the policy and that the
pages log no violation in Chromium.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

HEADER = "Content-Security-Policy"

POLICY: dict[str, tuple[str, ...]] = {
    "default-src": ("'self'",),
    "script-src": ("'self'",),
    "style-src": ("'self'",),
    # data: for the small SVG icons stylesheets embed (Swagger UI's).
    "img-src": ("'self'", "data:"),
    "font-src": ("'self'",),
    "connect-src": ("'self'",),
    "object-src": ("'none'",),
    "base-uri": ("'self'",),
    "form-action": ("'self'",),
}

FRAME_ANCESTORS = {"DENY": "'none'", "SAMEORIGIN": "'self'"}


def policy_for(response, extra: dict[str, tuple[str, ...]] | None = None) -> str:
    """The header's value for ``response``: POLICY, plus ``extra`` sources per directive, plus
    frame-ancestors from the response's X-Frame-Options (or the setting, for responses the
    clickjacking middleware does not see, static files)."""
    from django.conf import settings

    directives = {name: list(sources) for name, sources in POLICY.items()}
    for name, sources in (extra or {}).items():
        directives.setdefault(name, list(POLICY["default-src"]))
        directives[name] += [s for s in sources if s not in directives[name]]
    if not getattr(response, "xframe_options_exempt", False):
        xfo = (response.get("X-Frame-Options") or getattr(settings, "X_FRAME_OPTIONS", "DENY")).upper()
        directives["frame-ancestors"] = [FRAME_ANCESTORS.get(xfo, "'none'")]
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = policy_for(response, getattr(response, "csp_extend", None))
        return response


def csp_extend(**directives: tuple[str, ...]) -> Callable:
    """View decorator: add sources to the policy of this view's responses only (directive
    names with underscores: ``style_src=("'unsafe-inline'",)``)."""
    extra = {name.replace("_", "-"): tuple(sources) for name, sources in directives.items()}

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            response.csp_extend = extra
            return response

        return wrapped

    return decorator
