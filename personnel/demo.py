"""Demo data for the personnel app: Hebei's region tree, ~4,000 inspectors and the demo logins.

``seed_personnel`` is idempotent: regions are matched by code, inspectors by ID number,
users by username. Generation is deterministic for a seed and prefix-stable, so seeding
300 and later 4,000 inspectors adds the missing 3,700 instead of a different 4,000.
Changing the tables below (names, weights, positions) changes the generated people: a
database seeded by an older version then gets extra inspectors, not replaced ones.
Later apps (training, exams) extend the demo by adding their own steps after this one
(see ``personnel/management/commands/seed_demo.py``).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction

from . import idcard, services
from .models import Gender, Inspector, InspectorStatus, Region, RegionLevel, Sector

# One password for every demo login, printed by the command: demo data only.
DEMO_PASSWORD = "demo-pass-2024"  # noqa: S105

PROVINCE = ("130000", "河北省")

# (code, name, counties). Codes are the GB/T 2260 codes; only a handful of counties per city.
CITIES: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "130100",
        "石家庄市",
        (
            ("130102", "长安区"),
            ("130104", "桥西区"),
            ("130105", "新华区"),
            ("130108", "裕华区"),
            ("130123", "正定县"),
            ("130183", "晋州市"),
        ),
    ),
    (
        "130200",
        "唐山市",
        (
            ("130202", "路南区"),
            ("130203", "路北区"),
            ("130204", "古冶区"),
            ("130208", "丰润区"),
            ("130209", "曹妃甸区"),
            ("130283", "迁安市"),
        ),
    ),
    (
        "130300",
        "秦皇岛市",
        (
            ("130302", "海港区"),
            ("130303", "山海关区"),
            ("130304", "北戴河区"),
            ("130306", "抚宁区"),
            ("130322", "昌黎县"),
        ),
    ),
    (
        "130400",
        "邯郸市",
        (
            ("130402", "邯山区"),
            ("130403", "丛台区"),
            ("130406", "峰峰矿区"),
            ("130426", "涉县"),
            ("130427", "磁县"),
            ("130481", "武安市"),
        ),
    ),
    (
        "130500",
        "邢台市",
        (
            ("130502", "襄都区"),
            ("130503", "信都区"),
            ("130505", "任泽区"),
            ("130523", "内丘县"),
            ("130582", "沙河市"),
        ),
    ),
    (
        "130600",
        "保定市",
        (
            ("130602", "竞秀区"),
            ("130606", "莲池区"),
            ("130607", "满城区"),
            ("130608", "清苑区"),
            ("130609", "徐水区"),
            ("130681", "涿州市"),
        ),
    ),
    (
        "130700",
        "张家口市",
        (
            ("130702", "桥东区"),
            ("130703", "桥西区"),
            ("130705", "宣化区"),
            ("130706", "下花园区"),
            ("130709", "崇礼区"),
            ("130726", "蔚县"),
        ),
    ),
    (
        "130800",
        "承德市",
        (
            ("130802", "双桥区"),
            ("130803", "双滦区"),
            ("130804", "鹰手营子矿区"),
            ("130822", "兴隆县"),
            ("130881", "平泉市"),
        ),
    ),
    (
        "130900",
        "沧州市",
        (
            ("130902", "新华区"),
            ("130903", "运河区"),
            ("130921", "沧县"),
            ("130982", "任丘市"),
            ("130983", "黄骅市"),
        ),
    ),
    (
        "131000",
        "廊坊市",
        (
            ("131002", "安次区"),
            ("131003", "广阳区"),
            ("131022", "固安县"),
            ("131081", "霸州市"),
            ("131082", "三河市"),
        ),
    ),
    (
        "131100",
        "衡水市",
        (
            ("131102", "桃城区"),
            ("131103", "冀州区"),
            ("131121", "枣强县"),
            ("131125", "安平县"),
            ("131182", "深州市"),
        ),
    ),
    # Province-administered county-level cities and the new area: modelled as cities
    # directly under the province, without counties of their own.
    ("130181", "辛集市", ()),
    ("130682", "定州市", ()),
    ("133100", "雄安新区", ()),
)

# Relative size of each city's enforcement staff (city office + its counties).
CITY_WEIGHTS = {
    "130100": 1.4,
    "130200": 1.4,
    "130300": 0.7,
    "130400": 1.2,
    "130500": 1.0,
    "130600": 1.2,
    "130700": 1.0,
    "130800": 0.9,
    "130900": 1.0,
    "131000": 0.8,
    "131100": 0.6,
    "130181": 0.2,
    "130682": 0.25,
    "133100": 0.25,
}
PROVINCE_SHARE = 0.04  # of all inspectors, in the provincial department itself
CITY_OFFICE_SHARE = 0.38  # of a city's inspectors, in the city bureau (the rest in its counties)

_DEFAULT_SECTORS = {
    Sector.COAL: 1.0,
    Sector.NON_COAL_MINE: 1.3,
    Sector.HAZARDOUS_CHEMICALS: 1.5,
    Sector.INDUSTRY_TRADE: 2.6,
}
_COAL = {**_DEFAULT_SECTORS, Sector.COAL: 3.2}
_CHEMICALS = {**_DEFAULT_SECTORS, Sector.HAZARDOUS_CHEMICALS: 3.6}
SECTOR_WEIGHTS = {
    "130100": _CHEMICALS,
    "130900": _CHEMICALS,
    "130200": {**_COAL, Sector.NON_COAL_MINE: 2.0},  # 迁安/迁西 iron ore
    "130400": _COAL,
    "130500": _COAL,
    "130700": _COAL,
    "130800": {**_DEFAULT_SECTORS, Sector.NON_COAL_MINE: 2.6},  # 承德 iron and gold mines
}

POSITIONS = {
    RegionLevel.PROVINCE: (
        ("一级科员", 3),
        ("四级主任科员", 3),
        ("二级主任科员", 2),
        ("执法总队队员", 6),
        ("执法总队副总队长", 1),
        ("副处长", 1),
    ),
    RegionLevel.CITY: (
        ("科员", 5),
        ("副科长", 2),
        ("科长", 1),
        ("执法支队队员", 8),
        ("执法支队副支队长", 1),
    ),
    RegionLevel.COUNTY: (
        ("科员", 5),
        ("副股长", 1),
        ("股长", 1),
        ("执法大队队员", 10),
        ("执法大队副大队长", 1),
        ("执法中队中队长", 1),
    ),
}

STATUSES = (
    (InspectorStatus.ACTIVE, 92),
    (InspectorStatus.ON_LEAVE, 3),
    (InspectorStatus.TRANSFERRED, 3),
    (InspectorStatus.RETIRED, 2),
)

SURNAMES = (
    ("王", 10),
    ("李", 9),
    ("张", 9),
    ("刘", 7),
    ("赵", 5),
    ("杨", 4),
    ("陈", 4),
    ("高", 3),
    ("孙", 3),
    ("马", 3),
    ("郭", 3),
    ("田", 2),
    ("吴", 2),
    ("徐", 2),
    ("周", 2),
    ("韩", 2),
    ("董", 2),
    ("冯", 2),
    ("贾", 2),
    ("史", 1),
    ("崔", 1),
    ("宋", 1),
    ("魏", 1),
    ("范", 1),
    ("郑", 1),
    ("于", 1),
    ("苏", 1),
    ("白", 1),
    ("侯", 1),
    ("梁", 1),
    ("许", 1),
    ("曹", 1),
    ("齐", 1),
    ("耿", 1),
    ("邢", 1),
)
MALE_CHARS = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆旭东志海峰建国庆新立文正永晓振兴宏亮"
FEMALE_CHARS = "芳娜敏静丽艳娟霞燕玲桂丹萍红梅琳雪颖慧婷倩洁莉月晶欣悦璐佳蕾琴兰云凤"

PHONE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "199",
]

BIRTH_FROM = dt.date(1965, 1, 1)
BIRTH_TO = dt.date(1998, 12, 31)
HIRED_BY = dt.date(2024, 6, 30)  # fixed, not today(): the data must not depend on the run date


@dataclass(frozen=True)
class Login:
    role: str
    username: str
    password: str
    scope: str


# Demo steps of the apps above personnel, in the order they register (training, exams, ...).
STEPS: list[tuple[str, object]] = []


def register_step(name: str, step) -> None:
    """Called by a higher app's ``AppConfig.ready()``; registering twice is harmless."""
    if all(existing != name for existing, _step in STEPS):
        STEPS.append((name, step))


