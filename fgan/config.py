"""The one config schema every fgan run uses, documented field by field.

A config file (configs/*.py) starts from ``defaults()`` and states only what
differs. Sections: the objective (top level), data, model (the chosen
family's fields: fgan.models), train, optim, parallel, compute (how, not
what: changes no result), eval, checkpoint.

A field added later defaults to the behaviour before it existed, so a run
saved without it resumes: ``from_saved`` reads a saved config in today's
schema from the defaults alone, with no list of added or retired fields to
keep.
"""

from __future__ import annotations

import copy
import json

from flax import traverse_util
import ml_collections

from fgan import models


def defaults(model: str = "dcgan") -> ml_collections.ConfigDict:
  """Every field of a run config at its default.

  Args:
    model: the model family whose fields config.model holds
      (fgan.models.names()).

  Returns:
    The config, unlocked.
  """
  c = ml_collections.ConfigDict()
  c.seed = 0  # every random draw of a run derives from it
  c.divergence = "js"  # a name from fgan.divergences.names()
  # "nonsaturating" | "minimax" | "log_ratio" (-E_Q[log p/q] with the
  # critic's ratio; fgan.losses.generator_loss)
  c.generator_loss = "nonsaturating"
  c.gradient_penalty = 0.0  # weight of the critic's gradient penalty; 0 = off
  # "wgan_gp": weight E[(|grad V(x_hat)| - 1)^2] on interpolates (Gulrajani
  # et al. 2017); "r1": weight/2 E_P[|grad V(x)|^2] on real data (Mescheder
  # et al. 2018); "roth": weight/2 E_Q[f*''(psi) |grad psi|^2], psi = g_f(V),
  # for every f-divergence; "roth_symmetric": its form for gan and js (Roth
  # et al. 2017; fgan.losses.roth_regularizer).
  c.gradient_penalty_kind = "wgan_gp"
  # The penalty's weight at the last step over its first, reached
  # geometrically: weight * anneal^(t/T) (Roth et al.: 0.01); 1 = constant.
  c.gradient_penalty_anneal = 1.0
  # Weight of (E_P[V^2] + E_Q[V^2]) / 2 in the critic loss (Karras et al.
  # 2018's drift term; keeps a saturating critic such as total variation's
  # alive); 0 = off.
  c.critic_output_penalty = 0.0
  # Confine the critic's raw output V to (-c, c) as c tanh(V / c) in the
  # critic's and the generator's losses (fgan.losses.bounded_output): T =
  # g_f(V) then stays a margin inside dom f*, and F finite where P and Q
  # have disjoint supports (Neyman chi^2); 0 = off.
  c.critic_output_bound = 0.0
  # PacGAN's packing (Lin et al. 2018; fgan.losses.pack): the critic sees
  # this many samples, real or generated, concatenated into one example;
  # 1 = off. train.batch_size must be a multiple of it.
  c.critic_pack = 1

  c.data = ml_collections.ConfigDict()
  c.data.name = "mnist"  # a name from fgan.data.names(): mnist, tfds:<name>, folder:<path>, ring8, ...
  c.data.source = "auto"  # images: "auto" (TFDS, else offline) | "tfds" | "offline" (fgan.data.images)
  c.data.download = False  # let TFDS download (needs internet)
  c.data.tfds_data_dir = ""  # TFDS data dir ("" = TFDS's default)
  c.data.idx_dir = "/usr/share/datasets/fashion-mnist"  # Fashion-MNIST IDX folder (Debian's)
  # mixture1d's components. Sequences are tuples, which the command line can
  # set (lists it cannot): --config.data.means='(-1.0, 2.0)'.
  c.data.means = (-1.0, 2.0)
  c.data.stds = (0.5, 1.0)
  c.data.weights = (0.5, 0.5)
  # Images: the training set is split into this many groups and every batch
  # draws equally from each; a multiple of the number of hosts, which then
  # each load only their groups.
  c.data.shards = 1
  # TFDS datasets: the splits trained on and evaluated against, the image
  # feature, and the label feature ("" or a feature the dataset lacks: no
  # labels).
  c.data.train_split = "train"
  c.data.test_split = "test"
  c.data.image_key = "image"
  c.data.label_key = "label"
  c.data.folder_labels = False  # folder:<path>: each image's class from its first-level subfolder
  # Images, as papers prepare them (fgan.data.preprocess), once, into the
  # dataset's cache: a center crop (> 1: a square of that many pixels; in
  # (0, 1]: that fraction of the shorter side; 0 = none), then a resize to
  # this many pixels square (0 = as cropped) with a named filter
  # ("bilinear" | "bicubic" | "lanczos3", antialiased when shrinking).
  c.data.crop = 0.0
  c.data.resize = 0
  c.data.resize_filter = "bilinear"
  c.data.flip = False  # a random horizontal flip of each training image, drawn in the step
  # The training images stay on the device up to this many MiB; a larger
  # set streams from the host (fgan.data.stream); 0 = a quarter of the
  # device's memory.
  c.data.in_memory_max_mb = 0.0

  c.model = models.config(model)  # the family's fields (fgan.models)

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 5000  # generator updates
  c.train.batch_size = 64  # global batch, real and fake each
  c.train.n_critic = 1  # critic updates per generator update
  c.train.log_every = 50  # steps between metric records
  c.train.ema_decay = 0.999  # generator weight average for samples and evaluation; 0 = raw
  # "stop": a NaN/Inf stops the run, naming the step and the last good
  # checkpoint; "skip": reject such updates, count them, go on.
  c.train.on_nonfinite = "stop"

  # Per network: .name ("adam" | "rmsprop" | "sgd", fgan.optimizers),
  # .learning_rate, .b1 (Adam beta1 / momentum), .b2 (Adam beta2 / RMSProp
  # decay), .decay ("none" | "linear": to 0 over the run). Adam(1e-3, (0.5,
  # 0.999)): DCGAN's betas (Radford et al. 2016).
  c.optim = ml_collections.ConfigDict()
  for net in ("critic", "generator"):
    c.optim[net] = ml_collections.ConfigDict(
        {"name": "adam", "learning_rate": 1e-3, "b1": 0.5, "b2": 0.999, "decay": "none"})

  c.parallel = ml_collections.ConfigDict()
  c.parallel.mode = "none"  # "none" | "pmap" | "mesh" (fgan.parallel)
  c.parallel.num_devices = 0  # devices the run expects; 0 = all available

  # How the numbers are computed, not which: a run resumes under other
  # values. Resolved once at the start (fgan.compute) and recorded in
  # run.json.
  c.compute = ml_collections.ConfigDict()
  # DCGAN convolutions: "subpixel" (fastest for one seed), "matmul" (every
  # convolution a matrix product: fastest for vmapped seeds), "xla" (XLA's
  # own ops); "auto": subpixel, or matmul for vmapped seeds.
  c.compute.conv_impl = "auto"
  c.compute.steps_per_call = 0  # train steps per compiled call (lax.scan); 0 = 1 on CPU, 10 elsewhere

  c.eval = ml_collections.ConfigDict()
  c.eval.every_steps = 1000  # steps between sample grids and evaluations
  c.eval.metrics = True  # sample-quality metrics (fgan.evaluation); False = grids only
  c.eval.num_samples = 10_000  # samples per evaluation
  c.eval.grid_size = 8  # side of the sample grid (grid_size^2 samples)
  # Image metrics' feature space: "classifier" (the dataset's evaluation
  # classifier, fgan.evaluation.classifier) or "inception" (adds FID,
  # Inception score and KID in the FID Inception-v3's space, as
  # torch-fidelity computes them: fgan.evaluation.inception; needs its
  # weights file).
  c.eval.feature_space = "classifier"
  c.eval.inception_weights = ""  # that file; "" = $FGAN_DATA_DIR/inception/weights-inception-2015-12-05-6726825d.pth
  # At the end (with eval.metrics): independent estimates of the run's
  # divergence and of JS, each by a fresh critic trained for this many steps
  # on held-out data (fgan.evaluation.Evaluator.divergence_estimates); 0 = off.
  c.eval.estimate_steps = 1000
  c.eval.estimate_learning_rate = 2e-4  # that critic's Adam, betas (0.5, 0.999)

  c.checkpoint = ml_collections.ConfigDict()
  c.checkpoint.every_steps = 500  # steps between checkpoints
  c.checkpoint.keep = 3  # checkpoints kept
  return c


