"""Timing helpers, baselines and load generators behind `digitlab bench` (importable from an installed wheel)."""
