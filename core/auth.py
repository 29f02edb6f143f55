"""The API token login, throttled per client address (django-axes locks usernames too)."""

from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.throttling import ScopedRateThrottle


class ThrottledObtainAuthToken(ObtainAuthToken):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"


obtain_auth_token = ThrottledObtainAuthToken.as_view()