def flatten(d: dict) -> dict:
  """{"a.b": value} of a nested dict (ConfigDict.to_dict() or JSON).

  Args:
    d: the nested dict.

  Returns:
    The flat dict.
  """
  return traverse_util.flatten_dict(d, sep=".")


def set_field(config, field: str, value) -> None:
  """config.<field> = value for a dotted field ("optim.critic.learning_rate").

  Args:
    config: a ConfigDict or a nested dict.
    field: the dotted name of an existing field.
    value: its new value; a list where the field holds a list.

  Raises:
    KeyError: no such field.
  """
  *sections, key = field.split(".")
  node = config
  for section in sections:
    node = node[section]
  if key not in node:
    raise KeyError(field)
  node[key] = list(value) if isinstance(node[key], list) else value


def from_saved(saved: dict) -> ml_collections.ConfigDict:
  """A config saved by any version (config.json) in today's schema: each
  field at its saved value where saved, at its default where the run
  predates the field (``defaults`` holds the behaviour before it); fields
  no longer in the schema dropped.

  Args:
    saved: the saved config, a nested dict as JSON holds it.

  Returns:
    The config.

  Raises:
    KeyError, TypeError: ``saved`` is not a run config.
    errors.ConfigError: its model family is not registered.
  """
  model = models.normalized(saved["model"])
  merged = defaults(model["name"]).to_dict()

  def overlay(into: dict, source: dict) -> None:
    for key, value in source.items():
      if key in into and isinstance(into[key], dict):
        overlay(into[key], value)
      elif key in into:
        into[key] = copy.deepcopy(value)
  overlay(merged, {**saved, "model": model})
  return ml_collections.ConfigDict(merged)


def as_json(config) -> dict:
  """The config as config.json holds it: a nested dict with tuples as lists.

  Args:
    config: a ConfigDict or nested dict.

  Returns:
    The JSON round trip of its dict.
  """
  d = config.to_dict() if hasattr(config, "to_dict") else config
  return json.loads(json.dumps(d))
