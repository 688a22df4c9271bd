"""An admin page for reuse candidates and reservations, without a model of its own.

It adds one URL to the default admin site and one entry under "Asset registry" in the index, so
registry/admin.py stays untouched. Imported from RegistryConfig.ready().
"""

from pathlib import Path

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import path, reverse

from hardware import inference
from registry import measurements, permissions, reservations, reuse
from registry.api.reuse import ReuseQuerySerializer
from registry.models import ReuseMeasurement

URL_NAME = "registry_reuse_candidates"
METHOD_URL_NAME = "registry_reuse_method"
TEMPLATE = "admin/registry/reuse_candidates.html"
PRECISION_LABELS = {
    "fp16": "16-bit (FP16)",
    "bf16": "16-bit (BF16, needs Ampere or newer)",
    "fp8": "8-bit floating point (FP8, needs Ada or Hopper)",
    "int8": "8-bit integers (INT8)",
    "int4": "4-bit integers (INT4, e.g. AWQ, GPTQ, Q4_0)",
}
RANK_LABELS = {
    "energy": "energy per token, lowest first",
    "avoided_carbon": "avoided manufacturing carbon, highest first",
    "tokens_per_s": "speed, fastest first",
}


def reuse_candidates_view(request):
    """GET: the query form and ranked results. POST: reserve the ticked assets."""
    if not permissions.can_read(request.user):
        context = {**admin.site.each_context(request), "title": "Reuse candidates"}
        return TemplateResponse(request, TEMPLATE, {**context, "forbidden": True}, status=403)
    outcomes = None
    if request.method == "POST":
        outcomes = _reserve(request)
    params = ReuseQuerySerializer(data=request.GET) if "precision" in request.GET else None
    rows, result, errors = [], None, {}
    if params is not None:
        if params.is_valid():
            result = reuse.find_candidates(params.to_query())
            rows = reuse.page(result, 0, params.validated_data["page_size"])
        else:
            errors = params.errors
    context = {
        **admin.site.each_context(request),
        "title": "Reuse candidates",
        "models": sorted(((m.slug, m.name) for m in reuse.llm_models().values()), key=_by_name),
        "precisions": [(p, PRECISION_LABELS[p]) for p in inference.PRECISIONS],
        "engines": sorted(((e.slug, e.name) for e in inference.engines().values()), key=_by_name),
        "default_engine": inference.DEFAULT_ENGINE,
        "ranks": [(r, RANK_LABELS[r]) for r in reuse.RANK_KEYS],
        "query": request.GET,
        "errors": errors,
        "rows": rows,
        "result": result,
        "estimate": reuse.ESTIMATE_LABEL,
        "outcomes": outcomes,
        "can_reserve": permissions.may_reserve_somewhere(request.user),
    }
    return TemplateResponse(request, TEMPLATE, context)


def _by_name(pair):
    return pair[1].lower()


def reuse_method_view(request):
    """docs/reuse.md as text, so the page's "how" link works wherever Circulus is deployed."""
    if not permissions.can_read(request.user):
        context = {**admin.site.each_context(request), "title": "Reuse candidates"}
        return TemplateResponse(request, TEMPLATE, {**context, "forbidden": True}, status=403)
    text = (Path(settings.DOCS_DIR) / "reuse.md").read_text(encoding="utf-8")
    context = {**admin.site.each_context(request), "title": "How reuse figures are made"}
    return TemplateResponse(request, "admin/registry/reuse_method.html", {**context, "text": text})


def _reserve(request):
    tags = [t for t in request.POST.getlist("asset_tags") if t]
    name, purpose = request.POST.get("request_name", ""), request.POST.get("purpose", "")
    if not (tags and name and purpose):
        messages.error(request, "Tick at least one asset and give a request name and purpose.")
        return None
    outcomes = [
        o.as_dict()
        for o in reservations.reserve_for_request(
            request_name=name, purpose=purpose, actor=request.user, asset_tags=tags
        )
    ]
    done = sum(o["status"] == "reserved" for o in outcomes)
    messages.info(request, f"{done} of {len(outcomes)} asset(s) reserved for '{name}'.")
    return outcomes


def install(site: admin.AdminSite = admin.site) -> None:
    """Add the page's URL and index entry to `site` (idempotent)."""
    if getattr(site, "_reuse_page_installed", False):
        return
    site._reuse_page_installed = True
    get_urls, get_app_list = site.get_urls, site.get_app_list

    def urls():
        page = path(
            "registry/reuse-candidates/", site.admin_view(reuse_candidates_view), name=URL_NAME
        )
        method = path(
            "registry/reuse-candidates/method/",
            site.admin_view(reuse_method_view),
            name=METHOD_URL_NAME,
        )
        return [page, method, *get_urls()]

    def app_list(request, app_label=None):
        apps = get_app_list(request, app_label)
        if app_label not in (None, "registry") or not permissions.can_read(request.user):
            return apps
        entry = {
            "name": "Reuse candidates",
            "object_name": "ReuseCandidate",
            "admin_url": reverse(f"{site.name}:{URL_NAME}"),
            "add_url": None,
            "view_only": True,
            "perms": {"view": True},
        }
        for app in apps:
            if app["app_label"] == "registry":
                app["models"].append(entry)
                break
        else:
            apps.append(
                {
                    "name": "Asset registry",
                    "app_label": "registry",
                    "app_url": entry["admin_url"],
                    "has_module_perms": True,
                    "models": [entry],
                }
            )
        return apps

    site.get_urls, site.get_app_list = urls, app_list


install()


@admin.register(ReuseMeasurement)
class ReuseMeasurementAdmin(admin.ModelAdmin):
    """Measured runs: recorded through the same checks as the API; never edited in place."""

    list_display = (
        "measured_on",
        "asset",
        "site",
        "hardware_model",
        "llm",
        "precision",
        "engine",
        "concurrency",
        "context_tokens",
        "tokens_per_s",
        "power_w",
    )
    list_filter = ("site", "engine", "precision")
    search_fields = ("asset__asset_tag", "llm")
    autocomplete_fields = ("asset",)
    fields = ("asset", *measurements.RUN_FIELDS)

    def has_view_permission(self, request, obj=None):
        return permissions.can_read_in_admin(request.user)

    def has_add_permission(self, request):
        return permissions.may_record_somewhere(request.user)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return bool(request.user.is_superuser)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class Checked(form):
            def _post_clean(self):
                super()._post_clean()
                if self.errors:
                    return
                try:
                    measurements.check(self.instance, request.user)
                except ValidationError as exc:
                    for field, messages_ in exc.message_dict.items():
                        self.add_error(field if field in self.fields else None, messages_)

        return Checked

    def save_model(self, request, obj, form, change):
        obj.recorded_by = request.user
        obj.save()
