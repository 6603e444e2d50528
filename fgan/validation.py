"""Config checks that run before anything is loaded, compiled or written.

``RULES`` holds one rule per field of the schema (fgan.config.defaults; the
model family checks config.model's own fields), so no field goes
unchecked (a test compares the two); each registry then checks its
cross-field rules (losses, models, data, parallel, evaluation). Every error
names the field, what is wrong and how to fix it.
"""

from __future__ import annotations

import functools
import math

from fgan import compute
from fgan import data
from fgan import divergences
from fgan import errors
from fgan import evaluation
from fgan import losses
from fgan import models
from fgan import optimizers
from fgan import parallel
from fgan.data import preprocess

ConfigError = errors.ConfigError
ON_NONFINITE = ("stop", "skip")


def _int(minimum: int, zero_means: str | None = None):
  return lambda field, v: errors.check_int(field, v, minimum, zero_means)


def _float(low: float, high: float = float("inf"), low_open: bool = False,
           high_open: bool = True, off: str | None = None):
  return lambda field, v: errors.check_float(field, v, low, high, low_open, high_open, off)


def _choice(valid):
  """A rule for a name from ``valid`` (a tuple, or a function giving one
  when the check runs: registries grow)."""
  return lambda field, v: errors.check_choice(field, v, valid() if callable(valid) else valid)


def _optim_rules(net: str) -> dict:
  return {f"optim.{net}.name": _choice(tuple(optimizers.OPTIMIZERS)),
          f"optim.{net}.learning_rate": _float(0.0, low_open=True),
          f"optim.{net}.b1": _float(0.0, 1.0), f"optim.{net}.b2": _float(0.0, 1.0),
          f"optim.{net}.decay": _choice(optimizers.DECAYS)}


# field -> rule(field, value), raising errors.ConfigError.
RULES = {
    "seed": _int(0),
    "divergence": _choice(divergences.names),
    "generator_loss": _choice(losses.GENERATOR_LOSS_MODES),
    "gradient_penalty": _float(0.0, off="off"),
    "gradient_penalty_kind": _choice(losses.GRADIENT_PENALTY_KINDS),
    "gradient_penalty_anneal": _float(0.0, 1.0, low_open=True, high_open=False),
    "critic_output_penalty": _float(0.0, off="off"),
    "critic_output_bound": _float(0.0, off="off"),
    "critic_pack": _int(1),
    "data.name": lambda field, v: data.kind(v),
    "data.source": _choice(data.SOURCES),
    "data.download": errors.check_bool,
    "data.tfds_data_dir": errors.check_str,
    "data.idx_dir": errors.check_str,
    "data.means": errors.check_floats,
    "data.stds": errors.check_floats,
    "data.weights": errors.check_floats,
    "data.shards": _int(1),
    "data.resize": _int(0, "native size"),
    "data.train_split": errors.check_str,
    "data.test_split": errors.check_str,
    "data.image_key": errors.check_str,
    "data.label_key": errors.check_str,
    "data.folder_labels": errors.check_bool,
    "data.crop": _float(0.0, off="no crop"),
    "data.resize_filter": _choice(tuple(preprocess.FILTERS)),
    "data.flip": errors.check_bool,
    "data.in_memory_max_mb": _float(0.0, off="a quarter of the device's memory"),
    "train.num_steps": _int(1),
    "train.batch_size": _int(1),
    "train.n_critic": _int(1),
    "train.log_every": _int(1),
    "train.ema_decay": _float(0.0, 1.0, off="no average"),
    "train.on_nonfinite": _choice(ON_NONFINITE),
    **_optim_rules("critic"), **_optim_rules("generator"),
    "parallel.mode": _choice(parallel.MODES),
    "parallel.num_devices": _int(0, "all available"),
    "compute.conv_impl": _choice(compute.CONV_IMPLS),
    "compute.steps_per_call": _int(0, "automatic"),
    "eval.every_steps": _int(1),
    "eval.metrics": errors.check_bool,
    "eval.num_samples": _int(1),
    "eval.grid_size": _int(1),
    "eval.feature_space": _choice(evaluation.FEATURE_SPACES),
    "eval.inception_weights": errors.check_str,
    "eval.estimate_steps": _int(0, "off"),
    "eval.estimate_learning_rate": _float(0.0, low_open=True),
    "checkpoint.every_steps": _int(1),
    "checkpoint.keep": _int(1),
}


def validate(config, num_seeds: int = 1) -> None:
  """Every field of a run config, and the rules across fields (no data or
  devices needed).

  Args:
    config: a run config.
    num_seeds: seeds to be trained together (vmapped).

  Raises:
    errors.ConfigError: naming the field and the fix.
  """
  for field, rule in RULES.items():
    *sections, key = field.split(".")
    node = functools.reduce(lambda c, s: c[s], sections, config)
    rule(field, node[key])
  models.check(config.model)
  losses.check(config)
  data.check(config.data)
  parallel.check(config, num_seeds)
  evaluation.check(config)
  if config.gradient_penalty > 0 and not models.per_example_critic(config.model):
    raise ConfigError(
        f"A gradient penalty needs per-example critic outputs, but model "
        f"{config.model.name!r} with these fields mixes the examples of a batch "
        "(batch norm). Set config.model.critic_norm to 'none', 'layer' or 'spectral', "
        "or config.gradient_penalty = 0.")


def validate_placement(config) -> None:
  """The batch, the data's shards and the mode against the devices and
  processes present.

  Args:
    config: a run config.

  Raises:
    errors.ConfigError: naming the field and the fix.
  """
  import jax  # pylint: disable=import-outside-toplevel
  parallel.check_devices(config)
  if data.kind(config.data.name) == "images":
    data.check_layout(config.data, config.train.batch_size, jax.process_count())


def _activation_bytes(module, example_shape) -> int:
  """Bytes of every intermediate of ``module`` applied to one example: its
  activations per example in one forward pass (float32)."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  x = jnp.zeros((2,) + tuple(example_shape))
  params = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), x))
  jaxpr = jax.make_jaxpr(module.apply)(params, x)
  elements = sum(math.prod(v.aval.shape) for eqn in jaxpr.eqns for v in eqn.outvars
                 if hasattr(v.aval, "shape"))
  return 4 * elements // 2


def validate_with_data(config, dataset, generator, critic) -> None:
  """That the model can make the data's examples, and that a train step's
  batch fits in memory: one forward pass of the generator and of the critic
  on a real and a generated batch keep at least their activations, which
  must fit in the device's memory (the host's RAM on CPUs).

  Args:
    config: a run config.
    dataset: its training data (fgan.data.Dataset).
    generator, critic: its modules.

  Raises:
    errors.ConfigError: naming the field and the fix.
  """
  models.check_data(config.model, dataset.shape)
  packed = losses.packed_shape(dataset.shape, config.critic_pack)
  per_example = (_activation_bytes(generator, (config.model.z_dim,))
                 + 2 * _activation_bytes(critic, packed) // config.critic_pack)
  need, have = config.train.batch_size * per_example, compute.device_memory_bytes()
  if need > have:
    raise ConfigError(
        f"config.train.batch_size = {config.train.batch_size} needs at least "
        f"{need / 2**30:.1f} GiB for one step's activations ({per_example} bytes per "
        f"example), more than the {have / 2**30:.1f} GiB this device has. Use a smaller "
        "batch.")
