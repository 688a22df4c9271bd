"""The demo's connector sources: a Redfish BMC and a Prometheus server at PAR1, set up but not
scheduled, since `make demo` must stay fast and start no server. Starting the bundled DMTF
mockup server and pulling is one command each (printed, and in docs/connectors.md)."""

from connectors.models import MeterFeed, Source
from registry.models import Site
from reporting.models import MeasurementPoint

MOCKUP = "../shared/vendor/dmtf-redfish-mockup-server"
BMC_PORT, PROMETHEUS_PORT = 8001, 9090


def load_demo_sources(stdout) -> None:
    """Idempotent: the sources and the server's energy meter are created once."""
    site = Site.objects.get(code="PAR1")
    meter, _ = MeasurementPoint.objects.get_or_create(
        code="PAR1-A12-SRV1",
        defaults={
            "site": site,
            "quantity": "other",
            "unit": "kWh",
            "register": "cumulative",
            "interval_minutes": 15,
            "location": "rack A12, server 1 (its BMC's TotalEnergy sensor)",
        },
    )
    bmc, _ = Source.objects.get_or_create(
        name="par1-bmc-a12-1",
        defaults={
            "kind": "redfish",
            "endpoint": f"http://127.0.0.1:{BMC_PORT}",
            "site": site,
            "reads_inventory": True,
            "interval_minutes": 1440,
            "enabled": False,
        },
    )
    MeterFeed.objects.get_or_create(
        meter=meter,
        defaults={
            "source": bmc,
            "sensor": "/redfish/v1/Chassis/1U/Sensors/TotalEnergy",
            "sensor_unit": "kWh",
        },
    )
    Source.objects.get_or_create(
        name="par1-prometheus",
        defaults={
            "kind": "prometheus",
            "endpoint": f"http://127.0.0.1:{PROMETHEUS_PORT}",
            "site": site,
            "interval_minutes": 15,
            "enabled": False,
        },
    )
    stdout.write(
        "   PAR1: par1-bmc-a12-1 (Redfish: inventory and its TotalEnergy sensor into meter "
        "PAR1-A12-SRV1) and par1-prometheus (for DCGM energy and measured runs); not scheduled "
        "(no server runs in the demo). To pull the BMC, start the DMTF mockup server:"
    )
    # The server imports grequests only for event subscriptions: the tests' stand-in will do.
    stdout.write(
        f"   PYTHONPATH=tests/connectors/shims .venv/bin/python {MOCKUP}/redfishMockupServer.py "
        f"-S -D {MOCKUP}/public-rackmount1 -H 127.0.0.1 -p {BMC_PORT} &"
    )
    stdout.write("   .venv/bin/circulus pull_source par1-bmc-a12-1 --user operator")


STEP = ("Connectors: a Redfish BMC and a Prometheus server at PAR1", load_demo_sources)
