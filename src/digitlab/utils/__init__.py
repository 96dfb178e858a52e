"""Plumbing shared by every part: atomic file writes, strict JSON, the console, optional extras, CPU threads."""
