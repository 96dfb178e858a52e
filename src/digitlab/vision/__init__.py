"""Reading digits from real images: decode, find the ink, normalise to MNIST, split numbers.

    decoded = read_image("photo.jpg", max_side=WORK_SIDE)  # any format; ImageError on bad input
    box, image28 = to_mnist(decoded.grey)                  # one digit, as MNIST was made
    digits = segment(decoded.grey)                         # a number: [(box, image28), ...] left to right
    digits = extract_digits(decoded.grey)                  # either, whichever the ink looks like
    box.scaled(decoded.scale)                              # a box in the full photo's pixels

No torch here: the model is applied by the caller.
"""

from digitlab.vision.decode import DEFAULT_MAX_PIXELS, DecodedImage, as_grey, load_image, read_image
from digitlab.vision.ink import WORK_SIDE, Box, InkImage, find_ink
from digitlab.vision.preprocess import DigitCrop, normalize_digit, to_mnist
from digitlab.vision.segmentation import extract_digits, looks_multi, segment

__all__ = [
    "DEFAULT_MAX_PIXELS", "WORK_SIDE", "Box", "DecodedImage", "DigitCrop", "InkImage",
    "as_grey", "extract_digits", "find_ink", "load_image", "looks_multi", "normalize_digit", "read_image",
    "segment", "to_mnist",
]
