"""Evaluation of a generator: sample-quality metrics in a feature space, and
independent estimates of the divergence it reduced.

Image metrics live in the feature space of the dataset's evaluation
classifier (fgan.evaluation.classifier), and with eval.feature_space =
"inception" also in the FID Inception-v3's (fgan.evaluation.inception):
FID, Inception score and KID as torch-fidelity computes them. Toy mixtures
get modes captured and the high-quality share. Which numbers each space
gives is owned by fgan.evaluation.metrics' registry. Every evaluation
records its protocol (feature extractor and its checksum, resizer,
quantisation, reference split and its checksum, n_real, n_fake), so
numbers of different protocols are never compared silently.
"""

from __future__ import annotations

import hashlib
import json
import os

import jax
import numpy as np

from fgan import data as data_lib
from fgan import divergences
from fgan import errors
from fgan import models
from fgan import train
from fgan.evaluation import classifier as classifier_lib
from fgan.evaluation import estimation
from fgan.evaluation import inception
from fgan.evaluation import metrics

FEATURE_SPACES = ("classifier", "inception")
# Image datasets whose evaluation classifier is used in every feature space.
CLASSIFIER_DATASETS = ("mnist", "fashion_mnist")


def check(config) -> None:
  """eval.feature_space, and for "inception" image data and the weights
  file.

  Args:
    config: a run config.

  Raises:
    errors.ConfigError: naming the field and the fix.
  """
  if config.eval.feature_space == "inception" and config.eval.metrics:
    if data_lib.kind(config.data.name) != "images":
      raise errors.ConfigError(
          f"config.eval.feature_space = 'inception' needs image data; "
          f"config.data.name = {config.data.name!r} is a toy mixture. Set "
          "--config.eval.feature_space=classifier.")
    inception.check(config.eval)


def protocol_line(info: dict) -> str:
  """How a run's numbers were computed, in one line: feature space,
  extractors and their checksums, resizer, quantisation, reference split
  and its checksum, n_real, n_fake, and the held-out estimator's settings
  (but its output bound, the run's own, which differs between a sweep's
  divergences by design).

  Args:
    info: an evaluation's protocol (``Evaluator.info``, evaluation.json).

  Returns:
    The line ("toy metrics" for toy data, "no evaluation" for none).
  """
  if not info:
    return "no evaluation"
  parts = ["toy metrics"]
  if "reference" in info:
    parts = [f"feature space {info.get('feature_space', 'classifier')}"]
    if "classifier_sha256" in info:
      parts.append(f"classifier {info['classifier_sha256'][:12]}")
    elif "classifier" in info:
      parts.append("no classifier (the dataset has no labels)")
    if "inception" in info:
      i = info["inception"]
      parts.append(f"Inception {i['extractor_sha256'][:12]}"
                   + ("" if i["official_weights"] else " (not the published weights)")
                   + f", {i['resizer']}, {i['quantisation']}")
    parts.append(f"reference {info['reference']} {info['reference_sha256'][:12]}")
    parts.append(f"n_real {info.get('n_real', '?')}, n_fake "
                 f"{info.get('n_fake', info.get('num_samples', '?'))}")
  if "heldout_estimator" in info:
    e = info["heldout_estimator"]
    parts.append(f"held-out estimator {e['steps']} critic steps, Adam {e['learning_rate']:g}, "
                 f"batch {e['batch_size']}")
  return "; ".join(parts)


def cached_reference(kind: str, key: dict, compute) -> np.ndarray:
  """Reference features of a dataset split, computed once and cached under
  $FGAN_DATA_DIR/references with their key (dataset, split, its
  preprocessed checksum, the extractor's checksum and settings).

  Args:
    kind: "classifier" or "inception".
    key: what identifies them (JSON-serialisable).
    compute: () -> the features, where the cache has none.

  Returns:
    (N, d) features.
  """
  digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
  path = data_lib.data_dir() / "references" / f"{kind}-{digest}.npz"
  if path.is_file():
    with np.load(path, allow_pickle=False) as f:
      if json.loads(str(f["key"])) == key:
        return f["features"]
  features = compute()
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
  np.savez(tmp, features=features, key=json.dumps(key, sort_keys=True))
  os.replace(tmp, path)
  return features


def _reference_key(config, test, extractor_sha256: str, **settings) -> dict:
  return {"dataset": config.data.name, "split": config.data.test_split,
          "preprocessed_sha256": test.info["preprocessed_sha256"],
          "extractor_sha256": extractor_sha256, **settings}


