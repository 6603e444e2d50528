r"""The ring of 8 Gaussians (std 0.02 on a circle of radius 2), one variant
per divergence (and WGAN-GP), each with its toy recipe (configs/base.py,
RECIPES["toy"]): MLP 3x128 generator and critic, 2-D latents, batch 256;
the f-GANs Adam(5e-4, (0.5, 0.999)) for 3000 generator steps, WGAN-GP
Adam(1e-3, (0, 0.9)), lambda 10, 5 critic steps, 2000 generator steps
(rates picked on seeds 0-2 from {1e-4, 5e-4, 1e-3}: at 1e-4 nothing
converges in this budget, at 1e-3 kl diverges). 2500 samples evaluated
every 1000 steps.

  python -m experiments.run --config=configs/ring8.py:jeffrey

About a minute per run on a 2-core CPU. Every variant captures all 8 modes
on seeds 0-2 but gan (8/7/8); high-quality share 0.52 (WGAN-GP) to 0.91
(Neyman) (experiments/results/sweep_ring8).
"""

from configs import base


def get_config(variant: str = "js"):
  c = base.toy(base.get_base_config(), "ring8")
  c.model.hidden = (128, 128, 128)
  c.train.num_steps = 3000
  base.set_adam(c, 5e-4, 0.5, 0.999)
  c = base.with_divergence(c, variant, recipes="toy")
  if variant == "wgan_gp":
    base.set_adam(c, 1e-3, 0.0, 0.9)
    c.train.num_steps = 2000
  return c
