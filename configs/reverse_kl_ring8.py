r"""f-GAN with the reverse_kl divergence on the ring of 8 Gaussians (MLP 3x512).

  python -m experiments.run --config=configs/reverse_kl_ring8.py

Expected: under a minute on a 2-core CPU; samples in runs/reverse_kl_ring8_seed0/samples/.
"""

from configs import base


def get_config():
  c = base.toy(base.get_base_config(), "ring8")
  c.divergence = "reverse_kl"
  return c
