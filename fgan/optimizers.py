"""The critic's and the generator's optimisers, from config.optim.<net>:
.name (a key of ``OPTIMIZERS``), .learning_rate, .b1 (Adam beta1 /
momentum), .b2 (Adam beta2 / RMSProp decay), .decay ("none" | "linear": the
learning rate falls linearly to 0 over the run's updates of that network).
Each field's range is checked by fgan.validation.RULES."""

from __future__ import annotations

import optax

OPTIMIZERS = {
    # name: optax optimiser from (learning_rate, b1, b2)
    "adam": lambda lr, b1, b2: optax.adam(lr, b1=b1, b2=b2),
    "rmsprop": lambda lr, b1, b2: optax.rmsprop(lr, decay=b2, momentum=b1 or None),
    "sgd": lambda lr, b1, b2: optax.sgd(lr, momentum=b1 or None),
}
DECAYS = ("none", "linear")


def make(config):
  """The run's two optimisers.

  Args:
    config: a run config; the critic makes train.num_steps *
      train.n_critic updates, the generator train.num_steps (the span of a
      linear decay).

  Returns:
    (generator optimiser, critic optimiser), optax GradientTransformations.
  """
  def one(o, updates):
    lr = o.learning_rate
    if o.decay == "linear":
      lr = optax.linear_schedule(lr, 0.0, updates)
    return OPTIMIZERS[o.name](lr, o.b1, o.b2)
  t = config.train
  return (one(config.optim.generator, t.num_steps),
          one(config.optim.critic, t.num_steps * t.n_critic))
