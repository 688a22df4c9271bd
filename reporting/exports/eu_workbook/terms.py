"""The workbook's vocabulary: its schema version and variants, the Annex II field names and
units printed in its headers, the errors that refuse an export, and how a site's input is read."""

from decimal import Decimal

from reporting import indicators as ind

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

# Annex II fields: symbol → exact name (regulation) for the column headers.
NAMES = {
    "PDIT": "Installed information technology power demand",
    "SDC": "Data centre total floor area",
    "SCR": "Data centre computer room floor area",
    "EDC": "Total energy consumption",
    "EDC-BG": "Total energy consumption from back-up generators",
    "EIT": "Total energy consumption of information technology equipment",
    "CBTG": "Average battery capacity",
    "WIN": "Total water input",
    "WIN-POT": "Total potable water input",
    "EREUSE": "Waste heat reused",
    "TWH": "Average waste heat temperature",
    "TIN": "Average setpoint information technology equipment intake air temperature",
    "CDD": "Cooling degree days",
    "ERES-TOT": "Total renewable energy consumption",
    "ERES-GOO": "Total renewable energy consumption from Guarantees of Origin",
    "ERES-PPA": "Total renewable energy consumption from Power Purchasing Agreements",
    "ERES-OS": "Total renewable energy consumption from on-site renewables",
    "CSERV": "ICT capacity for servers",
    "CSTOR": "ICT capacity for storage equipment",
    "BIN": "Incoming traffic bandwidth",
    "BOUT": "Outgoing traffic bandwidth",
    "TIN-TRAFFIC": "Incoming data traffic",
    "TOUT": "Outgoing data traffic",
    "WIN-FRE": "Total freshwater input",
}
# Printed symbols where ours differ (the regulation prints TIN twice: II.1(l) and II.3(c)).
PRINTED = {"CBTG": "CBtG", "TIN-TRAFFIC": "TIN"}
UNITS = {"degree-days": "degree-days, base 21 °C", "SERT score": "SERT active-state performance"}


class NotValidated(Exception):
    """Some selected site's period is not validated and `allow_unvalidated` was not given."""

    public = True  # its message is for the requester (reporting.jobs.public_error)


class MissingInputs(Exception):
    """A variant cannot be written: {site code: [missing field, …]} for that variant."""

    def __init__(self, variant: str, missing: dict[str, list[str]]):
        self.variant, self.missing = variant, missing
        listed = "; ".join(f"{code}: {', '.join(fields)}" for code, fields in missing.items())
        super().__init__(f"{variant} needs inputs that are missing — {listed}")


def header(symbol: str) -> str:
    ref, unit = ind.ALL_SYMBOLS[symbol]
    return f"{ref} {PRINTED.get(symbol, symbol)} — {NAMES[symbol]} [{UNITS.get(unit, unit)}]"


def input_value(site: dict, symbol: str) -> Decimal | None:
    """The value of one Annex II input of a site's gathered data (None: not reported)."""
    return (site["inputs"].get(symbol) or {}).get("value")
