"""The evaluation classifier of an image dataset, trained by fgan itself.

No pretrained Inception weights can be downloaded here, so sample quality is
measured in the feature space of a small CNN trained on the dataset's own
training set (as TF-GAN's MNIST metrics do with their MNIST classifier). The
trained parameters are cached under ``$FGAN_DATA_DIR/classifiers/`` and
identified by the SHA-256 of their serialised bytes, which every evaluation
records.

Architecture: conv 32 (3x3) -> conv 64 (3x3, stride 2) -> conv 128 (3x3,
stride 2), ReLU, -> dense 256 ("features", the Frechet-distance space) ->
ReLU -> dense (classes). Adam(1e-3), batch 128, 4 epochs, seed 0.
"""

from __future__ import annotations

import dataclasses
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


class CNN(nn.Module):
  num_classes: int = 10

  @nn.compact
  def __call__(self, x):
    """(logits, features) of images in [-1, 1]."""
    for ch, stride in ((32, 1), (64, 2), (128, 2)):
      x = nn.relu(nn.Conv(ch, (3, 3), (stride, stride))(x))
    features = nn.Dense(256)(x.reshape(x.shape[0], -1))
    return nn.Dense(self.num_classes)(nn.relu(features)), features


@dataclasses.dataclass(frozen=True)
class Classifier:
  dataset: str
  params: dict
  sha256: str
  test_accuracy: float

  def apply(self, images, batch_size: int = 1000):
    """(logits, features) for images in [-1, 1], in batches."""
    fn = _apply_fn()
    outs = [fn(self.params, jnp.asarray(images[i:i + batch_size]))
            for i in range(0, len(images), batch_size)]
    return (np.concatenate([np.asarray(o[0]) for o in outs]),
            np.concatenate([np.asarray(o[1]) for o in outs]))


_MODEL = CNN()


def _apply_fn():
  return jax.jit(lambda p, x: _MODEL.apply(p, x))


def _to_float(images):
  return np.asarray(images, np.float32) / 127.5 - 1.0


def _cache_dir(data_config) -> pathlib.Path:
  """The dataset's classifier folder; one per image size (data.resize)."""
  root = data.data_dir()
  side = data_config.resize
  return root / "classifiers" / (data_config.name + (f"-{side}px" if side else ""))


def train_classifier(data_config, epochs: int = 4, batch_size: int = 128,
                     seed: int = 0, verbose: bool = True) -> Classifier:
  """Train the CNN on the dataset's training split; report test accuracy."""
  train_ds = data.load(data_config, "train")
  test_ds = data.load(data_config, "test")
  images = jnp.asarray(train_ds.arrays["images"])
  labels = jnp.asarray(train_ds.labels)
  key = jax.random.PRNGKey(seed)
  params = _MODEL.init(key, jnp.zeros((1,) + train_ds.shape))
  opt = optax.adam(1e-3)

  @jax.jit
  def step(params, opt_state, idx):
    x = images[idx].astype(jnp.float32) / 127.5 - 1.0

    def loss_fn(p):
      logits, _ = _MODEL.apply(p, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels[idx]).mean()

    grads = jax.grad(loss_fn)(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  def epoch(params, opt_state, key):
    # One jitted call per step: a lax.scan around convolutions is several
    # times slower on XLA's CPU backend.
    perm = np.asarray(jax.random.permutation(key, len(images)))
    for i in range(len(images) // batch_size):
      params, opt_state = step(params, opt_state, perm[i * batch_size:(i + 1) * batch_size])
    return params, opt_state

  opt_state = opt.init(params)
  for e in range(epochs):
    t = time.time()
    params, opt_state = epoch(params, opt_state, jax.random.fold_in(key, e))
    if verbose:
      print(f"classifier {data_config.name}: epoch {e + 1}/{epochs} ({time.time() - t:.0f} s)")
  blob = flax.serialization.to_bytes(params)
  clf = Classifier(data_config.name, params, hashlib.sha256(blob).hexdigest(), 0.0)
  logits, _ = clf.apply(_to_float(test_ds.arrays["images"]))
  accuracy = float(np.mean(logits.argmax(1) == test_ds.labels))
  if verbose:
    print(f"classifier {data_config.name}: test accuracy {accuracy:.4f}")
  out = _cache_dir(data_config)
  out.mkdir(parents=True, exist_ok=True)
  (out / "params.msgpack").write_bytes(blob)
  (out / "meta.json").write_text(json.dumps({
      "dataset": data_config.name, "sha256": clf.sha256, "test_accuracy": accuracy,
      "epochs": epochs, "batch_size": batch_size, "seed": seed,
      "shape": list(train_ds.shape),
      "data_content_sha256": train_ds.info["content_sha256"]}, indent=1))
  return dataclasses.replace(clf, test_accuracy=accuracy)


def load_classifier(data_config, train_if_missing: bool = True) -> Classifier:
  """The cached classifier of the dataset (verified by checksum), trained
  first if there is none."""
  out = _cache_dir(data_config)
  meta_path, blob_path = out / "meta.json", out / "params.msgpack"
  if meta_path.exists() and blob_path.exists():
    meta = json.loads(meta_path.read_text())
    blob = blob_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() == meta["sha256"]:
      target = _MODEL.init(jax.random.PRNGKey(0), jnp.zeros((1,) + tuple(meta["shape"])))
      params = flax.serialization.from_bytes(target, blob)
      return Classifier(data_config.name, params, meta["sha256"], meta["test_accuracy"])
    print(f"fgan: classifier cache {blob_path} fails its checksum; retraining.")
  if not train_if_missing:
    raise FileNotFoundError(
        f"No classifier for {data_config.name}: run `python -m "
        f"experiments.train_classifier --dataset={data_config.name}`.")
  return train_classifier(data_config)
