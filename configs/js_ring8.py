r"""f-GAN with the js divergence on the ring of 8 Gaussians (MLP 3x512).

  python -m experiments.run --config=configs/js_ring8.py

Expected: about 70 s on a 2-core CPU (js measured: 72 s, 31 steps/s); samples in runs/js_ring8_seed0/samples/.
"""

from configs import base


def get_config():
  c = base.toy(base.get_base_config(), "ring8")
  c.divergence = "js"
  return c
