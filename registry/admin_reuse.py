"""An admin page for reuse candidates and reservations, without a model of its own.

It adds one URL to the default admin site and one entry under "Asset registry" in the index, so
registry/admin.py stays untouched. Imported from RegistryConfig.ready().
"""

import math
import re
from pathlib import Path

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe
from markdown_it import MarkdownIt

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
DEFAULT_MODEL = "llama-3-8b"  # a common 8-billion-parameter model most cards can serve
# Sections of the method written for engineers (how to call the API, query speed) are left out
# of the page people read; the rest is the method as docs/reuse.md states it.
METHOD_SECTIONS_LEFT_OUT = ("Asking", "Speed", "PUE hook (for reporting)")
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
    params = ReuseQuerySerializer.from_form(request.GET) if "precision" in request.GET else None
    rows, result, errors = [], None, {}
    if params is not None:
        if params.is_valid():
            result = reuse.find_candidates(params.to_query())
            raw = reuse.page(result, 0, params.validated_data["page_size"])
            _with_runs(raw)
            rows = [readable(r, params.validated_data, result.new_equivalent) for r in raw]
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
        "default_model": DEFAULT_MODEL,
        "assumptions": [
            {k: _no_paths(str(a[k])) for k in ("what", "value", "source")}
            for a in (result.assumptions.values() if result else [])
        ],
        "errors": errors,
        "rows": rows,
        "result": result,
        "estimate": reuse.ESTIMATE_LABEL,
        "outcomes": outcomes,
        "can_reserve": permissions.may_reserve_somewhere(request.user),
    }
    return TemplateResponse(request, TEMPLATE, context)


def _with_runs(rows: list[dict]) -> None:
    """A measured row says which run it shows: its date, its length and its note (a run read
    from telemetry names its window there), in one query for the page."""
    ids = {r["measurement_id"] for r in rows if r["measurement_id"]}
    runs = ReuseMeasurement.objects.in_bulk(ids) if ids else {}
    for row in rows:
        run = runs.get(row["measurement_id"])
        if run is not None:
            row["measured_run"] = f"run of {run.measured_on:%Y-%m-%d}, {run.duration_s} s" + (
                f": {run.note}" if run.note else ""
            )


def _by_name(pair):
    return pair[1].lower()


_REPO_PATH = re.compile(
    r"`?\b(?:docs|hardware|registry|reporting|tests)/[\w./-]+\.(?:md|csv|py|json)\b`?"
)


def _no_paths(text: str) -> str:
    """Sources as a reader finds them: the method page or the catalogue, not a repository path."""
    text = text.replace("docs/reuse.md", "the method page")
    return _REPO_PATH.sub(lambda m: "the hardware catalogue" if "catalogue" in m.group(0)
                          else "Circulus's reference data", text)  # fmt: skip


def sig(value, figures: int = 2) -> str:
    """A figure to 2 (or 3) significant figures, whole numbers from 100 up: 0.958 → "0.96",
    80.7 → "81", 247.0 → "247"."""
    if value is None:
        return "—"
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 100:
        return f"{value:,.0f}".replace(",", "\u202f")
    places = max(0, figures - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{places}f}"


def _band(row: dict, name: str, figures: int = 2) -> dict:
    """Central figure and its range, the range only where its ends differ as shown."""
    central = sig(row.get(name), figures)
    low, high = sig(row.get(f"{name}_low"), figures), sig(row.get(f"{name}_high"), figures)
    spread = f"{low}–{high}" if row.get(f"{name}_low") is not None and low != high else ""
    return {"value": central, "range": spread}


def _payback(row: dict) -> str:
    years, low, high = row["payback_years"], row["payback_years_low"], row["payback_years_high"]
    if years is None and row["payback"].startswith("never"):
        why = row["payback"].split(":", 1)[1].split("(")[0].strip() if ":" in row["payback"] else ""
        text = f"Keep it: buying new never pays back{f' ({why})' if why else ''}"
        return text + (f"; at best after {sig(low)} years" if low is not None else "") + "."
    if years is None:
        return row["payback"][:1].upper() + row["payback"][1:] + "."
    spread = f" ({sig(low)}–{sig(high)})" if low is not None and high is not None else ""
    if spread and sig(low) == sig(high):
        spread = ""
    return f"Buying new pays back after about {sig(years)} years{spread}."