class _ClassifierSpace:
  """The evaluation classifier's feature space, with the test split's
  features (cached) as the reference."""

  name = "classifier"

  def __init__(self, config, test, held_out):
    self.classifier = classifier_lib.load_classifier(config.data)
    key = _reference_key(config, test, self.classifier.sha256)
    self.real = cached_reference("classifier", key, lambda: self.classifier.apply(held_out)[1])
    self.info = {"classifier_sha256": self.classifier.sha256,
                 "classifier_test_accuracy": self.classifier.test_accuracy,
                 "classifier_source": self.classifier.source,
                 "classifier_classes": self.classifier.num_classes}

  def features(self, samples, seed: int) -> metrics.Features:
    logits, fake = self.classifier.apply(samples)
    return metrics.Features(self.name, fake, self.real, logits, seed=seed)


class _InceptionSpace:
  """The FID Inception's pool3 space, with the test split's cached features
  as the reference."""

  name = "inception"

  def __init__(self, config, test, num_samples: int):
    self.extractor = inception.load(config.eval)
    key = _reference_key(config, test, self.extractor.sha256, resizer=inception.RESIZER,
                         quantisation=inception.QUANTISATION)
    self.real = cached_reference("inception", key, lambda: self.extractor.features_of_uint8(
        np.asarray(test.arrays["images"]))[0])
    self.info = {"inception": {
        "extractor": "FID Inception-v3 2015-12-05 (pool3 2048; logits 1008 without bias)",
        "extractor_sha256": self.extractor.sha256,
        "official_weights": self.extractor.official, "resizer": inception.RESIZER,
        "quantisation": inception.QUANTISATION, "inception_score_splits": 10,
        "kid_subsets": 100, "kid_subset_size": min(1000, num_samples)}}

  def features(self, samples, seed: int) -> metrics.Features:
    fake, logits = self.extractor.features(samples)
    return metrics.Features(self.name, fake, self.real, logits, seed=seed)


class _ToySpace:
  """A toy mixture's own space: the samples, against the known modes."""

  name = "toy"

  def __init__(self, data_config):
    _, self.means, self.stds = data_lib.toy.mixture_params(data_config)
    self.info = {}

  def features(self, samples, seed: int) -> metrics.Features:
    return metrics.Features(self.name, samples, means=self.means, stds=self.stds, seed=seed)


