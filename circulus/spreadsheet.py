"""Formula injection: the one rule every export door follows (the export jobs' CSV and XLSX, the
admin's asset export, the commands), so a text a user typed never runs as a formula in the
spreadsheet that opens it."""

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

# OWASP CSV Injection: the characters a spreadsheet reads as the start of a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """A text value safe to put in a spreadsheet cell: formula triggers get a leading quote."""
    if text and text[0] in FORMULA_TRIGGERS:
        return "'" + text
    return text


def printable(text: str) -> str:
    """`text` with the control characters an XLSX cell cannot hold (openpyxl refuses them)
    shown as U+FFFD, so a stray byte a user typed never fails a whole workbook."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)
