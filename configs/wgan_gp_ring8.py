r"""WGAN-GP on the ring of 8 Gaussians (the WGAN-GP paper's toy setup:
MLP 3x512, batch 256, lambda 10, n_critic 5, Adam(1e-4, (0, 0.9))).

  python -m experiments.run --config=configs/wgan_gp_ring8.py

Expected: about 2 minutes on a 2-core CPU.
"""

from configs import base


def get_config():
  return base.wgan_gp(base.toy(base.get_base_config(), "ring8"))
