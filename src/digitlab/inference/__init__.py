"""Inference: the classifier and its runtimes (torch, NumPy, ONNX Runtime, ensemble), model files on disk, and
the input normalisation every path shares."""
