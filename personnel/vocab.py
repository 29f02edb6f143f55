"""Words people type for sectors and statuses, mapped to the stored values."""

from __future__ import annotations

import unicodedata

from .models import InspectorStatus, Sector

SECTOR_ALIASES: dict[str, str] = {
    # coal mines
    "煤矿": Sector.COAL,
    "煤炭": Sector.COAL,
    "煤矿安全": Sector.COAL,
    "coal": Sector.COAL,
    "coalmine": Sector.COAL,
    "coalmines": Sector.COAL,
    # non-coal mines
    "非煤矿山": Sector.NON_COAL_MINE,
    "非煤": Sector.NON_COAL_MINE,
    "非煤矿": Sector.NON_COAL_MINE,
    "noncoalmine": Sector.NON_COAL_MINE,
    "noncoalmines": Sector.NON_COAL_MINE,
    "noncoal": Sector.NON_COAL_MINE,
    # hazardous chemicals
    "危险化学品": Sector.HAZARDOUS_CHEMICALS,
    "危化": Sector.HAZARDOUS_CHEMICALS,
    "危化品": Sector.HAZARDOUS_CHEMICALS,
    "危险化学品安全": Sector.HAZARDOUS_CHEMICALS,
    "hazardouschemicals": Sector.HAZARDOUS_CHEMICALS,
    "hazchem": Sector.HAZARDOUS_CHEMICALS,
    "chemicals": Sector.HAZARDOUS_CHEMICALS,
    # industry and trade
    "工商贸": Sector.INDUSTRY_TRADE,
    "工贸": Sector.INDUSTRY_TRADE,
    "工商贸行业": Sector.INDUSTRY_TRADE,
    "工贸行业": Sector.INDUSTRY_TRADE,
    "industrytrade": Sector.INDUSTRY_TRADE,
    "industryandtrade": Sector.INDUSTRY_TRADE,
}

STATUS_ALIASES: dict[str, str] = {
    "在岗": InspectorStatus.ACTIVE,
    "在职": InspectorStatus.ACTIVE,
    "正常": InspectorStatus.ACTIVE,
    "active": InspectorStatus.ACTIVE,
    "休假": InspectorStatus.ON_LEAVE,
    "请假": InspectorStatus.ON_LEAVE,
    "onleave": InspectorStatus.ON_LEAVE,
    "调离": InspectorStatus.TRANSFERRED,
    "调出": InspectorStatus.TRANSFERRED,
    "transferred": InspectorStatus.TRANSFERRED,
    "退休": InspectorStatus.RETIRED,
    "retired": InspectorStatus.RETIRED,
}


def _key(text) -> str:
    text = unicodedata.normalize("NFKC", str(text or ""))
    return "".join(ch for ch in text.lower() if ch not in " _-·、&()（）")


def sector_from_text(text) -> str | None:
    """Stored sector value for what a person typed, or None when unknown."""
    return SECTOR_ALIASES.get(_key(text))


def status_from_text(text) -> str | None:
    return STATUS_ALIASES.get(_key(text))
