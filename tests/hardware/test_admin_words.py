"""The catalogue in words: the maker named once, figure sources chosen by the figure's name."""

from django.contrib import admin
from django.test import RequestFactory

from hardware.admin import FigureSourceInline
from hardware.models import FigureSource, HardwareModel
from tests import factories


def test_the_makers_name_is_said_once(db):
    nvidia = factories.manufacturer("NVIDIA")
    doubled = factories.hardware_model("test-l40s", manufacturer=nvidia, name="NVIDIA Test L40S")
    plain = factories.hardware_model("test-l4", manufacturer=nvidia, name="Test L4 24 GB")
    assert str(doubled) == "NVIDIA Test L40S" and str(plain) == "NVIDIA Test L4 24 GB"


def test_figure_source_choices_name_the_figure_and_its_unit(db, admin_user):
    inline = FigureSourceInline(HardwareModel, admin.site)
    request = RequestFactory().get("/")
    request.user = admin_user
    field = inline.formfield_for_choice_field(FigureSource._meta.get_field("field"), request)
    labels = dict(field.choices)
    assert labels["tdp_w"] == "TDP (W)" and labels["au_g"] == "Au (g)"
    assert not [v for v, label in labels.items() if v and label == v]  # no bare column names
