"""QR codes, one maker for the site (segno): error level M, black on white. The certificate's
code of its verify URL (exams.qr) and the day's sign-in code (training.checkin) are both made here."""

from __future__ import annotations

import segno


def _code(data: str):
    return segno.make(data, error="m", micro=False)


def qr_svg(data: str, *, scale: int = 4, title: str | None = None) -> str:
    """Inline ``<svg>`` (no XML declaration) for embedding in a page."""
    return _code(data).svg_inline(scale=scale, dark="#000", light="#fff", title=title)


def qr_data_uri(data: str, *, scale: int = 8) -> str:
    """The SVG as a ``data:`` URI, for an ``<img>`` (the Content-Security-Policy allows data:
    images; nothing is injected into the page's markup)."""
    return _code(data).svg_data_uri(scale=scale, dark="#000", light="#fff")
