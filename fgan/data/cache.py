"""A dataset split preprocessed once into plain arrays on disk.

A cache is a folder under $FGAN_DATA_DIR/cache named for the dataset, the
split and a hash of where the data comes from and how it is preprocessed
(crop, resize, filter): images.npy (uint8 (N, H, W, C), read whole or
memory-mapped), labels.npy (int64, where the dataset has labels) and
info.json, written last. It is built in pieces, so a dataset larger than
memory never has to fit in it, and each piece is checked as it comes:
images of one channel count, none smaller than the crop, one size (after
the crop) where they are resized or stacked. info.json records the source's
identity, content_sha256 (of the raw examples) and preprocessed_sha256 (of
the cached arrays: the training set's identity). A cache read whole is
verified against preprocessed_sha256; a damaged one is said and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil

import numpy as np

from fgan.data import files
from fgan.data import preprocess
from fgan.errors import DataIntegrityError

CHUNK = 1024  # examples preprocessed at once


def folder(data_config, split: str, raw) -> pathlib.Path:
  """The cache folder of ``split`` of the dataset, for its preprocessing.

  Args:
    data_config: config.data.
    split: "train" or "test".
    raw: its fgan.data.sources.RawSplit.

  Returns:
    The folder (it may not exist yet).
  """
  key = json.dumps([raw.origin, data_config.crop, data_config.resize,
                    data_config.resize_filter if data_config.resize else ""])
  tag = hashlib.sha256(key.encode()).hexdigest()[:12]
  name = data_config.name.replace(":", "_").replace("/", "_")[-60:]
  return files.data_dir() / "cache" / f"{name}-{split}-{tag}"


def _chunk_array(raw, start: int, images) -> np.ndarray:
  """A piece of raw images as one (N, H, W, C) array; images of different
  sizes or channel counts are one message naming the first file that
  differs."""
  if isinstance(images, np.ndarray):
    return images
  first = images[0]
  for i, x in enumerate(images):
    if x.shape[-1] != first.shape[-1]:
      raise DataIntegrityError(
          f"{raw.describe(start + i)} has {x.shape[-1]} channel(s) but "
          f"{raw.describe(start)} has {first.shape[-1]}: the images must all be greyscale "
          "or all RGB. Convert them to one.")
    if x.shape != first.shape:
      raise DataIntegrityError(
          f"{raw.describe(start + i)} is {x.shape[0]}x{x.shape[1]} but "
          f"{raw.describe(start)} is {first.shape[0]}x{first.shape[1]}: images of "
          "different sizes need config.data.crop (a square of pixels they all exceed), "
          "which makes them alike before config.data.resize.")
  return np.stack(images)


def _preprocessed(raw, start: int, chunk: np.ndarray, data_config) -> np.ndarray:
  try:
    return preprocess.crop_and_resize(chunk, data_config.crop, data_config.resize,
                                      data_config.resize_filter)
  except DataIntegrityError as e:
    raise DataIntegrityError(
        f"{raw.describe(start)}: {e}. Lower config.data.crop or remove the small "
        "images.") from e


def _crop_each(raw, start: int, images, crop: float) -> list:
  """Images of different sizes, each center-cropped to the crop's square."""
  out = []
  for i, x in enumerate(images):
    try:
      top, left, side = preprocess.crop_box(x.shape[0], x.shape[1], crop)
    except DataIntegrityError as e:
      raise DataIntegrityError(f"{raw.describe(start + i)}: {e}. Lower config.data.crop "
                               "or remove the small images.") from e
    out.append(x[top:top + side, left:left + side])
  return out


def build(data_config, split: str, raw) -> pathlib.Path:
  """Preprocess ``raw`` into its cache, in pieces (a no-op when a complete
  cache is there).

  Args:
    data_config: config.data.
    split: "train" or "test".
    raw: the split's fgan.data.sources.RawSplit.

  Returns:
    The cache folder.

  Raises:
    DataIntegrityError: an example the preprocessing cannot take; nothing
      is left behind.
  """
  out = folder(data_config, split, raw)
  if (out / "info.json").exists():
    return out
  tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
  shutil.rmtree(tmp, ignore_errors=True)
  tmp.mkdir(parents=True)
  try:
    _write(data_config, raw, tmp)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  shutil.rmtree(out, ignore_errors=True)
  os.replace(tmp, out)
  return out


