"""The public register (行政执法人员公示): who holds a valid certificate, and what changed.

One home for what the public may see of the certificate holders: ``register_page`` is called
by the page (``/register/``, ``/register/changes/``) and by the API (``/api/v1/register/``,
``/api/v1/register/changes/``), so both show the same rows, filtered, ordered and paginated
alike. A row holds the name, the unit, the region, the sector, the certificate number as
printed and the date it is valid until; never the ID number, the phone, a photo.

- Holders: certificates in force today (status valid and not past their date; a suspended one
  is not listed), by region (the holder's region subtree), sector, and a search by name,
  certificate number (any form people type: printed, spaced, full-width) or unit.
- Changes: the certificate events of the last ``CHANGES_DAYS`` days the publicity rule asks
  to publish (issued, cancelled or taken back, revoked), newest first, with the same filters.

Every page is a bounded number of statements (the count, the page's rows with their holder
and region in one join, and the region tree for the page's filter), whatever the page size.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field

from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import NotFound, ValidationFailed
from personnel.models import Region, Sector, display_unit

from . import numbers
from .models import Certificate, CertificateEvent, CertificateStatus

PAGE_SIZE = 20
# The deepest page shown: past it a visitor narrows the search (region, sector, name) instead.
# Deep pages cost a sort of every row before them (page 5,000 of 200,000 holders: 1.3 s
# against 0.17 s for the first), and walking the whole register page by page is scraping.
MAX_PAGE = 250
CHANGES_DAYS = 90
SEARCH_MAX = 50
# A page number: ASCII digits only (int() would read Arabic-Indic or full-width ones too).
_PAGE = re.compile(r"[0-9]{1,9}")
_CODE = re.compile(r"[0-9]{6}")
# The certificate events the publicity rule publishes; a kind the models do not have (yet) is
# left out by name, so this list may name the kinds of the applications flow ahead of them.
CHANGE_KINDS = ("issued", "cancelled", "returned", "revoked")

# The words personnel.models.region_enforcement_body puts after a region's name (a city's or
# county's 局, a province's 厅).
_ENFORCEMENT_BODIES = ("应急管理局", "应急管理厅")

HOLDERS = "holders"
CHANGES = "changes"


@dataclass(frozen=True)
class RegisterQuery:
    """What the visitor asked for, checked: ``register_query`` builds it from a query string."""

    search: str = ""
    region: Region | None = None
    sector: str = ""
    page: int = 1

    def as_params(self, page: int | None = None) -> dict[str, str]:
        """The query string's parameters for this query (another page of it when given)."""
        params = {"q": self.search, "region": self.region.code if self.region else "", "sector": self.sector}
        params = {key: value for key, value in params.items() if value}
        number = self.page if page is None else page
        if number != 1:
            params["page"] = str(number)
        return params


@dataclass
class RegisterPage:
    kind: str
    query: RegisterQuery
    rows: list[dict]
    count: int
    page: int
    num_pages: int  # the pages that may be asked for (at most MAX_PAGE)
    since: dt.date | None = None  # changes: the first day shown
    regions: list[dict] = field(default_factory=list)

    @property
    def has_next(self) -> bool:
        return self.page < self.num_pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def register_query(params) -> RegisterQuery:
    """Check a query string (``q``, ``region``, ``sector``, ``page``); ValidationFailed with
    the field's reason for anything else than what the page's form sends."""
    errors: dict[str, str] = {}
    search = " ".join(str(params.get("q", "") or "").split())
    if len(search) > SEARCH_MAX:
        errors["q"] = _("搜索词不能超过 %(max)s 个字。") % {"max": SEARCH_MAX}
    elif any(unicodedata.category(char) in ("Cc", "Cs") for char in search):
        # A NUL or another control character: PostgreSQL refuses NUL in a literal.
        errors["q"] = _("搜索词含有无法识别的字符。")
    region = None
    code = str(params.get("region", "") or "").strip()
    if code:
        region = (
            Region.objects.filter(code=code).only("code", "name", "path").first() if _CODE.fullmatch(code) else None
        )
        if region is None:
            errors["region"] = _("没有这个地区。")
    sector = str(params.get("sector", "") or "").strip()
    if sector and sector not in Sector.values:
        errors["sector"] = _("没有这个行业。")
    raw_page = str(params.get("page", "") or "1").strip()
    page = int(raw_page) if _PAGE.fullmatch(raw_page) else 0
    if page < 1:
        errors["page"] = _("页码应为正整数。")
    elif page > MAX_PAGE:
        errors["page"] = _("最多显示前 %(max)s 页，请按地区、行业或姓名缩小查询范围。") % {"max": MAX_PAGE}
    if errors:
        raise ValidationFailed(next(iter(errors.values())), fields=errors)
    return RegisterQuery(search=search, region=region, sector=sector, page=page)


