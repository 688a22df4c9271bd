"""Measured reuse runs from Prometheus: DCGM's energy counters and a serving engine's counters
over a window become a run recorded by registry.measurements (the one writer), so a measurement
replaces the estimate without anyone typing a number.

A window counts (docs/reuse.md, "Measured runs from Prometheus") when, for every series read, the
samples span at least WINDOW_COVERAGE of it; the engine was busy all along (at least one request
running in every sample); exactly one model was served; tokens were generated. Counters are read
through resets (a decrease restarts from zero), so a driver reload inside the window loses nothing
that the counter itself kept.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from connectors.clients import prometheus
from connectors.models import Source, SourceKind
from hardware import inference
from registry import measurements
from registry.models import Asset, ReuseMeasurement

DCGM_ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"  # mJ since the driver loaded
WINDOW_COVERAGE = Decimal("0.9")
MIN_WINDOW = dt.timedelta(minutes=1)
MAX_WINDOW = dt.timedelta(hours=24)
# A label matcher list as PromQL writes it inside braces: name="value", name=~"regex" …
MATCHERS = re.compile(r'^\s*(\w+\s*(=|!=|=~|!~)\s*"[^"\\{}]*"\s*(,\s*|$))*$')


@dataclass(frozen=True)
class EngineMetrics:
    """The counters an engine publishes, by their Prometheus names."""

    tokens: str  # generated tokens, counter
    running: str  # requests being decoded, gauge
    prompt_sum: str  # prompt tokens per request, histogram sum
    prompt_count: str  # and count
    model_label: str


ENGINES = {
    "vllm": EngineMetrics(
        tokens="vllm:generation_tokens_total",
        running="vllm:num_requests_running",
        prompt_sum="vllm:request_prompt_tokens_sum",
        prompt_count="vllm:request_prompt_tokens_count",
        model_label="model_name",
    ),
}


def increase(values: list[Decimal]) -> Decimal:
    """A counter's increase over its samples, through resets (a decrease restarts from 0)."""
    total = Decimal(0)
    for before, after in zip(values, values[1:], strict=False):
        total += after - before if after >= before else after
    return total


def _refuse(field: str, message: str):
    raise ValidationError({field: message})


def _covers(series, start, end, what: str) -> tuple[dt.datetime, dt.datetime]:
    points = series[1]
    if len(points) < 2:
        _refuse("window", f"{what} has fewer than two samples in the window")
    first, last = points[0][0], points[-1][0]
    if Decimal((last - first).total_seconds()) < WINDOW_COVERAGE * Decimal(
        (end - start).total_seconds()
    ):
        _refuse(
            "window",
            f"{what} has samples from {first:%H:%M:%S} to {last:%H:%M:%S} UTC only: less than "
            f"{WINDOW_COVERAGE:.0%} of the window",
        )
    return first, last


def _one(client, selector, start, end, what) -> tuple:
    found = client.samples(selector, start, end)
    if not found:
        _refuse("window", f"Prometheus has no {what} in the window ({selector})")
    return found


