"""The data layer: IDX files, verified MNIST acquisition, in-memory datasets.

Importing this package does not import torch (the NumPy model relies on that); the on-device
batch iterator lives in ``digitlab.data.batches``.
"""

from digitlab.data.datasets import DatasetSplits, Digits, data_root, load_dataset
from digitlab.data.idx import read_idx, write_idx

__all__ = ["Digits", "DatasetSplits", "data_root", "load_dataset", "read_idx", "write_idx"]
