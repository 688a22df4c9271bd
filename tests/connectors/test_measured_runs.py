"""Measured reuse runs read from Prometheus (DCGM energy + vLLM counters) replace the estimate."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from connectors import telemetry
from registry.models import ReuseMeasurement
from tests import factories as f
from tests.connectors import servers
from tests.connectors.conftest import make_source
from tests.registry import reuse_factories as rf

pytestmark = pytest.mark.django_db
SERVED = "meta-llama/Meta-Llama-3-8B-Instruct"
VLLM = f'model_name="{SERVED}"'
QUERY = {
    "model": "llama-3-8b",
    "precision": "bf16",
    "site": "PAR1",
    "engine": "vllm",
    "include_in_service": "true",
}


def window_samples(start, end, *, watts=650, tokens_per_s=1200, running=16, idle_at=None):
    """OpenMetrics text: every 15 s from a minute before `start` to a minute after `end`, one
    H100's DCGM energy counter on gpu-node-1 (and one on another host), and vLLM's counters."""
    lines = []
    energy, other, tokens, prompts = 7_000_000_000, 1_000_000, 50_000_000, 0
    moment = int(start.timestamp()) - 60
    while moment <= int(end.timestamp()) + 60:
        gpu = 'gpu="0",UUID="GPU-1a2b",modelName="NVIDIA H100 80GB HBM3"'
        lines.append(
            f'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{gpu},Hostname="gpu-node-1"}} {energy} {moment}'
        )  # noqa: E501
        lines.append(
            f'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{gpu},Hostname="gpu-node-2"}} {other} {moment}'
        )  # noqa: E501
        busy = 0 if idle_at is not None and abs(moment - idle_at) < 10 else running
        lines.append(f"vllm:generation_tokens_total{{{VLLM}}} {tokens} {moment}")
        lines.append(f"vllm:num_requests_running{{{VLLM}}} {busy} {moment}")
        lines.append(f"vllm:request_prompt_tokens_sum{{{VLLM}}} {prompts * 2000} {moment}")
        lines.append(f"vllm:request_prompt_tokens_count{{{VLLM}}} {prompts} {moment}")
        energy += watts * 1000 * 15
        other += 100 * 1000 * 15
        tokens += tokens_per_s * 15
        prompts += 30
        moment += 15
    return "\n".join(lines)


@pytest.fixture
def window():
    end = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=3)
    return end - dt.timedelta(minutes=10), end


@pytest.fixture
def setup(db):
    operator = f.user("op-par", group="operator", is_staff=True)
    site = f.site("PAR1")
    site.operators.add(operator)
    gpu = rf.gpu("H100-1", "nvidia-h100-sxm5-80gb", state="in-service", site=site)
    return operator, site, gpu


def test_a_window_of_telemetry_becomes_the_measured_run_the_reuse_page_shows(
    api, client, setup, window, tmp_path
):
    operator, site, gpu = setup
    start, end = window
    with servers.prometheus_server(tmp_path, backfill=window_samples(start, end)) as url:
        source = make_source(site, url, kind="prometheus", name="prom-par")
        api.force_authenticate(operator)
        body = {
            "asset": "H100-1",
            "start": start.isoformat(),
            "end": end.isoformat(),
            "gpus": 'Hostname="gpu-node-1"',
            "served": VLLM,
            "precision": "bf16",
        }
        path = f"/api/connector-sources/{source.pk}/measured-runs/"
        refused = api.post(path, body, format="json")
        assert refused.status_code == 400
        assert "say which catalogue language model" in refused.json()["llm"][0]
        response = api.post(path, {**body, "llm": "llama-3-8b"}, format="json")
    assert response.status_code == 201, response.json()
    run = ReuseMeasurement.objects.get()
    assert run.tokens_per_s == Decimal("1200.000")
    assert run.power_w == Decimal("650.0")
    assert (run.n_devices, run.concurrency, run.context_tokens) == (1, 16, 2000)
    assert run.engine == "vllm" and run.recorded_by == operator
    # The window as data, not only in the note: its samples began at `start`, 600 s long.
    assert (run.started_at, run.duration_s) == (start, 600)
    assert run.measured_on == end.astimezone(dt.UTC).date()

    candidates = api.get("/api/reuse-candidates/", {**QUERY, "concurrency": 16, "context": 2000})
    row = next(
        r for r in candidates.json()["results"] if r["hardware_model"] == gpu.hardware_model.slug
    )
    assert row["basis"] == row["energy_basis"] == "measured"
    assert row["tokens_per_s"] == 1200.0
    assert row["joules_per_token"] == pytest.approx(650 / 1200, abs=1e-3)
    assert row["measurement_id"] == run.pk

    client.force_login(operator)
    page = client.get(
        "/admin/registry/reuse-candidates/", {**QUERY, "concurrency": 16, "context": 2000}
    )
    text = page.content.decode()
    assert f"window {start:%Y-%m-%d %H:%M:%S}–{end:%H:%M:%S} UTC" in text
    assert "measured" in text


def test_a_window_with_an_idle_engine_does_not_count(setup, window, tmp_path):
    operator, site, gpu = setup
    start, end = window
    idle = int((start + dt.timedelta(minutes=4)).timestamp())
    with servers.prometheus_server(
        tmp_path, backfill=window_samples(start, end, idle_at=idle)
    ) as url:
        source = make_source(site, url, kind="prometheus")
        with pytest.raises(Exception, match="idle for part of the window"):
            telemetry.measure(
                source, asset=gpu, start=start, end=end, gpus='Hostname="gpu-node-1"',
                served=VLLM, precision="bf16", llm="llama-3-8b", actor=operator,
            )  # fmt: skip
    assert not ReuseMeasurement.objects.exists()


def test_a_window_the_series_do_not_cover_is_refused(setup, window, tmp_path):
    operator, site, gpu = setup
    start, end = window
    with servers.prometheus_server(tmp_path, backfill=window_samples(start, end)) as url:
        source = make_source(site, url, kind="prometheus")
        with pytest.raises(Exception, match="less than 90% of the window"):
            telemetry.measure(
                source, asset=gpu, start=start - dt.timedelta(minutes=30), end=end,
                gpus='Hostname="gpu-node-1"', served=VLLM, precision="bf16", llm="llama-3-8b",
                actor=operator,
            )  # fmt: skip


def test_counters_are_read_through_a_reset():
    assert telemetry.increase([Decimal(v) for v in (10, 15, 30, 4, 9)]) == Decimal(29)


def test_a_source_that_does_not_answer_is_a_bad_gateway_not_a_bad_request(api, setup, window):
    operator, site, gpu = setup
    start, end = window
    with servers.dead_endpoint() as url:
        source = make_source(site, url, kind="prometheus", timeout_s=1)
        api.force_authenticate(operator)
        response = api.post(
            f"/api/connector-sources/{source.pk}/measured-runs/",
            {
                "asset": "H100-1",
                "start": start.isoformat(),
                "end": end.isoformat(),
                "gpus": 'Hostname="gpu-node-1"',
                "served": VLLM,
                "precision": "bf16",
            },
            format="json",
        )
    assert response.status_code == 502
    assert "did not answer within 1 s" in response.json()["detail"]
    assert not ReuseMeasurement.objects.exists()