def register_page(*, kind: str, query: RegisterQuery, today: dt.date | None = None, with_regions=False):
    """One page of the register (``HOLDERS``) or of its changes (``CHANGES``); NotFound for a
    page past the last (an empty register has one empty page). ``with_regions`` adds the
    region tree for the page's filter."""
    today = today or timezone.localdate()
    since = None
    if kind == HOLDERS:
        qs = _holders(query, today)
    else:
        since = today - dt.timedelta(days=CHANGES_DAYS)
        qs = _changes(query, since)
    paginator = Paginator(qs, PAGE_SIZE, allow_empty_first_page=True)
    if query.page > paginator.num_pages:
        raise NotFound(_("没有这一页。"))
    page = paginator.page(query.page)
    rows = [_holder_row(cert) for cert in page] if kind == HOLDERS else [_change_row(e) for e in page]
    return RegisterPage(
        kind=kind,
        query=query,
        rows=rows,
        count=paginator.count,
        page=query.page,
        num_pages=min(paginator.num_pages, MAX_PAGE),
        since=since,
        regions=region_tree() if with_regions else [],
    )


def region_tree() -> list[dict]:
    """Every region in tree order, its name indented by its depth, for the filter (one
    statement)."""
    regions = Region.objects.order_by("path").values_list("code", "name", "depth")
    return [{"code": code, "label": "\u3000" * depth + name} for code, name, depth in regions]


# --- the rows -------------------------------------------------------------------------------------

_ROW_FIELDS = (
    "number",
    "valid_until",
    "holder__name",
    "holder__unit",
    "holder__sector",
    "holder__region__name",
    "holder__region__level",  # the enforcement body of a blank unit: 局, or a province's 厅
    "holder__region__path",
)


def _filtered(qs: QuerySet, query: RegisterQuery, prefix: str = "") -> QuerySet:
    holder = f"{prefix}holder__"
    if query.region is not None:
        qs = qs.filter(**{f"{holder}region__path__startswith": query.region.path})
    if query.sector:
        qs = qs.filter(**{f"{holder}sector": query.sector})
    if query.search:
        qs = qs.filter(_search(query.search, prefix))
    return qs


def _search(term: str, prefix: str) -> Q:
    """A certificate number (any typed form, at least its first six characters) by the start
    of the number alone (the number's index; no name has digits); anything else by name, the
    inspector's own unit, or, for holders without one, their region's enforcement body (the
    regions named so are looked up first: a short list of ids instead of a join in the OR)."""
    holder = f"{prefix}holder__"
    number = numbers.normalize(term)
    if re.fullmatch(r"[0-9]{6,12}[0-9X]?", number):
        return Q(**{f"{prefix}number__startswith": number})
    match = Q(**{f"{holder}name__icontains": term}) | Q(**{f"{holder}unit__icontains": term})
    regions = list(Region.objects.filter(name__icontains=_region_part(term)).values_list("id", flat=True)[:1000])
    if regions:
        match |= Q(**{f"{holder}unit": "", f"{holder}region_id__in": regions})
    return match


def _region_part(term: str) -> str:
    """``长安区应急管理局`` or ``长安区应急`` -> ``长安区``: the region's name in a search for
    the unit a holder without one is shown with."""
    for body in _ENFORCEMENT_BODIES:
        for size in range(len(body), 1, -1):
            if term.endswith(body[:size]) and len(term) > size:
                return term[:-size]
    return term


def _holders(query: RegisterQuery, today: dt.date) -> QuerySet[Certificate]:
    qs = Certificate.objects.filter(status=CertificateStatus.VALID, valid_until__gte=today)
    qs = _filtered(qs, query).select_related("holder", "holder__region").only(*_ROW_FIELDS)
    return qs.order_by("holder__region__path", "holder__name", "number")


def _changes(query: RegisterQuery, since: dt.date) -> QuerySet[CertificateEvent]:
    kinds = [kind for kind in CHANGE_KINDS if kind in CertificateEvent.Kind.values]
    start = timezone.make_aware(dt.datetime.combine(since, dt.time.min))
    qs = CertificateEvent.objects.filter(kind__in=kinds, at__gte=start)
    qs = _filtered(qs, query, prefix="certificate__").select_related(
        "certificate", "certificate__holder", "certificate__holder__region"
    )
    qs = qs.only("kind", "at", *(f"certificate__{name}" for name in _ROW_FIELDS))
    return qs.order_by("-at", "-id")


def _holder_row(cert: Certificate) -> dict:
    holder = cert.holder
    return {
        "name": holder.name,
        "unit": display_unit(holder),
        "region": holder.region.name,
        "sector": holder.sector,
        "sector_display": str(Sector(holder.sector).label) if holder.sector in Sector.values else holder.sector,
        "number": cert.number,
        "number_printed": numbers.printed(cert.number),
        "valid_until": cert.valid_until,
    }


def _change_row(event: CertificateEvent) -> dict:
    return {
        "date": timezone.localtime(event.at).date(),
        "change": event.kind,
        "change_display": str(CertificateEvent.Kind(event.kind).label),
        **_holder_row(event.certificate),
    }
