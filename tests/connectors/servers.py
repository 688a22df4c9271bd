"""Real servers on 127.0.0.1 for the connector tests: the DMTF Redfish mockup server, Debian's
Prometheus (scraping an exporter served here), snmpsim with a recorded PDU, and a dead endpoint
that accepts connections and never answers. Each on a free port, stopped by its context."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from circulus.settings import BASE_DIR

VENDOR = BASE_DIR.parent / "shared" / "vendor" / "dmtf-redfish-mockup-server"
MOCKUP = VENDOR / "public-rackmount1"
SHIMS = Path(__file__).parent / "shims"
DATA = Path(__file__).parent / "data"
HOST = "127.0.0.1"
UPTIME = "1.3.6.1.2.1.1.3.0"


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _wait(check, what: str, process=None, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"{what} exited: {process.stdout.read().decode()[-2000:]}")
        with contextlib.suppress(requests.RequestException, OSError):
            if check():
                return
        time.sleep(0.1)
    pytest.fail(f"{what} did not come up within {seconds:g} s")


def _stop(process) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- Redfish ----------------------------------------------------------------------------------


def need_mockup() -> None:
    if not (VENDOR / "redfishMockupServer.py").exists():
        pytest.skip(f"the DMTF Redfish mockup server is not at {VENDOR}")


@contextlib.contextmanager
def redfish_server(tree: Path):
    """The DMTF's own server serving `tree` (short form, without redfish/v1 folders). It reads
    the files on each request, so a test may change the tree while it runs."""
    need_mockup()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(VENDOR / "redfishMockupServer.py"), "-S", "-D", str(tree)]
        + ["-H", HOST, "-p", str(port)],
        # It imports grequests only to post event subscriptions, which no test makes.
        env={"PYTHONPATH": str(SHIMS), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://{HOST}:{port}"
    try:
        _wait(lambda: requests.get(f"{url}/redfish/v1", timeout=1).ok, "redfish mockup", process)
        yield url
    finally:
        _stop(process)


def _write(path: Path, data: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "index.json").write_text(json.dumps(data, indent=1))


def _read(path: Path) -> dict:
    return json.loads((path / "index.json").read_text())


def copy_mockup(dest: Path) -> Path:
    need_mockup()
    shutil.copytree(MOCKUP, dest)
    return dest


def gpu_server(dest: Path, serial: str, gpus: list[str], *, energy_kwh="1000.5") -> Path:
    """The rackmount mockup turned into a GPU server: its system and chassis carry `serial`,
    eight (or len(gpus)) H100 GPUs with the given serials, serial-numbered DIMMs, and the
    chassis' TotalEnergy sensor reading `energy_kwh`."""
    tree = copy_mockup(dest)
    system_dir = tree / "Systems" / "437XR1138R2"
    system = _read(system_dir)
    system.update(SerialNumber=serial, Model="XE9680", Manufacturer="Dell Inc.", PartNumber="")
    _write(system_dir, system)
    chassis_dir = tree / "Chassis" / "1U"
    chassis = _read(chassis_dir)
    chassis["SerialNumber"] = serial
    _write(chassis_dir, chassis)
    set_gpus(tree, gpus)
    memory_dir = system_dir / "Memory"
    for number, name in enumerate(("DIMM1", "DIMM2", "DIMM3"), start=1):
        dimm = _read(memory_dir / name)
        dimm.update(SerialNumber=f"{serial}-M{number}", PartNumber="M321R8GA0BB0-CQK")
        dimm["Manufacturer"] = "Samsung"
        _write(memory_dir / name, dimm)
    set_energy(tree, energy_kwh)
    return tree


def set_gpus(tree: Path, serials: list[str]) -> None:
    processors = tree / "Systems" / "437XR1138R2" / "Processors"
    collection = _read(processors)
    template = _read(processors / "FPGA1")
    members = [m for m in collection["Members"] if "/GPU" not in m["@odata.id"]]
    for old in processors.glob("GPU*"):
        shutil.rmtree(old)
    for number, gpu_serial in enumerate(serials, start=1):
        path = f"/redfish/v1/Systems/437XR1138R2/Processors/GPU{number}"
        gpu = copy.deepcopy(template)
        gpu.update(
            {
                "@odata.id": path,
                "Id": f"GPU{number}",
                "Name": f"GPU {number}",
                "ProcessorType": "GPU",
                "Manufacturer": "NVIDIA",
                "Model": "NVIDIA H100 80GB HBM3",
                "PartNumber": "699-2G520-0200-000",
                "SerialNumber": gpu_serial,
            }
        )
        for key in ("ProcessorArchitecture", "InstructionSet", "Links", "Metrics", "FPGA"):
            gpu.pop(key, None)
        _write(processors / f"GPU{number}", gpu)
        members.append({"@odata.id": path})
    collection["Members"] = members
    collection["Members@odata.count"] = len(members)
    _write(processors, collection)


