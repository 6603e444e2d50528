"""One train step of every penalty combination, written to an .npz: the
device-count matrix of tests/test_parallel.py runs this module in a
subprocess per simulated device count (XLA_FLAGS must be set before jax is
imported) and compares the results.

  python -m tests.one_step_matrix OUT.npz MODE [MODE ...]
"""

import sys

import jax
import numpy as np

from fgan import compute
from fgan import data
from fgan import models
from fgan import parallel
from fgan import train
from tests.conftest import toy_config

# (divergence, gradient penalty kind or None, critic output penalty, critic
# pack): each family of output activation (sigmoid-like, exponential,
# bounded, the identity of an IPM) with every penalty, Roth et al.'s
# regulariser in both forms, and PacGAN's packs of 2 (with 8 devices, one
# pack of each device's two rows). The output penalty is on (1e-3) wherever
# it can be: a batch mean like the losses, it is where a per-device mean
# would show, and off it is a term times 0.
COMBINATIONS = [(d, gp, 1e-3, 1) for d in ("js", "kl", "total_variation")
                for gp in (None, "wgan_gp", "r1")]
COMBINATIONS += [("wasserstein", "wgan_gp", 1e-3, 1)]
COMBINATIONS += [("kl", "roth", 0.0, 1), ("gan", "roth_symmetric", 1e-3, 1)]
COMBINATIONS += [("js", None, 0.0, 2), ("wasserstein", "wgan_gp", 0.0, 2)]


def config(divergence, gp, out, pack, mode):
  c = toy_config(**{"model.hidden": (16,), "train.batch_size": 16, "train.n_critic": 1})
  c.divergence, c.critic_output_penalty, c.parallel.mode = divergence, out, mode
  c.critic_pack = pack
  if gp:
    c.gradient_penalty, c.gradient_penalty_kind = 10.0, gp
  for net in ("critic", "generator"):  # plain SGD: no Adam sign steps on ~0 gradients
    c.optim[net].name, c.optim[net].learning_rate = "sgd", 1e-2
  return c


def key(divergence, gp, out, pack, mode):
  return f"{mode}/{divergence}/{gp}/{out}/{pack}"


def one_step(c):
  """(parameters after one step, flattened; the step's metrics)."""
  ds = data.load(c.data)
  g, d = models.build(c.model, ds.shape)
  runner = parallel.Runner(c, g, d, ds, compute.resolve(c.compute))
  state, metrics = runner(runner.place(train.create_state(c, g, d, ds.shape)),
                          runner.place(ds.arrays))
  state = runner.host(state)
  params = np.concatenate([np.ravel(x) for x in jax.tree.leaves((state.g_params, state.d_params))])
  return params, np.asarray([float(v[0]) for _, v in sorted(metrics.items())])


def main(out, modes):
  results = {}
  for combination in COMBINATIONS:
    for mode in modes:
      params, metrics = one_step(config(*combination, mode))
      results[key(*combination, mode) + "/params"] = params
      results[key(*combination, mode) + "/metrics"] = metrics
  np.savez(out, **results)


if __name__ == "__main__":
  main(sys.argv[1], sys.argv[2:])
