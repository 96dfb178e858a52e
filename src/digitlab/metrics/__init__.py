"""Measuring a classifier: accuracy, confusion, per-class figures, and the plots of them."""
