"""Redfish (DMTF DSP0266): a BMC's inventory and its energy sensors, read over HTTP(S).

Read: every ComputerSystem with its Processors (CPUs and GPUs), Memory, Storage drives (and
SimpleStorage devices), and every Chassis with its power supplies (PowerSubsystem, or the older
Power resource). Parts whose Status.State is Absent are skipped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation

import requests

from connectors.clients import SourceError, get_json

ROOT = "/redfish/v1"
MAX_MEMBERS = 512  # a collection larger than this is not one BMC's


@dataclass(frozen=True)
class Unit:
    """One physical unit the BMC reports (Redfish names, our kinds)."""

    kind: str  # a hardware.models.HardwareKind value
    serial: str
    model: str
    part_number: str
    manufacturer: str
    path: str  # its @odata.id
    parent_serial: str = ""  # the server it sits in; blank for the server itself

    def as_dict(self) -> dict:
        return asdict(self)


class Client:
    def __init__(self, endpoint: str, *, credentials: dict, timeout: float, verify: bool):
        self.base = endpoint.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.verify = verify
        self.session.headers["Accept"] = "application/json"
        if credentials.get("username"):
            self.session.auth = (credentials["username"], credentials.get("password", ""))

    def get(self, path: str) -> dict:
        if not path.startswith("/"):
            raise SourceError(f"the BMC linked to '{path[:80]}', which is not a path")
        return get_json(self.session, self.base + path, timeout=self.timeout)

    def members(self, path: str) -> list[dict]:
        collection = self.get(path)
        links = collection.get("Members")
        if not isinstance(links, list):
            raise SourceError(f"{path} is not a Redfish collection (no Members)")
        out = []
        for link in links[:MAX_MEMBERS]:
            target = link.get("@odata.id") if isinstance(link, dict) else None
            if isinstance(target, str):
                out.append(self.get(target))
        return out

    def link(self, resource: dict, name: str) -> str | None:
        value = resource.get(name)
        if isinstance(value, dict) and isinstance(value.get("@odata.id"), str):
            return value["@odata.id"]
        return None


def _present(resource: dict) -> bool:
    status = resource.get("Status")
    return not (isinstance(status, dict) and status.get("State") == "Absent")


def _text(resource: dict, name: str) -> str:
    value = resource.get(name)
    return value.strip()[:200] if isinstance(value, str) else ""


def _unit(kind: str, resource: dict, parent: str = "", model: str = "") -> Unit:
    return Unit(
        kind=kind,
        serial=_text(resource, "SerialNumber"),
        model=model or _text(resource, "Model"),
        part_number=_text(resource, "PartNumber"),
        manufacturer=_text(resource, "Manufacturer"),
        path=_text(resource, "@odata.id"),
        parent_serial=parent,
    )


PROCESSOR_KINDS = {"CPU": "cpu", "GPU": "accelerator", "Accelerator": "accelerator"}


def inventory(client: Client, progress=None) -> list[Unit]:
    """Every unit of the BMC, servers first, then their parts."""
    root = client.get(ROOT)
    if "RedfishVersion" not in root and "Systems" not in root:
        raise SourceError(f"{ROOT} is not a Redfish service root")
    units: list[Unit] = []
    systems_path = client.link(root, "Systems")
    systems = client.members(systems_path) if systems_path else []
    for number, system in enumerate(systems, start=1):
        if not _present(system):
            continue
        server = _unit("server", system)
        units.append(server)
        units += _system_parts(client, system, server.serial)
        if progress:
            progress(int(60 * number / max(len(systems), 1)))
    chassis_path = client.link(root, "Chassis")
    server_serials = {u.serial for u in units if u.kind == "server"}
    for chassis in client.members(chassis_path) if chassis_path else []:
        # A rack server's chassis is the server itself (same serial); its supplies are its parts.
        owner = _text(chassis, "SerialNumber")
        if owner and owner not in server_serials:
            units.append(_unit("chassis", chassis))
        units += _power_supplies(client, chassis, owner)
    if progress:
        progress(90)
    return units


def _system_parts(client: Client, system: dict, parent: str) -> list[Unit]:
    parts = []
    path = client.link(system, "Processors")
    for processor in client.members(path) if path else []:
        kind = PROCESSOR_KINDS.get(processor.get("ProcessorType"))
        if kind and _present(processor):
            parts.append(_unit(kind, processor, parent))
    path = client.link(system, "Memory")
    for module in client.members(path) if path else []:
        if _present(module):
            parts.append(_unit("memory", module, parent))
    path = client.link(system, "Storage")
    for storage in client.members(path) if path else []:
        for link in storage.get("Drives") or []:
            target = link.get("@odata.id") if isinstance(link, dict) else None
            if isinstance(target, str):
                drive = client.get(target)
                if _present(drive):
                    kind = "hdd" if drive.get("MediaType") == "HDD" else "ssd"
                    parts.append(_unit(kind, drive, parent))
    path = client.link(system, "SimpleStorage")
    for storage in client.members(path) if path else []:
        for device in storage.get("Devices") or []:
            if isinstance(device, dict) and _present(device):
                device = {**device, "@odata.id": storage.get("@odata.id", "")}
                parts.append(_unit("ssd", device, parent))
    return parts


def _power_supplies(client: Client, chassis: dict, owner: str) -> list[Unit]:
    path = client.link(chassis, "PowerSubsystem")
    if path:
        subsystem = client.get(path)
        supplies_path = client.link(subsystem, "PowerSupplies")
        supplies = client.members(supplies_path) if supplies_path else []
    else:
        power_path = client.link(chassis, "Power")
        supplies = (client.get(power_path).get("PowerSupplies") or []) if power_path else []
    return [
        _unit("psu", supply, owner)
        for supply in supplies
        if isinstance(supply, dict) and _present(supply)
    ]


# --- energy -----------------------------------------------------------------------------------


def energy_kwh(client: Client, path: str) -> Decimal:
    """The lifetime energy counter at `path`, in kWh: an EnergykWh Sensor, or a PowerSubsystem /
    PowerSupply / PowerDistribution whose metrics resource carries EnergykWh."""
    resource = client.get(path)
    if resource.get("ReadingType") == "EnergykWh" or "Reading" in resource:
        units = resource.get("ReadingUnits")
        if resource.get("ReadingType") not in (None, "EnergykWh") or units not in (None, "kW.h"):
            raise SourceError(f"{path} reads {resource.get('ReadingType')} in {units}, not kWh")
        return _number(resource.get("Reading"), path)
    metrics = client.link(resource, "Metrics")
    if metrics:
        energy = client.get(metrics).get("EnergykWh")
        if isinstance(energy, dict):
            return _number(energy.get("Reading"), metrics)
    raise SourceError(f"{path} carries no EnergykWh reading")


def _number(value, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SourceError(f"{where} gave no numeric reading")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise SourceError(f"{where} gave '{str(value)[:40]}', not a number") from None
    if not number.is_finite() or number < 0:
        raise SourceError(f"{where} gave {number}, not an energy counter")
    return number