def seed_personnel(*, stdout=None, inspectors: int = 4000, seed: int = 2024) -> dict:
    """Create (or complete) the demo regions, inspectors and logins; return counts and logins."""

    def say(message: str) -> None:
        if stdout is not None:
            stdout.write(message + "\n")

    with transaction.atomic():
        regions, regions_created = _seed_regions()
        say(f"地区：{len(regions)} 个（新建 {regions_created}）")
        created, existing = _seed_inspectors(regions=regions, count=inspectors, seed=seed)
        say(f"执法人员：新建 {created}，已存在 {existing}")
        logins = _seed_logins(regions=regions)
        say(f"登录账号：{len(logins)} 个")
    return {
        "regions": len(regions),
        "regions_created": regions_created,
        "inspectors_created": created,
        "inspectors_existing": existing,
        "inspectors_total": Inspector.objects.count(),
        "logins": logins,
    }


def _seed_regions() -> tuple[dict[str, Region], int]:
    existing = {r.code: r for r in Region.objects.filter(code__in=_all_region_codes())}
    created = 0

    def upsert(code: str, name: str, level: str, parent: Region | None) -> Region:
        nonlocal created
        region = existing.get(code)
        if region is None:
            created += 1
            return services.region_create(code=code, name=name, level=level, parent=parent)
        before = (region.name, region.level, region.parent_id, region.path)
        region.name, region.level, region.parent = name, level, parent
        # A moved parent leaves this path stale, so compare the path too.
        if before != (name, level, region.parent_id, region.build_path()):
            region.save()
        return region

    regions = {}
    province = regions[PROVINCE[0]] = upsert(*PROVINCE, RegionLevel.PROVINCE, None)
    for city_code, city_name, counties in CITIES:
        city = regions[city_code] = upsert(city_code, city_name, RegionLevel.CITY, province)
        for county_code, county_name in counties:
            regions[county_code] = upsert(county_code, county_name, RegionLevel.COUNTY, city)
    return regions, created


