"""Who gets what, from every door: the permission matrix as data.

One row per API operation (every path and method of the OpenAPI schema) and per admin view
(every URL the admin site serves). Each row gives one outcome per role, in ROLES order:

    anonymous  operator_a  operator_b  procurement  auditor  norole  editor  superuser

operator_a operates site A (PAR1), operator_b site B (FRA1); paths always name site A's objects.
Outcomes: an HTTP status; `own` = 200 listing only the caller's own site (the other site's code
never appears); `all` = 200 listing both sites; in the admin, `login` = redirected to sign in,
`ro` = the change page opens without a save button, `home` = redirected to the admin home (how
Django answers for an object outside the user's list, or a signed-in user on the login page).

tests/test_permission_matrix.py fails for any operation or admin view without a row here, so a
new endpoint cannot ship without someone deciding who may use it.
"""

READ_REGISTRY = "401 200 200 200 200 403 200 200"  # any role reads the registry (all sites)
READ_CATALOGUE = "401 200 200 200 200 200 200 200"  # every signed-in user reads the catalogue
EDIT_CATALOGUE = "401 403 403 403 403 403 {ok} {ok}"  # superusers and catalogue editors
MANAGE_SITES = "401 403 403 403 403 403 403 {ok}"  # superusers only
WRITE_ASSET_A = "401 {ok} 403 403 403 403 403 {ok}"  # the operator of PAR1 and superusers
READ_REPORTING_A = "401 200 404 403 200 403 403 200"  # operators see only their sites
LIST_REPORTING = "401 own own 403 all 403 403 all"
WRITE_REPORTING_A = "401 {ok} 404 403 403 403 403 {ok}"

