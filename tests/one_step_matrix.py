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

# (model, divergence, gradient penalty kind or None, critic output penalty,
# critic pack): each family of output activation (sigmoid-like,
# exponential, bounded, the identity of an IPM) and each penalty kind, every
# one at least once, Roth et al.'s regulariser in both forms, and PacGAN's
# packs of 2 (with 8 devices, one pack of each device's two rows), on the toy
# MLP; and SNGAN's two image families with spectral norm (its power
# iteration in the step) and a gradient penalty. The output penalty is on
# (1e-3) wherever it can be: a batch mean like the losses, it is where a
# per-device mean would show, and off it is a term times 0.
COMBINATIONS = [("mlp", "js", "r1", 1e-3, 1), ("mlp", "kl", "wgan_gp", 1e-3, 1),
                ("mlp", "total_variation", None, 1e-3, 1), ("mlp", "wasserstein", "wgan_gp", 1e-3, 1)]
COMBINATIONS += [("mlp", "kl", "roth", 0.0, 1), ("mlp", "gan", "roth_symmetric", 1e-3, 1)]
COMBINATIONS += [("mlp", "js", None, 0.0, 2), ("mlp", "wasserstein", "wgan_gp", 0.0, 2)]
COMBINATIONS += [("resnet", "wasserstein", "wgan_gp", 0.0, 1), ("sndcgan", "kl", "r1", 1e-3, 1)]
# The image families' data: 32x32x3 random images (what a step computes does
# not depend on their content).
IMAGES = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), np.uint8)


def config(model, divergence, gp, out, pack, mode):
  """The combination's run config: tiny networks, batch 16, SGD."""
  c = toy_config(**{"model.hidden": (16,), "train.batch_size": 16, "train.n_critic": 1})
  if model != "mlp":
    c.model = models.config(model, width=16 if model == "resnet" else 4, critic_width=16)
    c.data.name, c.data.resize = "mnist", 32  # not loaded: dataset() makes the images
  c.divergence, c.critic_output_penalty, c.parallel.mode = divergence, out, mode
  c.critic_pack = pack
  if gp:
    c.gradient_penalty, c.gradient_penalty_kind = 10.0, gp
  for net in ("critic", "generator"):  # plain SGD: no Adam sign steps on ~0 gradients
    c.optim[net].name, c.optim[net].learning_rate = "sgd", 1e-2
  return c


def dataset(c):
  """The combination's data: the toy mixture, or the random images."""
  if c.model.name == "mlp":
    return data.load(c.data)
  return data.Dataset("images", "images", IMAGES.shape[1:], {"images": IMAGES},
                      data.images.group_sampler(range(1), 1, len(IMAGES)), {})


def key(model, divergence, gp, out, pack, mode):
  """The combination's name in the results file."""
  return f"{mode}/{model}/{divergence}/{gp}/{out}/{pack}"


def one_step(c):
  """(parameters after one step, flattened; the step's metrics)."""
  ds = dataset(c)
  g, d = models.build(c.model, ds.shape)
  runner = parallel.Runner(c, g, d, ds, compute.resolve(c.compute))
  state, metrics = runner(runner.place(train.create_state(c, g, d, ds.shape)),
                          runner.place(ds.arrays))
  state = runner.host(state)
  params = np.concatenate([np.ravel(x) for x in jax.tree.leaves((state.g_params,
                                                                   state.d_params))])
  return params, np.asarray([float(v[0]) for _, v in sorted(metrics.items())])


def runs(combination, devices: int, mode: str) -> bool:
  """Whether the matrix runs ``combination`` in ``mode`` on ``devices``: the
  MLP under pmap and mesh on 8 devices; the image families (each compiled
  for a minute on a CPU) under pmap on 2 devices and mesh on 8."""
  if devices == 1:
    return True
  return (combination[0] == "mlp") == (devices == 8) or mode == "mesh"


def main(out, modes):
  results = {}
  for combination in COMBINATIONS:
    for mode in modes:
      if not runs(combination, jax.device_count(), mode):
        continue
      params, metrics = one_step(config(*combination, mode))
      results[key(*combination, mode) + "/params"] = params
      results[key(*combination, mode) + "/metrics"] = metrics
  np.savez(out, **results)


if __name__ == "__main__":
  main(sys.argv[1], sys.argv[2:])
