"""The product's name, in one place: the admin's header and window titles, the public pages
(through the ``branding`` context processor) and the README use this one name."""

from django.utils.translation import gettext_lazy as _

PRODUCT_NAME = _("执法人员培训与持证管理")


def branding(request) -> dict:
    """Context processor: ``product_name`` for every template (TEMPLATES in config/settings.py)."""
    return {"product_name": PRODUCT_NAME}
