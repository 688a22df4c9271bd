import importlib
import socket
from email import message_from_bytes

import pytest
from django.contrib.auth.models import Group
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from tests import factories

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
    return APIClient()


@pytest.fixture
def staff_user(db):
    return factories.user("staff", is_staff=True)


@pytest.fixture
def operator_user(db):
    return factories.user("op", group="operator", is_staff=True)


@pytest.fixture
def procurement_user(db):
    return factories.user("buyer", group="procurement")


@pytest.fixture
def auditor_user(db):
    return factories.user("audit", group="auditor", is_staff=True)


@pytest.fixture
def roles(db):
    return set(Group.objects.values_list("name", flat=True))


@pytest.fixture(autouse=True)
def _plain_http(settings):
    """The test client speaks plain HTTP; production redirects to HTTPS."""
    settings.SECURE_SSL_REDIRECT = False


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
def _flush_keeps_the_seed_and_the_ledger_guard():
    """Transactional tests end with `flush`. On SQLite the flush DELETEs, which the ledger's
    append-only trigger refuses: lift the trigger for the flush only. After any flush, put back
    what the data migrations seeded, so later tests see the same database as the first."""
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 that keeps what it receives."""
    controller_module = pytest.importorskip("aiosmtpd.controller")

    class Keep:
        def __init__(self):
            self.received = []

        async def handle_DATA(self, server, session, envelope):
            self.received.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
            return "250 Message accepted for delivery"

    handler = Keep()
    controller = controller_module.Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, handler
    controller.stop()
