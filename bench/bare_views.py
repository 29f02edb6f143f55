"""The baselines of ``bench.load``: plain Django function views, no REST framework.

Each runs the very same SQL as its project twin (``bench.load`` checks that, statement by
statement, before it starts the server) and answers with ``JsonResponse``:

- ``bare_me`` (``/bare/me/``) is ``/api/v1/me/`` without DRF: the token is checked by
  ``core.tokens.api_token_authenticate``, the function the project's authentication class
  calls, then ``exams.me.inspector_dashboard`` assembles the data and
  ``exams.me.dashboard_json`` writes it, as the project's view does.
- ``bare_verify`` (``/bare/verify/<number>/``) is ``/api/v1/certificates/verify/<number>/``
  without DRF and without the per-client rate limit: ``exams.selectors.certificate_verify``
  and ``JsonResponse``.

What the project's views pay on top is what the load benchmark measures: ``APIView``
dispatch, content negotiation, the authentication, permission and throttle classes,
the renderer. Mounted only by ``bench.settings_load``, beside ``bench.me_before`` (the
``/api/v1/me/`` the project had before issue 13, the peer of the CPU-per-request goal).
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from core.errors import NotFound
from core.tokens import TokenRefused, api_token_authenticate
from exams.me import dashboard_json, inspector_dashboard
from exams.selectors import certificate_verify

# What DRF's JSONRenderer writes: UTF-8 as is, no spaces.
JSON_OPTIONS = {"ensure_ascii": False, "separators": (",", ":")}


def _json(data, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, encoder=DjangoJSONEncoder, json_dumps_params=JSON_OPTIONS)


def _token_user(request):
    """The user of an ``Authorization: Token <key>`` header, or None (the project's check)."""
    keyword, _sep, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if keyword != "Token" or not key:
        return None
    try:
        return api_token_authenticate(key=key).user
    except TokenRefused:
        return None


@require_GET
def bare_me(request):
    user = _token_user(request)
    if user is None:
        return _json({"code": "not_authenticated"}, status=401)
    try:
        data = inspector_dashboard(actor=user)
    except NotFound:
        return _json({"code": "not_found"}, status=404)
    return _json(dashboard_json(data, request))


@require_GET
def bare_verify(request, number: str):
    found = certificate_verify(number=number)
    if found is None:
        return _json({"code": "not_found"}, status=404)
    response = _json(found)
    response["Cache-Control"] = "no-cache, no-store, max-age=0"
    return response
