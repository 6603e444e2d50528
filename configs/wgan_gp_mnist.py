r"""WGAN-GP on MNIST (Gulrajani et al. 2017): lambda 10, n_critic 5,
Adam(1e-3, (0, 0.9)) (their betas, the base's rate: configs/base.py,
IMAGE_RECIPES); seed 003's DCGAN without batch norm in the critic.

  python -m experiments.run --config=configs/wgan_gp_mnist.py

1500 generator steps (7500 critic steps with gradient penalty), within
issue 22's 3 T (T of experiments.benchmark; RESULTS.md, MNIST sweep).
"""

from configs import base


def get_config():
  c = base.with_divergence(base.get_base_config(), "wgan_gp")
  c.train.num_steps = 1500
  return c
