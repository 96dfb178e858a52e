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
# # 03 · Seed 003: the PyTorch 2.0 book's MLPs
#
# **What the seed did.** A chapter of a PyTorch 2.0 book: MNIST saved as NumPy files (`x_train.npy`,
# `y_train_label.npy`, ...), an MLP 784 → 312 → ReLU → 256 → ReLU → 10 trained with Adam at lr 2e-5, batch 320,
# 20 epochs, through `torch.compile`, with a progress bar per epoch; and a "BP" network 784 → 512 → 256 → 10
# with SGD 0.01, batch 64, 5 epochs. **Published figure: none — "the loss falls and the accuracy rises".**
#
# Here: the npy files as the book reads them, both networks by digitlab's `seed-003` and `seed-003-bp` recipes
# with their progress bars, and the figures the book did not print.

# %% tags=["parameters"]
import os

FAST = os.environ.get("DIGITLAB_FAST", "0") == "1"  # CI: 5,000 images, 2 epochs, no compiling
print("mode:", "fast (DIGITLAB_FAST=1)" if FAST else "full")

# %%
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown

import digitlab

RUNS = Path("runs") / "03-seed-003"
shutil.rmtree(RUNS, ignore_errors=True)

# %% [markdown]
# ## 1. The npy files, as the book reads them
#
# `digitlab data export --format npy --out arrays/` writes the verified MNIST splits under the book's names.

# %%
subprocess.run([sys.executable, "-m", "digitlab", "data", "export", "--format", "npy", "--out", "arrays"],
               check=True, capture_output=True)
for name in sorted(os.listdir("arrays")):
    array = np.load(Path("arrays") / name)
    print(f"{name:20s} {str(array.shape):16s} {array.dtype}  min {array.min()}  max {array.max()}")

# %%
x_train = np.load("arrays/x_train.npy")  # the book: x_train = np.load("../dataset/mnist/x_train.npy")
y_train_label = np.load("arrays/y_train_label.npy")
digitlab.show(x_train[:24], labels=y_train_label[:24], title="x_train.npy, first 24")

# %% [markdown]
# ## 2. The 312-256 MLP: `seed-003`
#
# The book feeds raw pixels scaled to [0, 1] (no normalisation), Adam 2e-5, batch 320, 20 epochs, compiled.
# `progress=True` draws a bar per epoch (loss, accuracy, images/s), as the book's `tqdm` loop did.

# %%
quick = {"epochs": 2, "limit": 5000, "compile": False} if FAST else {}
mlp = digitlab.train(recipe="seed-003", run_dir=RUNS / "seed-003", progress=True, **quick)

# %%
mlp

# %% [markdown]
# ## 3. The BP net: `seed-003-bp`
#
# 784 → 512 → ReLU → 256 → ReLU → 10, plain SGD 0.01, batch 64, 5 epochs.

# %%
quick_bp = {"epochs": 2, "limit": 5000} if FAST else {}
bp = digitlab.train(recipe="seed-003-bp", run_dir=RUNS / "seed-003-bp", progress=True, **quick_bp)
bp

# %% [markdown]
# ## 4. "The loss falls, the accuracy rises"

# %%
fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.5))
for run, name in ((mlp, "312-256 MLP, Adam 2e-5"), (bp, "BP net 512-256, SGD 0.01")):
    epochs = [h["epoch"] for h in run.history]
    loss_ax.plot(epochs, [h["train_loss"] for h in run.history], "o-", ms=3, label=name)
    acc_ax.plot(epochs, [100 * h["val_acc"] for h in run.history], "o-", ms=3, label=name)
loss_ax.set(xlabel="epoch", ylabel="training loss", title="loss")
acc_ax.set(xlabel="epoch", ylabel="validation accuracy (%)", title="accuracy")
for ax in (loss_ax, acc_ax):
    ax.grid(alpha=0.3)
    ax.legend()
plt.show()
falls = all(b["train_loss"] < a["train_loss"] for a, b in zip(mlp.history[:-1], mlp.history[1:], strict=True))
print("the 312-256 MLP's training loss fell every epoch:", falls)

# %% [markdown]
# ## Published and measured here

# %%
mode = "fast mode: 5,000 images, 2 epochs, eager" if FAST else "full recipes"
Markdown(f"""
| | the book | measured here ({mode}) |
|---|---|---|
| 312-256 MLP, Adam 2e-5, {len(mlp.history)} epochs | loss falls, accuracy rises (no figure) | \
test **{mlp.test_acc:.2%}**; loss {mlp.history[0]['train_loss']:.3f} → {mlp.history[-1]['train_loss']:.3f} |
| BP net, SGD 0.01, {len(bp.history)} epochs | loss falls, accuracy rises (no figure) | \
test **{bp.test_acc:.2%}**; loss {bp.history[0]['train_loss']:.3f} → {bp.history[-1]['train_loss']:.3f} |
""")