def _write(data_config, raw, tmp: pathlib.Path) -> None:
  """The cache's arrays and info.json into ``tmp``."""
  raw_hash, cached_hash = files.ContentHash(), files.ContentHash()
  images = labels = None
  for start in range(0, raw.num_examples, CHUNK):
    pieces, chunk_labels = raw.read(start, min(start + CHUNK, raw.num_examples))
    if data_config.crop and not isinstance(pieces, np.ndarray):
      for i, x in enumerate(pieces):
        raw_hash.update(x)
      pieces = _crop_each(raw, start, pieces, data_config.crop)
      chunk = _chunk_array(raw, start, pieces)
      done = preprocess.crop_and_resize(chunk, 0, data_config.resize,
                                        data_config.resize_filter)
    else:
      chunk = _chunk_array(raw, start, pieces)
      raw_hash.update(chunk)
      done = _preprocessed(raw, start, chunk, data_config)
    if images is None:
      images = np.lib.format.open_memmap(tmp / "images.npy", "w+", np.uint8,
                                         (raw.num_examples,) + done.shape[1:])
      if chunk_labels is not None:
        labels = np.empty(raw.num_examples, np.int64)
    elif done.shape[1:] != images.shape[1:]:
      raise DataIntegrityError(
          f"{raw.describe(start)} gives {done.shape[1:]} images after preprocessing, but "
          f"the ones before give {images.shape[1:]}: set config.data.crop so that every "
          "image is cropped alike.")
    images[start:start + len(done)] = done
    cached_hash.update(done)
    if labels is not None:
      labels[start:start + len(done)] = chunk_labels
  if images is None:
    raise DataIntegrityError(f"{raw.info.get('source', 'the dataset')} holds no example.")
  images.flush()
  del images
  if labels is not None:
    np.save(tmp / "labels.npy", labels)
    raw_hash.update(np.zeros((0,), np.uint8), labels)
    cached_hash.update(np.zeros((0,), np.uint8), labels)
  shape = list(np.load(tmp / "images.npy", mmap_mode="r").shape)
  info = dict(raw.info, num_examples=raw.num_examples, shape=shape[1:],
              num_classes=raw.num_classes, content_sha256=raw_hash.hexdigest(),
              preprocessed_sha256=cached_hash.hexdigest(),
              preprocessing={"crop": data_config.crop, "resize": data_config.resize,
                             "resize_filter": data_config.resize_filter})
  (tmp / "info.json").write_text(json.dumps(info, indent=1))


def read(path: pathlib.Path, whole: bool):
  """A cache's arrays and info.

  Args:
    path: the cache folder (built).
    whole: read the images into memory and verify them; else memory-map
      them (a dataset larger than the memory budget).

  Returns:
    (images (N, H, W, C) uint8, labels (N,) int64 or None, info), or None for
    a damaged cache (said; the caller rebuilds it).
  """
  try:
    info = json.loads((path / "info.json").read_text())
    images = np.load(path / "images.npy", mmap_mode=None if whole else "r")
    labels = np.load(path / "labels.npy") if (path / "labels.npy").exists() else None
    if list(images.shape) != [info["num_examples"]] + info["shape"]:
      raise ValueError("its arrays do not have the recorded shape")
    if whole and files.content_sha256(images, labels) != info["preprocessed_sha256"]:
      raise ValueError("its arrays fail their checksum")
    return images, labels, info
  except (OSError, ValueError, KeyError, EOFError) as e:
    print(f"fgan.data: cache {path} is damaged ({e}); rebuilding it.")
    shutil.rmtree(path, ignore_errors=True)
    return None
