"""A change counter over the tables reuse candidates read (assets, sites, measured runs, the
catalogue's hardware models), so a reader can cache what it computed from them, exactly.

Every statement that writes one of them (INSERT, UPDATE, DELETE, TRUNCATE; ORM, raw SQL, COPY,
cascades alike) takes a shared transaction-scoped advisory lock and bumps a sequence. A reader
that gets the lock exclusively knows no such write is in flight, so what it reads is exactly the
committed tables at that counter value (registry.reuse.cache.versioned). PostgreSQL only: other
databases never cache.
"""

from django.db import migrations

# registry.reuse.cache.REGISTRY_WRITE_LOCK: keep the two equal.
LOCK_KEY = 1919248177
TABLES = (
    "registry_asset",
    "registry_site",
    "registry_reusemeasurement",
    "hardware_hardwaremodel",
)

FORWARD = f"""
CREATE SEQUENCE IF NOT EXISTS registry_version;
CREATE OR REPLACE FUNCTION registry_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared({LOCK_KEY});
    PERFORM nextval('registry_version');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
""" + "".join(
    f"""
CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changed();
"""
    for table in TABLES
)
BACKWARD = (
    "".join(f"DROP TRIGGER IF EXISTS {table}_changed ON {table};\n" for table in TABLES)
    + """
DROP FUNCTION IF EXISTS registry_changed();
DROP SEQUENCE IF EXISTS registry_version;
"""
)


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql.strip())

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0006_merge_reuse_measurements_data_bearing"),
        ("hardware", "0003_decode_measurements"),
    ]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
