"""Pages of the registry outside the admin and the API."""

from urllib.parse import urlencode

from django.http import HttpResponseRedirect
from django.urls import reverse


def asset_by_tag(request, tag: str):
    """A scanned label opens the asset's page: the asset list searched for the exact tag opens
    that unit for whoever may see it (and asks anyone else to sign in), so this address tells
    nobody whether a tag exists."""
    return HttpResponseRedirect(
        reverse("admin:registry_asset_changelist") + "?" + urlencode({"q": tag})
    )
