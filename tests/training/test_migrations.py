"""Data migrations of the training app, run on rows made as the code of their time made them."""

import importlib

from django.apps import apps

from tests.factories import InspectorFactory
from tests.training.factories import BatchFactory, EnrollmentFactory
from training.models import EnrollmentStatus

S = EnrollmentStatus


def test_waitlists_left_with_gaps_are_renumbered_1_to_n_in_their_order(regions):
    # given: one batch waiting at 2, 5, 9 (ids out of position order), one already 1..2, one
    # with nobody waiting
    gappy, tidy, empty = (BatchFactory(region=regions["province"], capacity=1) for _ in range(3))
    people = [InspectorFactory(region=regions["changan"]) for _ in range(6)]
    EnrollmentFactory(batch=empty, inspector=people[0], status=S.ENROLLED)
    late, first, middle = (
        EnrollmentFactory(batch=gappy, inspector=people[n], status=S.WAITLISTED, waitlist_position=p)
        for n, p in ((1, 9), (2, 2), (3, 5))
    )
    kept = [
        EnrollmentFactory(batch=tidy, inspector=people[n], status=S.WAITLISTED, waitlist_position=p)
        for n, p in ((4, 1), (5, 2))
    ]
    migration = importlib.import_module("training.migrations.0004_renumber_waitlists")

    # when
    migration.renumber(apps, None)

    # then
    def positions(batch):
        return list(batch.enrollments.order_by("waitlist_position").values_list("id", "waitlist_position"))

    assert positions(gappy) == [(first.pk, 1), (middle.pk, 2), (late.pk, 3)]
    assert positions(tidy) == [(kept[0].pk, 1), (kept[1].pk, 2)]
    assert positions(empty) == [(empty.enrollments.get().pk, None)]
