"""The asset row is the ledger's projection on SQLite too, and the data flag's ratchet is one
rule of the same trigger.

- PostgreSQL: `registry_asset_follows_ledger` (0012) also refuses clearing `data_bearing`
  (`asset_data_bearing_ratchet`, a check violation like its siblings); 0004's separate trigger
  is folded into it. Setting the flag stays open to every writer: an operator may mark a unit
  (admin, API), the writer marks the parents of a data-bearing component, the catalogue marks
  the units of a model that holds data; a mark only tightens custody.
- SQLite: the same rules as triggers (`RAISE(ABORT)`): a changed state or site must be those of
  the asset's last ledger row (time, then order of recording), a changed parent the one its last
  installation names, and the flag is never cleared. The design is PostgreSQL's: the writer
  appends the ledger row before it updates the asset, so it passes; nothing else can, and no
  writer flag or session setting exists that a forger could set as well.
"""

from django.db import migrations

POSTGRESQL = """
DROP TRIGGER IF EXISTS registry_asset_data_bearing_sticky ON registry_asset;
DROP FUNCTION IF EXISTS registry_asset_data_bearing_sticky();
CREATE OR REPLACE FUNCTION registry_asset_follows_ledger() RETURNS trigger AS $$
DECLARE
    last_row registry_lifecycleevent%ROWTYPE;
    link registry_lifecycleevent%ROWTYPE;
    expected_parent bigint;
BEGIN
    IF OLD.data_bearing AND NOT NEW.data_bearing THEN
        RAISE EXCEPTION 'asset %: a unit that has held data stays data-bearing', NEW.asset_tag
            USING ERRCODE = 'check_violation', CONSTRAINT = 'asset_data_bearing_ratchet';
    END IF;
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
"""
POSTGRESQL_BACK = """
CREATE OR REPLACE FUNCTION registry_asset_data_bearing_sticky() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'an asset that has held data stays data-bearing'; END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER registry_asset_data_bearing_sticky BEFORE UPDATE ON registry_asset
    FOR EACH ROW WHEN (OLD.data_bearing AND NOT NEW.data_bearing)
    EXECUTE FUNCTION registry_asset_data_bearing_sticky();
"""

# One statement each (SQLite's executor runs one at a time). A trigger's message is one literal
# (SQLite joins no adjacent strings): it names the rule as PostgreSQL's constraint does.
SQLITE = [
    "DROP TRIGGER IF EXISTS registry_asset_data_bearing_sticky",
    """
    CREATE TRIGGER registry_asset_data_bearing_ratchet BEFORE UPDATE OF data_bearing
        ON registry_asset WHEN OLD.data_bearing AND NOT NEW.data_bearing
    BEGIN
        SELECT RAISE(ABORT,
            'asset_data_bearing_ratchet: a unit that has held data stays data-bearing');
    END
    """,
    """
    CREATE TRIGGER registry_asset_state_from_ledger BEFORE UPDATE OF state, site_id
        ON registry_asset
        WHEN NEW.state IS NOT OLD.state OR NEW.site_id IS NOT OLD.site_id
    BEGIN
        SELECT RAISE(ABORT,
            'asset_state_from_ledger: state and site are the last ledger row''s; record an event')
        WHERE NOT EXISTS (
            SELECT 1 FROM (
                SELECT state_after, site_id FROM registry_lifecycleevent
                WHERE asset_id = NEW.id ORDER BY occurred_at DESC, id DESC LIMIT 1
            ) AS last_row
            WHERE last_row.state_after = NEW.state AND last_row.site_id = NEW.site_id
        );
    END
    """,
    """
    CREATE TRIGGER registry_asset_parent_from_ledger BEFORE UPDATE OF parent_id
        ON registry_asset WHEN NEW.parent_id IS NOT OLD.parent_id
    BEGIN
        SELECT RAISE(ABORT,
            'asset_parent_from_ledger: the parent is the one the ledger installed it in')
        WHERE NEW.parent_id IS NOT (
            SELECT CASE WHEN link.kind = 'component-installed' THEN (
                SELECT p.id FROM registry_asset AS p
                WHERE p.asset_tag = json_extract(link.details, '$.parent')
            ) END
            FROM (
                SELECT kind, details FROM registry_lifecycleevent
                WHERE asset_id = NEW.id AND (
                    kind = 'component-installed'
                    OR json_type(details, '$.from_parent') IS NOT NULL
                )
                ORDER BY occurred_at DESC, id DESC LIMIT 1
            ) AS link
        );
    END
    """,
]
SQLITE_BACK = [
    "DROP TRIGGER IF EXISTS registry_asset_parent_from_ledger",
    "DROP TRIGGER IF EXISTS registry_asset_state_from_ledger",
    "DROP TRIGGER IF EXISTS registry_asset_data_bearing_ratchet",
    """
    CREATE TRIGGER registry_asset_data_bearing_sticky BEFORE UPDATE ON registry_asset
        WHEN OLD.data_bearing AND NOT NEW.data_bearing
        BEGIN SELECT RAISE(ABORT, 'an asset that has held data stays data-bearing'); END
    """,
]


def _run(postgresql, sqlite):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(postgresql.strip(), None)
        elif vendor == "sqlite":
            for statement in sqlite:
                schema_editor.execute(statement.strip())

    return run


class Migration(migrations.Migration):
    dependencies = [("registry", "0013_audits")]

    operations = [
        migrations.RunPython(_run(POSTGRESQL, SQLITE), _run(POSTGRESQL_BACK, SQLITE_BACK)),
    ]