class Evaluator:
  """Evaluates a generator's samples for a run's config and dataset.

  Images: ``eval.num_samples`` samples against the dataset's test split in
  the evaluation classifier's space and, with eval.feature_space =
  "inception", the FID Inception's. Toy mixtures: their own space. Samples
  come from a latent batch fixed by the seed (stream "evaluation"), so the
  same parameters always get the same numbers.

  Attributes:
    info: the protocol: feature space, reference split and its checksum,
      extractors and their checksums, n_real, n_fake.
    held_out: the test split's images in [-1, 1] (images), else None.
  """

  def __init__(self, config, dataset, generator, shared: "Evaluator | None" = None):
    """Load the reference data and feature extractors.

    Args:
      config: the run config.
      dataset: its training data (fgan.data.Dataset).
      generator: its generator module.
      shared: an Evaluator of the same data whose reference and extractors
        are reused (runs of several seeds), or None.
    """
    self.config, self.dataset, self.generator = config, dataset, generator
    self.num_samples = config.eval.num_samples
    self._z = jax.random.normal(train.stream_key(config.seed, "evaluation"),
                                (self.num_samples, config.model.z_dim))
    self._generate = jax.jit(lambda p, z: train.generate(generator, p, z, dataset.shape))
    if shared is not None:
      self.info, self.held_out, self._spaces = dict(shared.info), shared.held_out, shared._spaces
    elif dataset.kind == "images":
      self._set_up_images(config)
    else:
      self.info, self.held_out, self._spaces = {}, None, [_ToySpace(config.data)]
    if config.eval.estimate_steps:
      self.info["heldout_estimator"] = {
          "steps": config.eval.estimate_steps,
          "learning_rate": config.eval.estimate_learning_rate,
          "batch_size": config.train.batch_size,
          "output_bound": float(config.critic_output_bound),
          "critic": "the run's critic, without normalisation"}

  def _set_up_images(self, config) -> None:
    test = data_lib.load(config.data, "test", whole=True)
    self.held_out = data_lib.as_float(test.arrays["images"])
    space = config.eval.feature_space
    self.info = {"feature_space": space,
                 "reference": f"{config.data.name} {config.data.test_split} split",
                 "reference_sha256": test.info["preprocessed_sha256"],
                 "n_real": len(self.held_out), "n_fake": self.num_samples}
    self._spaces = []
    if test.num_classes and (space == "classifier" or config.data.name in CLASSIFIER_DATASETS):
      self._spaces.append(_ClassifierSpace(config, test, self.held_out))
    elif not test.num_classes:
      self.info["classifier"] = ("none: the dataset has no labels to train one on; its "
                                 "label-free metrics are Inception space's "
                                 "(eval.feature_space = 'inception')")
    if space == "inception":
      self._spaces.append(_InceptionSpace(config, test, self.num_samples))
    for s in self._spaces:
      self.info.update(s.info)

  def samples(self, g_params, batch: int = 500) -> np.ndarray:
    """The evaluation's samples of the generator with ``g_params``.

    Args:
      g_params: generator parameters.
      batch: samples generated per call (batch norm's statistics are those
        of each call's batch).

    Returns:
      (eval.num_samples, *data shape) samples.
    """
    return np.concatenate([np.asarray(self._generate(g_params, self._z[i:i + batch]))
                           for i in range(0, self.num_samples, batch)])

  def __call__(self, g_params) -> dict[str, float]:
    """Every metric of every space of this evaluation.

    Args:
      g_params: generator parameters.

    Returns:
      {metric: value, metric_<uncertainty>: ...} (fgan.evaluation.metrics).
    """
    x = self.samples(g_params)
    out = {}
    for space in self._spaces:
      out.update(metrics.evaluate(space.features(x, seed=0)))
    return out

  def divergence_estimates(self, g_params) -> dict[str, float]:
    """Independent estimates of D(P || Q_theta) for the run's divergence and
    for Jensen-Shannon (fgan.evaluation.estimation.estimate), after Im et
    al. 2018 ("Quantitatively evaluating GANs with divergences proposed for
    training"). For each, a fresh critic (the run's critic architecture,
    without normalisation; WGAN-GP weight 10 for wasserstein; for the run's
    divergence its critic_output_bound, for JS none, so that the JS column
    compares runs) is trained for eval.estimate_steps on the training data
    against fresh samples, and its F read on held-out data: images, the
    whole test split against as many new samples; toys, 100,000 new draws of
    the mixture and of the generator. Keys from the seed's "estimation"
    stream.

    Args:
      g_params: generator parameters.

    Returns:
      {"heldout_divergence": F of the run's divergence, "heldout_js": F of
      JS, each with its "_stderr"}.
    """
    c = self.config
    model = c.model.copy_and_resolve_references()
    if "critic_norm" in model:
      model.critic_norm = "none"
    critic = models.build(model, self.dataset.shape)[1]
    train_data = self.dataset
    if train_data.kind == "images":
      budget = data_lib.images.memory_budget(c.data)
      train_data = data_lib.images.in_memory_rows(train_data, budget)
    shape, z_dim = tuple(self.dataset.shape), c.model.z_dim
    sample_q = lambda k, n: train.generate(self.generator, g_params,
                                           jax.random.normal(k, (n, z_dim)), shape)
    key = train.stream_key(c.seed, "estimation")
    eval_p = eval_q = None
    if self.held_out is not None:
      eval_p = self.held_out
      eval_q = sample_q(jax.random.fold_in(key, 0), len(eval_p))
    wanted = {"heldout_divergence": (c.divergence, float(c.critic_output_bound)),
              "heldout_js": ("js", 0.0)}
    estimates = {}
    for i, (name, bound) in enumerate(dict.fromkeys(wanted.values())):
      estimates[name, bound] = estimation.estimate(
          name, critic, train_data.sample, sample_q, jax.random.fold_in(key, i + 1),
          c.eval.estimate_steps, c.train.batch_size, c.eval.estimate_learning_rate, b1=0.5,
          gradient_penalty=10.0 if divergences.get(name).is_ipm else 0.0,
          eval_p=eval_p, eval_q=eval_q, eval_samples=100_000,
          p_data=train_data.arrays, output_bound=bound)
    out = {}
    for key_name, which in wanted.items():
      out[key_name], out[f"{key_name}_stderr"] = estimates[which].value, estimates[which].stderr
    return out
