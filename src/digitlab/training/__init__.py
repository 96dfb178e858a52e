"""Training: recipes (what to train), the torch engine and the NumPy fit (one ``fit`` protocol), the run
directory (config, metrics, checkpoint, report) and the report.

Named ``training`` rather than ``train`` so that ``digitlab.train`` stays the API function.
"""
