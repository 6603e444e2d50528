"""Config checks that run before anything is loaded, compiled or written.

Each registry checks its own fields (losses, models, data, optimizers,
parallel, compute); this module adds the checks across sections. Each error
names the field, what is wrong and how to fix it.
"""

from __future__ import annotations

import math

from fgan import compute
from fgan import data
from fgan import errors
from fgan import evaluation
from fgan import losses
from fgan import models
from fgan import optimizers
from fgan import parallel

ConfigError = errors.ConfigError

_POSITIVE_INTS = ("train.num_steps", "train.batch_size", "train.n_critic", "train.log_every",
                  "eval.every_steps", "eval.num_samples", "eval.grid_size",
                  "checkpoint.every_steps", "checkpoint.keep")
ON_NONFINITE = ("stop", "skip")


def validate(config, num_seeds: int = 1) -> None:
  """Every field of a run config (no data or devices needed)."""
  losses.check(config)
  models.check(config.model)
  data.check(config.data)
  optimizers.check(config.optim)
  parallel.check(config, num_seeds)
  compute.check(config.compute)
  evaluation.check(config)
  for field in _POSITIVE_INTS:
    section, key = field.split(".")
    errors.check_int(field, config[section][key], 1)
  errors.check_int("seed", config.seed, 0)
  decay = config.train.ema_decay
  if not (isinstance(decay, (int, float)) and math.isfinite(decay) and 0 <= decay < 1):
    raise ConfigError(f"config.train.ema_decay = {decay!r} must lie in [0, 1).")
  errors.check_choice("train.on_nonfinite", config.train.on_nonfinite, ON_NONFINITE)
  if config.gradient_penalty > 0 and config.model.name == "dcgan" and (
      config.model.critic_norm == "batch"):
    raise ConfigError(
        "A gradient penalty needs per-example critic outputs, but "
        "config.model.critic_norm = 'batch' mixes examples. Set "
        "config.model.critic_norm to 'none' or 'layer', or "
        "config.gradient_penalty = 0.")


def validate_placement(config) -> None:
  """The batch, the data's shards and the mode against the devices and
  processes present."""
  import jax  # pylint: disable=import-outside-toplevel
  parallel.check_devices(config)
  if data.kind(config.data.name) == "images":
    data.check_layout(config.data, config.train.batch_size, jax.process_count())


def validate_with_data(config, dataset) -> None:
  """That the model can make the data's examples."""
  models.check_data(config.model, dataset.shape)
