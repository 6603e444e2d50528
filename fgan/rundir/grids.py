"""Pictures of samples: image grids as PNG, toy samples as scatter plots."""

from __future__ import annotations

import os
import pathlib

import numpy as np
from PIL import Image


def image_grid(images: np.ndarray, rows: int) -> np.ndarray:
  """(N, H, W, C) in [-1, 1] -> one uint8 (rows*H, cols*W, C) grid, 1px gaps.

  Args:
    images: (N, H, W, C) in [-1, 1].
    rows: the grid's rows.

  Returns:
    The grid.
  """
  images = np.asarray(images, np.float32)
  n, h, w, c = images.shape
  cols = int(np.ceil(n / rows))
  grid = np.zeros((rows * (h + 1) - 1, cols * (w + 1) - 1, c), np.uint8)
  pix = np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
  for i in range(n):
    r, q = divmod(i, cols)
    grid[r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = pix[i]
  return grid


def save_samples(path, samples: np.ndarray, reference: np.ndarray | None = None,
                 rows: int | None = None) -> pathlib.Path:
  """Write samples as a PNG, atomically (a full disk leaves no torn file): an
  image grid for images; a scatter (2-D) or a histogram (1-D) of samples
  over the reference data for vectors.

  Args:
    path: the PNG file.
    samples: (N, H, W, C) images in [-1, 1], or (N, d) vectors.
    reference: (M, d) data vectors drawn beneath, or None.
    rows: the grid's rows (default: sqrt N).

  Returns:
    ``path``.

  Raises:
    OSError: the file could not be written.
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.png")
  try:
    _draw(tmp, np.asarray(samples), reference, rows)
    os.replace(tmp, path)
  finally:
    tmp.unlink(missing_ok=True)
  return path


def _draw(path, samples, reference, rows) -> None:
  if samples.ndim == 4:
    grid = image_grid(samples, rows or int(np.sqrt(len(samples))))
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)
    return
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
  if samples.shape[-1] == 1:
    bins = np.linspace(np.min(samples) - 1, np.max(samples) + 1, 80)
    if reference is not None:
      ax.hist(np.asarray(reference)[:, 0], bins, density=True, alpha=0.5, label="data")
    ax.hist(samples[:, 0], bins, density=True, alpha=0.5, label="model")
    ax.legend()
  else:
    if reference is not None:
      ax.scatter(*np.asarray(reference)[:, :2].T, s=2, alpha=0.3, label="data")
    ax.scatter(*samples[:, :2].T, s=2, alpha=0.5, label="model")
    ax.set_aspect("equal")
    ax.legend(loc="upper right")
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
