"""Measurement scripts of dms_mm (not part of the installed package)."""
