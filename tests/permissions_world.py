"""The world the permission matrix runs in: two sites, one user per role, and one object of every
kind the API and the admin address. Path parameters always name site A's (PAR1) objects, so an
operator of site B (FRA1) shows what "another site" gets."""

import datetime as dt

from accounts import tokens
from accounts.models import TokenEvent
from connectors.models import ModelMapping, Pull
from connectors.models import Source as ConnectorSource
from hardware.models import DecodeMeasurement, Source
from registry import audits
from registry.models import (
    AssetImportJob,
    ExpiryNotice,
    LifecycleEvent,
    ReuseMeasurement,
    WebhookDelivery,
    WebhookSubscription,
)
from reporting.exports.models import ExportJob, ExportState, SavedReport
from reporting.models import (
    EnefgExemption,
    IngestJob,
    ManagementSystem,
    MeasurementPoint,
    Reading,
    ReadingRevision,
    TaskRun,
)
from tests import factories
from tests.reporting.conftest import make_site, period

ROLES = (
    "anonymous",
    "operator_a",
    "operator_b",
    "procurement",
    "auditor",
    "norole",
    "editor",
    "superuser",
)
GROUPS = {
    "operator_a": "operator",
    "operator_b": "operator",
    "procurement": "procurement",
    "auditor": "auditor",
    "editor": "catalogue-editor",
}


def build() -> dict:
    w = {}
    a, b = make_site("PAR1"), make_site("FRA1", country="DE")
    w["site_a"], w["site_b"] = a, b
    w["empty_site"] = factories.site("EMPTY1")
    users = {}
    for role in ROLES[1:]:
        users[role] = factories.user(
            f"m-{role}",
            group=GROUPS.get(role),
            is_staff=True,
            is_superuser=role == "superuser",
        )
    a.operators.add(users["operator_a"])
    b.operators.add(users["operator_b"])
    w["users"] = users
    w["asset_a"] = factories.asset("PAR1-GPU-1", at_site=a)
    w["asset_b"] = factories.asset("FRA1-GPU-1", at_site=b)
    # A change-history row for each, so the admin's history pages have a version to show.
    a.save()
    w["asset_a"].notes = "matrix"
    w["asset_a"].save()
    w["event_a"] = LifecycleEvent.objects.filter(asset=w["asset_a"]).first()
    w["manufacturer"] = factories.manufacturer("Lonely")
    w["hardware_model"] = factories.hardware_model("matrix-gpu")
    w["source"] = Source.objects.create(citation="Matrix source")
    w["meter_a"] = MeasurementPoint.objects.create(
        site=a, code="PAR1-MAIN", quantity="edc-supply", unit="kWh", register="interval"
    )
    w["meter_b"] = MeasurementPoint.objects.create(
        site=b, code="FRA1-MAIN", quantity="edc-supply", unit="kWh", register="interval"
    )
    t0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    w["reading_a"] = Reading.objects.create(meter=w["meter_a"], timestamp=t0, value=1)
    Reading.objects.create(meter=w["meter_b"], timestamp=t0, value=1)
    w["revision_a"] = ReadingRevision.objects.create(
        meter=w["meter_a"], timestamp=t0, old_value=1, new_value=2
    )
    w["period_a"], w["period_b"] = period(a), period(b)
    for key, site, p in (("a", a, w["period_a"]), ("b", b, w["period_b"])):
        w[f"exemption_{key}"] = EnefgExemption.objects.create(
            period=p, ground="11-3-2", document="Vereinbarung 2025"
        )
        w[f"system_{key}"] = ManagementSystem.objects.create(
            site=site, kind="iso-50001", state="in-place", since=dt.date(2025, 1, 1), document="EMS"
        )
    w["ingest_a"] = IngestJob.objects.create(source="PAR1.csv", requested_by=users["operator_a"])
    w["task_a"] = TaskRun.objects.create(
        name="reporting.compute_period", period=w["period_a"], requested_by=users["operator_a"]
    )
    w["export_a"] = ExportJob.objects.create(
        kind="ewaste",
        params={"year": 2025, "sites": ["PAR1"]},
        requested_by=users["operator_a"],
        state=ExportState.FAILED,
    )
    w["saved_report_a"] = SavedReport.objects.create(
        name="PAR1 assets", owner=users["operator_a"], kind="assets", params={"site": "PAR1"}
    )
    w["import_job_a"] = AssetImportJob.objects.create(
        source="assets.csv", requested_by=users["operator_a"]
    )
    w["decode"] = DecodeMeasurement.objects.first()
    w["expiry_notice"] = ExpiryNotice.objects.create(
        asset=w["asset_a"],
        kind=ExpiryNotice.Kind.WARRANTY,
        due=dt.date(2026, 3, 1),
        threshold_days=30,
        recipient=users["operator_a"],
        sent_at=dt.datetime(2026, 2, 1, 7, tzinfo=dt.UTC),
    )
    w["webhook"] = WebhookSubscription.objects.create(
        name="floor", url="https://hooks.example.org/circulus", secret="s" * 64, active=False
    )
    w["webhook_delivery"] = WebhookDelivery.objects.create(
        subscription=w["webhook"],
        event=w["event_a"],
        asset=w["asset_a"],
        next_attempt_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
    )
    w["reuse_measurement"] = ReuseMeasurement.objects.create(
        asset=w["asset_a"],
        site=a,
        hardware_model=w["asset_a"].hardware_model,
        llm="llama-3-8b",
        precision="int8",
        engine="vllm",
        n_devices=1,
        concurrency=1,
        context_tokens=8192,
        tokens_per_s=100,
        power_w=300,
        duration_s=60,
        measured_on=dt.date(2025, 1, 1),
        recorded_by=users["operator_a"],
    )
    # A connector source of site A (never reached: nothing is pulled in the matrix) and a pull
    # of it without a dry run, and an operator's model mapping.
    w["connector_source"] = ConnectorSource.objects.create(
        name="par1-bmc", kind="redfish", endpoint="http://127.0.0.1:9", site=a
    )
    w["pull"] = Pull.objects.create(source=w["connector_source"], state="succeeded")
    w["model_mapping"] = ModelMapping.objects.create(
        part_kind="accelerator",
        reported_model="Matrix GPU",
        # Not the model the matrix deletes: a mapped model is protected (409), as it should be.
        hardware_model=factories.hardware_model("matrix-mapped-gpu"),
    )
    # An open audit of PAR1 by its operator, which has seen asset A.
    w["audit_a"] = audits.start(site=a, user=users["operator_a"])
    audits.scan(w["audit_a"], "PAR1-GPU-1", user=users["operator_a"])
    token, _key = tokens.issue(users["operator_a"])
    w["token"] = token
    w["token_event"] = TokenEvent.objects.latest("id")
    return w