def _all_region_codes() -> list[str]:
    codes = [PROVINCE[0]]
    for city_code, _name, counties in CITIES:
        codes.append(city_code)
        codes.extend(code for code, _county in counties)
    return codes


def _region_weights() -> list[tuple[str, str, float]]:
    """(region code, city code for sector weights, share of all inspectors)."""
    total_city_weight = sum(CITY_WEIGHTS.values())
    rows = [(PROVINCE[0], PROVINCE[0], PROVINCE_SHARE)]
    for city_code, _name, counties in CITIES:
        city_share = (1 - PROVINCE_SHARE) * CITY_WEIGHTS[city_code] / total_city_weight
        office_share = CITY_OFFICE_SHARE if counties else 1.0
        rows.append((city_code, city_code, city_share * office_share))
        for county_code, _county in counties:
            rows.append((county_code, city_code, city_share * (1 - office_share) / len(counties)))
    return rows


def _seed_inspectors(*, regions: dict[str, Region], count: int, seed: int) -> tuple[int, int]:
    taken = set(Inspector.objects.values_list("national_id", flat=True))
    new = []
    existing = 0
    for row in _generate_inspectors(regions=regions, count=count, seed=seed):
        if row.national_id in taken:
            existing += 1
        else:
            new.append(row)
    Inspector.objects.bulk_create(new, batch_size=500)
    return len(new), existing


