"""Close the gaps that waitlists were left with before positions were renumbered (issue 11):
every batch's waitlist becomes 1..n in its order (position, then id). Going forward the
services keep it so (training.services._renumber_waitlist)."""

from django.db import migrations


def renumber(apps, schema_editor):
    Enrollment = apps.get_model("training", "Enrollment")
    waiting = Enrollment.objects.filter(waitlist_position__isnull=False).order_by("batch_id", "waitlist_position", "id")
    by_batch: dict[int, list] = {}
    for row in waiting.only("id", "batch_id", "waitlist_position"):
        by_batch.setdefault(row.batch_id, []).append(row)
    for rows in by_batch.values():
        moving = [(rank, row) for rank, row in enumerate(rows, start=1) if row.waitlist_position != rank]
        if not moving:
            continue
        # The unique (batch, position) index is checked row by row: first above every
        # position in use, then down to the rank.
        top = rows[-1].waitlist_position
        for rank, row in moving:
            row.waitlist_position = rank + top
        Enrollment.objects.bulk_update([row for _rank, row in moving], ["waitlist_position"], batch_size=500)
        for rank, row in moving:
            row.waitlist_position = rank
        Enrollment.objects.bulk_update([row for _rank, row in moving], ["waitlist_position"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [("training", "0003_course_event")]

    operations = [migrations.RunPython(renumber, migrations.RunPython.noop)]
