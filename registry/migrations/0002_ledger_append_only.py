"""The ledger is append-only in the database itself: not even a superuser's SQL edits it."""

from django.db import migrations

TABLE = "registry_lifecycleevent"
MESSAGE = "lifecycle ledger is append-only: record a correction event"

SQL = {
    "postgresql": (
        f"""
        CREATE OR REPLACE FUNCTION registry_ledger_append_only() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION '{MESSAGE}'; END; $$ LANGUAGE plpgsql;
        CREATE TRIGGER registry_ledger_no_update BEFORE UPDATE OR DELETE ON {TABLE}
            FOR EACH ROW EXECUTE FUNCTION registry_ledger_append_only();
        """,
        f"""
        DROP TRIGGER IF EXISTS registry_ledger_no_update ON {TABLE};
        DROP FUNCTION IF EXISTS registry_ledger_append_only();
        """,
    ),
    "sqlite": (
        f"""
        CREATE TRIGGER registry_ledger_no_update BEFORE UPDATE ON {TABLE}
            BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;
        CREATE TRIGGER registry_ledger_no_delete BEFORE DELETE ON {TABLE}
            BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;
        """,
        """
        DROP TRIGGER IF EXISTS registry_ledger_no_update;
        DROP TRIGGER IF EXISTS registry_ledger_no_delete;
        """,
    ),
}


def _run(index):
    def run(apps, schema_editor):
        sql = SQL.get(schema_editor.connection.vendor)
        if sql is None:
            return
        if schema_editor.connection.vendor == "sqlite":
            for statement in filter(str.strip, sql[index].split(";\n")):
                if statement.strip().startswith("CREATE TRIGGER"):
                    schema_editor.execute(statement.strip().rstrip(";") + ";")
                elif statement.strip():
                    schema_editor.execute(statement)
        else:
            schema_editor.execute(sql[index])

    return run


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]
    operations = [migrations.RunPython(_run(0), _run(1))]
