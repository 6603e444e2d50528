r"""Every divergence and WGAN-GP on the ring of 8 Gaussians, 3 seeds each,
seeds vmapped: the toy sweep, ranked by modes captured and high-quality
samples (within 3 std of a mode; VEEGAN's measure).

  python -m experiments.sweep --config=configs/sweep_ring8.py

MLP 3x128 generator and critic, batch 256; the f-GANs: Adam(5e-4, (0.5,
0.999)), 3000 generator steps; WGAN-GP: Adam(1e-3, (0, 0.9)), lambda 10, 5
critic steps, 2000 generator steps (learning rates picked on seeds 0-2 from
{1e-4, 5e-4, 1e-3}: at 1e-4 nothing converges in this budget, at 1e-3 kl
diverges). 2500 samples evaluated every 1000 steps. Expected on a 2-core CPU:
about 7 minutes for all 30 runs.
"""

from configs import base

DATA = "ring8"


def run_config():
  c = base.toy(base.get_base_config(), DATA)
  c.model.hidden = (128, 128, 128)
  c.train.num_steps = 3000
  c.checkpoint.every_steps = 1000
  base.set_adam(c, 5e-4, 0.5, 0.999)
  return c


def get_config():
  s = base.sweep(run_config())
  base.set_adam(s.variants.wgan_gp, 1e-3, 0.0, 0.9)
  s.variants.wgan_gp.train.num_steps = 2000
  return s
