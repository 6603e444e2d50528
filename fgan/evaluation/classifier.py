"""The evaluation classifier of a labelled image dataset, trained by fgan.

Sample quality is measured in the feature space of a small CNN trained on
the dataset's own training set (as TF-GAN's MNIST metrics do with their
MNIST classifier), with as many classes as the dataset has.

Architecture: conv 32 -> conv 64 -> conv 64 (3x3, stride 2 each, ReLU) ->
dense 128 ("features", the Frechet-distance space) -> ReLU -> dense (one
logit per class). Adam with a cosine decay from 2e-3, batch 128, 4 epochs,
seed 0 (MNIST: test accuracy 0.9906; Fashion-MNIST: 0.9092).

MNIST's and Fashion-MNIST's trained parameters ship with fgan
(``fgan/evaluation/classifiers/<dataset>/``, written by ``python -m
experiments.train_classifier --dataset=<dataset> --ship``), so every machine
evaluates them with the same network and no run waits for one to train.
Other datasets' classifiers are trained on first use (on at most a quarter
of the memory's worth of evenly spaced training images, for a dataset
larger than that) and cached under ``$FGAN_DATA_DIR/classifiers/``, one
per training set and preprocessing. Each is
identified by the SHA-256 of its serialised parameters, checked on load
and recorded by every evaluation.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import pathlib
import time

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from fgan import data
from fgan import models
from fgan.data import cache
from fgan.data import images as images_lib
from fgan.data import sources
from fgan.rundir import provenance

SHIPPED = pathlib.Path(__file__).parent / "classifiers"


class CNN(nn.Module):
  """The classifier's network.

  Attributes:
    num_classes: its logits.
  """

  num_classes: int = 10

  @nn.compact
  def __call__(self, x):
    """Args: x (N, H, W, C) images in [-1, 1]. Returns: (logits (N,
    num_classes), features (N, 128))."""
    for ch in (32, 64, 64):
      x = nn.relu(nn.Conv(ch, (3, 3), (2, 2))(x))
    features = nn.Dense(128)(x.reshape(x.shape[0], -1))
    return nn.Dense(self.num_classes)(nn.relu(features)), features


@functools.cache
def _apply(num_classes: int):
  return jax.jit(CNN(num_classes).apply)


@dataclasses.dataclass(frozen=True)
class Classifier:
  """A trained evaluation classifier.

  Attributes:
    dataset: its dataset's name.
    params: its parameters.
    sha256: the SHA-256 of its serialised parameters.
    test_accuracy: its accuracy on the test split.
    source: "shipped with fgan", or the cache folder it was trained into.
    num_classes: its classes.
  """
  dataset: str
  params: dict
  sha256: str
  test_accuracy: float
  source: str
  num_classes: int = 10

  def apply(self, images, batch_size: int = 1000):
    """(logits, features) of images, in batches.

    Args:
      images: (N, H, W, C) in [-1, 1].
      batch_size: images per call.

    Returns:
      (logits (N, num_classes), features (N, 128)), numpy.
    """
    fn = _apply(self.num_classes)
    outs = [fn(self.params, jnp.asarray(images[i:i + batch_size]))
            for i in range(0, len(images), batch_size)]
    return (np.concatenate([np.asarray(o[0]) for o in outs]),
            np.concatenate([np.asarray(o[1]) for o in outs]))


def folder_name(data_config) -> str:
  """One classifier per dataset and preprocessing: the dataset's name, and
  its crop, resize and filter where set ("mnist", "cifar10-32px").

  Args:
    data_config: config.data.

  Returns:
    The folder's name.
  """
  name = data_config.name.replace(":", "_").replace("/", "_")[-60:]
  if data_config.resize:
    name += f"-{data_config.resize}px"
  if data_config.crop:
    name += f"-crop{data_config.crop:g}"
  if data_config.resize and data_config.resize_filter != "bilinear":
    name += f"-{data_config.resize_filter}"
  return name


def _cache_dir(data_config) -> pathlib.Path:
  """The cached classifier's folder: named like the training set's cache,
  so a dataset whose content or preprocessing changes gets another."""
  train_cache = cache.folder(data_config, "train", sources.raw_split(data_config, "train"))
  return data.data_dir() / "classifiers" / train_cache.name


def _training_data(data_config):
  """(images, labels, test images, test labels, info) of the dataset, in
  memory (evenly spaced rows of a training set over the memory budget)."""
  train = images_lib.in_memory_rows(data.load(data_config, "train"),
                                    images_lib.memory_budget(data_config))
  test = data.load(data_config, "test", whole=True)
  if not train.num_classes:
    raise ValueError(f"{data_config.name} has no labels to train a classifier on")
  return train, test


def train_classifier(data_config, out_dir=None, epochs: int = 4, batch_size: int = 128,
                     seed: int = 0, verbose: bool = True) -> Classifier:
  """Train the CNN on the dataset's training split, measure its test
  accuracy, and save it.

  Args:
    data_config: config.data of a labelled image dataset.
    out_dir: where to save it (default: the cache).
    epochs, batch_size, seed: the training's.
    verbose: print progress.

  Returns:
    The Classifier.
  """
  t_start = time.time()
  train_ds, test_ds = _training_data(data_config)
  model = CNN(train_ds.num_classes)
  images, labels = jnp.asarray(train_ds.arrays["images"]), jnp.asarray(train_ds.labels)
  key = jax.random.PRNGKey(seed)
  params = models.initialize(model, key, (1,) + train_ds.shape)
  batch_size = min(batch_size, len(images))
  steps_per_epoch = len(images) // batch_size
  opt = optax.adam(optax.cosine_decay_schedule(2e-3, epochs * steps_per_epoch))

  @jax.jit
  def step(params, opt_state, idx):
    x = data.as_float(images[idx])

    def loss_fn(p):
      logits, _ = model.apply(p, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels[idx]).mean()

    grads = jax.grad(loss_fn)(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  opt_state = opt.init(params)
  for e in range(epochs):
    # One jitted call per step: a lax.scan around convolutions is several
    # times slower on XLA's CPU backend.
    perm = np.asarray(jax.random.permutation(jax.random.fold_in(key, e), len(images)))
    for i in range(steps_per_epoch):
      params, opt_state = step(params, opt_state, perm[i * batch_size:(i + 1) * batch_size])
    if verbose:
      print(f"fgan: evaluation classifier for {data_config.name}: epoch {e + 1}/{epochs} "
            f"({time.time() - t_start:.0f} s)", flush=True)
  blob = flax.serialization.to_bytes(params)
  sha = hashlib.sha256(blob).hexdigest()
  logits, _ = Classifier(data_config.name, params, sha, 0.0, "", train_ds.num_classes).apply(
      data.as_float(test_ds.arrays["images"]))
  accuracy = float(np.mean(logits.argmax(1) == test_ds.labels))
  out = pathlib.Path(out_dir) if out_dir else _cache_dir(data_config)
  out.mkdir(parents=True, exist_ok=True)
  (out / "params.msgpack").write_bytes(blob)
  (out / "meta.json").write_text(json.dumps({
      "dataset": data_config.name, "sha256": sha, "test_accuracy": accuracy,
      "num_classes": train_ds.num_classes, "epochs": epochs, "batch_size": batch_size,
      "seed": seed, "shape": list(train_ds.shape),
      "train_seconds": round(time.time() - t_start, 1),
      "data_content_sha256": train_ds.info["content_sha256"],
      "versions": provenance.versions(), "machine": provenance.machine()}, indent=1))
  if verbose:
    print(f"fgan: evaluation classifier for {data_config.name}: test accuracy "
          f"{accuracy:.4f}, trained in {time.time() - t_start:.0f} s, saved in {out}",
          flush=True)
  return Classifier(data_config.name, params, sha, accuracy, str(out), train_ds.num_classes)


def _read(folder: pathlib.Path, data_config, source: str) -> Classifier | None:
  """The classifier saved in ``folder`` if its parameters match their
  recorded SHA-256; None if there is none or it is damaged (said)."""
  meta_path, blob_path = folder / "meta.json", folder / "params.msgpack"
  if not (meta_path.exists() and blob_path.exists()):
    return None
  try:
    meta = json.loads(meta_path.read_text())
    blob = blob_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != meta["sha256"]:
      raise ValueError("its parameters fail their SHA-256 check")
    classes = int(meta.get("num_classes", 10))
    target = jax.eval_shape(  # the structure only: every value comes from the file
        lambda: models.initialize(CNN(classes), jax.random.PRNGKey(0), (1,) + tuple(meta["shape"])))
    params = flax.serialization.from_bytes(target, blob)
  except (ValueError, KeyError, TypeError) as e:
    print(f"fgan: classifier in {folder} is damaged ({e}); not used.")
    return None
  return Classifier(data_config.name, params, meta["sha256"], meta["test_accuracy"], source,
                    classes)


def load_classifier(data_config, train_if_missing: bool = True) -> Classifier:
  """The dataset's classifier: the one shipped with fgan, else the cached
  one, else (``train_if_missing``) a newly trained and cached one.

  Args:
    data_config: config.data of a labelled image dataset.
    train_if_missing: train one when none is there.

  Returns:
    The Classifier.

  Raises:
    FileNotFoundError: none is there and ``train_if_missing`` is False.
  """
  shipped = _read(SHIPPED / folder_name(data_config), data_config, "shipped with fgan")
  if shipped:
    return shipped
  folder = _cache_dir(data_config)
  cached = _read(folder, data_config, str(folder))
  if cached:
    return cached
  if not train_if_missing:
    raise FileNotFoundError(
        f"No classifier for {data_config.name}: run `python -m "
        f"experiments.train_classifier --dataset={data_config.name}`.")
  return train_classifier(data_config)
