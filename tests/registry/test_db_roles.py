"""The application's PostgreSQL role cannot undo the ledger's immutability.

The suite itself runs as the owner; here the test switches to a fresh role granted exactly what
`manage.py grant_app_role` grants (what deploy/ and CI give the application), and tries every
way around the append-only trigger.
"""

import uuid

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from registry.models import LifecycleEvent
from registry.services import record_event
from tests import factories as f
from tests.factories import at

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="roles and grants are PostgreSQL's"
)

LEDGER = LifecycleEvent._meta.db_table
ATTEMPTS = {
    "truncate": f"TRUNCATE {LEDGER}",
    "disable trigger": f"ALTER TABLE {LEDGER} DISABLE TRIGGER ALL",
    "drop trigger": f"DROP TRIGGER registry_ledger_no_update ON {LEDGER}",
    "replication role": "SET session_replication_role = replica",
    "update": f"UPDATE {LEDGER} SET kind = kind",
    "delete": f"DELETE FROM {LEDGER}",
    "new table": "CREATE TABLE circulus_shadow (id int)",
}


@pytest.fixture
def as_app_role(db):
    """Inside the test's transaction (rolled back, role and grants included): a new role with
    the application's grants, then SET LOCAL ROLE to it."""
    role = f"circulus_test_app_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" NOLOGIN NOSUPERUSER')
    call_command("grant_app_role", role, stdout=None)
    gpu = f.asset("GPU-1")
    with connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{role}"')
        cursor.execute("SELECT current_user")
        assert cursor.fetchone() == (role,)
    return gpu


@postgres_only
@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_the_application_role_cannot_get_around_the_ledger(as_app_role, attempt):
    with pytest.raises(DatabaseError) as err, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(ATTEMPTS[attempt])
    # Refused for want of privilege, before any trigger is reached.
    assert "permission denied" in str(err.value) or "must be owner" in str(err.value)
    assert LifecycleEvent.objects.filter(asset=as_app_role).count() == 1


@postgres_only
def test_the_application_role_still_records_events(as_app_role):
    event = record_event(
        as_app_role, "commissioned", occurred_at=at(1), details={"workload": "training"}
    )
    assert LifecycleEvent.objects.filter(asset=as_app_role).count() == 2
    assert event.pk is not None


@postgres_only
def test_grant_app_role_names_a_missing_role(db):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="no PostgreSQL role"):
        call_command("grant_app_role", "circulus_no_such_role")


def test_migrations_connect_with_the_migration_url():
    from circulus.settings import database_url

    env = {"DATABASE_URL": "postgres://app@db/c", "DATABASE_MIGRATE_URL": "postgres://own@db/c"}
    assert database_url(["manage.py", "migrate"], env) == env["DATABASE_MIGRATE_URL"]
    assert database_url(["circulus", "grant_app_role", "x"], env) == env["DATABASE_MIGRATE_URL"]
    assert database_url(["manage.py", "runserver"], env) == env["DATABASE_URL"]
    assert database_url(["manage.py", "migrate"], {"DATABASE_URL": "sqlite:///x"}) == "sqlite:///x"


@postgres_only
def test_the_application_role_keeps_the_registry_counter(as_app_role):
    """Writes bump the counter behind kept reuse answers, and the reader's locks are allowed."""
    from registry.reuse import cache

    before = cache.registry_version()
    record_event(as_app_role, "commissioned", occurred_at=at(1), details={"workload": "training"})
    assert cache.registry_version() > before
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {', '.join(cache.VERSIONED_TABLES)} IN ACCESS SHARE MODE")
        cursor.execute(f"SELECT pg_try_advisory_xact_lock({cache.REGISTRY_WRITE_LOCK})")


@postgres_only
@pytest.mark.parametrize(
    "assignment",
    ["state = 'sold'", "site_id = site_id + 1", "parent_id = id", "data_bearing = false"],
)
def test_the_application_role_cannot_forge_an_assets_projection(as_app_role, assignment):
    """State, site and parent are the ledger's; the data flag is never cleared."""
    record_event(as_app_role, "commissioned", occurred_at=at(1), details={"workload": "storage"})
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE registry_asset SET data_bearing = true WHERE id = %s", [as_app_role.pk]
        )
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE registry_asset SET {assignment} WHERE id = %s", [as_app_role.pk])
    as_app_role.refresh_from_db()
    assert as_app_role.state == "in-service" and as_app_role.parent_id is None


@postgres_only
def test_the_application_role_still_moves_installs_and_checks(as_app_role):
    from registry import invariants

    other = f.site("FRA1", country="DE", time_zone="Europe/Berlin")
    srv = f.asset("SRV-1", model=f.hardware_model_by_slug("dell-poweredge-c4140"))
    record_event(as_app_role, "component-installed", occurred_at=at(1), details={"parent": "SRV-1"})
    record_event(srv, "commissioned", occurred_at=at(2), details={"workload": "inference"})
    record_event(as_app_role, "component-removed", occurred_at=at(3))
    record_event(as_app_role, "moved", occurred_at=at(4), details={"site": other.code})
    as_app_role.refresh_from_db()
    assert as_app_role.site == other and as_app_role.state == "in-stock"
    assert invariants.check() == []
