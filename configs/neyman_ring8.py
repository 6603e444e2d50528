r"""f-GAN with the neyman divergence on the ring of 8 Gaussians: the toy
sweep's settings (configs/sweep_ring8.py: MLP 3x128, batch 256, Adam 5e-4,
3000 steps) with this divergence's recipe (configs/base.py, TOY_RECIPES).

  python -m experiments.run --config=configs/neyman_ring8.py

Samples in runs/neyman_ring8_seed0/samples/; results over seeds in
experiments/RESULTS.md ("Stabilised recipes").
"""

from configs import base
from configs import sweep_ring8


def get_config():
  return base.with_divergence(sweep_ring8.run_config(), "neyman")
