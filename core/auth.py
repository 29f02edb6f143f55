"""API tokens over HTTP: log in and out, one's own tokens, the OpenAPI description of the
token scheme (the authentication class itself is core.authentication).

``POST /api/v1/auth/token/`` logs in (throttled per client address; django-axes locks
usernames too), ``DELETE`` on it logs out (revokes the token the request came with);
``/api/v1/auth/tokens/`` lists one's own live tokens and revokes one of them.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from core.authentication import ApiTokenAuthentication
from core.models import ApiToken, TokenRevokeReason
from core.throttles import SlidingWindowThrottle
from core.tokens import (
    api_token_get_for_actor,
    api_token_issue,
    api_token_list,
    api_token_revoke,
)


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "core.authentication.ApiTokenAuthentication"
    name = "tokenAuth"
    priority = 1  # over drf-spectacular's own scheme for TokenAuthentication and its subclasses

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Authorization: Token <key>`, the key from `POST /api/v1/auth/token/`. A token ends at its "
                "`expires_at` (fixed, API_TOKEN_TTL after login), at logout (`DELETE /api/v1/auth/token/`), "
                "when revoked (`DELETE /api/v1/auth/tokens/{id}/`), and when its owner's password changes or "
                "the account is deactivated. A request without credentials, or with a token that has ended, "
                "answers 401 with `WWW-Authenticate: Token` and a code: not_authenticated, token_invalid, "
                "token_revoked, token_expired, user_inactive. 403 means authenticated but not allowed."
            ),
        }


class LoginSerializer(AuthTokenSerializer):
    # Bounded before authentication: axes records a failed username in a 255-character
    # column, so a longer one answered 500 on PostgreSQL; no account has a longer name.
    username = serializers.CharField(label=_("用户名"), max_length=150, write_only=True)
    password = serializers.CharField(
        label=_("密码"), style={"input_type": "password"}, trim_whitespace=False, max_length=4096, write_only=True
    )
    name = serializers.CharField(
        label=_("名称"),
        help_text=_("令牌的名称（设备或客户端）；不填则取 User-Agent。"),
        required=False,
        allow_blank=True,
        max_length=200,
        write_only=True,
    )


class IssuedTokenSerializer(serializers.ModelSerializer):
    token = serializers.CharField(source="key", help_text=_("令牌密钥，只在此时显示一次。"))

    class Meta:
        model = ApiToken
        fields = ["token", "id", "name", "created_at", "expires_at"]


class ApiTokenSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField(help_text=_("是否为本次请求所用的令牌。"))

    class Meta:
        model = ApiToken
        fields = ["id", "name", "created_at", "expires_at", "last_used_at", "current"]

    def get_current(self, obj) -> bool:
        auth = self.context["request"].auth
        return isinstance(auth, ApiToken) and auth.pk == obj.pk


def _client_name(request) -> str:
    agent = request.META.get("HTTP_USER_AGENT", "")
    return "".join(ch for ch in agent if ch.isprintable())[:200]


class LoginRateThrottle(ScopedRateThrottle, SlidingWindowThrottle):
    """Token logins per client address (the ``login`` rate, LOGIN_RATE), counted in
    core.throttles' sliding window: never a 500 nor a wait when the cache is down."""


class TokenView(APIView):
    """POST: log in, a new token. DELETE: log out, the token of this request is revoked."""

    renderer_classes = [JSONRenderer]
    throttle_scope = "login"

    def initialize_request(self, request, *args, **kwargs):
        # Only logging out needs the token (and answers 401 without one). Logging in needs no
        # credentials, and a stale token a client still sends must not stand in the way of a
        # new one; any other method is a plain 405. Decided here, where the method is known
        # before DRF asks for the authenticators.
        self.logging_out = request.method == "DELETE"
        return super().initialize_request(request, *args, **kwargs)

    def get_authenticators(self):
        return [ApiTokenAuthentication()] if getattr(self, "logging_out", False) else []

    def get_permissions(self):
        return [IsAuthenticated()] if self.logging_out else [AllowAny()]

    def get_throttles(self):
        return [] if self.logging_out else [LoginRateThrottle()]

    @extend_schema(
        request=LoginSerializer,
        responses={200: IssuedTokenSerializer},
        auth=[],
        summary="Log in: a new API token",
        description=(
            "A new token for this device or client; the key is shown this once. It ends at `expires_at` "
            "(API_TOKEN_TTL after login, not extended by use). Throttled per client address (LOGIN_RATE)."
        ),
    )
    def post(self, request):
        form = LoginSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        user = form.validated_data["user"]
        name = form.validated_data.get("name") or _client_name(request)
        token, key = api_token_issue(user=user, name=name)
        token.key = key  # answered this once, never stored
        return Response(IssuedTokenSerializer(token).data)

    @extend_schema(
        responses={204: OpenApiResponse(description="Logged out")},
        summary="Log out",
        description="Revokes the token this request is made with (the user's other tokens stay).",
    )
    def delete(self, request):
        api_token_revoke(token=request.auth, reason=TokenRevokeReason.LOGOUT)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiTokenViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """One's own live API tokens (never their keys), and revoking one of them."""

    serializer_class = ApiTokenSerializer
    lookup_value_regex = r"\d+"
    queryset = ApiToken.objects.none()  # for the schema; get_queryset scopes to the actor

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return api_token_list(actor=self.request.user)

    def get_object(self):
        return api_token_get_for_actor(actor=self.request.user, pk=self.kwargs["pk"])

    def perform_destroy(self, instance):
        api_token_revoke(token=instance, reason=TokenRevokeReason.REVOKED)


token_view = TokenView.as_view()
