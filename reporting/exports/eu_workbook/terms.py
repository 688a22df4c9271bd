"""The workbook's vocabulary: its schema version and variants, the Annex II field names and
units printed in its headers, the errors that refuse an export, and how a site's input is read."""

from decimal import Decimal

SCHEMA_VERSION = "circulus-eu-annual/2 (Delegated Regulation (EU) 2024/1364, 2026 amendment)"
RZREG = "de-rzreg"
VARIANTS = ("publish", "submit", RZREG)
VALIDATED = ("validated", "submitted")
ROUNDED = "0.00"
AUDIT = "0.0000000000"
# Annex III indicator → the Annex II inputs it is computed from (publish: withheld together).
INDICATOR_INPUTS = {
    "PUE": ("EDC", "EIT"),
    "WUE": ("WIN", "EIT"),
    "ERF": ("EREUSE", "EDC"),
    "REF": ("ERES-TOT", "EDC"),
}
MONTHLY_INPUTS = {"EDC", "EIT", "WIN", "EREUSE"}


class NotValidated(Exception):
    """Some selected site's period is not validated and `allow_unvalidated` was not given."""

    public = True  # its message is for the requester (circulus.jobs.public_error)


class MissingInputs(Exception):
    """A variant cannot be written: {site code: [missing field, …]} for that variant."""

    def __init__(self, variant: str, missing: dict[str, list[str]]):
        self.variant, self.missing = variant, missing
        listed = "; ".join(f"{code}: {', '.join(fields)}" for code, fields in missing.items())
        super().__init__(f"{variant} needs inputs that are missing — {listed}")


def input_value(site: dict, symbol: str) -> Decimal | None:
    """The value of one Annex II input of a site's gathered data (None: not reported)."""
    return (site["inputs"].get(symbol) or {}).get("value")
