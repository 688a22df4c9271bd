"""Builders for the reuse tests: GPUs in a given state, servers holding identical GPUs."""

from registry.services import record_event
from tests import factories as f

# The moves that take a fresh in-stock asset to each state (day offsets after factories.T0).
_PATHS = {
    "in-stock": [],
    "in-service": [("commissioned", {"workload": "training"})],
    "awaiting-disposition": [
        ("commissioned", {"workload": "training"}),
        ("decommissioned", {"reason": "training cluster retired"}),
    ],
    "reserved": [("reserved-for-reuse", {"reserved_by": "someone", "purpose": "other"})],
    "sold": [
        ("commissioned", {"workload": "training"}),
        ("decommissioned", {"reason": "retired"}),
        ("sold", {"counterparty": "Broker", "price": "100", "currency": "EUR"}),
    ],
}


def to_state(asset, state: str, start_day: float = 2):
    for step, (kind, details) in enumerate(_PATHS[state]):
        record_event(asset, kind, occurred_at=f.at(start_day + step), details=details)
    asset.refresh_from_db()
    return asset


def gpu(tag: str, slug: str = "nvidia-a100-sxm4-40gb", state: str = "in-stock", site=None):
    asset = f.asset(tag, model=f.hardware_model_by_slug(slug), at_site=site)
    return to_state(asset, state)


def server(tag: str, gpu_slug: str, n: int, state: str = "in-stock", site=None, model=None):
    """A server holding n identical GPUs, all of them in `state` (into and out of service they
    follow the server, as components do; other states are each GPU's own)."""
    box = f.asset(tag, model=model or f.hardware_model_by_slug("nvidia-dgx-a100"), at_site=site)
    gpus = []
    for i in range(n):
        g = f.asset(f"{tag}-G{i}", model=f.hardware_model_by_slug(gpu_slug), at_site=site)
        record_event(g, "component-installed", occurred_at=f.at(1), details={"parent": tag})
        gpus.append(g)
    if state in ("in-service", "awaiting-disposition"):
        to_state(box, state)
        for g in gpus:
            g.refresh_from_db()
        return box, gpus
    return box, [to_state(g, state) for g in gpus]
