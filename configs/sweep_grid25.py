r"""The toy sweep (configs/sweep_ring8.py) on the grid of 25 Gaussians, with
the grid's own recipe on top of each divergence's.

  python -m experiments.sweep --config=configs/sweep_grid25.py

The grid's modes (std 0.05) need a longer run than the ring's: 20,000
critic updates with the learning rates decayed linearly to 0 (the f-GANs:
20,000 generator steps; WGAN-GP: 4,000 of 5 critic updates), and PacGAN's
packing of 2 (fgan.losses.pack), chosen on seed 0 with gan: 25 modes,
high-quality share 0.84; without packing 17 / 0.76, with packs of 4 24 /
0.05. About 40 minutes on a 2-core CPU; every variant averages at least
22.7 of the 25 modes (experiments/results/sweep_grid25).
"""

from configs import sweep_ring8

CRITIC_UPDATES = 20000  # per run, every variant
CRITIC_PACK = 2  # samples per critic example (PacGAN2)


def get_config():
  s = sweep_ring8.get_config()
  for variant in s.variants.values():
    variant.data.name = "grid25"
    variant.train.num_steps = CRITIC_UPDATES // variant.train.n_critic
    variant.optim.generator.decay = variant.optim.critic.decay = "linear"
    variant.critic_pack = CRITIC_PACK
  return s
