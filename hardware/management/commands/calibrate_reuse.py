"""Fit the decode-speed model to the shipped measurements and store it in the catalogue."""

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from hardware import calibration, coverage, inference


class Command(BaseCommand):
    help = (
        "Fit the reuse decode model to hardware/catalogue/decode_measurements.csv; write the "
        "constants (with the data's SHA-256 and the date), the accuracy section of docs/reuse.md "
        "and its plots; size the range with range_measurements.csv and check the result against "
        "validation_measurements.csv, neither of them fitted."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="store_true",
            help="Write nothing; fail if the stored constants differ from a fresh fit.",
        )
        parser.add_argument(
            "--check-rows",
            metavar="FIRST-LAST",
            help="With --check: also print the range's coverage on the independent check's rows "
            "with ids FIRST to LAST only (one round of the check, e.g. 12001-13999).",
        )
        parser.add_argument(
            "--site-measurements",
            metavar="SITE",
            action="append",
            default=[],
            help="Also fit the recorded measurements of this site (repeat for more sites) and "
            "show the result; nothing is written.",
        )

    def handle(self, *args, **opts):
        rows = _id_range(opts["check_rows"]) if opts["check_rows"] else None
        if rows and not opts["check"]:
            raise CommandError("--check-rows reads the check only: give --check as well.")
        extra = []
        if opts["site_measurements"]:
            if not calibration.SITE_MEASUREMENT_READERS:
                raise CommandError("No application keeps site measurements here.")
            (read_site,) = calibration.SITE_MEASUREMENT_READERS
            extra = read_site(opts["site_measurements"])
        try:
            table = calibration.load_table(extra_rows=extra)
            validation = calibration.load_validation()
            published = calibration.load_range()
        except calibration.MeasurementError as exc:
            raise CommandError(
                f"Not calibrated, nothing was written ({len(exc.problems)} problem(s)):\n"
                + "\n".join(exc.problems)
            ) from exc
        result = calibration.calibrate(table, validation, published)
        old = calibration.stored()
        same = (
            old is not None
            and old.get("constants") == result["constants"]
            and old.get("data_sha256") == result["data_sha256"]
            and old.get("band") == result["band"]
            and (old.get("validation") or {}).get("data_sha256")
            == (result.get("validation") or {}).get("data_sha256")
            and (old.get("range") or {}).get("data_sha256")
            == (result.get("range") or {}).get("data_sha256")
        )
        cv, check = result["cv"], result.get("validation")
        summary = (
            f"{result['rows']} measurements, {len(result['gpus'])} GPUs; leave one GPU out: "
            f"median estimate/measured {cv['median_ratio']:.2f}, "
            f"{cv['share_within_35']:.0%} within ±35 %, worst {cv['worst_ratio']:.2f} — goal "
            + ("met" if cv["goal_met"] else "NOT met")
            + (
                f"; independent check ({check['rows']} rows never fitted): median "
                f"{check['median_ratio']:.2f}, {check['share_within_35']:.0%} within ±35 %, "
                f"worst {check['worst_ratio']:.2f}"
                if check
                else "; no independent check (validation_measurements.csv has no rows)"
            )
        )
        if extra:
            # The shipped constants estimate every site's candidates; a site's runs are used only
            # at that site (docs/reuse.md), so a fit that includes them is shown, never stored.
            self.stdout.write(
                f"Fitted with {len(extra)} measurement(s) of "
                f"{', '.join(opts['site_measurements'])}: {summary}\n"
                "  nothing written: the shipped constants serve every site."
            )
            return
        if opts["check"]:
            if not same:
                raise CommandError(
                    "The stored calibration differs from a fresh fit of the shipped data: "
                    "run `calibrate_reuse` and commit its output."
                )
            self.stdout.write(self.style.SUCCESS(f"Stored calibration is current. {summary}"))
            self.stdout.write("\n".join(calibration.coverage_lines(result)))
            if rows:
                self.stdout.write("\n".join(calibration.round_lines(result, *rows)))
            return
        fitted_on = old["fitted_on"] if same else dt.datetime.now(dt.UTC).date().isoformat()
        inference.CALIBRATION_FILE.write_text(
            calibration.to_json(result, fitted_on), encoding="utf-8"
        )
        docs = Path(settings.DOCS_DIR)
        (docs / "reuse-calibration.svg").write_text(
            calibration.plot_svg(
                result["_cv_rows"], "Decode tokens/s: estimate (GPU left out) vs measured"
            ),
            encoding="utf-8",
        )
        if check:
            (docs / "reuse-validation.svg").write_text(
                calibration.plot_svg(
                    check["_rows"],
                    "Decode tokens/s: estimate vs independent measurement (never fitted)",
                    y_label="estimated tokens/s (shipped constants)",
                ),
                encoding="utf-8",
            )
        (docs / "reuse-coverage.svg").write_text(
            coverage.plot_svg(result["coverage"]), encoding="utf-8"
        )
        page = docs / "reuse.md"
        page.write_text(
            calibration.replace_docs_block(
                page.read_text(encoding="utf-8"), calibration.docs_block(result, fitted_on)
            ),
            encoding="utf-8",
        )
        inference.calibration.cache_clear()
        self.stdout.write(self.style.SUCCESS(f"Calibrated: {summary}"))
        self.stdout.write(
            f"  wrote {inference.CALIBRATION_FILE.name}, docs/reuse.md, "
            "docs/reuse-calibration.svg, docs/reuse-validation.svg, "
            "docs/reuse-coverage.svg"
        )


def _id_range(text: str) -> tuple[int, int]:
    first, sep, last = text.partition("-")
    try:
        first_id, last_id = int(first), int(last)
    except ValueError:
        first_id = last_id = -1
    if not sep or first_id < 0 or last_id < first_id:
        raise CommandError(
            f"--check-rows '{text}': give the first and the last row id, e.g. 12001-13999."
        )
    return first_id, last_id
