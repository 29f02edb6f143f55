"""Views that fail, for tests/core/test_api_errors.py: under /api/ and as pages."""

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.db import OperationalError, ProgrammingError
from django.http import HttpResponse
from django.urls import include, path
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework import exceptions
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny


def _raise(exc):
    def view(request):
        raise exc

    return view


@api_view(["GET"])
@permission_classes([AllowAny])
def drf_boom(request):
    raise RuntimeError("a bug in a DRF view")


@api_view(["GET"])
@permission_classes([AllowAny])
def drf_database_down(request):
    raise OperationalError("server closed the connection unexpectedly")


class Maintenance(exceptions.APIException):
    status_code = 503
    default_detail = "维护中。"
    default_code = "maintenance"


@api_view(["GET"])
@permission_classes([AllowAny])
def drf_service_unavailable(request):
    raise Maintenance()


@api_view(["GET"])
@permission_classes([AllowAny])
def drf_cache_down(request):
    raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def fine(request):
    return HttpResponse("fine")


urlpatterns = [
    path("api/drf-boom/", drf_boom),
    path("api/drf-database-down/", drf_database_down),
    path("api/drf-cache-down/", drf_cache_down),
    path("api/drf-maintenance/", drf_service_unavailable),
    path("api/plain-boom/", _raise(ValueError("a bug in a plain view"))),
    path("api/bad-sql/", _raise(ProgrammingError('relation "nothing" does not exist'))),
    path("api/fine/", fine),
    path("api/bad-request/", _raise(BadRequest("no"))),
    path("api/suspicious/", _raise(SuspiciousOperation("a forged path"))),
    path("api/forbidden/", _raise(PermissionDenied())),
    path("pages/bad-request/", _raise(BadRequest("no"))),
    path("pages/boom/", _raise(RuntimeError("a bug in a page"))),
    path("pages/fine/", fine),
    path("", include("config.urls")),
]
handler404 = "core.errors.not_found"
handler400 = "core.errors.bad_request_view"
handler403 = "core.errors.permission_denied_view"
handler500 = "core.errors.server_error_view"
