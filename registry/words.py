"""What a person reads for what the ledger stores: labels for its codes, a sentence for each row,
and refusals in plain words. Pages, history and exports for people use these; the API keeps codes.
"""

import re
from decimal import Decimal, InvalidOperation

from hardware.models import WeeeCategory
from registry.lifecycle import (
    METALS,
    EventKind,
    RecyclerCertification,
    SanitisationMethod,
    State,
    Workload,
)

CHOICE_LABELS = {
    "workload": dict(Workload.choices),
    "to_workload": dict(Workload.choices),
    "from_workload": dict(Workload.choices),
    "certification": dict(RecyclerCertification.choices),
    "method": dict(SanitisationMethod.choices),
    "weee_category": dict(WeeeCategory.choices),
    "verification": {"passed": "passed", "failed": "failed"},
    "standard": {
        "nist-800-88-r1": "NIST SP 800-88 Rev. 1",
        "nist-800-88-r2": "NIST SP 800-88 Rev. 2",
        "ieee-2883": "IEEE 2883",
        "other": "another standard",
    },
}
METAL_SYMBOLS = {m: m.capitalize() if len(m) == 2 else m for m in METALS}
_STATES = {s.value: s.label.lower() for s in State}
_CODES = {**_STATES, **{k.value: f"“{k.label}”" for k in EventKind}}  # a kind, when both
_STATE_CODE = re.compile(r"(state|is|was) '([a-z0-9-]+)'")
_QUOTED_CODE = re.compile(r"'([a-z0-9-]+)'")
_BARE_CODE = re.compile(r"(?<![\w'-])([a-z]+(?:-[a-z0-9]+)+)(?![\w'-])")


def plain_words(message: str) -> str:
    """A refusal as a person reads it: event kinds and states by their labels, not their codes
    ("'recycled' is not allowed from state 'in-service'" → "“Recycled” is not allowed from state
    in service")."""
    text = _STATE_CODE.sub(
        lambda m: f"{m.group(1)} {_STATES[m.group(2)]}" if m.group(2) in _STATES else m.group(0),
        str(message),
    )
    text = _QUOTED_CODE.sub(lambda m: _CODES.get(m.group(1), m.group(0)), text)
    return _BARE_CODE.sub(lambda m: _CODES.get(m.group(1), m.group(0)).strip("“”"), text)


def label(name: str, value) -> str:
    return str(CHOICE_LABELS.get(name, {}).get(value, value))


def grams(value) -> str:
    """A mass in grams as it was reported, without trailing zeros (0.020 → 0.02)."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{number.normalize():f}"
    return text


def metals(recovered: dict) -> str:
    """{"au": "0.02", "cu": "2100"} → "Au 0.02 g, Cu 2100 g" (in the ledger's order of metals)."""
    return ", ".join(
        f"{METAL_SYMBOLS.get(m, m)} {grams(recovered[m])} g"
        for m in sorted(recovered, key=lambda m: METALS.index(m) if m in METALS else 99)
    )


# Per kind: fragments (text with {detail} fields), each said only when its details are there.
_SENTENCES = {
    EventKind.PURCHASED: [
        "Bought from {supplier}",
        " for {price} {currency}",
        " on {purchase_date}",
        ", order {order_ref}",
    ],
    EventKind.COMMISSIONED: ["Put into service for {workload}"],
    EventKind.REDEPLOYED: ["Redeployed from {from_workload}", " to {to_workload}"],
    EventKind.MOVED: [
        "Moved from {from_site}",
        " to {site}",
        ", room {room}",
        ", rack {rack}",
        ", U{position_u}",
    ],
    EventKind.AUDITED: [
        "Seen in audit {audit}",
        " at {seen_site}",
        ", room {seen_room}",
        ", rack {seen_rack}",
    ],
    EventKind.COMPONENT_INSTALLED: ["Installed in {parent}", ", slot {slot}"],
    EventKind.COMPONENT_REMOVED: ["Removed from {from_parent}"],
    EventKind.REPAIR_STARTED: ["Fault: {fault}", " (ticket {ticket_ref})"],
    EventKind.REPAIRED: ["Work done: {work_done}", " (ticket {ticket_ref})"],
    EventKind.DECOMMISSIONED: ["Reason: {reason}"],
    EventKind.RESERVED_FOR_REUSE: [
        "Reserved by {reserved_by}",
        " for {purpose}",
        " (request {request_ref})",
    ],
    EventKind.RESERVATION_RELEASED: ["Released: {reason}"],
    EventKind.SENT_TO_REFURBISHER: ["Sent to {refurbisher}", ", consignment {consignment_ref}"],
    EventKind.REFURBISHED: ["Grade {grade}", "; work done: {work_done}"],
    EventKind.SANITISED: [
        "{method}",
        " by {technique}",
        " with {tool}",
        " ({standard})",
        ", done by {performed_by}",
        "; verification {verification}",
        ", certificate {certificate_ref}",
    ],
    EventKind.SOLD: ["Sold to {counterparty}", " for {price} {currency}", ", {document_ref}"],
    EventKind.DONATED: ["Given to {counterparty}", ", {document_ref}"],
    EventKind.RETURNED: ["Returned to {counterparty}", " for {price}", ", {document_ref}"],
    EventKind.SENT_TO_RECYCLER: [
        "Sent to {recycler}",
        " (certification: {certification})",
        ", consignment {consignment_ref}",
    ],
    EventKind.RECYCLED: [
        "WEEE category {weee_category}",
        ", {weighed_mass_kg} kg weighed",
        ", certificate {certificate_ref}",
        "; recovered {recovered_g}",
    ],
    EventKind.LOST: ["{circumstances}"],
    EventKind.CORRECTION: ["Corrects event {corrects}", ": {reason}"],
}
_FIELD = re.compile(r"\{(\w+)\}")


def _value(name: str, value) -> str:
    if name == "recovered_g" and isinstance(value, dict):
        return metals(value)
    if name in ("workload", "to_workload", "from_workload"):
        return label(name, value).lower()
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')} {v}" for k, v in value.items())
    return label(name, value)


def describe(kind: str, details: dict) -> str:
    """One ledger row's details as a sentence ("Installed in NU-SRV-01, slot 3.")."""
    details = {k: v for k, v in (details or {}).items() if v not in (None, "", {}, [])}
    said, parts = set(), []
    for fragment in _SENTENCES.get(kind, []):
        names = _FIELD.findall(fragment)
        if names and all(n in details for n in names):
            parts.append(fragment.format(**{n: _value(n, details[n]) for n in names}))
            said.update(names)
    text = "".join(parts).lstrip(",; ")
    if "note" in details:
        note = str(details["note"])
        note = note[:1].upper() + note[1:]
        text = f"{text}. {note}" if text else note
        said.add("note")
    if "from_parent" in details and "from_parent" not in said:
        text += f"{'. ' if text else ''}Taken out of {details['from_parent']}"
        said.add("from_parent")
    rest = [f"{k.replace('_', ' ')}: {_value(k, v)}" for k, v in details.items() if k not in said]
    if rest:
        text = "; ".join([text, *rest]) if text else "; ".join(rest)
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    return f"{text}." if text and not text.endswith((".", ")")) else text
