"""`manage.py grant_app_role ROLE`: give the application's PostgreSQL role exactly what it needs.

Run as the owner (it connects with DATABASE_MIGRATE_URL, as `migrate` does) after every
`migrate`: new tables stay closed to the application until it runs, so nothing is ever granted by
accident. The ledger gets SELECT and INSERT only: no UPDATE, DELETE or TRUNCATE, and, not being
its owner, the application cannot ALTER it (disable its trigger) either; `session_replication_role`
needs a superuser, which neither role is (deploy/postgres/roles.sql).
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from registry.models import LifecycleEvent

# Append-only tables: the application reads and appends, and the migration history is the
# owner's alone.
APPEND_ONLY = (LifecycleEvent._meta.db_table,)
READ_ONLY = ("django_migrations",)


def grant_app_role(connection, role: str) -> None:
    """Grant `role` what the application needs in the current schema (PostgreSQL)."""
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            raise CommandError(f"no PostgreSQL role '{role}' (see deploy/postgres/roles.sql)")
        cursor.execute("SELECT current_schema()")
        (schema,) = cursor.fetchone()
        tables = [t for t in connection.introspection.table_names(cursor) if t not in APPEND_ONLY]
        role, schema = qn(role), qn(schema)
        cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        cursor.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}")
        for table in tables:
            privileges = "SELECT" if table in READ_ONLY else "SELECT, INSERT, UPDATE, DELETE"
            cursor.execute(f"GRANT {privileges} ON {qn(table)} TO {role}")
        for table in APPEND_ONLY:
            cursor.execute(f"GRANT SELECT, INSERT ON {qn(table)} TO {role}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}")


class Command(BaseCommand):
    help = (
        "Grant the application's PostgreSQL role what it needs (the ledger: SELECT and INSERT "
        "only). Run as the owner after every migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="the application's login role, e.g. circulus_app")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, role, database, **options):
        connection = connections[database]
        if connection.vendor != "postgresql":
            raise CommandError("roles and grants apply to PostgreSQL only")
        with transaction.atomic(using=database):
            grant_app_role(connection, role)
        self.stdout.write(self.style.SUCCESS(f"granted '{role}' the application's privileges"))
