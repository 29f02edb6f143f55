"""factory_boy factories shared by every test package."""

import itertools

import factory
from django.contrib.auth import get_user_model

from personnel import idcard
from personnel.models import Inspector, InspectorStatus, Region, RegionAdmin, RegionLevel, Sector

_id_seq = itertools.count(500)


def national_id_for(region_code: str = "130102", seq: int | None = None, birth: str = "19850315") -> str:
    """A valid ID number (checksum right) for a region code; seq makes it unique
    (left out, a counter picks the next one, so two calls never collide)."""
    seq = next(_id_seq) if seq is None else seq
    return idcard.make(f"{region_code}{birth}{seq % 1000:03d}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pass-Word-123")


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"{130000 + n * 100:06d}")
    name = factory.Sequence(lambda n: f"地区{n}")
    level = RegionLevel.CITY
    parent = None


def region_tree() -> dict:
    """Province 130000 > cities 130100 (石家庄), 130200 (唐山) > counties 长安, 桥西 (石家庄)
    and 路南 (唐山): the tree every test shares (get or create by code)."""
    province = RegionFactory(code="130000", name="河北省", level=RegionLevel.PROVINCE)
    sjz = RegionFactory(code="130100", name="石家庄市", level=RegionLevel.CITY, parent=province)
    ts = RegionFactory(code="130200", name="唐山市", level=RegionLevel.CITY, parent=province)
    return {
        "province": province,
        "sjz": sjz,
        "ts": ts,
        "changan": RegionFactory(code="130102", name="长安区", level=RegionLevel.COUNTY, parent=sjz),
        "qiaoxi": RegionFactory(code="130104", name="桥西区", level=RegionLevel.COUNTY, parent=sjz),
        "lunan": RegionFactory(code="130202", name="路南区", level=RegionLevel.COUNTY, parent=ts),
    }


class InspectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Inspector

    name = factory.Sequence(lambda n: f"执法员{n}")
    national_id = factory.Sequence(lambda n: idcard.make(f"130102{1960 + n % 40}0{1 + n % 9}1{n % 10}{n % 1000:03d}"))
    region = factory.SubFactory(RegionFactory)
    sector = Sector.COAL
    position = "科员"
    status = InspectorStatus.ACTIVE


class RegionAdminFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RegionAdmin

    user = factory.SubFactory(UserFactory, is_staff=True)
    region = factory.SubFactory(RegionFactory)
