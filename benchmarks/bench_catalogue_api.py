"""Catalogue API list vs the bare ORM query it wraps (serialisation + auth + filter overhead)."""

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from benchmarks.harness import timed, vendor
from hardware.models import HardwareModel


def run(quick: bool) -> dict:
    repeat = 5 if quick else 50
    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    client = APIClient()
    client.force_authenticate(user)

    def api_list():
        response = client.get("/api/hardware-models/", {"kind": "accelerator"})
        assert response.status_code == 200
        return response

    def bare():
        return list(HardwareModel.objects.filter(kind="accelerator").values())

    api_s, _ = timed(api_list, repeat=repeat)
    bare_s, _ = timed(bare, repeat=repeat)
    ratio = api_s / bare_s
    return {
        "ratio": ratio,
        "lines": [
            f"{vendor()}: API list {api_s * 1000:.1f} ms, bare ORM {bare_s * 1000:.1f} ms, "
            f"ratio {ratio:.1f}x (informational, no goal)"
        ],
    }
