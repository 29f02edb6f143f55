from personnel.models import Inspector
from tests.factories import InspectorFactory


def test_factory_inspector_gets_derived_fields(regions):
    # given / when
    inspector = InspectorFactory(region=regions["changan"])
    # then
    assert Inspector.objects.get(pk=inspector.pk).birth_date is not None
    assert inspector.gender in ("male", "female")
