"""Config checks that run before anything is loaded or compiled.

Each error names the field, what is wrong and how to fix it.
"""

from __future__ import annotations

from fgan import data
from fgan import divergences
from fgan import losses
from fgan import train

MODELS = ("dcgan", "mlp")
PARALLEL_MODES = ("none", "pmap", "mesh")
CRITIC_NORMS = ("none", "batch", "layer", "spectral")
CONV_IMPLS = ("subpixel", "matmul", "xla")


class ConfigError(ValueError):
  """The config cannot describe a valid run."""


def _choice(field, value, valid):
  if value not in valid:
    raise ConfigError(f"config.{field} = {value!r} is not one of: "
                      f"{', '.join(valid)}.")


def _positive(field, value, kind=int):
  if not isinstance(value, kind) or isinstance(value, bool) or value <= 0:
    raise ConfigError(f"config.{field} = {value!r} must be a positive "
                      f"{kind.__name__}.")


def validate(config) -> None:
  """Check names and values of a config (no data needed)."""
  _choice("divergence", config.divergence, divergences.names())
  _choice("generator_loss", config.generator_loss, losses.GENERATOR_LOSS_MODES)
  name = config.data.name
  if not (name in data.IMAGE_NAMES or name in data.TOY_NAMES or name.startswith("tfds:")):
    raise ConfigError(f"config.data.name = {name!r} is not a known dataset; "
                      f"valid: {', '.join(data.names())}.")
  _choice("model.name", config.model.name, MODELS)
  _choice("model.critic_norm", config.model.critic_norm, CRITIC_NORMS)
  _choice("model.conv_impl", config.model.conv_impl, CONV_IMPLS)
  _choice("parallel.mode", config.parallel.mode, PARALLEL_MODES)
  _choice("train.on_nonfinite", config.train.on_nonfinite, ("stop", "skip"))
  for field in ("train.num_steps", "train.batch_size", "train.n_critic",
                "train.log_every", "model.z_dim", "model.width", "model.critic_width",
                "eval.every_steps", "eval.num_samples", "eval.grid_size",
                "checkpoint.every_steps", "checkpoint.keep"):
    section, key = field.split(".")
    _positive(field, config[section][key])
  if not 0 <= config.train.ema_decay < 1:
    raise ConfigError(f"config.train.ema_decay = {config.train.ema_decay} must lie in [0, 1).")
  for field, zero in (("train.steps_per_call", "automatic"),
                      ("model.conv_chunk", "automatic"), ("data.resize", "native size"),
                      ("model.generator_extra_convs", "seed 003's network"),
                      ("model.critic_extra_convs", "seed 003's network")):
    section, key = field.split(".")
    if not (isinstance(config[section][key], int) and config[section][key] >= 0):
      raise ConfigError(f"config.{field} = {config[section][key]!r} must be an int "
                        f">= 0 (0 = {zero}).")
  if config.data.resize and name in data.TOY_NAMES:
    raise ConfigError(f"config.data.resize = {config.data.resize} resizes images, "
                      f"but {name!r} is toy vector data; set it to 0.")
  for net in ("critic", "generator"):
    o = config.optim[net]
    _choice(f"optim.{net}.name", o.name, tuple(train.OPTIMIZERS))
    _choice(f"optim.{net}.decay", o.decay, ("none", "linear"))
    if not o.learning_rate > 0:
      raise ConfigError(f"config.optim.{net}.learning_rate = {o.learning_rate} "
                        "must be > 0.")
    if not (0 <= o.b1 < 1 and 0 <= o.b2 < 1):
      raise ConfigError(f"config.optim.{net} betas ({o.b1}, {o.b2}) must lie in [0, 1).")
  if config.critic_output_penalty < 0:
    raise ConfigError(f"config.critic_output_penalty = {config.critic_output_penalty} "
                      "must be >= 0 (0 = off).")
  if config.gradient_penalty < 0:
    raise ConfigError(f"config.gradient_penalty = {config.gradient_penalty} must "
                      "be >= 0 (0 = off).")
  _choice("gradient_penalty_kind", config.gradient_penalty_kind,
          losses.GRADIENT_PENALTY_KINDS)
  if config.gradient_penalty > 0 and config.model.name == "dcgan" and (
      config.model.critic_norm == "batch"):
    raise ConfigError(
        "A gradient penalty needs per-example critic outputs, but "
        "config.model.critic_norm = 'batch' mixes examples. Set "
        "config.model.critic_norm to 'none' or 'layer', or "
        "config.gradient_penalty = 0.")
  if divergences.get(config.divergence).is_ipm and (
      config.gradient_penalty == 0 or config.gradient_penalty_kind != "wgan_gp"):
    raise ConfigError(
        f"config.divergence = {config.divergence!r} is an IPM whose critic must "
        "be Lipschitz: set config.gradient_penalty (10 is the WGAN-GP default) "
        "with config.gradient_penalty_kind = 'wgan_gp'.")


def validate_devices(config) -> None:
  """Checks of the batch and data layout against the devices present."""
  import jax  # pylint: disable=import-outside-toplevel
  devices, processes = jax.device_count(), jax.process_count()
  expected = config.parallel.num_devices
  if expected and expected != devices:
    raise ConfigError(
        f"config.parallel.num_devices = {expected} but {devices} devices are "
        "present. Set it to 0 (use all) or run where the devices match.")
  batch = config.train.batch_size
  if config.parallel.mode != "none" and batch % devices:
    raise ConfigError(
        f"config.train.batch_size = {batch} does not divide over {devices} "
        f"devices; use a multiple of {devices}.")
  if config.parallel.mode == "none" and processes > 1:
    raise ConfigError(f"{processes} processes need config.parallel.mode = 'pmap'.")
  if config.parallel.mode == "mesh" and processes > 1:
    raise ConfigError("config.parallel.mode = 'mesh' runs on one host; use "
                      "'pmap' for several hosts.")
  shards = config.data.shards
  if shards < 1 or batch % shards or shards % processes:
    raise ConfigError(
        f"config.data.shards = {shards} must be >= 1, divide the batch size "
        f"{batch} and be a multiple of the process count {processes}.")


def validate_with_data(config, dataset) -> None:
  """Checks that need the data's shape."""
  if config.model.name == "dcgan":
    h, w = dataset.shape[:2] if len(dataset.shape) == 3 else (None, None)
    if len(dataset.shape) != 3 or h != w or h not in (28, 32, 64):
      raise ConfigError(
          f"config.model.name = 'dcgan' makes 28x28, 32x32 or 64x64 images, but "
          f"{dataset.name} has examples of shape {dataset.shape}. Set "
          "config.data.resize to 28, 32 or 64 for other images, or use "
          "config.model.name = 'mlp' for vector data.")
