"""The QR code on a certificate: it encodes the public verify URL of its number."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from core import qr as core_qr


def verify_url(request_or_none, number: str) -> str:
    """Absolute URL of ``/verify/<number>/``: from settings.SITE_URL when set (what gets
    printed must not depend on the host a request came in on), else from the request."""
    path = reverse("verify", kwargs={"number": number})
    site = (getattr(settings, "SITE_URL", "") or "").rstrip("/")
    if site:
        return site + path
    if request_or_none is None:
        raise ImproperlyConfigured("SITE_URL must be set to build a verify URL outside a request.")
    return request_or_none.build_absolute_uri(path)


def qr_svg(url: str, *, scale: int = 4) -> str:
    """Inline ``<svg>`` (no XML declaration) for embedding in a page (core.qr makes it)."""
    return core_qr.qr_svg(url, scale=scale, title="证件核验二维码")
