"""Exports: the EU annual workbook, the e-waste report and the asset register."""