def measure(
    source: Source,
    *,
    asset: Asset,
    start: dt.datetime,
    end: dt.datetime,
    gpus: str,
    served: str,
    precision: str,
    engine: str = "vllm",
    llm: str = "",
    context_tokens: int | None = None,
    actor=None,
) -> ReuseMeasurement:
    """Read the window from `source` and record it as a measured run on `asset`.

    `gpus` selects the accelerators' DCGM series (e.g. Hostname="gpu-node-1"), `served` the
    engine's series (e.g. model_name="meta-llama/Meta-Llama-3-8B-Instruct"), both as PromQL
    label matchers.
    """
    if source.kind != SourceKind.PROMETHEUS:
        _refuse("source", f"{source.name} is not a Prometheus source")
    if engine not in ENGINES:
        _refuse("engine", f"runs are read from {', '.join(ENGINES)} metrics only")
    for field, matchers in (("gpus", gpus), ("served", served)):
        if not matchers.strip() or not MATCHERS.match(matchers):
            _refuse(field, 'label matchers as PromQL writes them, e.g. Hostname="gpu-node-1"')
    if timezone.is_naive(start) or timezone.is_naive(end):
        _refuse("window", "give the window's times with their UTC offset")
    if not MIN_WINDOW <= end - start <= MAX_WINDOW:
        _refuse("window", "a window lasts from one minute to 24 hours")
    if end > timezone.now():
        _refuse("window", "the window has not ended yet")
    names = ENGINES[engine]
    client = prometheus.Client(
        source.endpoint,
        credentials=source.credentials(),
        timeout=source.timeout_s,
        verify=source.verify_tls,
    )
    energy_series = _one(client, f"{DCGM_ENERGY}{{{gpus}}}", start, end, "DCGM energy counter")
    joules_per_s = Decimal(0)
    for series in energy_series:
        first, last = _covers(series, start, end, f"GPU {series[0].get('gpu', '?')}'s energy")
        millijoules = increase([v for _, v in series[1]])
        joules_per_s += millijoules / 1000 / Decimal((last - first).total_seconds())
    tokens = _one(client, f"{names.tokens}{{{served}}}", start, end, "generated-token counter")
    models = {s[0].get(names.model_label, "") for s in tokens}
    if len(models) != 1:
        _refuse("served", f"the selector matches {len(models)} served models: name one")
    total = Decimal(0)
    span, began = dt.timedelta(0), start  # the samples' own span: the rate's time base
    for series in tokens:
        first, last = _covers(series, start, end, "the generated-token counter")
        total += increase([v for _, v in series[1]])
        if last - first > span:
            span, began = last - first, first
    if total <= 0:
        _refuse("window", "no token was generated in the window")
    busy = _one(client, f"{names.running}{{{served}}}", start, end, "running-requests gauge")
    running = [v for series in busy for _, v in series[1]]
    if min(running) < 1:
        _refuse(
            "window",
            "the engine was idle for part of the window (no request running): choose a window "
            "of steady load",
        )
    concurrency = int((sum(running) / len(running)).to_integral_value(ROUND_HALF_EVEN))
    if context_tokens is None:
        sums = client.samples(f"{names.prompt_sum}{{{served}}}", start, end)
        counts = client.samples(f"{names.prompt_count}{{{served}}}", start, end)
        prompts = sum((increase([v for _, v in s[1]]) for s in counts), Decimal(0))
        if not prompts:
            _refuse("context_tokens", "no request finished its prompt in the window: give it")
        prompt_tokens = sum((increase([v for _, v in s[1]]) for s in sums), Decimal(0))
        context_tokens = max(1, int((prompt_tokens / prompts).to_integral_value()))
    (served_model,) = models
    llm = llm or _catalogue_llm(served_model)
    seconds = Decimal(span.total_seconds())
    return measurements.record_measurement(
        actor,
        asset=asset,
        llm=llm,
        precision=precision,
        engine=engine,
        n_devices=len(energy_series),
        concurrency=concurrency,
        context_tokens=context_tokens,
        tokens_per_s=(total / seconds).quantize(Decimal("0.001")),
        power_w=joules_per_s.quantize(Decimal("0.1")),
        duration_s=int(seconds),
        started_at=began,
        measured_on=(began + dt.timedelta(seconds=int(seconds))).astimezone(dt.UTC).date(),
        note=(
            f"From Prometheus source {source.name}: window {start:%Y-%m-%d %H:%M:%S}–"
            f"{end:%H:%M:%S} UTC, {total} tokens generated by {served_model} on "
            f"{len(energy_series)} GPU(s) ({gpus}); power from DCGM energy counters."
        ),
    )


def _catalogue_llm(served: str) -> str:
    """The catalogue's language model for what the engine serves (its slug or name, or the last
    part of a Hugging Face id), or a refusal asking for it."""
    wanted = {served.casefold(), served.rsplit("/", 1)[-1].casefold()}
    for slug, spec in inference.load_llm_models().items():
        if {slug.casefold(), spec.name.casefold()} & wanted:
            return slug
    _refuse("llm", f"the engine serves '{served}': say which catalogue language model it is")