def readable(row: dict, query: dict, new) -> dict:
    """One candidate group as a person reads it: a sentence, figures to 2-3 significant
    figures, ranges only where they differ, and how many units can be reserved."""
    users = int(query.get("concurrency") or 1)
    total = row["tokens_per_s"]
    speed = _band(row, "tokens_per_s")
    words = []
    if total is not None:
        each = sig(total / users) if users > 1 else ""
        words.append(
            f"about {speed['value']} tokens/s shared by {users} users ({each} each)"
            if users > 1
            else f"about {speed['value']} tokens/s for one user"
        )
    if row["need_gib"] is not None and row["memory_gib"] is not None:
        fits = "fits" if row["fits"] else "does not fit"
        cards = f" on {row['n_devices']} cards" if row["n_devices"] > 1 else ""
        words.append(f"{fits}: needs {sig(row['need_gib'])} of {sig(row['memory_gib'])} GiB{cards}")
    elif row["reason"]:
        words.append(row["reason"])
    if row["embodied_avoided_kgco2e"] is not None and new is not None:
        words.append(
            f"saves {sig(row['embodied_avoided_kgco2e'])} kg CO2e of manufacturing against "
            f"{row['new_equivalent_devices']} × {new['name']}"
        )
    sentence = "; ".join(words)
    listed = [a["asset_tag"] for a in row["assets"]]
    return {
        **row,
        "sentence": sentence[:1].upper() + sentence[1:] + ("." if sentence else ""),
        "speed": speed,
        "speed_each": sig(total / users) if total is not None else "—",
        "users": users,
        "energy": _band(row, "joules_per_token_facility"),
        "carbon": _band(row, "kgco2e_per_mtok"),
        "avoided": _band(row, "embodied_avoided_kgco2e", 3),
        "replace": _payback(row),
        "listed_tags": ",".join(listed),
        "listed": len(listed),
        "reserve_default": min(len(listed), max(1, row["assets_per_group"])),
    }


def reuse_method_view(request):
    """docs/reuse.md as text, so the page's "how" link works wherever Circulus is deployed."""
    if not permissions.can_read(request.user):
        context = {**admin.site.each_context(request), "title": "Reuse candidates"}
        return TemplateResponse(request, TEMPLATE, {**context, "forbidden": True}, status=403)
    text = (Path(settings.DOCS_DIR) / "reuse.md").read_text(encoding="utf-8")
    context = {**admin.site.each_context(request), "title": "How reuse figures are made"}
    # The docs are ours (no user input); markdown-it escapes raw HTML by default.
    body = mark_safe(MarkdownIt("commonmark").enable("table").render(for_people(text)))  # noqa: S308
    return TemplateResponse(request, "admin/registry/reuse_method.html", {**context, "body": body})


_FENCE = re.compile(r"^```[^\n]*\n.*?^```\s*$", re.S | re.M)


def for_people(markdown: str) -> str:
    """The method without what is written for engineers: the sections on calling the API and
    on query speed, command lines and code blocks, and the document's own title."""
    kept, skip = [], False
    for line in markdown.splitlines():
        if line.startswith("# "):
            continue
        if line.startswith("## "):
            skip = line[3:].strip() in METHOD_SECTIONS_LEFT_OUT
        if not skip:
            kept.append(line)
    text = _FENCE.sub("", "\n".join(kept))
    return _no_paths(
        "\n".join(
            line for line in text.splitlines() if ".venv/bin" not in line and "GET /api" not in line
        )
    )


def _reserve(request):
    tags = [t for t in request.POST.getlist("asset_tags") if t]
    for key, listed in request.POST.items():  # "reserve N of M" per candidate group
        if key.startswith("tags_"):
            wanted = request.POST.get("reserve_" + key[5:], "0")
            count = int(wanted) if wanted.isdigit() else 0
            tags += [t for t in listed.split(",") if t][:count]
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
    messages.info(request, f"{done} of {len(outcomes)} asset(s) reserved for “{name}”.")
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
