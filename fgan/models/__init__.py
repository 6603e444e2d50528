"""Generators and critics (flax.linen), one family per module, found by name.

A family (``Family``) owns everything about its networks: its config fields
and their defaults (``config.model`` holds ``name`` and the chosen family's
fields, nothing else), how to build the (generator, critic) pair from them
and the data's example shape, and the checks of both. Every critic returns
raw outputs V(x) of shape (batch, 1), no activation: the divergence's g_f is
applied in the loss.

Families: ``mlp`` (fgan.models.mlp), ``dcgan`` (Radford et al. 2016,
fgan.models.dcgan), ``resnet`` (SNGAN's ResNets, fgan.models.resnet) and
``sndcgan`` (Miyato et al.'s standard CNN, fgan.models.sndcgan).
``register`` adds one (README, "Extending fgan").
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from fgan import errors
from fgan.models import dcgan
from fgan.models import mlp
from fgan.models import resnet
from fgan.models import sndcgan
from fgan.models.kernels import CONV_IMPLS
from fgan.models.mlp import MLP


@dataclasses.dataclass(frozen=True)
class Family:
  """One model family.

  Attributes:
    name: its config.model.name.
    fields: () -> ConfigDict of the family's config.model fields (all but
      ``name``) at their defaults. A field added later must default to the
      network it extends, so that a run saved without it resumes.
    build: (model_config, data_shape, conv_impl) -> (generator, critic),
      flax modules: generator.apply(params, z (B, z_dim)) -> (B, ...) and
      critic.apply(params, x (B, *data_shape)) -> (B, 1). Their variables
      may not depend on the input's values (``initialize`` makes them from
      its shape alone).
    check: (model_config) -> None; raises errors.ConfigError naming the
      field and the fix.
    check_data: (model_config, data_shape) -> None; raises
      errors.ConfigError when the family cannot make such examples.
    per_example_critic: (model_config) -> whether the critic treats the
      examples of a batch independently, as a gradient penalty needs.
  """

  name: str
  fields: Callable[[], ml_collections.ConfigDict]
  build: Callable
  check: Callable
  check_data: Callable
  per_example_critic: Callable


_FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
  """Make ``family`` available as config.model.name = family.name.

  Args:
    family: the family; its name must be new.

  Returns:
    ``family``.

  Raises:
    ValueError: a different family has that name already.
  """
  if _FAMILIES.get(family.name, family) is not family:
    raise ValueError(f"A model family named {family.name!r} exists already.")
  _FAMILIES[family.name] = family
  return family


register(Family("mlp", mlp.fields, mlp.build, mlp.check, lambda m, shape: None,
                lambda m: True))
for _module in (dcgan, resnet, sndcgan):
  register(Family(_module.__name__.rsplit(".", 1)[-1], _module.fields, _module.build,
                  _module.check, _module.check_data, _module.per_example_critic))


def names() -> tuple[str, ...]:
  """The registered family names, built-in ones first.

  Returns:
    The names.
  """
  return tuple(_FAMILIES)


def get(name: str) -> Family:
  """The family called ``name``.

  Raises:
    errors.ConfigError: no family has that name.

  Args:
    name: a family name.

  Returns:
    The Family.
  """
  errors.check_choice("model.name", name, names())
  return _FAMILIES[name]


def config(name: str, **fields) -> ml_collections.ConfigDict:
  """config.model for family ``name``: its fields at their defaults, with
  ``fields`` set.

  Args:
    name: a family name.
    **fields: values of that family's fields.

  Returns:
    ConfigDict with ``name`` and the family's fields.

  Raises:
    errors.ConfigError: unknown family or field.
  """
  c = ml_collections.ConfigDict({"name": name})
  c.update(get(name).fields())
  for key, value in fields.items():
    if key not in c:
      raise errors.ConfigError(f"config.model.{key} is not a field of model {name!r}; its "
                               f"fields: {', '.join(sorted(get(name).fields()))}.")
    c[key] = value
  return c


def normalized(model_dict: dict) -> dict:
  """A saved config.model (a plain dict, as in config.json) in today's
  schema: the family's fields at their saved values where saved, at their
  defaults where the run predates them; fields the family no longer has
  dropped.

  Raises:
    errors.ConfigError: the saved family is not registered.

  Args:
    model_dict: the saved config.model.

  Returns:
    The normalised dict.
  """
  defaults = get(model_dict["name"]).fields().to_dict()
  return {"name": model_dict["name"],
          **{k: model_dict.get(k, v) for k, v in defaults.items()}}


def check(model_config) -> None:
  """The family's name, that config.model holds exactly its fields, and
  their values.

  Raises:
    errors.ConfigError: naming the field and the fix.

  Args:
    model_config: config.model.
  """
  family = get(model_config.name)
  have, want = set(model_config.keys()) - {"name"}, set(family.fields().keys())
  if have != want:
    extra, missing = sorted(have - want), sorted(want - have)
    raise errors.ConfigError(
        f"config.model holds the fields of another model than {model_config.name!r}"
        + (f" (not its fields: {', '.join(extra)})" if extra else "")
        + (f" (missing: {', '.join(missing)})" if missing else "")
        + f". Build config.model with fgan.models.config({model_config.name!r}, ...), "
        "which gives the family's fields and their defaults.")
  family.check(model_config)


def check_data(model_config, data_shape) -> None:
  """That the model can make examples of ``data_shape``.

  Raises:
    errors.ConfigError: naming the field and the fix.

  Args:
    model_config: config.model.
    data_shape: one example's shape.
  """
  get(model_config.name).check_data(model_config, tuple(data_shape))


def per_example_critic(model_config) -> bool:
  """Whether the critic treats the examples of a batch independently.

  Args:
    model_config: config.model.

  Returns:
    The answer.
  """
  return get(model_config.name).per_example_critic(model_config)


def build(model_config, data_shape, conv_impl: str = "subpixel"):
  """(generator, critic) for config.model and one example's shape.

  Args:
    model_config: config.model.
    data_shape: one example's shape, (H, W, C) or (d,).
    conv_impl: the resolved compute.conv_impl (fgan.compute).

  Returns:
    (generator, critic) flax modules (see ``Family.build``).
  """
  return get(model_config.name).build(model_config, tuple(data_shape), conv_impl)


def initialize(module: nn.Module, key: jax.Array, shape: tuple[int, ...],
               dtype=jnp.float32) -> dict:
  """``module``'s variables for a batch of ``shape``, made without running
  the network (flax's lazy_init): the initialisers draw the numbers
  ``module.init(key, jnp.zeros(shape, dtype))`` draws, bit for bit, and no
  layer is evaluated on the placeholder input.

  Args:
    module: a flax module whose variables do not depend on its input's values.
    key: the "params" key.
    shape: the input batch's shape, e.g. (2, H, W, C).
    dtype: the input's dtype.

  Returns:
    The variables ({"params": ..., and any other collection}).
  """
  return module.lazy_init(key, jax.ShapeDtypeStruct(tuple(shape), dtype))


def with_axis(module: nn.Module, axis_name: str) -> nn.Module:
  """``module`` with batch norm's statistics averaged over the mapped axis
  ``axis_name`` too (pmap): the same parameters, another program; a module
  without batch norm is returned as it is.

  Args:
    module: a generator or critic.
    axis_name: the pmap axis.

  Returns:
    The module for that axis.
  """
  return module.clone(axis_name=axis_name) if hasattr(module, "axis_name") else module


__all__ = ["CONV_IMPLS", "Family", "MLP", "build", "check", "check_data", "config", "get",
           "initialize", "names", "normalized", "per_example_critic", "register", "with_axis"]
