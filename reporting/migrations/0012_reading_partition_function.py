"""PostgreSQL: `reporting_reading_ensure_month(timestamptz)` creates one UTC month's partition of
the readings (moving that month's rows out of the DEFAULT partition first), and
`reporting_reading_default_rows()` counts what the DEFAULT partition holds.

The application's role owns nothing and creates nothing (docs/operations.md, "two roles"), yet
its ingests and its beat task must be able to add a month. The function runs with its owner's
rights (SECURITY DEFINER, search_path pinned) and does only that one thing, under an advisory
lock so that concurrent callers create a month once.
"""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION reporting_reading_ensure_month(moment timestamptz)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    wall timestamp := date_trunc('month', moment AT TIME ZONE 'UTC');
    lower timestamptz := wall AT TIME ZONE 'UTC';
    upper timestamptz := (wall + interval '1 month') AT TIME ZONE 'UTC';
    name text := 'reporting_reading_y' || to_char(wall, 'YYYY') || 'm' || to_char(wall, 'MM');
BEGIN
    PERFORM pg_advisory_xact_lock(1380270404);
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT 1 FROM reporting_reading_default
               WHERE "timestamp" >= lower AND "timestamp" < upper) THEN
        EXECUTE format('CREATE TABLE %I (LIKE reporting_reading INCLUDING ALL)', name);
        EXECUTE format('INSERT INTO %I SELECT * FROM reporting_reading_default '
                       'WHERE "timestamp" >= $1 AND "timestamp" < $2', name) USING lower, upper;
        DELETE FROM reporting_reading_default WHERE "timestamp" >= lower AND "timestamp" < upper;
        EXECUTE format('ALTER TABLE reporting_reading ATTACH PARTITION %I '
                       'FOR VALUES FROM (%L) TO (%L)', name, lower, upper);
    ELSE
        EXECUTE format('CREATE TABLE %I PARTITION OF reporting_reading '
                       'FOR VALUES FROM (%L) TO (%L)', name, lower, upper);
    END IF;
    RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION reporting_reading_default_rows()
RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT COUNT(*) FROM reporting_reading_default
$$;
"""


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        (schema,) = cursor.fetchone()
        # No parameters: the body's % are format()'s (PL/pgSQL), not placeholders.
        cursor.execute(FUNCTION.replace("{schema}", connection.ops.quote_name(schema)), None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS reporting_reading_ensure_month(timestamptz)")
        schema_editor.execute("DROP FUNCTION IF EXISTS reporting_reading_default_rows()")


class Migration(migrations.Migration):

    dependencies = [
        ("reporting", "0011_reading_monthly_partitions"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
