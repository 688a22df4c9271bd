"""Fixtures shared by every test. Django (models, the test client) is imported inside the
fixtures, so the pure tests also run without it (`pytest -p no:django`)."""

import importlib

import pytest
from hypothesis import settings as hypothesis_settings

pytest_plugins = ["tests.celery_worker"]

# No per-example deadline: a loaded 2-core CI machine must not turn slowness into failures.
hypothesis_settings.register_profile("circulus", deadline=None)
hypothesis_settings.load_profile("circulus")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The reference catalogue is loaded once into the test database; tests that need it empty
    delete it inside their own (rolled back) transaction."""
    from hardware.services import load_catalogue

    with django_db_blocker.unblock():
        load_catalogue()
    yield
    with django_db_blocker.unblock():
        _warn_of_lingering_sessions()


def _warn_of_lingering_sessions() -> None:
    """Name any other session still on the test database before it is dropped: a worker, thread
    or connection some test left open (PostgreSQL would refuse or delay the DROP)."""
    import warnings

    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, application_name, client_port, state, backend_start, left(query, 200) "
            "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        others = cursor.fetchall()
    for other in others:
        warnings.warn(f"session left on the test database: {other}", stacklevel=1)


@pytest.fixture
def api():
    """An API client; `api.force_authenticate(user)` signs in."""
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def staff_user(db):
    from tests import factories

    return factories.user("staff", is_staff=True)


@pytest.fixture
def operator_user(db):
    from tests import factories

    return factories.user("op", group="operator", is_staff=True)


@pytest.fixture
def procurement_user(db):
    from tests import factories

    return factories.user("buyer", group="procurement")


@pytest.fixture
def auditor_user(db):
    from tests import factories

    return factories.user("audit", group="auditor", is_staff=True)


@pytest.fixture
def roles(db):
    from django.contrib.auth.models import Group

    return set(Group.objects.values_list("name", flat=True))


def _with_django(request) -> bool:
    return request.config.pluginmanager.hasplugin("django")


@pytest.fixture(autouse=True)
def _plain_http(request):
    """The test client speaks plain HTTP; production redirects to HTTPS."""
    if _with_django(request):
        request.getfixturevalue("settings").SECURE_SSL_REDIRECT = False


def _reseed(using: str) -> None:
    """What the migrations put in an empty database: roles, their permissions, the catalogue."""
    import importlib

    from django.apps import apps as global_apps

    from hardware.services import load_catalogue

    for module in (
        "hardware.migrations.0002_roles",
        "registry.migrations.0003_role_permissions",
        "reporting.migrations.0002_role_permissions",
        "hardware.migrations.0004_catalogue_editor",
        "reporting.migrations.0009_reporting_scoped_roles",
        "accounts.migrations.0002_auditor_reads_token_events",
    ):
        try:
            migration = importlib.import_module(module)
        except ModuleNotFoundError:
            continue
        seed = getattr(migration, "create_roles", None) or migration.grant
        seed(global_apps, None)
    load_catalogue()


@pytest.fixture(scope="session", autouse=True)
def _flush_keeps_the_seed_and_the_ledger_guard(request):
    """Transactional tests end with `flush`. On SQLite the flush DELETEs, which the ledger's
    append-only trigger refuses: lift the trigger for the flush only. After any flush, put back
    what the data migrations seeded, so later tests see the same database as the first."""
    if not _with_django(request):
        yield
        return
    from django.core.management.commands import flush
    from django.db import connections

    ledger = importlib.import_module("registry.migrations.0002_ledger_append_only")
    original = flush.Command.handle

    def handle(self, **options):
        connection = connections[options.get("database", "default")]
        sqlite = connection.vendor == "sqlite"
        if sqlite:
            with connection.cursor() as cursor:
                for statement in filter(str.strip, ledger.SQL["sqlite"][1].split(";")):
                    cursor.execute(statement)
        try:
            return original(self, **options)
        finally:
            if sqlite:
                with connection.cursor() as cursor:
                    for statement in ledger.SQL["sqlite"][0].split("END;"):
                        if statement.strip():
                            cursor.execute(statement + "END;")
            _reseed(options.get("database", "default"))

    flush.Command.handle = handle
    yield
    flush.Command.handle = original