def set_energy(tree: Path, kwh) -> None:
    sensor_dir = tree / "Chassis" / "1U" / "Sensors" / "TotalEnergy"
    sensor = _read(sensor_dir)
    sensor["Reading"] = float(kwh) if isinstance(kwh, str) and "." in kwh else kwh
    _write(sensor_dir, sensor)


# --- Prometheus and an exporter ---------------------------------------------------------------


class Exporter:
    """A /metrics page whose text the test sets (DCGM's and vLLM's names and labels)."""

    def __init__(self):
        self.text = ""
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the stdlib's name
                body = exporter.text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def need_prometheus() -> None:
    if not shutil.which("prometheus") or not shutil.which("promtool"):
        pytest.skip("Debian's prometheus package is not installed (apt-get install prometheus)")


@contextlib.contextmanager
def prometheus_server(workdir: Path, *, scrape: list[str] = (), backfill: str = ""):
    """Debian's Prometheus on a free port, with a temporary config and data folder: it scrapes
    `scrape` (host:port) every second, and starts with `backfill` (OpenMetrics text: samples
    with their own timestamps, loaded with promtool) already stored."""
    need_prometheus()
    data = workdir / "data"
    data.mkdir(parents=True)
    if backfill:
        source = workdir / "backfill.om"
        source.write_text(backfill.rstrip("\n") + "\n# EOF\n")
        subprocess.run(
            ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
            check=True,
            capture_output=True,
        )
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "test", "static_configs": [{"targets": list(scrape)}]},
        ]
        if scrape
        else [],
    }
    (workdir / "prometheus.yml").write_text(json.dumps(config))  # YAML reads JSON
    port = free_port()
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address={HOST}:{port}",
            "--storage.tsdb.retention.time=30d",
            "--log.level=warn",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://{HOST}:{port}"
    try:
        _wait(lambda: requests.get(f"{url}/-/ready", timeout=1).ok, "prometheus", process, 60)
        yield url
    finally:
        _stop(process)


# --- SNMP ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def snmp_agent(workdir: Path, recording: Path = DATA / "apc-pdu.snmprec", v3=None):
    """snmpsim answering SNMP v2c from `recording` (community = the file's name), or, given
    `v3` (snmp.Credentials with a user), SNMP v3 with that user's keys and protocols, the
    recording served under the context named as the file."""
    command = shutil.which("snmpsim-command-responder") or str(
        Path(sys.executable).parent / "snmpsim-command-responder"
    )
    if not Path(command).exists():
        pytest.skip("snmpsim is not installed (pip install snmpsim)")
    data = workdir / "snmp"
    data.mkdir()
    shutil.copy(recording, data / recording.name)
    port = free_port(socket.SOCK_DGRAM)
    engine, users = [], []
    if v3 is not None:
        # snmpsim spells the protocols without the dash (SHA256, AES128)
        engine = ["--v3-engine-id=auto"]
        users = [
            f"--v3-user={v3.user}",
            f"--v3-auth-key={v3.auth_key}",
            f"--v3-auth-proto={v3.auth_protocol.replace('-', '')}",
        ]
        if v3.privacy_key:
            users += [
                f"--v3-priv-key={v3.privacy_key}",
                f"--v3-priv-proto={v3.privacy_protocol.replace('-', '')}",
            ]
    process = subprocess.Popen(
        [
            command,
            *engine,
            f"--data-dir={data}",
            f"--cache-dir={workdir / 'snmp-cache'}",
            *users,
            f"--agent-udpv4-endpoint={HOST}:{port}",
        ],
        # As root it would drop to a user who cannot read this Python: allowed, as in CI.
        env=os.environ | {"SNMPSIM_ALLOW_ROOT": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"{HOST}:{port}"

    def answers() -> bool:
        from connectors.clients import SourceError, snmp

        given = snmp.Credentials(community=recording.stem)
        if v3 is not None:
            given = dataclasses.replace(v3, context=recording.stem)
        try:
            return snmp.get_counter(endpoint, UPTIME, credentials=given, timeout=0.5) > 0
        except SourceError:
            return False

    try:
        _wait(answers, "snmpsim", process)
        yield endpoint, recording.stem
    finally:
        _stop(process)


# --- a dead endpoint ----------------------------------------------------------------------------


@contextlib.contextmanager
def dead_endpoint():
    """A socket that accepts connections (the kernel completes the handshake) and never
    answers: the worst kind of failing source."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((HOST, 0))
    listener.listen(64)
    try:
        yield f"http://{HOST}:{listener.getsockname()[1]}"
    finally:
        listener.close()
