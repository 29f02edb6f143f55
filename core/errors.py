"""Domain errors and the one API exception handler that shapes them.

Every error an API client sees has the same body:
``{"code": "...", "detail": "...", "fields": {...}}``.
Services raise the domain errors below; they know nothing about HTTP.
"""

from __future__ import annotations

import logging
import sys

from django.core.exceptions import BadRequest, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext_lazy as _
from django.views.defaults import bad_request, page_not_found, permission_denied, server_error
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class DomainError(Exception):
    """A rule of the domain refused the request."""

    code = "invalid"
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = _("请求无效。")

    def __init__(self, detail=None, *, code: str | None = None, fields: dict | None = None):
        self.detail = str(detail if detail is not None else self.default_detail)
        if code:
            self.code = code
        self.fields = fields or {}
        super().__init__(self.detail)


class ValidationFailed(DomainError):
    code = "invalid"
    status_code = status.HTTP_400_BAD_REQUEST


class AccessDenied(DomainError):
    code = "permission_denied"
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = _("无权执行此操作。")


class NotFound(DomainError):
    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = _("未找到。")


class Conflict(DomainError):
    code = "conflict"
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("与现有数据冲突。")


def _flatten(value):
    if isinstance(value, dict):
        return {k: _flatten(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_flatten(v) for v in value]
    return str(value)


def exception_handler(exc, context):
    """Turn domain, Django and DRF errors into ``{"code", "detail", "fields"}``."""
    if isinstance(exc, DomainError):
        body = {"code": exc.code, "detail": exc.detail, "fields": _flatten(exc.fields)}
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {}
        detail = "; ".join(exc.messages) if not fields else str(_("提交的数据有误。"))
        exc = exceptions.ValidationError(detail=fields or detail)
        body = {"code": "invalid", "detail": detail, "fields": _flatten(fields)}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        data = exc.detail
        if isinstance(data, dict):
            non_field = data.get("non_field_errors")
            detail = "; ".join(str(m) for m in non_field) if non_field else str(_("提交的数据有误。"))
            fields = {k: v for k, v in data.items() if k != "non_field_errors"}
        else:
            detail = "; ".join(str(m) for m in data) if isinstance(data, list) else str(data)
            fields = {}
        response.data = {"code": "invalid", "detail": detail, "fields": _flatten(fields)}
        return response
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    code = codes if isinstance(codes, str) else "error"
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    response.data = {"code": code, "detail": str(detail), "fields": {}}
    if response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE and "Retry-After" not in response:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def not_found(request, exception=None):
    """``handler404``: an API path no route matches (``/api/v1/batches/abc/``) answers with the
    error envelope like every other API error; other paths get Django's page."""
    if request.path.startswith("/api/"):
        body = {"code": "not_found", "detail": str(NotFound.default_detail), "fields": {}}
        return JsonResponse(body, status=status.HTTP_404_NOT_FOUND)
    return page_not_found(request, exception)


# --- Unhandled exceptions under /api/: the same body as every other API error ------------------

logger = logging.getLogger("django.request")

# Seconds a client is asked to wait (Retry-After) when a dependency is unreachable.
RETRY_AFTER_SECONDS = 5


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    """Exceptions meaning "a service the request needs is unreachable right now", not a bug:
    the database (refused, restarted, gone away) and Redis or the broker (refused, timed out)."""
    errors: list[type[BaseException]] = [OperationalError, InterfaceError]
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        errors += [RedisConnectionError, RedisTimeoutError]
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    try:
        from kombu.exceptions import OperationalError as BrokerError

        errors.append(BrokerError)
    except ImportError:  # pragma: no cover - kombu comes with celery
        pass
    return tuple(errors)


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


def unhandled_response(exc: BaseException | None) -> JsonResponse:
    """The API's answer to an exception nothing else handled: 503 with Retry-After when a
    dependency is unreachable, else 500; both in the ``{code, detail, fields}`` body."""
    if exc is not None and isinstance(exc, _unavailable_errors()):
        body = {"code": "service_unavailable", "detail": str(_("服务暂时不可用，请稍后重试。")), "fields": {}}
        response = JsonResponse(body, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    body = {"code": "server_error", "detail": str(_("服务器内部错误。")), "fields": {}}
    return JsonResponse(body, status=status.HTTP_500_INTERNAL_SERVER_ERROR)


class ApiErrorMiddleware:
    """An exception a view under /api/ lets through (DRF hands back what its handler does not
    know) answers JSON instead of Django's HTML 500 page; pages keep theirs. The traceback is
    logged as Django logs it. Exceptions raised outside views reach ``server_error_view``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_api_path(request.path) or isinstance(exception, Http404):
            return None  # a 404 under /api/ is handler404's JSON already
        if isinstance(exception, DjangoPermissionDenied):
            return _error(AccessDenied())
        if isinstance(exception, (BadRequest, SuspiciousOperation, MultiPartParserError)):
            if isinstance(exception, SuspiciousOperation):  # logged where Django logs it
                logging.getLogger(f"django.security.{type(exception).__name__}").error(
                    str(exception), extra={"status_code": 400, "request": request}
                )
            return _error(ValidationFailed())
        logger.error(
            "Internal Server Error: %s",
            request.path,
            exc_info=(type(exception), exception, exception.__traceback__),
            extra={"status_code": 500, "request": request},
        )
        return unhandled_response(exception)


def _error(error: DomainError) -> JsonResponse:
    body = {"code": error.code, "detail": error.detail, "fields": {}}
    return JsonResponse(body, status=error.status_code)


def bad_request_view(request, exception=None):
    """``handler400``: a bad request found outside a view (a multipart body over the limits, a
    disallowed host) answers the error body under /api/, Django's page elsewhere."""
    if is_api_path(request.path):
        return _error(ValidationFailed())
    return bad_request(request, exception)


def permission_denied_view(request, exception=None):
    """``handler403``: the error body under /api/, Django's page elsewhere."""
    if is_api_path(request.path):
        return _error(AccessDenied())
    return permission_denied(request, exception)


def server_error_view(request):
    """``handler500``: JSON under /api/ (called while the exception is being handled, so it is
    still known here), Django's page elsewhere."""
    if is_api_path(request.path):
        return unhandled_response(sys.exc_info()[1])
    return server_error(request)
