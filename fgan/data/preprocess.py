"""Image preprocessing as papers state it: a center crop, a resize to the
model's side with a named filter, and a random horizontal flip.

Crop and resize run once, when a dataset's cache is built (the cached
images are uint8, scaled to [-1, 1] inside the train step); the flip runs in
the train step, drawn from the step's key, so the batch at step t stays a
function of (seed, t). Resizing is computed on the CPU whatever the default
backend (jax.image.resize, antialiased when shrinking), so a GPU run trains
on the bytes a CPU run does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from fgan import errors

# data.resize_filter -> jax.image.resize's method (antialiased when
# shrinking: the triangle, Keys cubic or Lanczos kernel stretched by the
# scale, as PIL and tf.image.resize(antialias=True) compute them).
FILTERS = {"bilinear": "linear", "bicubic": "cubic", "lanczos3": "lanczos3"}
# fold_in(key, FLIP_STREAM): the flips' key, apart from the key's other uses.
FLIP_STREAM = 2**31 - 7


def crop_box(height: int, width: int, crop: float) -> tuple[int, int, int]:
  """The center square that data.crop names.

  Args:
    height, width: the image's size.
    crop: > 1, a square of that many pixels; in (0, 1], that fraction of the
      shorter side (rounded).

  Returns:
    (top, left, side) of the square.

  Raises:
    errors.DataIntegrityError: the image is smaller than the crop.
  """
  side = int(round(crop)) if crop > 1 else int(round(crop * min(height, width)))
  if side > min(height, width):
    raise errors.DataIntegrityError(
        f"an image of {height}x{width} is smaller than the {side}x{side} crop")
  return (height - side) // 2, (width - side) // 2, side


def crop_and_resize(images: np.ndarray, crop: float, side: int, filter_name: str) -> np.ndarray:
  """Center-crop, then resize, a chunk of equal-sized images (without a
  crop a non-square image is resized to a square, as before cropping
  existed).

  Args:
    images: (N, H, W, C) uint8.
    crop: data.crop (0 = none).
    side: data.resize (0 = the cropped size).
    filter_name: a key of FILTERS.

  Returns:
    (N, side, side, C) uint8 (rounded, clipped).
  """
  if crop:
    top, left, size = crop_box(images.shape[1], images.shape[2], crop)
    images = images[:, top:top + size, left:left + size]
  if not side or images.shape[1:3] == (side, side):
    return np.ascontiguousarray(images)
  return _resize(images, side, FILTERS[filter_name])


def _resize(images: np.ndarray, side: int, method: str, chunk: int = 2048) -> np.ndarray:
  @jax.jit
  def resize(x):
    y = jax.image.resize(x.astype(jnp.float32), (x.shape[0], side, side, x.shape[3]), method)
    return jnp.clip(jnp.round(y), 0, 255).astype(jnp.uint8)

  cpu = jax.local_devices(backend="cpu")[0]
  return np.concatenate([np.asarray(resize(jax.device_put(images[i:i + chunk], cpu)))
                         for i in range(0, len(images), chunk)])


def random_flip(images: jax.Array, key: jax.Array, groups: range) -> jax.Array:
  """Each image mirrored left to right with probability 1/2.

  The flips of a global batch are drawn per data group (data.shards), as
  its rows are (fgan.data.images.group_indices), so a host holding some of
  the groups flips its rows exactly as a single host would.

  Args:
    images: (N, H, W, C), the rows of ``groups`` in order, N / len(groups)
      each.
    key: the batch's key (the flips of group g use fold_in(fold_in(key,
      FLIP_STREAM), g)).
    groups: the groups the rows come from.

  Returns:
    The images, some flipped.
  """
  rows = images.shape[0] // len(groups)
  key = jax.random.fold_in(key, FLIP_STREAM)
  flip = jnp.concatenate([jax.random.bernoulli(jax.random.fold_in(key, g), 0.5, (rows,))
                          for g in groups])
  return jnp.where(flip[:, None, None, None], images[:, :, ::-1], images)


def check(data_config) -> None:
  """data.crop, .resize_filter and .flip.

  Args:
    data_config: config.data.

  Raises:
    errors.ConfigError: naming the field and the fix.
  """
  crop = data_config.crop
  if not (isinstance(crop, (int, float)) and not isinstance(crop, bool) and crop >= 0):
    raise errors.ConfigError(f"config.data.crop = {crop!r} must be 0 (no crop), a fraction "
                             "in (0, 1] of the shorter side, or a size in pixels > 1.")
  if crop > 1 and crop != int(crop):
    raise errors.ConfigError(f"config.data.crop = {crop} must be a whole number of pixels "
                             "when it is > 1.")
  errors.check_choice("data.resize_filter", data_config.resize_filter, tuple(FILTERS))
