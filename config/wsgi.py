import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Serving (gunicorn, runserver) with debug off needs the deployment's own secret key; the
# settings let maintenance commands run without one.
if not settings.DEBUG and not settings.SECRET_KEY_FROM_ENVIRONMENT:
    raise ImproperlyConfigured(settings.NO_KEY_MESSAGE)

# The URLconf and through it every view, serializer and the API's settings are imported now,
# as a worker starts, not by its first request (about 0.25 s of CPU that request would wait
# for); a broken import stops the worker at start instead of failing requests.
get_resolver().url_patterns  # noqa: B018
