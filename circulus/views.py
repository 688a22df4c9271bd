"""The front door: what Circulus is and where each role goes next; a login for every user."""

import re

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse
from django.shortcuts import render
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.exceptions import NotAuthenticated
from rest_framework.routers import APIRootView

from hardware import permissions as hardware_policy
from registry import permissions as registry_policy
from reporting import permissions as reporting_policy

# Which pages of docs/ each role reads first (a user in several groups gets them all).
ROLE_DOCS = {
    "operator": ("registry-admin", "registry", "eu-reporting"),
    "procurement": ("reuse", "hardware-catalogue", "registry"),
    "auditor": ("eu-reporting", "exports", "registry"),
    "catalogue-editor": ("hardware-catalogue", "registry"),
    "superuser": ("operations", "connectors", "registry-admin", "eu-reporting", "exports"),
}
EVERYONE_DOCS = ("quickstart", "concepts")
DOC_TITLES = {
    "quickstart": "Quick start",
    "concepts": "Concepts: the data model in a page",
    "registry-admin": "The registry admin: a day of data entry",
    "registry": "Registry: states, events, ledger rules",
    "eu-reporting": "EU reporting: meters, readings, indicators",
    "exports": "Exports: the EU workbook, e-waste report, asset register",
    "reuse": "Reuse candidates for procurement",
    "hardware-catalogue": "The hardware catalogue",
    "operations": "Operations: running, deploying, scaling",
    "connectors": "Connectors: Redfish, Prometheus and SNMP sources",
}
DOC_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


def roles_of(user) -> list[str]:
    if not user.is_authenticated:
        return []
    roles = sorted(user.groups.filter(name__in=ROLE_DOCS).values_list("name", flat=True))
    return (["superuser"] if user.is_superuser else []) + roles


def admin_areas(user) -> list[str]:
    """The admin pages this user can open, in the words of the front door's link. The model
    permissions say which pages a role sees; the policies say what it sees there."""
    if not (user.is_authenticated and user.is_staff):
        return []
    areas = []
    if hardware_policy.can_read(user) and user.has_perm("hardware.view_hardwaremodel"):
        areas.append("hardware catalogue")
    if registry_policy.can_read(user):
        if user.has_perm("registry.view_asset"):
            areas += ["assets", "events"]
        areas.append("reuse candidates")
    if registry_policy.may_record_somewhere(user) or reporting_policy.may_write_somewhere(user):
        areas.append("imports")
    if reporting_policy.can_read(user):
        areas += ["reporting periods", "exports"]
    return areas


def home(request):
    roles = roles_of(request.user)
    names = list(dict.fromkeys(n for role in roles for n in ROLE_DOCS[role]))
    names += [n for n in EVERYONE_DOCS if n not in names]
    docs = [(name, DOC_TITLES.get(name, name)) for name in names if _doc_path(name)]
    context = {
        "roles": roles,
        "docs": docs,
        "admin_allowed": request.user.is_authenticated and request.user.is_staff,
        "admin_areas": admin_areas(request.user),
    }
    return render(request, "circulus/home.html", context)


def _doc_path(name: str):
    if not DOC_NAME.match(name):
        return None
    path = settings.DOCS_DIR / f"{name}.md"
    return path if path.is_file() else None


def doc(request, name: str):
    """A page of docs/ as the Markdown it is written in (readable as plain text)."""
    path = _doc_path(name)
    if path is None:
        raise Http404("no such page")
    return HttpResponse(path.read_text(encoding="utf-8"), content_type="text/plain; charset=utf-8")


class SwaggerOrLogin(SpectacularSwaggerSplitView):
    """The interactive API docs; a visitor who is not signed in logs in first and comes back.

    The split view serves its script from a URL, so the Content-Security-Policy needs no inline
    script."""

    takes_empty_query_parameters = True  # its page loads its script from `?script=`

    def handle_exception(self, exc):
        # Nobody signed in (the API's own authentication ran and found no one): a browser goes to
        # the login page; a client that sent credentials gets the API's own answer.
        if isinstance(exc, NotAuthenticated) and "HTTP_AUTHORIZATION" not in self.request.META:
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)


class ApiRoot(APIRootView):
    """Every collection of the Circulus API; the interactive reference is at /api/docs/."""
