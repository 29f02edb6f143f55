"""The API token authentication class (a module of its own: DRF reads it from the settings
while ``rest_framework.views`` is being imported, so it must not import any view)."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from core.tokens import TokenRefused, api_token_authenticate


class ApiTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>`` against ``core.models.ApiToken``. A key that is unknown,
    revoked or expired, or whose user is inactive, is refused with 401 and a code saying which."""

    keyword = "Token"

    def authenticate_credentials(self, key):
        try:
            token = api_token_authenticate(key=key)
        except TokenRefused as refused:
            raise exceptions.AuthenticationFailed(refused.detail, code=refused.code) from None
        return token.user, token
