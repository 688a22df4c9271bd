"""A small demo fleet that lives through its whole circular life (used by `make demo`)."""

import datetime as dt

from hardware.models import HardwareModel
from registry import selectors, services
from registry.lifecycle import State
from registry.models import Asset, Site

DEMO_SITES = (
    ("PAR1", "Paris Nord demo data centre", "FR", "Europe/Paris"),
    ("FRA1", "Frankfurt demo data centre", "DE", "Europe/Berlin"),
)
PURCHASE = {"supplier": "Demo Systems SA", "currency": "EUR"}


def _t(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day + "T10:00:00+00:00")


def _buy(tag: str, slug: str, site: Site, day: str, price: str, **fields) -> Asset:
    existing = Asset.objects.filter(asset_tag=tag).first()
    if existing:
        return existing
    return services.create_asset(
        asset_tag=tag,
        serial_number=f"SN-{tag}",
        site=site,
        hardware_model=HardwareModel.objects.get(slug=slug),
        occurred_at=_t(day),
        to_state=State.IN_STOCK,
        details=PURCHASE | {"price": price, "purchase_date": day},
        **fields,
    )


def _do(asset: Asset, kind: str, day: str, to_state: str | None = None, **details) -> None:
    services.record_event(asset, kind, occurred_at=_t(day), to_state=to_state, details=details)


def ensure_demo_sites() -> dict[str, Site]:
    """PAR1 and FRA1: two sites, so an operator's scope (PAR1 only) is visible in the demo."""
    sites = {}
    for code, name, country, tz in DEMO_SITES:
        sites[code], _ = Site.objects.get_or_create(
            code=code, defaults={"name": name, "country": country, "time_zone": tz}
        )
    return sites


def load_demo_fleet(stdout) -> None:
    """Idempotent: the fleet is created once; a second run only prints it."""
    sites = ensure_demo_sites()
    par, fra = sites["PAR1"], sites["FRA1"]
    if not Asset.objects.filter(asset_tag="SRV-0001").exists():
        _story(par, fra)
    stdout.write(
        f"   {Asset.objects.count()} assets at {len(sites)} sites; by state: "
        + ", ".join(f"{state} {n}" for state, n in sorted(_counts().items()))
    )
    gpu = Asset.objects.get(asset_tag="GPU-0004")
    stdout.write("   ledger of GPU-0004 (an A100 retired from training, given a second life):")
    for event in gpu.events.order_by("occurred_at", "id"):
        extra = event.details.get("note") or event.details.get("workload") or ""
        stdout.write(
            f"     {event.occurred_at:%Y-%m-%d} {event.kind:20} → {event.state_after:12} {extra}"
        )
    figures = selectors.circular_figures(["PAR1"], selectors.Period.year(2025))
    stdout.write("   circular figures, PAR1, 2025 (units / tonnes by WEEE category):")
    for route, by_weee in figures["routes"].items():
        cells = ", ".join(
            f"cat. {weee}: {row['units']} / {_tonnes(row)}" for weee, row in by_weee.items()
        )
        stdout.write(f"     {route:18} {cells or '—'}")
    au, ede = figures["recovered_metals_g"]["au"], figures["ede"]
    stdout.write(
        f"     EDE {ede['value']} over known masses ({ede['unknown_mass_units']} of "
        f"{ede['disposed_units']} disposed unit(s) of unknown mass left out); embodied carbon "
        f"kept in use {figures['embodied_kgco2e_kept_in_use']} kgCO2e; gold: "
        f"{au['expected_recoverable_g']} g expected recoverable, {au['reported_g']} g reported"
    )


def _tonnes(row: dict) -> str:
    known = f"{row['mass_t']} t" if row["mass_t"] is not None else "mass unknown"
    if row["mass_t"] is not None and row["unknown_mass_units"]:
        known += f" (+{row['unknown_mass_units']} unit(s) of unknown mass)"
    return known


def _counts() -> dict:
    from django.db.models import Count

    return dict(Asset.objects.values_list("state").annotate(n=Count("id")))