def _generate_inspectors(*, regions: dict[str, Region], count: int, seed: int):
    """Yield ``count`` unsaved inspectors. Each one draws the same numbers from the
    generator whatever ``count`` is, so the first n are the same for every count."""
    rng = random.Random(seed)
    weights = _region_weights()
    region_codes = [code for code, _city, _share in weights]
    region_shares = [share for _code, _city, share in weights]
    city_of = {code: city for code, city, _share in weights}
    surnames, surname_weights = zip(*SURNAMES, strict=True)
    statuses, status_weights = zip(*STATUSES, strict=True)
    birth_span = (BIRTH_TO - BIRTH_FROM).days
    used: set[str] = set()

    for _ in range(count):
        code = rng.choices(region_codes, region_shares)[0]
        region = regions[code]
        sector_weights = SECTOR_WEIGHTS.get(city_of[code], _DEFAULT_SECTORS)
        sector = rng.choices(list(sector_weights), list(sector_weights.values()))[0]
        positions, position_weights = zip(*POSITIONS[region.level], strict=True)
        position = rng.choices(positions, position_weights)[0]

        gender = Gender.MALE if rng.random() < 0.72 else Gender.FEMALE
        chars = MALE_CHARS if gender == Gender.MALE else FEMALE_CHARS
        given = rng.choice(chars) + (rng.choice(chars) if rng.random() < 0.75 else "")
        if given[0] == given[-1] and gender == Gender.MALE:
            given = given[0]  # 伟伟, 强强 read as nicknames for men
        name = rng.choices(surnames, surname_weights)[0] + given

        birth = BIRTH_FROM + dt.timedelta(days=rng.randrange(birth_span + 1))
        serial = rng.randrange(500)
        national_id = _unique_national_id(code, birth, serial, gender, used)

        status = rng.choices(statuses, status_weights)[0]
        if status == InspectorStatus.RETIRED and birth.year >= 1970:
            status = InspectorStatus.ACTIVE  # too young to retire
        hire_year = rng.randint(birth.year + 21, min(birth.year + 32, HIRED_BY.year))
        hired_on = min(dt.date(hire_year, rng.randint(1, 12), rng.randint(1, 28)), HIRED_BY)
        phone = rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"

        parsed = idcard.parse(national_id)  # bulk_create skips save(): derive here
        yield Inspector(
            name=name,
            national_id=parsed.value,
            gender=parsed.gender,
            birth_date=parsed.birth_date,
            region=region,
            sector=sector,
            position=position,
            phone=phone,
            status=status,
            hired_on=hired_on,
        )


def _unique_national_id(code: str, birth: dt.date, serial: int, gender: str, used: set[str]) -> str:
    """An ID number for region ``code``; the 17th digit is odd for men, even for women."""
    parity = 1 if gender == Gender.MALE else 0
    for step in range(500):
        sequence = (serial + step) % 500 * 2 + parity
        national_id = idcard.make(f"{code}{birth:%Y%m%d}{sequence:03d}")
        if national_id not in used:
            used.add(national_id)
            return national_id
    raise RuntimeError(f"no free ID number for {code} born {birth}")  # 500 people, one day, one region


def _seed_logins(*, regions: dict[str, Region]) -> list[Login]:
    User = get_user_model()
    password = make_password(DEMO_PASSWORD)  # hashed once: PBKDF2 per user would dominate the run

    def user(username: str, **flags):
        account, _created = User.objects.get_or_create(username=username)
        account.password = password
        account.is_active = True
        for field, value in flags.items():
            setattr(account, field, value)
        account.save()
        return account

    logins = [Login("超级管理员", user("admin", is_staff=True, is_superuser=True).username, DEMO_PASSWORD, "全部")]
    for username, code in (("province_admin", "130000"), ("sjz_admin", "130100"), ("ts_admin", "130200")):
        region = regions[code]
        services.region_admin_assign(user=user(username), region=region)
        role = "省级管理员" if region.level == RegionLevel.PROVINCE else "市级管理员"
        logins.append(Login(role, username, DEMO_PASSWORD, f"{region.name}（{region.code}）及下级"))

    account = user("inspector", email="inspector@example.gov.cn")
    inspector = Inspector.objects.filter(user=account).select_related("region").first()
    if inspector is None:
        inspector = (
            Inspector.objects.filter(
                region__parent__code="130100",
                region__level=RegionLevel.COUNTY,
                status=InspectorStatus.ACTIVE,
                user__isnull=True,
            )
            .select_related("region")
            .order_by("national_id")
            .first()
        )
        if inspector is None:
            raise RuntimeError("no active inspector in a county of 石家庄 to link the demo login to")
        services.inspector_link_user(inspector=inspector, user=account)
    logins.append(
        Login("执法人员", account.username, DEMO_PASSWORD, f"本人：{inspector.name}（{inspector.region.name}）")
    )
    return logins


def format_logins(logins: list[Login]) -> str:
    """A small plain-text table of the demo logins."""
    header = ("角色", "用户名", "密码", "范围")
    rows = [header, *((login.role, login.username, login.password, login.scope) for login in logins)]
    widths = [max(_width(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _width(text: str) -> int:
    """Display width: CJK and full-width characters take two columns in a terminal."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)
