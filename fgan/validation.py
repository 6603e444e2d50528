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
  for field in _POSITIVE_INTS:
    section, key = field.split(".")
    v = config[section][key]
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
      raise ConfigError(f"config.{field} = {v!r} must be a positive int.")
  if not isinstance(config.seed, int) or isinstance(config.seed, bool) or config.seed < 0:
    raise ConfigError(f"config.seed = {config.seed!r} must be an int >= 0.")
  decay = config.train.ema_decay
  if not (isinstance(decay, (int, float)) and math.isfinite(decay) and 0 <= decay < 1):
    raise ConfigError(f"config.train.ema_decay = {decay!r} must lie in [0, 1).")
  if config.train.on_nonfinite not in ON_NONFINITE:
    raise ConfigError(f"config.train.on_nonfinite = {config.train.on_nonfinite!r} is not "
                      f"one of: {', '.join(ON_NONFINITE)}.")
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