def _story(par: Site, fra: Site) -> None:
    # A 4-GPU server bought for training in 2021, with its GPUs and a boot drive.
    server = _buy("SRV-0001", "dell-poweredge-c4140", par, "2021-03-01", "14000.00", rack="R01")
    gpus = [
        _buy(f"GPU-000{i}", "nvidia-a100-pcie-40gb", par, "2021-03-01", "9000.00")
        for i in range(1, 5)
    ]
    ssd = _buy("SSD-0001", "generic-ssd-960gb", par, "2021-03-01", "150.00")
    for part in [*gpus, ssd]:
        _do(part, "component-installed", "2021-03-05", parent="SRV-0001")
    # Its components follow it into service.
    _do(server, "commissioned", "2021-03-10", workload="training")

    # 2024: training moves to newer kit; the server and its GPUs now serve a small model.
    for unit in [server, *gpus]:
        _do(
            unit,
            "redeployed",
            "2024-02-01",
            to_workload="inference",
            note="serving a 7B model (Mistral 7B, INT8)",
        )

    # 2025: two GPUs are pulled for the reuse pool; the server is retired (its remaining
    # components follow), sanitised (it holds a drive), and recycled with recovered metals.
    for gpu in gpus[2:]:
        _do(gpu, "component-removed", "2025-03-01")
        _do(gpu, "decommissioned", "2025-03-01", reason="retired from training")
    _do(server, "decommissioned", "2025-03-02", reason="end of planned life")
    _do(
        server,
        "sanitised",
        "2025-03-03",
        method="purge",
        technique="NVMe Sanitize",
        tool="nvme-cli 2.8",
        verification="passed",
        performed_by="ITAD technician",
        standard="nist-800-88-r2",
        certificate_ref="COS-2025-0042",
    )
    # Its boot drive is checked on its own history before it may follow the server out.
    _do(
        ssd,
        "sanitised",
        "2025-03-03",
        method="purge",
        technique="NVMe Sanitize (block erase)",
        tool="nvme-cli 2.8",
        verification="passed",
        performed_by="ITAD technician",
        standard="nist-800-88-r2",
        certificate_ref="COS-2025-0043",
    )
    _do(
        server,
        "sent-to-recycler",
        "2025-03-20",
        recycler="ReMetal GmbH",
        certification="r2v3",
        consignment_ref="CONS-7781",
    )
    _do(
        server,
        "recycled",
        "2025-04-15",
        certificate_ref="COR-2025-113",
        weee_category="4",
        weighed_mass_kg="24.9",
        recovered_g={"au": "1.9", "ag": "6.2", "pd": "0.4", "cu": "2100", "al": "900"},
    )

    # The pulled GPUs wait for a second life; one is reserved and put to inference work.
    _do(
        gpus[3],
        "reserved-for-reuse",
        "2025-05-01",
        reserved_by="procurement",
        purpose="RAG assistant, Llama 3 8B INT8",
        request_ref="REQ-2025-07",
    )
    _do(
        gpus[3],
        "commissioned",
        "2025-05-10",
        workload="inference",
        note="second life: Llama 3 8B INT8",
    )

    # Idle stock that procurement can draw on, and an old V100 resold.
    for i, slug in enumerate(
        [
            "nvidia-t4",
            "nvidia-t4",
            "nvidia-a10",
            "nvidia-a10",
            "nvidia-v100-sxm2-32gb",
            "nvidia-l4",
        ],
        start=1,
    ):
        _buy(f"STK-{i:04d}", slug, fra if i % 2 else par, "2022-06-01", "3000.00")
    v100 = Asset.objects.get(asset_tag="STK-0005")
    _do(v100, "decommissioned", "2025-01-10", reason="too slow for training")
    _do(
        v100,
        "sold",
        "2025-02-01",
        counterparty="University of Lyon lab",
        price="800",
        currency="EUR",
        document_ref="INV-5531",
    )

    # A worn drive: purged, then donated.
    drive = _buy("SSD-0002", "generic-ssd-3840gb", par, "2020-01-15", "600.00")
    _do(drive, "commissioned", "2020-02-01", workload="storage")
    _do(drive, "decommissioned", "2025-06-01", reason="wear level 90 %")
    _do(
        drive,
        "sanitised",
        "2025-06-02",
        method="purge",
        technique="cryptographic erase",
        verification="passed",
        performed_by="DC ops",
        standard="nist-800-88-r2",
        certificate_ref="COS-2025-0077",
    )
    _do(drive, "donated", "2025-06-20", counterparty="Code club Paris 18e")
