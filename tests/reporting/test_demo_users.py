"""The demo's users work as their roles right after `make demo`."""

from io import StringIO

import pytest

from registry.demo import ensure_demo_sites
from registry.models import Site
from reporting.management.commands.demo import DEMO_PASSWORD, Command

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_users(settings):
    settings.DEBUG = True
    ensure_demo_sites()
    command = Command(stdout=StringIO())
    command._users()
    return command.stdout.getvalue()


def test_demo_prints_what_each_user_may_do(demo_users):
    for username in ("admin", "operator", "procurement", "auditor", "editor"):
        assert f"   {username} " in demo_users
    assert "reuse candidates" in demo_users and "writes nothing" in demo_users


def test_demo_operator_operates_par1_not_fra1(demo_users):
    assert Site.objects.get(code="PAR1").operators.filter(username="operator").exists()
    assert not Site.objects.get(code="FRA1").operators.filter(username="operator").exists()


@pytest.mark.parametrize(
    "username,url,status",
    [
        ("procurement", "/admin/registry/reuse-candidates/", 200),
        ("procurement", "/admin/reporting/measurementpoint/", 403),
        ("procurement", "/admin/registry/asset/add/", 403),
        ("operator", "/admin/registry/asset/add/", 200),
        ("auditor", "/admin/reporting/measurementpoint/add/", 403),
        ("auditor", "/admin/reporting/measurementpoint/", 200),
        ("editor", "/admin/hardware/hardwaremodel/add/", 200),
    ],
)
def test_demo_users_sign_in_to_the_admin_as_their_roles(client, demo_users, username, url, status):
    assert client.login(username=username, password=DEMO_PASSWORD)
    assert client.get(url).status_code == status
