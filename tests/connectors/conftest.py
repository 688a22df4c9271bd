"""Builders for the connector tests: sources, catalogue models, a pull run to its end."""

from decimal import Decimal

import pytest

from connectors import pulls
from connectors.models import Source
from hardware.models import HardwareKind
from tests import factories


def make_source(site, endpoint, *, kind="redfish", name=None, credentials=None, **fields):
    source = Source(
        name=name or f"{kind}-{endpoint.rsplit(':', 1)[-1]}",
        kind=kind,
        endpoint=endpoint,
        site=site,
        **fields,
    )
    source.set_credentials(credentials)
    source.full_clean()
    source.save()
    return source


@pytest.fixture
def pull_now(django_capture_on_commit_callbacks):
    """Start a pull of a source and run it (tasks run eagerly), returning the finished pull."""

    def run(source, user=None):
        with django_capture_on_commit_callbacks(execute=True):
            pull = pulls.start(source, user)
        pull.refresh_from_db()
        return pull

    return run


def server_model(name="3500", maker="Contoso", **fields):
    return factories.hardware_model(
        f"{maker}-{name}".lower().replace(" ", "-"),
        manufacturer=factories.manufacturer(maker),
        name=name,
        kind=HardwareKind.SERVER,
        mass_kg=Decimal("20"),
        tdp_w=Decimal("800"),
        memory_gb=None,
        weee_category="4",
        **fields,
    )


def part_model(slug, kind, **fields):
    return factories.hardware_model(
        slug, kind=kind, mass_kg=Decimal("1"), memory_gb=None, weee_category="6", **fields
    )
