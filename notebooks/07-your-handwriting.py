# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Your handwriting
#
# Draw a digit below with the mouse (or a pen, or a finger), or point `DIGITLAB_PHOTO` at a photo of your own;
# then run the cells after the canvas to see every stage from your pixels to the ten probabilities.
#
# **What this reproduces.** How MNIST itself was made — the ink cropped, its longest side scaled to 20 px, the
# digit placed in 28×28 by its centre of mass — applied to real images, and the shipped recognizer on them.
# **Published figures** (docs/benchmarks.md): 99.4% of single MNIST test digits read right when rendered as
# photos; 99.33% of test digits drawn on a canvas as the drawing page sends them.
#
# When nothing has been drawn (as when CI or `make notebooks` runs this notebook), a photo made from an MNIST
# test digit stands in for yours.

# %% tags=["parameters"]
import os

FAST = os.environ.get("DIGITLAB_FAST", "0") == "1"  # CI: 200 photos for the closing figure instead of 1,000
PHOTO = os.environ.get("DIGITLAB_PHOTO")  # a photo of your own handwriting, e.g. DIGITLAB_PHOTO=~/seven.jpg
print("mode:", "fast (DIGITLAB_FAST=1)" if FAST else "full", "| photo:", "yours" if PHOTO else "none given")

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from PIL import Image

import digitlab
from digitlab.data.datasets import load_dataset
from digitlab.vision import find_ink, read_image, to_mnist
from digitlab.vision.synthetic import photo_digit

model = digitlab.load("default")
mnist = load_dataset("mnist")

# %% [markdown]
# ## 1. Draw a digit
#
# Draw in the white square; the cells below read it. "clear" wipes it. (This needs a live kernel and the
# ipycanvas extension, which `make lab` provides; a saved notebook shows no canvas.)

# %%
from ipycanvas import Canvas
from ipywidgets import Button, VBox

canvas = Canvas(width=280, height=280, sync_image_data=True)
pen = {"last": None}


def clear(_=None) -> None:
    canvas.fill_style = "white"
    canvas.fill_rect(0, 0, canvas.width, canvas.height)
    canvas.stroke_style, canvas.line_width, canvas.line_cap = "black", 18, "round"


def down(x: float, y: float) -> None:
    pen["last"] = (x, y)


def move(x: float, y: float) -> None:
    if pen["last"] is not None:
        canvas.stroke_line(*pen["last"], x, y)
        pen["last"] = (x, y)


def up(x: float, y: float) -> None:
    pen["last"] = None


clear()
canvas.on_mouse_down(down)
canvas.on_mouse_move(move)
canvas.on_mouse_up(up)
canvas.on_mouse_out(up)
button = Button(description="clear")
button.on_click(clear)
display(VBox([canvas, button]))

# %% [markdown]
# ## 2. The image to read: your drawing, your photo, or a stand-in

# %%
def drawing() -> Image.Image | None:
    """The canvas as an RGB image, or None when nothing was drawn (or no browser has synced it)."""
    data = canvas.get_image_data() if canvas.image_data is not None else None
    if data is None or data[..., :3].min() > 200:
        return None
    return Image.fromarray(data[..., :3].astype(np.uint8))


source = drawing()
if source is not None:
    what = "your drawing"
elif PHOTO:
    source, what = Image.open(os.path.expanduser(PHOTO)), "your photo"
else:
    index = 8  # a test 5, drawn as a photo: dark pen on tinted paper, uneven light, JPEG
    source = photo_digit(mnist.test.images[index], np.random.default_rng(13))
    what = f"a stand-in photo of a test {mnist.test.labels[index]}"
print("reading", what, f"({source.width}x{source.height} pixels)")

# %% [markdown]
# ## 3. Every preprocessing stage
#
# 1. decode to grey (colour becomes luma, transparency white, EXIF rotation applied);
# 2. estimate the paper's level across the image (uneven light, tinted paper);
# 3. ink = how much darker than the paper each pixel is; the ink mask by Otsu's threshold;
# 4. crop to the ink's box;
# 5. scale the longest side to 20 px, place by centre of mass in 28×28: an MNIST digit.

# %%
decoded = read_image(source)
found = find_ink(decoded.grey)
crop = to_mnist(found)
box = crop.box
stages = [
    ("1. decoded, grey", decoded.grey, "gray"),
    ("2. paper level", np.asarray(found.paper), "gray"),
    ("3a. ink strength", found.ink, "gray_r"),
    ("3b. ink mask", found.mask, "gray_r"),
    ("4. cropped to the ink", decoded.grey[box.top:box.bottom, box.left:box.right], "gray"),
    ("5. 28x28, as MNIST", crop.image, "gray"),
]
fig, axes = plt.subplots(1, len(stages), figsize=(3 * len(stages), 3.2))
for ax, (title, image, cmap) in zip(axes, stages, strict=True):
    ax.imshow(image, cmap=cmap, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.axis("off")
axes[0].add_patch(plt.Rectangle((box.left, box.top), box.width, box.height, fill=False, ec="red", lw=1.5))
plt.show()
print(f"ink is {'dark on light' if found.dark_ink else 'light on dark'}; threshold {found.threshold:.2f}; "
      f"digit box {tuple(box)} in the image's pixels")

# %% [markdown]
# ## 4. The ten probabilities
#
# `digitlab.recognize` runs these stages and the shipped model; its `Reading` shows each crop with its
# probabilities.

# %%
reading = digitlab.recognize(source, model=model, multi=False)
reading

# %%
probs = np.asarray(reading.items[0].probs)
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.bar(range(10), probs, color=["tab:blue" if d == probs.argmax() else "lightgray" for d in range(10)])
ax.set(xticks=range(10), xlabel="digit", ylabel="probability", ylim=(0, 1), title=f"read as {reading.digits}")
plt.show()

# %% [markdown]
# ## Published and measured here
#
# The same pipeline on many photos made from MNIST test digits, as in docs/benchmarks.md.

# %%
n = 200 if FAST else 1000
rng = np.random.default_rng(2026)
right = sum(digitlab.recognize(photo_digit(mnist.test.images[i], rng), model=model, multi=False).digits
            == str(mnist.test.labels[i]) for i in range(n))
from IPython.display import Markdown  # noqa: E402

Markdown(f"""
| | published | measured here |
|---|---|---|
| single test digits rendered as photos, read right | 99.4% (1,000 photos) | {right / n:.1%} ({n:,} photos) |
| this notebook's image ({what}) | — | read **{reading.digits}**, p = {max(probs):.3f} |
""")
