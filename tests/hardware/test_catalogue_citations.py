"""The catalogue cites the sources it was read in, by name, and a reworded citation reaches a
database loaded before: the migration that dropped the working note's section numbers rewrites
the stored citations by the same rule, so the next load finds them unchanged."""

import importlib

import pytest
from django.apps import apps

from hardware.models import FigureSource, Source
from hardware.services import CATALOGUE_DIR, load_catalogue

pytestmark = pytest.mark.django_db
migration = importlib.import_module("hardware.migrations.0007_primary_source_citations")


def test_no_catalogue_file_cites_a_note_outside_the_product():
    for path in sorted(CATALOGUE_DIR.iterdir()):
        assert "circular.md" not in path.read_text(encoding="utf-8"), path.name


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            "V100 SXM2 announcement (techrival), via circular.md §3.2",
            "V100 SXM2 announcement (techrival)",
        ),
        (
            "boaviztapi gpu_specs.csv (GPU board masses), via circular.md §1.5 (T4 product brief)",
            "boaviztapi gpu_specs.csv (GPU board masses); T4 product brief",
        ),
        (
            "grokipedia: L4 vs L40S, via circular.md §3.2; launch unconfirmed",
            "grokipedia: L4 vs L40S; launch unconfirmed",
        ),
        (
            "Boavizta model, via circular.md §1.6b, component results",
            "Boavizta model, component results",
        ),
        (
            "WEEE Annex III: > 50 cm → category 4 (circular.md §2.2)",
            "WEEE Annex III: > 50 cm → category 4",
        ),
        ("circular.md §3.3: config [C] (oumi recipes)", "config [C] (oumi recipes)"),
        ("board share of the unit; circular.md §1.1-1.2", "board share of the unit"),
        ("dies and traces; circular.md §1.3, §1.4", "dies and traces"),
        ("launch months, circular.md §1.5 (T4 Sep 2018)", "launch months; T4 Sep 2018"),
        ("a citation without the note", "a citation without the note"),
    ],
)
def test_the_rule_keeps_the_primary_source(before, after):
    assert migration.primary(before) == after


OLD = ["Boavizta default hours_life_time 35,040 h (4 years)", "sysrqmts A10 listing"]


def test_a_database_loaded_with_the_old_citations_reloads_without_a_change():
    load_catalogue()
    kept = Source.objects.get(citation=OLD[0])
    # As a database loaded before the rewrite holds them: the same rows, the old texts.
    for citation in OLD:
        Source.objects.filter(citation=citation).update(
            citation=f"{citation}, via circular.md §3.2"
        )
    # Another old text of the first source (another section of the note): the two become one.
    twin = Source.objects.create(citation=f"{OLD[0]}, via circular.md §0", url=kept.url)
    FigureSource.objects.filter(pk=FigureSource.objects.filter(source=kept).first().pk).update(
        source=twin
    )
    ids = set(Source.objects.values_list("id", flat=True)) - {twin.pk}

    migration.rewrite(apps, None)

    assert not Source.objects.filter(citation__contains="circular.md").exists()
    assert set(Source.objects.values_list("id", flat=True)) == ids
    history = FigureSource.history.count()
    report = load_catalogue()
    assert (report.created, report.updated, report.sources_written) == (0, 0, 0)
    assert FigureSource.history.count() == history
    assert set(Source.objects.values_list("id", flat=True)) == ids
    assert set(Source.objects.filter(citation__in=OLD).values_list("citation", flat=True)) == set(
        OLD
    )
