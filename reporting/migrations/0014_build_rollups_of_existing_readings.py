"""Build the daily rollups of the readings an installation already holds.

The computation reads rollups (0013); without this step an upgraded installation would compute
its stored years from an empty rollup table. It runs the same code as `rebuild_rollups --all`
(reporting/rollups.py), meter by meter, so it takes about as long as that command: plan it with
the upgrade on large installations (docs/operations.md).
"""

from django.db import migrations


def build(apps, schema_editor):
    # The module reads the current models; at this migration they are the models 0013 made.
    from reporting import rollups

    meter_ids = (
        apps.get_model("reporting", "Reading")
        .objects.values_list("meter_id", flat=True)
        .distinct()
        .order_by()
    )
    rollups.rebuild(list(meter_ids))


class Migration(migrations.Migration):
    dependencies = [("reporting", "0013_reading_day_rollups")]

    operations = [migrations.RunPython(build, migrations.RunPython.noop, elidable=True)]
