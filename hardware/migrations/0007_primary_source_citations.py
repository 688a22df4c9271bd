"""Catalogue citations name the source they were read in, not a working note that cited it.

The catalogue's CSV files once cited "circular.md §n" (a working note, not part of the product)
beside ~200 sources, "…, via circular.md §3.2" in sources.csv. The files now name the primary
source alone; this migration rewrites the stored citations by the same rule, so the next
`load_catalogue` finds them unchanged (same sources, no new rows, no history) instead of creating
new sources beside the old texts.
"""

import re

from django.db import migrations

SECTION = r"circular\.md §[0-9a-z.–-]+(?:, §[0-9a-z.–-]+)*"
RULES = (
    (re.compile(rf" \({SECTION}\)"), ""),  # "… 50 cm → category 6 (circular.md §2.2)"
    (re.compile(rf'(?:(?<=")|^){SECTION}: '), ""),  # '"circular.md §3.3: config [C] …'
    # "…, via circular.md §1.5 (T4 product brief)": the parenthesis names the primary source.
    (
        re.compile(rf"[,;] (?:via )?{SECTION}(?: \(([^)]*)\))?"),
        lambda m: f"; {m[1]}" if m[1] else "",
    ),
)


def primary(text: str) -> str:
    """`text` without its references to circular.md (a working note, not part of the product);
    what they named in parentheses stays, after a semicolon. The rule that rewrote the
    catalogue's CSV files (hardware/catalogue/)."""
    for pattern, replacement in RULES:
        text = pattern.sub(replacement, text)
    return text


def rewrite(apps, schema_editor):
    Source = apps.get_model("hardware", "Source")
    FigureSource = apps.get_model("hardware", "FigureSource")
    DecodeMeasurement = apps.get_model("hardware", "DecodeMeasurement")
    # Oldest first: where two old texts become one, the older row (and its id) stays.
    for source in Source.objects.filter(citation__contains="circular.md").order_by("pk"):
        text = primary(source.citation)
        same = Source.objects.filter(citation=text, url=source.url).exclude(pk=source.pk).first()
        if same is None:
            Source.objects.filter(pk=source.pk).update(citation=text)
            continue
        # Two notes cited one source: keep one row for it.
        FigureSource.objects.filter(source=source).update(source=same)
        DecodeMeasurement.objects.filter(source=source).update(source=same)
        source.delete()


class Migration(migrations.Migration):
    dependencies = [("hardware", "0006_decode_measurement_role")]

    operations = [migrations.RunPython(rewrite, migrations.RunPython.noop)]