API = {
    ("GET", "/api/aggregates/"): "401 403 403 403 200 403 403 200",
    ("GET", "/api/assets/"): READ_REGISTRY,
    ("POST", "/api/assets/"): WRITE_ASSET_A.format(ok=201),
    ("GET", "/api/assets/{id}/"): READ_REGISTRY,
    ("PUT", "/api/assets/{id}/"): WRITE_ASSET_A.format(ok=200),
    ("PATCH", "/api/assets/{id}/"): WRITE_ASSET_A.format(ok=200),
    ("GET", "/api/assets/{id}/events/"): READ_REGISTRY,
    ("POST", "/api/assets/{id}/events/"): WRITE_ASSET_A.format(ok=201),
    ("GET", "/api/assets/{id}/history/"): READ_REGISTRY,
    ("GET", "/api/assets/{id}/label/"): READ_REGISTRY,
    ("GET", "/api/assets/labels/"): READ_REGISTRY,
    ("GET", "/api/circularity/"): READ_REGISTRY,
    # Physical audits: read by every registry role, started and worked by the site's operators.
    ("GET", "/api/audits/"): READ_REGISTRY,
    ("POST", "/api/audits/"): WRITE_ASSET_A.format(ok=201),
    ("GET", "/api/audits/{id}/"): READ_REGISTRY,
    ("POST", "/api/audits/{id}/scan/"): WRITE_ASSET_A.format(ok=201),
    ("POST", "/api/audits/{id}/close/"): WRITE_ASSET_A.format(ok=200),
    ("POST", "/api/audits/{id}/cancel/"): WRITE_ASSET_A.format(ok=200),
    ("GET", "/api/audits/{id}/report.xlsx/"): READ_REGISTRY,
    ("GET", "/api/exports/"): "401 200 200 200 200 200 200 200",  # each sees their own jobs
    ("POST", "/api/exports/"): "401 202 403 403 202 403 403 202",  # e-waste report of PAR1
    ("GET", "/api/exports/{id}/"): "401 200 404 404 200 404 404 200",  # operator_a's job
    ("GET", "/api/exports/{id}/download/"): "401 409 404 404 409 404 404 409",  # failed job
    ("POST", "/api/exports/{id}/retry/"): "401 202 404 404 403 404 404 202",
    # Saved reports: each user's own (superusers all); made with the owner's export rights.
    ("GET", "/api/saved-reports/"): "401 200 200 200 200 200 200 200",
    ("POST", "/api/saved-reports/"): "401 201 403 201 201 403 403 201",
    ("GET", "/api/saved-reports/{id}/"): "401 200 404 404 404 404 404 200",  # operator_a's
    ("PUT", "/api/saved-reports/{id}/"): "401 200 404 404 404 404 404 200",
    ("PATCH", "/api/saved-reports/{id}/"): "401 200 404 404 404 404 404 200",
    ("DELETE", "/api/saved-reports/{id}/"): "401 204 404 404 404 404 404 204",
    ("POST", "/api/saved-reports/{id}/run/"): "401 202 404 404 404 404 404 202",
    ("GET", "/api/exports/eu-annual/"): "401 200 403 403 200 403 403 200",
    # EnEfG exemptions (of a period) and management systems (of a site): as the period's values
    ("GET", "/api/enefg-exemptions/"): LIST_REPORTING,
    ("POST", "/api/enefg-exemptions/"): "401 201 403 403 403 403 403 201",
    ("GET", "/api/enefg-exemptions/{id}/"): READ_REPORTING_A,
    ("PUT", "/api/enefg-exemptions/{id}/"): WRITE_REPORTING_A.format(ok=200),
    ("PATCH", "/api/enefg-exemptions/{id}/"): WRITE_REPORTING_A.format(ok=200),
    # Site profiles (Annex I, EnEfG): by the site's code; PAR1 has one, so a second is refused
    ("GET", "/api/site-profiles/"): LIST_REPORTING,
    ("POST", "/api/site-profiles/"): "401 400 403 403 403 403 403 400",
    ("GET", "/api/site-profiles/{code}/"): READ_REPORTING_A,
    ("PUT", "/api/site-profiles/{code}/"): WRITE_REPORTING_A.format(ok=200),
    ("PATCH", "/api/site-profiles/{code}/"): WRITE_REPORTING_A.format(ok=200),
    ("GET", "/api/management-systems/"): LIST_REPORTING,
    ("POST", "/api/management-systems/"): "401 201 403 403 403 403 403 201",
    ("GET", "/api/management-systems/{id}/"): READ_REPORTING_A,
    ("PUT", "/api/management-systems/{id}/"): WRITE_REPORTING_A.format(ok=200),
    ("PATCH", "/api/management-systems/{id}/"): WRITE_REPORTING_A.format(ok=200),
    ("GET", "/api/hardware-models/"): READ_CATALOGUE,
    ("POST", "/api/hardware-models/"): EDIT_CATALOGUE.format(ok=201),
    ("GET", "/api/hardware-models/{id}/"): READ_CATALOGUE,
    ("PUT", "/api/hardware-models/{id}/"): EDIT_CATALOGUE.format(ok=200),
    ("PATCH", "/api/hardware-models/{id}/"): EDIT_CATALOGUE.format(ok=200),
    ("DELETE", "/api/hardware-models/{id}/"): EDIT_CATALOGUE.format(ok=204),
    ("GET", "/api/ingest-jobs/"): "401 200 200 403 200 403 403 200",
    ("GET", "/api/ingest-jobs/{id}/"): READ_REPORTING_A,  # operator_a's job
    ("GET", "/api/lifecycle-events/"): READ_REGISTRY,
    ("GET", "/api/lifecycle-events/{id}/"): READ_REGISTRY,
    ("GET", "/api/manufacturers/"): READ_CATALOGUE,
    ("POST", "/api/manufacturers/"): EDIT_CATALOGUE.format(ok=201),
    ("GET", "/api/manufacturers/{id}/"): READ_CATALOGUE,
    ("PUT", "/api/manufacturers/{id}/"): EDIT_CATALOGUE.format(ok=200),
    ("PATCH", "/api/manufacturers/{id}/"): EDIT_CATALOGUE.format(ok=200),
    ("DELETE", "/api/manufacturers/{id}/"): EDIT_CATALOGUE.format(ok=204),
    ("GET", "/api/measurement-points/"): LIST_REPORTING,
    ("POST", "/api/measurement-points/"): "401 201 403 403 403 403 403 201",
    ("GET", "/api/measurement-points/{id}/"): READ_REPORTING_A,
    ("PUT", "/api/measurement-points/{id}/"): WRITE_REPORTING_A.format(ok=200),
    ("PATCH", "/api/measurement-points/{id}/"): WRITE_REPORTING_A.format(ok=200),
    ("GET", "/api/periods/"): LIST_REPORTING,
    ("GET", "/api/periods/{id}/"): READ_REPORTING_A,
    ("PUT", "/api/periods/{id}/"): WRITE_REPORTING_A.format(ok=200),
    ("PATCH", "/api/periods/{id}/"): WRITE_REPORTING_A.format(ok=200),
    ("POST", "/api/periods/{id}/compute/"): WRITE_REPORTING_A.format(ok=202),
    ("POST", "/api/periods/{id}/transition/"): WRITE_REPORTING_A.format(ok=200),
    ("GET", "/api/periods/{id}/values/"): READ_REPORTING_A,
    ("POST", "/api/periods/{id}/values/"): WRITE_REPORTING_A.format(ok=200),
    ("GET", "/api/readings/"): LIST_REPORTING,
    # operator_b may ingest, but a PAR1 meter is not theirs: the whole file is refused (400).
    ("POST", "/api/readings/"): "401 201 400 403 403 403 403 201",
    ("GET", "/api/reuse-candidates/"): READ_REGISTRY,
    ("POST", "/api/reuse-requests/"): "401 201 403 201 403 403 403 201",
    # Allowed through, then 409: the asset is not reserved.
    ("POST", "/api/reuse-requests/release/"): "401 409 403 409 403 403 403 409",
    ("GET", "/api/sites/"): READ_REGISTRY,
    ("POST", "/api/sites/"): MANAGE_SITES.format(ok=201),
    ("GET", "/api/sites/{code}/"): READ_REGISTRY,
    ("PUT", "/api/sites/{code}/"): MANAGE_SITES.format(ok=200),
    ("PATCH", "/api/sites/{code}/"): MANAGE_SITES.format(ok=200),
    ("DELETE", "/api/sites/{code}/"): MANAGE_SITES.format(ok=204),
    ("GET", "/api/sites/{code}/periods/"): READ_REPORTING_A,
    ("POST", "/api/sites/{code}/periods/"): WRITE_REPORTING_A.format(ok=201),
    ("GET", "/api/tasks/{task_id}/"): READ_REPORTING_A,  # operator_a's computation
    # Retries: the requester or a superuser (the job is still pending, hence 409 once allowed).
    ("POST", "/api/ingest-jobs/{id}/retry/"): "401 409 404 404 403 404 404 409",
    ("POST", "/api/tasks/{task_id}/retry/"): "401 409 404 404 403 404 404 409",
    ("GET", "/api/reuse-measurements/"): READ_REGISTRY,
    # Connectors: read by registry readers (never a credential), pulled and applied by the
    # source's site operators; the matrix's pull has no dry run to apply (400).
    ("GET", "/api/connector-sources/"): READ_REGISTRY,
    ("GET", "/api/connector-sources/{id}/"): READ_REGISTRY,
    ("POST", "/api/connector-sources/{id}/pull/"): "401 202 403 403 403 403 403 202",
    ("POST", "/api/connector-sources/{id}/measured-runs/"): "401 400 403 403 403 403 403 400",
    ("GET", "/api/connector-pulls/"): READ_REGISTRY,
    ("GET", "/api/connector-pulls/{id}/"): READ_REGISTRY,
    ("POST", "/api/connector-pulls/{id}/apply/"): "401 400 403 403 403 403 403 400",
    # Any registry reader passes the gate; an empty body is then refused (the site scope of a
    # measurement is the reuse rules' business, tested with them).
    ("POST", "/api/reuse-measurements/"): "401 400 400 400 400 403 400 400",
}

