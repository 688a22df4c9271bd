"""The demo's sources, and the commands that pull a source and record a run."""

import io

import pytest
from django.core.management import CommandError, call_command

from connectors.demo import load_demo_sources
from connectors.models import Source
from registry.demo import ensure_demo_sites
from reporting.models import Reading
from tests import factories
from tests.connectors import servers

pytestmark = pytest.mark.django_db


def test_the_demo_sources_are_set_up_once_and_pulled_by_command_from_the_mockup():
    ensure_demo_sites()
    out = io.StringIO()
    load_demo_sources(out)
    load_demo_sources(out)
    assert Source.objects.filter(enabled=False).count() == 2
    operator = factories.user("demo-op", group="operator")
    bmc = Source.objects.get(kind="redfish")
    bmc.site.operators.add(operator)
    with servers.redfish_server(servers.MOCKUP) as url:
        bmc.endpoint = url
        bmc.save()
        out = io.StringIO()
        call_command("pull_source", bmc.name, "--user", "demo-op", "--apply", stdout=out)
    text = out.getvalue()
    assert "Inventory dry run:" in text and "unknown model" in text
    assert "0 ledger event(s) recorded." in text  # nothing in the catalogue matches Contoso's
    assert Reading.objects.filter(meter__code="PAR1-A12-SRV1").count() == 1


def test_pull_source_refuses_someone_who_does_not_operate_the_site():
    ensure_demo_sites()
    load_demo_sources(io.StringIO())
    factories.user("elsewhere", group="operator")
    with pytest.raises(CommandError, match="does not operate PAR1"):
        call_command("pull_source", "par1-bmc-a12-1", "--user", "elsewhere")
