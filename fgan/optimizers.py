"""The critic's and the generator's optimisers, from config.optim.<net>:
.name (a key of ``OPTIMIZERS``), .learning_rate, .b1 (Adam beta1 /
momentum), .b2 (Adam beta2 / RMSProp decay), .decay ("none" | "linear": the
learning rate falls linearly to 0 over the run's updates of that network)."""

from __future__ import annotations

import math

import optax

from fgan import errors

OPTIMIZERS = {
    # name: optax optimiser from (learning_rate, b1, b2)
    "adam": lambda lr, b1, b2: optax.adam(lr, b1=b1, b2=b2),
    "rmsprop": lambda lr, b1, b2: optax.rmsprop(lr, decay=b2, momentum=b1 or None),
    "sgd": lambda lr, b1, b2: optax.sgd(lr, momentum=b1 or None),
}
DECAYS = ("none", "linear")


def check(optim_config) -> None:
  for net in ("critic", "generator"):
    o = optim_config[net]
    errors.check_choice(f"optim.{net}.name", o.name, tuple(OPTIMIZERS))
    errors.check_choice(f"optim.{net}.decay", o.decay, DECAYS)
    lr = o.learning_rate
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
      raise errors.ConfigError(f"config.optim.{net}.learning_rate = {lr} must be a finite "
                               "number > 0.")
    if not (0 <= o.b1 < 1 and 0 <= o.b2 < 1):
      raise errors.ConfigError(f"config.optim.{net} betas ({o.b1}, {o.b2}) must lie in [0, 1).")


def make(config):
  """(generator, critic) optimisers; the critic makes num_steps * n_critic
  updates, the generator num_steps."""
  def one(o, updates):
    lr = o.learning_rate
    if o.decay == "linear":
      lr = optax.linear_schedule(lr, 0.0, updates)
    return OPTIMIZERS[o.name](lr, o.b1, o.b2)
  t = config.train
  return (one(config.optim.generator, t.num_steps),
          one(config.optim.critic, t.num_steps * t.n_critic))
