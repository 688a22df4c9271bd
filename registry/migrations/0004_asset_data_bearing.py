"""Data exposure as a fact of the unit: backfilled from the catalogue and the ledger, and
never cleared again (the database refuses it)."""

from django.db import migrations, models


def backfill(apps, schema_editor):
    """Units whose model holds data, then every unit a data-bearing component was ever installed
    in (from the ledger's `component-installed` rows), up the chain of parents."""
    Asset = apps.get_model("registry", "Asset")
    LifecycleEvent = apps.get_model("registry", "LifecycleEvent")
    db = schema_editor.connection.alias
    Asset.objects.using(db).filter(hardware_model__holds_data=True).update(data_bearing=True)
    for _ in range(10):  # parents of parents: a chain is a few levels deep at most
        parent_tags = set(
            LifecycleEvent.objects.using(db)
            .filter(kind="component-installed", asset__data_bearing=True)
            .values_list("details__parent", flat=True)
        )
        if (
            not Asset.objects.using(db)
            .filter(asset_tag__in=parent_tags, data_bearing=False)
            .update(data_bearing=True)
        ):
            break


GUARD = {
    "postgresql": (
        """
        CREATE OR REPLACE FUNCTION registry_asset_data_bearing_sticky() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION 'an asset that has held data stays data-bearing'; END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER registry_asset_data_bearing_sticky BEFORE UPDATE ON registry_asset
            FOR EACH ROW WHEN (OLD.data_bearing AND NOT NEW.data_bearing)
            EXECUTE FUNCTION registry_asset_data_bearing_sticky();
        """,
        """
        DROP TRIGGER IF EXISTS registry_asset_data_bearing_sticky ON registry_asset;
        DROP FUNCTION IF EXISTS registry_asset_data_bearing_sticky();
        """,
    ),
    "sqlite": (
        """
        CREATE TRIGGER registry_asset_data_bearing_sticky BEFORE UPDATE ON registry_asset
            WHEN OLD.data_bearing AND NOT NEW.data_bearing
            BEGIN SELECT RAISE(ABORT, 'an asset that has held data stays data-bearing'); END;
        """,
        "DROP TRIGGER IF EXISTS registry_asset_data_bearing_sticky;",
    ),
}


def _guard(index):
    def run(apps, schema_editor):
        sql = GUARD.get(schema_editor.connection.vendor)
        if sql:
            schema_editor.execute(sql[index].strip())

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0003_role_permissions"),
    ]

    operations = [
        migrations.AddField(
            model_name="asset",
            name="data_bearing",
            field=models.BooleanField(
                default=False,
                help_text="Set from its model at purchase, by any data-bearing component ever installed, or by an operator; never cleared. Data-bearing units leave custody only after a verified purge or destruction.",
                verbose_name="holds or has held data",
            ),
        ),
        migrations.AddField(
            model_name="historicalasset",
            name="data_bearing",
            field=models.BooleanField(
                default=False,
                help_text="Set from its model at purchase, by any data-bearing component ever installed, or by an operator; never cleared. Data-bearing units leave custody only after a verified purge or destruction.",
                verbose_name="holds or has held data",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        # The database keeps the flag from ever going back to false, whoever writes.
        migrations.RunPython(_guard(0), _guard(1)),
    ]
