"""Reading many images: one row per file (digits, confidence, per-digit probabilities, error) in Parquet or JSONL.

    from digitlab.batch import read_images
    read_images("scans/", "results.parquet")                                 # a process pool on this machine
    read_images("s3-mount/**/*.jpg", "results.parquet", engine="ray", address="auto")   # Ray Data

Engines: ``local`` (digitlab.batch.local) and ``ray`` (digitlab.batch.ray_engine); the row itself is made in
digitlab.batch.rows, the output file (resumable, atomic) in digitlab.batch.output. See docs/scale.md.
"""

from digitlab.batch.files import list_images
from digitlab.batch.run import BatchSummary, read_images

__all__ = ["BatchSummary", "list_images", "read_images"]
