"""Energy counters into meters: Prometheus (DCGM), Redfish sensors and an SNMP PDU, each a real
server on 127.0.0.1, through the readings ingest."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from connectors import energy
from connectors.clients import SourceError, snmp
from connectors.models import MeterFeed
from reporting.computation import meter_figures
from reporting.models import Reading
from tests.connectors import servers
from tests.connectors.conftest import make_source
from tests.reporting.conftest import make_meter, make_site, period

pytestmark = pytest.mark.django_db
DCGM_ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"
LABELS = 'gpu="{gpu}",UUID="GPU-5f1d{gpu}",device="nvidia{gpu}",modelName="NVIDIA H100 80GB HBM3",Hostname="gpu-node-1"'  # noqa: E501


def test_dcgm_millijoules_become_kilowatt_hours_exactly():
    assert energy.to_meter_unit(Decimal(3_600_000_000), "mJ", "kWh") == Decimal(1)
    # 123456789 mJ = 0.0342935525 kWh: kept to the reading's 6 places, without a float between.
    assert energy.to_meter_unit(Decimal(123_456_789), "mJ", "kWh") == Decimal("0.034294")
    assert energy.to_meter_unit(Decimal(183_457), "hWh", "kWh") == Decimal("18345.7")
    assert energy.to_meter_unit(Decimal("0.5"), "kWh", "Wh") == Decimal(500)


def counter_day(end: dt.datetime, reset_after_hours: float = 12) -> list[tuple[int, int]]:
    """25 hours of one GPU's DCGM energy counter every 30 s at 700 W (mJ), reset to zero (a
    driver reload) once; (unix time, value)."""
    start = int(end.timestamp()) - 25 * 3600
    samples, value = [], 5_000_000_000
    for step in range(25 * 120):
        moment = start + 30 * step
        if step == int(reset_after_hours * 120):
            value = 0
        samples.append((moment, value))
        value += 700 * 1000 * 30
    return samples


def openmetrics(samples, gpu="0", metric=DCGM_ENERGY) -> str:
    labels = LABELS.format(gpu=gpu)
    return "".join(f"{metric}{{{labels}}} {value} {moment}\n" for moment, value in samples)


def counter_increase(samples, start: dt.datetime, end: dt.datetime) -> Decimal:
    """What the counter itself says was used between two moments, through its reset."""
    inside = [v for t, v in samples if start.timestamp() <= t <= end.timestamp()]
    return sum(
        (
            Decimal(b - a) if b >= a else Decimal(b)
            for a, b in zip(inside, inside[1:], strict=False)
        ),
        Decimal(0),
    )


def test_a_day_of_dcgm_energy_from_prometheus_equals_the_counter_difference_through_a_reset(
    pull_now, tmp_path
):
    site = make_site("GPU1", time_zone="UTC")
    meter = make_meter(
        site, "GPU1-N1-GPU0", "other", unit="kWh", register="cumulative", interval_minutes=1
    )
    end = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=10)
    gpu0, gpu1 = counter_day(end), counter_day(end, reset_after_hours=3)
    backfill = openmetrics(gpu0) + openmetrics(gpu1, gpu="1")
    with servers.prometheus_server(tmp_path, backfill=backfill) as url:
        source = make_source(site, url, kind="prometheus")
        feed = MeterFeed(
            source=source,
            meter=meter,
            sensor=f'{DCGM_ENERGY}{{Hostname="gpu-node-1",gpu="0"}}',
            sensor_unit="mJ",
        )
        feed.full_clean()
        feed.save()
        pull = pull_now(source)
        assert pull.state == "succeeded", pull.error
        stored = list(Reading.objects.filter(meter=meter).order_by("timestamp"))
        assert len(stored) > 23 * 60
        again = pull_now(source)
        assert again.state == "succeeded" and again.readings == 0

    first, last = stored[0].timestamp, stored[-1].timestamp
    expected = counter_increase(gpu0, first, last) / Decimal(3_600_000_000)  # mJ → kWh
    figures = meter_figures(period(site, year=last.year), [meter])[0]
    if first.year != last.year:  # a run at New Year: the previous year holds the rest
        figures.monthly += meter_figures(period(site, year=first.year), [meter])[0].monthly
    assert abs(figures.total - expected) / expected < Decimal("0.001")
    assert len(figures.resets) == 1  # flagged as the computation flags any counter reset


def test_an_expression_giving_several_series_fails_the_pull_and_says_why(pull_now, tmp_path):
    site = make_site("GPU1", time_zone="UTC")
    meter = make_meter(site, "GPU1-ALL", "other", register="cumulative", interval_minutes=5)
    end = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=10)
    backfill = openmetrics(counter_day(end)) + openmetrics(counter_day(end), gpu="1")
    with servers.prometheus_server(tmp_path, backfill=backfill) as url:
        source = make_source(site, url, kind="prometheus")
        MeterFeed.objects.create(source=source, meter=meter, sensor=DCGM_ENERGY, sensor_unit="mJ")
        pull = pull_now(source)
    assert pull.state == "failed"
    assert "gives 2 series" in pull.error
    assert not Reading.objects.filter(meter=meter).exists()


def test_a_redfish_energy_sensor_is_read_once_per_interval_as_the_counter_rises(
    pull_now, tmp_path, monkeypatch
):
    site = make_site("BMC1", time_zone="UTC")
    meter = make_meter(site, "BMC1-R1-SRV", "eit-pdu", register="cumulative", interval_minutes=15)
    tree = servers.gpu_server(tmp_path / "srv", "SRV-E", [], energy_kwh="1000.5")
    moment = dt.datetime(2026, 3, 2, 10, 7, tzinfo=dt.UTC)
    monkeypatch.setattr(energy, "_now", lambda: moment)
    with servers.redfish_server(tree) as url:
        source = make_source(site, url, credentials={"username": "root", "password": "calvin"})
        MeterFeed.objects.create(
            source=source,
            meter=meter,
            sensor="/redfish/v1/Chassis/1U/Sensors/TotalEnergy",
            sensor_unit="kWh",
        )
        assert pull_now(source).readings == 1
        servers.set_energy(tree, "1003.25")
        assert pull_now(source).readings == 0  # same 15-minute slot: the first reading stays
        moment += dt.timedelta(minutes=15)
        assert pull_now(source).readings == 1
    values = list(Reading.objects.filter(meter=meter).order_by("timestamp").values_list("value"))
    assert values == [(Decimal("1000.5"),), (Decimal("1003.25"),)]


def test_a_redfish_feed_must_be_in_kwh_and_a_meter_at_the_sources_site():
    site, other = make_site("BMC1", time_zone="UTC"), make_site("BMC2", time_zone="UTC")
    source = make_source(site, "https://bmc.example")
    feed = MeterFeed(
        source=source,
        meter=make_meter(other, "BMC2-M", "eit-pdu", register="cumulative"),
        sensor="/redfish/v1/Chassis/1U/Sensors/TotalEnergy",
        sensor_unit="mJ",
    )
    with pytest.raises(ValidationError) as refused:
        feed.full_clean()
    assert set(refused.value.message_dict) == {"meter", "sensor_unit"}


def test_an_snmp_pdu_counter_in_tenths_of_kwh_becomes_a_reading(pull_now, tmp_path):
    site = make_site("PDU1", time_zone="UTC")
    meter = make_meter(site, "PDU1-A12-A", "eit-pdu", register="cumulative")
    with servers.snmp_agent(tmp_path) as (endpoint, community):
        source = make_source(site, endpoint, kind="snmp", credentials={"community": community})
        MeterFeed.objects.create(
            source=source, meter=meter, sensor="1.3.6.1.4.1.318.1.1.26.4.3.1.9.1", sensor_unit="hWh"
        )
        pull = pull_now(source)
    assert pull.state == "succeeded", pull.error
    assert list(Reading.objects.filter(meter=meter).values_list("value", flat=True)) == [
        Decimal("18345.7")
    ]


def test_a_wrong_snmp_community_fails_the_pull_without_naming_it(pull_now, tmp_path):
    site = make_site("PDU1", time_zone="UTC")
    meter = make_meter(site, "PDU1-A12-A", "eit-pdu", register="cumulative")
    with servers.snmp_agent(tmp_path) as (endpoint, _community):
        source = make_source(
            site, endpoint, kind="snmp", credentials={"community": "s3cret-c0mmunity"}, timeout_s=1
        )
        MeterFeed.objects.create(
            source=source, meter=meter, sensor="1.3.6.1.4.1.318.1.1.26.4.3.1.9.1", sensor_unit="hWh"
        )
        pull = pull_now(source)
    assert pull.state == "failed"
    assert "did not answer" in pull.error
    assert "s3cret" not in pull.error + pull.log


V3 = {
    "username": "circulus-ro",
    "password": "auth-pass-phrase",
    "privacy_password": "privacy-pass-phrase",
    "snmp_auth_protocol": "SHA-256",
    "snmp_privacy_protocol": "AES-128",
}


def _v3_pull(pull_now, tmp_path, stored: dict, agent: dict = V3):
    site = make_site("PDU1", time_zone="UTC")
    meter = make_meter(site, "PDU1-A12-A", "eit-pdu", register="cumulative")
    with servers.snmp_agent(tmp_path, v3=snmp.Credentials.from_stored(agent)) as (endpoint, name):
        source = make_source(
            site, endpoint, kind="snmp", credentials={**stored, "snmp_context": name}, timeout_s=1
        )
        MeterFeed.objects.create(
            source=source, meter=meter, sensor="1.3.6.1.4.1.318.1.1.26.4.3.1.9.1", sensor_unit="hWh"
        )
        return meter, pull_now(source)


def test_an_snmp_v3_pdu_with_authentication_and_privacy_becomes_a_reading(pull_now, tmp_path):
    # A user name means SNMP v3: SHA-256 authentication and AES-128 privacy, as the agent asks.
    meter, pull = _v3_pull(pull_now, tmp_path, V3)
    assert pull.state == "succeeded", pull.error
    assert list(Reading.objects.filter(meter=meter).values_list("value", flat=True)) == [
        Decimal("18345.7")
    ]


def test_an_snmp_v3_agent_without_privacy_is_read_with_authentication_only(pull_now, tmp_path):
    plain = {k: v for k, v in V3.items() if k != "privacy_password"}
    meter, pull = _v3_pull(pull_now, tmp_path, plain, agent=plain)
    assert pull.state == "succeeded", pull.error
    assert Reading.objects.filter(meter=meter).count() == 1


def test_a_wrong_snmp_v3_key_fails_the_pull_without_naming_it(pull_now, tmp_path):
    meter, pull = _v3_pull(pull_now, tmp_path, {**V3, "privacy_password": "n0t-the-r1ght-key"})
    assert pull.state == "failed" and not Reading.objects.filter(meter=meter).exists()
    assert "n0t-the" not in pull.error + pull.log and "auth-pass" not in pull.error + pull.log


def test_snmp_v3_settings_an_agent_would_refuse_are_named_before_anything_is_sent():
    given = snmp.Credentials.from_stored(
        {"username": "u", "password": "short", "snmp_privacy_protocol": "AES-512"}
    )
    assert set(given.problems()) == {"password", "snmp_privacy_protocol"}
    assert snmp.Credentials.from_stored({"community": "c"}).problems() == {}
    short = snmp.Credentials.from_stored({"username": "u", "password": "short"})
    with pytest.raises(SourceError, match="at least 8 characters"):
        snmp.get_counter("127.0.0.1:9", "1.3.6.1.2.1.1.3.0", credentials=short, timeout=0.1)
