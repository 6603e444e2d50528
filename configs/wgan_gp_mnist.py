r"""WGAN-GP on MNIST (Gulrajani et al. 2017): lambda 10, n_critic 5,
Adam(1e-4, (0, 0.9)); DCGAN without batch norm in the critic.

  python -m experiments.run --config=configs/wgan_gp_mnist.py

Expected: 1500 generator steps (7500 critic steps with gradient penalty);
not yet timed end to end, estimated 15-20 minutes on a 2-core CPU.
"""

from configs import base


def get_config():
  c = base.wgan_gp(base.get_base_config())
  c.train.num_steps = 1500
  return c