# Admin pages, by URL name. Staff without a role see the admin home and nothing else.
L = "login"
CATALOGUE_LIST = f"{L} 200 200 200 200 403 200 200"
CATALOGUE_EDIT = f"{L} 403 403 403 403 403 200 200"
CATALOGUE_CHANGE = f"{L} ro ro ro ro 403 200 200"
SUPERUSER_ONLY = f"{L} 403 403 403 403 403 403 200"
REPORTING_LIST = f"{L} 200 200 403 200 403 403 200"
REPORTING_ADD = f"{L} 200 200 403 403 403 403 200"
REPORTING_CHANGE_A = f"{L} 200 home 403 ro 403 403 200"
REPORTING_READ_ONLY_A = f"{L} ro home 403 ro 403 403 ro"
REPORTING_DELETE_A = f"{L} 403 403 403 403 403 403 200"
REPORTING_HISTORY_A = f"{L} 200 403 403 200 403 403 200"
NOBODY = f"{L} 403 403 403 403 403 403 403"

ADMIN = {
    "index": f"{L} 200 200 200 200 200 200 200",
    "login": "200 home home home home home home home",  # signed-in staff go straight to the admin
    "logout": "home 405 405 405 405 405 405 405",  # POST only
    "password_change": f"{L} 200 200 200 200 200 200 200",
    "password_change_done": f"{L} 200 200 200 200 200 200 200",
    "autocomplete": f"{L} 403 403 403 403 403 403 403",  # no autocomplete field asked for
    "jsi18n": f"{L} 200 200 200 200 200 200 200",
    "view_on_site": f"{L} 404 404 404 404 404 404 404",  # no model has a public URL
    "app_list:hardware": f"{L} 200 200 200 200 404 200 200",
    "app_list:registry": f"{L} 200 200 200 200 404 200 200",  # the reuse page is listed
    "app_list:reporting": f"{L} 200 200 404 200 404 404 200",
    "app_list:exports": f"{L} 200 200 200 200 404 404 200",  # procurement: its saved reports
    "exports_ewaste": f"{L} 200 200 403 200 403 403 200",  # operators: their own sites
    # Asset A is a card, not a server: nothing is installed in it, by anyone.
    "registry_asset_install_parts": NOBODY,
    "registry_asset_remove_parts": f"{L} 200 403 403 403 403 403 200",
    "reporting_period_compute_now": NOBODY,  # a button: POST only (GET is refused)
    # Large asset imports: each importer follows their own jobs; written by the worker only.
    "registry_assetimportjob_changelist": f"{L} 200 200 403 403 403 403 200",
    "registry_assetimportjob_add": SUPERUSER_ONLY,
    "registry_assetimportjob_change": f"{L} ro home 403 403 403 403 200",
    "registry_assetimportjob_delete": SUPERUSER_ONLY,
    "registry_assetimportjob_history": f"{L} 200 home home home home home 200",
    "app_list:accounts": f"{L} 404 404 404 200 404 404 200",
    "app_list:auth": f"{L} 404 404 404 404 404 404 200",
    "registry_reuse_candidates": f"{L} 200 200 200 200 403 200 200",
    # Connectors: sources are set up by superusers only; registry readers see them, their pulls
    # and dry runs (read-only); operators extend the model mapping.
    "app_list:connectors": f"{L} 200 200 200 200 404 200 200",
    "connectors_source_changelist": f"{L} 200 200 200 200 403 200 200",
    "connectors_source_add": SUPERUSER_ONLY,
    "connectors_source_change": f"{L} ro ro ro ro 403 ro 200",
    "connectors_source_delete": SUPERUSER_ONLY,
    "connectors_source_history": f"{L} 200 200 200 200 403 200 200",
    "connectors_modelmapping_changelist": f"{L} 200 200 200 200 403 200 200",
    "connectors_modelmapping_add": f"{L} 200 200 403 403 403 403 200",
    "connectors_modelmapping_change": f"{L} 200 200 ro ro 403 ro 200",
    "connectors_modelmapping_delete": f"{L} 200 200 403 403 403 403 200",
    "connectors_modelmapping_history": f"{L} 200 200 200 200 403 200 200",
    "connectors_pull_changelist": f"{L} 200 200 200 200 403 200 200",
    "connectors_pull_add": NOBODY,
    "connectors_pull_change": f"{L} ro ro ro ro 403 ro ro",
    "connectors_pull_delete": NOBODY,
    "connectors_pull_history": f"{L} 200 200 200 200 403 200 200",
    # auth and tokens: superusers only
    **{
        f"{model}_{view}": SUPERUSER_ONLY
        for model in ("auth_group", "auth_user")
        for view in ("changelist", "add", "change", "delete", "history")
    },
    # API tokens: listed and revoked by superusers; issued only by the command (shown once)
    **{
        f"accounts_apitoken_{view}": SUPERUSER_ONLY
        for view in ("changelist", "change", "delete", "history")
    },
    "accounts_apitoken_add": NOBODY,
    "auth_user_password_change": SUPERUSER_ONLY,
    # the catalogue
    **{
        f"hardware_{model}_{view}": rule
        for model in ("manufacturer", "source", "hardwaremodel")
        for view, rule in (
            ("changelist", CATALOGUE_LIST),
            ("add", CATALOGUE_EDIT),
            ("change", CATALOGUE_CHANGE),
            ("delete", CATALOGUE_EDIT),
            ("history", CATALOGUE_LIST),
        )
    },
    "hardware_manufacturer_simple_history": f"{L} ro ro ro ro 403 200 200",
    "hardware_hardwaremodel_simple_history": f"{L} ro ro ro ro 403 200 200",
    # the registry (scoped by registry/permissions.py)
    "registry_site_changelist": f"{L} 200 200 200 200 403 403 200",
    "registry_site_add": SUPERUSER_ONLY,
    "registry_site_change": f"{L} ro ro ro ro 403 403 200",
    "registry_site_delete": SUPERUSER_ONLY,
    "registry_site_history": f"{L} 200 200 200 200 403 403 200",
    "registry_site_simple_history": f"{L} ro ro ro ro 403 403 ro",  # revert is disabled
    "registry_lifecycleevent_changelist": f"{L} 200 200 200 200 403 403 200",
    "registry_lifecycleevent_add": NOBODY,  # the ledger is written by recording events
    "registry_lifecycleevent_change": f"{L} ro ro ro ro 403 403 ro",
    "registry_lifecycleevent_delete": NOBODY,
    "registry_lifecycleevent_history": f"{L} 200 200 200 200 403 403 200",
    "registry_asset_changelist": f"{L} 200 200 200 200 403 403 200",
    "registry_asset_add": f"{L} 200 200 403 403 403 403 200",
    "registry_asset_change": f"{L} 200 ro ro ro 403 403 200",
    "registry_asset_delete": NOBODY,  # an asset with a ledger is never deleted
    "registry_asset_history": f"{L} 200 200 200 200 403 403 200",
    "registry_asset_simple_history": f"{L} ro ro ro ro 403 403 ro",
    "registry_asset_record_event": f"{L} 200 403 200 403 403 403 200",
    "registry_asset_import": f"{L} 200 200 403 403 403 403 200",
    "registry_asset_label": f"{L} 200 200 200 200 403 403 200",
    "registry_asset_export": f"{L} 200 200 200 200 403 403 200",
    # EU reporting (scoped by reporting/permissions.py)
    "reporting_siteprofile_changelist": REPORTING_LIST,
    "reporting_siteprofile_add": REPORTING_ADD,
    "reporting_siteprofile_change": REPORTING_CHANGE_A,
    "reporting_siteprofile_delete": REPORTING_DELETE_A,
    "reporting_siteprofile_history": REPORTING_HISTORY_A,
    "reporting_siteprofile_simple_history": f"{L} ro 403 403 ro 403 403 ro",
    "reporting_measurementpoint_changelist": REPORTING_LIST,
    "reporting_measurementpoint_add": REPORTING_ADD,
    "reporting_measurementpoint_change": REPORTING_CHANGE_A,
    "reporting_measurementpoint_delete": REPORTING_DELETE_A,
    "reporting_measurementpoint_history": REPORTING_HISTORY_A,
    "reporting_measurementpoint_simple_history": f"{L} ro 403 403 ro 403 403 ro",
    # A meter's readings (read-only; the readings have no admin of their own): as its change page.
    "reporting_measurementpoint_readings": f"{L} 200 home 403 200 403 403 200",
    # A computation's progress page: the one who queued it (operator_a) and superusers.
    "reporting_period_compute": f"{L} 200 403 403 403 403 403 200",
    "reporting_upload_readings": REPORTING_ADD,
    "reporting_import_meters": REPORTING_ADD,
    "reporting_managementsystem_changelist": REPORTING_LIST,
    "reporting_managementsystem_add": REPORTING_ADD,
    "reporting_managementsystem_change": REPORTING_CHANGE_A,
    "reporting_managementsystem_delete": REPORTING_DELETE_A,
    "reporting_managementsystem_history": REPORTING_HISTORY_A,
    "reporting_managementsystem_simple_history": f"{L} ro 403 403 ro 403 403 ro",
    "reporting_reportingperiod_changelist": REPORTING_LIST,
    "reporting_reportingperiod_add": REPORTING_ADD,
    "reporting_reportingperiod_change": REPORTING_CHANGE_A,
    "reporting_reportingperiod_delete": REPORTING_DELETE_A,
    "reporting_reportingperiod_history": REPORTING_HISTORY_A,
    "reporting_reportingperiod_simple_history": f"{L} ro 403 403 ro 403 403 ro",
    **{
        f"reporting_{model}_{view}": rule
        for model in ("ingestjob", "readingrevision")
        for view, rule in (
            ("changelist", REPORTING_LIST),
            ("add", NOBODY),
            ("change", REPORTING_READ_ONLY_A),
            ("delete", NOBODY),
            # One of operator_a's rows: hidden from everyone else who may not read all sites.
            ("history", f"{L} 200 home home 200 home home 200"),
        )
    },
    "exports_exportjob_changelist": REPORTING_LIST,
    "exports_exportjob_add": NOBODY,
    "exports_exportjob_change": f"{L} ro home 403 ro 403 403 ro",  # operator_a's job
    "exports_exportjob_delete": SUPERUSER_ONLY,
    "exports_exportjob_history": f"{L} 200 home home 200 home home 200",
    "exports_eu_workbook": REPORTING_LIST,
    **{
        f"reporting_taskrun_{view}": rule
        for view, rule in (
            ("changelist", REPORTING_LIST),
            ("add", NOBODY),
            ("change", f"{L} ro home 403 ro 403 403 ro"),  # operator_a's computation
            ("delete", NOBODY),
            ("history", f"{L} 200 home home 200 home home 200"),
        )
    },
    # Published decode measurements: catalogue reference data, read-only for everyone.
    **{
        f"hardware_decodemeasurement_{view}": rule
        for view, rule in (
            ("changelist", CATALOGUE_LIST),
            ("add", NOBODY),
            ("change", f"{L} ro ro ro ro 403 ro ro"),
            ("delete", NOBODY),
            ("history", CATALOGUE_LIST),
        )
    },
    "registry_reuse_method": f"{L} 200 200 200 200 403 200 200",
    # Measured reuse runs: read by registry readers, never edited in place. A catalogue editor
    # reads them through the API; in the admin it sees the reuse page only (docs/roles.md).
    **{
        f"registry_reusemeasurement_{view}": rule
        for view, rule in (
            ("changelist", f"{L} 200 200 200 200 403 403 200"),
            ("add", f"{L} 200 200 403 403 403 403 200"),
            ("change", f"{L} ro ro ro ro 403 403 ro"),
            ("delete", SUPERUSER_ONLY),
            ("history", f"{L} 200 200 200 200 403 403 200"),
        )
    },
    # Physical audits (operator_a's, at PAR1): read by registry roles, worked by PAR1's operators;
    # never deleted (a mistaken one is cancelled).
    **{
        f"registry_audit_{view}": rule
        for view, rule in (
            ("changelist", f"{L} 200 200 200 200 403 403 200"),
            ("add", f"{L} 200 200 403 403 403 403 200"),
            ("change", f"{L} 200 ro ro ro 403 403 200"),
            ("delete", NOBODY),
            ("history", f"{L} 200 200 200 200 403 403 200"),
            ("scan", f"{L} 200 200 200 200 403 403 200"),
            ("report", f"{L} 200 200 200 200 403 403 200"),
        )
    },
    # What the expiry digests told: written by the daily task only.
    **{
        f"registry_expirynotice_{view}": rule
        for view, rule in (
            ("changelist", f"{L} 200 200 200 200 403 403 200"),
            ("add", NOBODY),
            ("change", f"{L} ro ro ro ro 403 403 ro"),
            ("delete", NOBODY),
            ("history", f"{L} 200 200 200 200 403 403 200"),
        )
    },
    # Webhooks send ledger data to an address: superusers alone set them up and read the log.
    **{
        f"registry_webhooksubscription_{view}": SUPERUSER_ONLY
        for view in ("changelist", "add", "change", "delete", "history")
    },
    **{
        f"registry_webhookdelivery_{view}": rule
        for view, rule in (
            ("changelist", SUPERUSER_ONLY),
            ("add", NOBODY),
            ("change", f"{L} 403 403 403 403 403 403 ro"),
            ("delete", NOBODY),
            ("history", SUPERUSER_ONLY),
        )
    },
    **{
        f"exports_savedreport_{view}": rule
        for view, rule in (
            ("changelist", f"{L} 200 200 200 200 403 403 200"),
            ("add", f"{L} 200 200 200 200 403 403 200"),
            ("change", f"{L} 200 home home home 403 403 200"),
            ("delete", f"{L} 200 home home home 403 403 200"),
            ("history", f"{L} 200 home home home home home 200"),  # not theirs: not found
        )
    },
    "accounts_tokenevent_changelist": f"{L} 403 403 403 200 403 403 200",
    "accounts_tokenevent_add": NOBODY,
    "accounts_tokenevent_change": f"{L} 403 403 403 ro 403 403 ro",
    "accounts_tokenevent_delete": NOBODY,
    "accounts_tokenevent_history": f"{L} 403 403 403 200 403 403 200",
}

