"""The baselines of ``bench.load`` and ``bench.online_exam``: plain Django function views, no
REST framework, answering with ``JsonResponse``.

The two of ``bench.load`` run the very same SQL as their project twins (``bench.load`` checks
that, statement by statement, before it starts the server):

- ``bare_me`` (``/bare/me/``) is ``/api/v1/me/`` without DRF: the token is checked by
  ``core.tokens.api_token_authenticate``, the function the project's authentication class
  calls, then ``exams.me.inspector_dashboard`` assembles the data and
  ``exams.me.dashboard_json`` writes it, as the project's view does.
- ``bare_verify`` (``/bare/verify/<number>/``) is ``/api/v1/certificates/verify/<number>/``
  without DRF and without the per-client rate limit: ``exams.selectors.certificate_verify``
  and ``JsonResponse``.
- ``bare_answer_save`` (``PUT /bare/attempts/<id>/answers/``, body ``{"answers": {"7": "B"}}``)
  is the peer of ``PUT /api/v1/attempts/{id}/answers/`` in ``bench.online_exam``: the token
  checked by the same function, then one UPDATE of the answer row by (attempt, position),
  limited to the caller's own attempt while it is active and before its deadline (so a
  candidate cannot write another's paper or answer late), and ``JsonResponse``. Nothing
  else: no DRF, no service, no check that the answer is one of the question's options, no
  event, no answer read back.

What the project's views pay on top is what the load benchmark measures: ``APIView``
dispatch, content negotiation, the authentication, permission and throttle classes,
the renderer. Mounted only by ``bench.settings_load``, beside ``bench.me_before`` (the
``/api/v1/me/`` the project had before issue 13, the peer of the CPU-per-request goal).
"""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

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


# The minimum correct write of one answer: the caller's own attempt, still active, before its
# deadline (the server's clock), the row found by its unique (attempt, position).
BARE_ANSWER_UPDATE = (
    "UPDATE exams_attemptitem AS item SET answer = %s, answered_at = %s "
    "FROM exams_attempt AS attempt "
    "WHERE item.attempt_id = %s AND item.position = %s AND attempt.id = item.attempt_id "
    "AND attempt.inspector_id = %s AND attempt.state = 'active' AND attempt.deadline > %s"
)


@csrf_exempt  # a token call, as DRF's views are (they are CSRF-exempt unless a session authenticates)
@require_http_methods(["PUT"])
def bare_answer_save(request, attempt_id: int):
    user = _token_user(request)
    if user is None:
        return _json({"code": "not_authenticated"}, status=401)
    inspector = getattr(user, "inspector", None)  # loaded with the token (API_TOKEN_USER_RELATED)
    try:
        answers = json.loads(request.body)["answers"]
        rows = [(int(position), answer) for position, answer in answers.items()]
    except (ValueError, KeyError, TypeError, AttributeError):
        return _json({"code": "invalid"}, status=400)
    if inspector is None or not rows or any(not isinstance(a, str) or len(a) > 12 for _p, a in rows):
        return _json({"code": "invalid"}, status=400)
    now = timezone.now()
    saved = 0
    with connection.cursor() as cursor:
        for position, answer in rows:
            cursor.execute(BARE_ANSWER_UPDATE, [answer, now, attempt_id, position, inspector.pk, now])
            saved += cursor.rowcount
    if saved != len(rows):
        return _json({"code": "not_found"}, status=404)
    return _json({"saved": saved})
