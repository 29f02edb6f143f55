"""System checks of the deployment that Django's own do not make."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def secret_key_from_environment(app_configs, **kwargs):
    """``check --deploy`` fails when the secret key is the settings' one-off stand-in."""
    if getattr(settings, "SECRET_KEY_FROM_ENVIRONMENT", True) or settings.DEBUG:
        return []
    return [Error(settings.NO_KEY_MESSAGE, id="core.E001")]
