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
