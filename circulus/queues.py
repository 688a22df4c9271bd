"""Celery queues: one per kind of work, so each can get its own workers (and machines).

Ingest is I/O- and database-bound, computation is short and frequent, exports are long and
memory-hungry; separate queues keep a year-long export from delaying a compute the operator is
waiting for. Settings build the routes from here; a prefix isolates deployments (and test runs)
that share a broker.
"""

from kombu import Queue

DEFAULT, INGEST, COMPUTE, EXPORT = "celery", "ingest", "compute", "export"
# Pulls wait on other machines (a BMC, Prometheus, a PDU): their own queue keeps a slow or dead
# source from holding up ingest or compute workers.
CONNECTORS = "connectors"
KINDS = (DEFAULT, INGEST, COMPUTE, EXPORT, CONNECTORS)

# task name (or glob) → kind of queue; anything not listed (ping, reapers) uses the default queue.
ROUTED = {
    "reporting.ingest_job": INGEST,
    "registry.import_assets_job": INGEST,
    "registry.close_audit": INGEST,
    "reporting.compute_period": COMPUTE,
    "reporting.compute_periods": COMPUTE,
    "reporting.compute_year": COMPUTE,
    "reporting.aggregate_year": COMPUTE,
    "reporting.refresh_open_periods": COMPUTE,
    "exports.run_export": EXPORT,
    "exports.send_scheduled_reports": EXPORT,
    "connectors.pull": CONNECTORS,
}


def name(kind: str, prefix: str = "") -> str:
    return f"{prefix}{kind}"


def queues(prefix: str = "") -> list[Queue]:
    """Every queue, declared: a worker started without -Q consumes all of them."""
    return [Queue(name(kind, prefix)) for kind in KINDS]


def routes(prefix: str = "") -> dict[str, dict[str, str]]:
    return {task: {"queue": name(kind, prefix)} for task, kind in ROUTED.items()}
