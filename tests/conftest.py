"""Fixtures shared by every test. Django (models, the test client) is imported inside the
fixtures, so the pure tests also run without it (`pytest -p no:django`)."""

import importlib
import os
import socket
from email import message_from_bytes
from pathlib import Path

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
        _SEED.update(_seed_rows())
    yield
    with django_db_blocker.unblock():
        _warn_of_lingering_sessions()


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hasher(request):
    """Users made by the tests get MD5 password hashes: the production hasher (PBKDF2, a million
    rounds) costs over half a second of CPU per user made or signed in. No test here checks the
    hasher itself; a test that does would set PASSWORD_HASHERS back with the `settings` fixture."""
    if not _with_django(request):
        yield
        return
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


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


# `make test` runs the suite on two processes (pytest-xdist, `--dist loadgroup`), each with its
# own test database. Tests that share something beyond it run in one process, one at a time:
# real Celery workers (one Redis database, broadcast pings), the browser (one Chromium at a
# time on a 2-core machine) and the PostgreSQL roles (global to the server).
XDIST_GROUPS = {
    "celery-worker": lambda item: (
        "celery_worker" in item.keywords
        or any(name.startswith("celery_worker") for name in item.fixturenames)
    ),
    "browser": lambda item: item.path.parent.name == "e2e",
    "db-roles": lambda item: item.path.name == "test_db_roles.py",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for group, member in XDIST_GROUPS.items():
            if member(item):
                item.add_marker(pytest.mark.xdist_group(group))
                break


def _with_django(request) -> bool:
    return request.config.pluginmanager.hasplugin("django")


@pytest.fixture(autouse=True)
def _plain_http(request):
    """The test client speaks plain HTTP; production redirects to HTTPS."""
    if _with_django(request):
        request.getfixturevalue("settings").SECURE_SSL_REDIRECT = False


# What the first test of this process sees (the data migrations' roles and the catalogue), kept
# by `django_db_setup`: a transactional test's flush empties every table, and `_reseed` puts
# these rows back (bulk inserts: running the seeding again costs over a second each time).
_SEED: dict = {}


def _seed_rows() -> dict:
    from django.apps import apps
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    # Content types and permissions are made again by the flush's post_migrate, under new ids:
    # the roles' grants are kept by natural key instead.
    remade = {ContentType, Permission, Group.permissions.through}
    rows = {}
    for model in apps.get_models(include_auto_created=True):
        if model in remade or model._meta.proxy or not model._meta.managed:
            continue
        objects = list(model._base_manager.order_by("pk"))
        if objects:
            rows[model] = objects
    grants = {
        group.name: list(
            group.permissions.values_list(
                "content_type__app_label", "content_type__model", "codename", "name"
            )
        )
        for group in Group.objects.all()
    }
    return {"rows": rows, "grants": grants}


def _reseed(using: str) -> None:
    """Put back what the migrations and the catalogue wrote in the empty test database: the
    rows `django_db_setup` kept, with their ids, and the roles' permissions."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType
    from django.core.management.color import no_style
    from django.db import connections, transaction

    rows, grants = _SEED["rows"], _SEED["grants"]
    connection = connections[using]
    with transaction.atomic(using=using):
        for model, objects in rows.items():
            model._base_manager.using(using).bulk_create(objects)
        permissions = {
            (p.content_type.app_label, p.content_type.model, p.codename): p
            for p in Permission.objects.using(using).select_related("content_type")
        }
        for name, granted in grants.items():
            for app_label, model, codename, label in granted:
                if (app_label, model, codename) not in permissions:  # not made by post_migrate
                    content_type, _ = ContentType.objects.db_manager(using).get_or_create(
                        app_label=app_label, model=model
                    )
                    permissions[app_label, model, codename] = Permission.objects.using(
                        using
                    ).create(content_type=content_type, codename=codename, name=label)
            Group.objects.db_manager(using).get(name=name).permissions.set(
                [permissions[key[:3]] for key in granted]
            )
        # New rows continue after the ids put back (a flush may have reset the sequences).
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), list(rows)):
                cursor.execute(statement)


@pytest.fixture(scope="session", autouse=True)
def _files_of_this_worker(request):
    """Under pytest-xdist each process writes files under its own directory of var/: two test
    databases both hold a job 1, whose files would otherwise share a name."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not (worker and _with_django(request)):
        yield
        return
    from django.conf import settings

    names = ("VAR_DIR", "MEDIA_ROOT", "READINGS_ARCHIVE_DIR")
    saved = {name: getattr(settings, name) for name in names}
    settings.VAR_DIR = Path(saved["VAR_DIR"]) / f"xdist-{worker}"
    for name in names[1:]:
        path = Path(saved[name])
        inside = path.is_relative_to(saved["VAR_DIR"])
        setattr(
            settings,
            name,
            settings.VAR_DIR / path.relative_to(saved["VAR_DIR"]) if inside else path,
        )
    # The Celery workers the tests start read their settings from the environment: the same
    # directories, or a worker looks for an upload where this process never wrote it.
    environ = {"MEDIA_ROOT": settings.MEDIA_ROOT,
               "CIRCULUS_READINGS_ARCHIVE_DIR": settings.READINGS_ARCHIVE_DIR}  # fmt: skip
    saved_environ = {name: os.environ.get(name) for name in environ}
    os.environ.update({name: str(value) for name, value in environ.items()})
    yield
    for name, value in saved.items():
        setattr(settings, name, value)
    for name, value in saved_environ.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


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