# Bulk actions offered on each changelist, by role (the offer is the promise: each action still
# checks every row). `-` = the changelist itself is refused.
ACTIONS = {
    # Labels print for anyone who reads the registry (the API agrees).
    "registry_asset": {
        "operator_a": {"decommission", "move", "reserve_for_reuse", "export_selected_xlsx",
                       "export_selected_csv", "print_labels"},
        "operator_b": {"decommission", "move", "reserve_for_reuse", "export_selected_xlsx",
                       "export_selected_csv", "print_labels"},
        "procurement": {"reserve_for_reuse", "export_selected_xlsx", "export_selected_csv",
                        "print_labels"},
        "auditor": {"export_selected_xlsx", "export_selected_csv", "print_labels"},
        "superuser": {"decommission", "move", "reserve_for_reuse", "export_selected_xlsx",
                      "export_selected_csv", "print_labels"},
    },
    "registry_audit": {
        "operator_a": {"close_audits", "cancel_audits"},
        "operator_b": {"close_audits", "cancel_audits"},
        "procurement": set(), "auditor": set(),
        "superuser": {"close_audits", "cancel_audits"},
    },
    # Those who may import retry their own failed imports (a superuser anyone's).
    "registry_assetimportjob": {
        "operator_a": {"retry_failed_imports"}, "operator_b": {"retry_failed_imports"},
        "procurement": set(), "auditor": set(),
        "superuser": {"retry_failed_imports", "delete_selected"},
    },
    "registry_webhooksubscription": {"superuser": {"rotate_secret", "delete_selected"}},
    "registry_webhookdelivery": {"superuser": {"send_again"}},
    "reporting_reportingperiod": {
        "operator_a": {"compute", "validate", "submit", "reopen"},
        "operator_b": {"compute", "validate", "submit", "reopen"},
        "auditor": set(),
        "superuser": {"compute", "validate", "submit", "reopen", "delete_selected"},
    },
    **{
        name: {
            "operator_a": {"retry_failed_jobs"}, "auditor": set(),
            "superuser": {"retry_failed_jobs"},
        }
        for name in ("reporting_ingestjob", "reporting_taskrun")
    },
    # Auditors and procurement request exports too, so they may retry their own failed ones.
    # Pulling and applying: operators (each source and pull is then checked for its site).
    "connectors_source": {
        "operator_a": {"pull_now"}, "operator_b": {"pull_now"}, "procurement": set(),
        "auditor": set(), "superuser": {"pull_now", "delete_selected"},
    },
    "connectors_pull": {
        "operator_a": {"apply_dry_run"}, "operator_b": {"apply_dry_run"}, "procurement": set(),
        "auditor": set(), "superuser": {"apply_dry_run"},
    },
    "connectors_modelmapping": {
        "operator_a": {"delete_selected"}, "auditor": set(), "superuser": {"delete_selected"},
    },
    "exports_exportjob": {
        "operator_a": {"retry_failed_jobs"}, "auditor": {"retry_failed_jobs"},
        "procurement": {"retry_failed_jobs"},
        "superuser": {"retry_failed_jobs", "delete_selected"},
    },
}  # fmt: skip
