"""The asset row is the ledger's projection, in the database itself.

- An asset's state, site and parent change only to what its ledger's last rows say: the writer
  appends the row first, then updates the asset; a forged UPDATE is refused (PostgreSQL).
- A hardware model switched to `holds_data` marks every existing unit of it data-bearing (never
  cleared: migration 0004); switching it off changes no unit.
- No new ledger row or asset date lies before the registry's floor (1990-01-01), whatever door
  wrote it; rows already stored are left as they are (NOT VALID) and `check_ledger` names them.
"""

import registry.models
from django.db import migrations, models

PROJECTION = """
CREATE OR REPLACE FUNCTION registry_asset_follows_ledger() RETURNS trigger AS $$
DECLARE
    last_row registry_lifecycleevent%ROWTYPE;
    link registry_lifecycleevent%ROWTYPE;
    expected_parent bigint;
BEGIN
    IF NEW.state IS DISTINCT FROM OLD.state OR NEW.site_id IS DISTINCT FROM OLD.site_id THEN
        SELECT * INTO last_row FROM registry_lifecycleevent WHERE asset_id = NEW.id
            ORDER BY occurred_at DESC, id DESC LIMIT 1;
        IF last_row.id IS NULL OR last_row.state_after <> NEW.state
                OR last_row.site_id <> NEW.site_id THEN
            RAISE EXCEPTION 'asset %: its state and site are those of its last ledger row; '
                'record an event instead', NEW.asset_tag
                USING ERRCODE = 'check_violation', CONSTRAINT = 'asset_state_from_ledger';
        END IF;
    END IF;
    IF NEW.parent_id IS DISTINCT FROM OLD.parent_id THEN
        SELECT * INTO link FROM registry_lifecycleevent WHERE asset_id = NEW.id
            AND (kind = 'component-installed' OR details ? 'from_parent')
            ORDER BY occurred_at DESC, id DESC LIMIT 1;
        IF link.kind = 'component-installed' THEN
            SELECT id INTO expected_parent FROM registry_asset
                WHERE asset_tag = link.details->>'parent';
        END IF;
        IF NEW.parent_id IS DISTINCT FROM expected_parent THEN
            RAISE EXCEPTION 'asset %: its parent is the one its ledger installed it in; '
                'record an event instead', NEW.asset_tag
                USING ERRCODE = 'check_violation', CONSTRAINT = 'asset_parent_from_ledger';
        END IF;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER registry_asset_follows_ledger BEFORE UPDATE ON registry_asset
    FOR EACH ROW EXECUTE FUNCTION registry_asset_follows_ledger();

CREATE OR REPLACE FUNCTION registry_model_holds_data() RETURNS trigger AS $$
BEGIN
    UPDATE registry_asset SET data_bearing = true
        WHERE hardware_model_id = NEW.id AND NOT data_bearing;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER registry_model_holds_data AFTER UPDATE OF holds_data ON hardware_hardwaremodel
    FOR EACH ROW WHEN (NEW.holds_data AND NOT OLD.holds_data)
    EXECUTE FUNCTION registry_model_holds_data();

ALTER TABLE registry_lifecycleevent ADD CONSTRAINT registry_event_after_floor
    CHECK (occurred_at >= '1990-01-01T00:00:00Z') NOT VALID;
ALTER TABLE registry_asset ADD CONSTRAINT registry_asset_dates_after_floor
    CHECK (purchase_date >= '1990-01-01' AND warranty_end >= '1990-01-01'
           AND support_end >= '1990-01-01' AND planned_eol >= '1990-01-01') NOT VALID;
"""
PROJECTION_BACK = """
ALTER TABLE registry_asset DROP CONSTRAINT IF EXISTS registry_asset_dates_after_floor;
ALTER TABLE registry_lifecycleevent DROP CONSTRAINT IF EXISTS registry_event_after_floor;
DROP TRIGGER IF EXISTS registry_model_holds_data ON hardware_hardwaremodel;
DROP FUNCTION IF EXISTS registry_model_holds_data();
DROP TRIGGER IF EXISTS registry_asset_follows_ledger ON registry_asset;
DROP FUNCTION IF EXISTS registry_asset_follows_ledger();
"""
SQLITE = """
CREATE TRIGGER registry_model_holds_data AFTER UPDATE OF holds_data ON hardware_hardwaremodel
    WHEN NEW.holds_data AND NOT OLD.holds_data
    BEGIN
        UPDATE registry_asset SET data_bearing = 1
            WHERE hardware_model_id = NEW.id AND NOT data_bearing;
    END;
"""
SQLITE_BACK = "DROP TRIGGER IF EXISTS registry_model_holds_data;"


def _run(postgresql, sqlite):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(postgresql.strip(), None)
        elif vendor == "sqlite":
            schema_editor.execute(sqlite.strip())

    return run


def _mark_existing_units(apps, schema_editor):
    """Units of a model that holds data today are data-bearing, as the trigger keeps them."""
    Asset = apps.get_model("registry", "Asset")
    db = schema_editor.connection.alias
    Asset.objects.using(db).filter(hardware_model__holds_data=True, data_bearing=False).update(
        data_bearing=True
    )


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0011_inventoried_event_kind"),
        ("hardware", "0006_decode_measurement_role"),
    ]

    operations = [
        migrations.AlterField(
            model_name="asset",
            name="support_end",
            field=models.DateField(
                blank=True,
                help_text="The maker's or a contractor's support (firmware, spares, service) ends.",
                null=True,
                validators=[registry.models.validate_planned_date],
                verbose_name="support end",
            ),
        ),
        migrations.AlterField(
            model_name="historicalasset",
            name="support_end",
            field=models.DateField(
                blank=True,
                help_text="The maker's or a contractor's support (firmware, spares, service) ends.",
                null=True,
                validators=[registry.models.validate_planned_date],
                verbose_name="support end",
            ),
        ),
        migrations.AddField(
            model_name="lifecycleevent",
            name="data_bearing",
            field=models.BooleanField(
                blank=True,
                help_text="Whether the unit held or had held data when this row was recorded (blank: recorded before the ledger kept it).",
                null=True,
                verbose_name="held data",
            ),
        ),
        migrations.AlterField(
            model_name="asset",
            name="planned_eol",
            field=models.DateField(
                blank=True,
                null=True,
                validators=[registry.models.validate_planned_date],
                verbose_name="planned end of life",
            ),
        ),
        migrations.AlterField(
            model_name="asset",
            name="purchase_date",
            field=models.DateField(
                blank=True, null=True, validators=[registry.models.validate_past_date]
            ),
        ),
        migrations.AlterField(
            model_name="asset",
            name="warranty_end",
            field=models.DateField(
                blank=True, null=True, validators=[registry.models.validate_planned_date]
            ),
        ),
        migrations.AlterField(
            model_name="historicalasset",
            name="planned_eol",
            field=models.DateField(
                blank=True,
                null=True,
                validators=[registry.models.validate_planned_date],
                verbose_name="planned end of life",
            ),
        ),
        migrations.AlterField(
            model_name="historicalasset",
            name="purchase_date",
            field=models.DateField(
                blank=True, null=True, validators=[registry.models.validate_past_date]
            ),
        ),
        migrations.AlterField(
            model_name="historicalasset",
            name="warranty_end",
            field=models.DateField(
                blank=True, null=True, validators=[registry.models.validate_planned_date]
            ),
        ),
        migrations.RunPython(_mark_existing_units, migrations.RunPython.noop),
        migrations.RunPython(_run(PROJECTION, SQLITE), _run(PROJECTION_BACK, SQLITE_BACK)),
    ]
