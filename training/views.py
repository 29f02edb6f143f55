from django.http import Http404, HttpResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from .calendar import inspector_calendar
from .models import CalendarToken


@require_safe
def calendar_feed(request, token: str):
    """``/calendar/<token>.ics``: no login (calendar apps cannot log in); the secret is the key."""
    # No token holds a NUL, and PostgreSQL would refuse one in the query (a 500).
    found = None if "\x00" in token else CalendarToken.objects.select_related("inspector").filter(token=token).first()
    if found is None:
        raise Http404
    response = HttpResponse(inspector_calendar(inspector=found.inspector), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="training.ics"'
    response["Cache-Control"] = "private, max-age=300"
    # In the request's language (the cookie or Accept-Language): a cache keeps one per language.
    patch_vary_headers(response, ("Accept-Language", "Cookie"))
    return response
