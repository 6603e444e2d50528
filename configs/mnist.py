r"""MNIST, one variant per divergence (and WGAN-GP), each with its image
recipe (configs/base.py, RECIPES["image"]), all on the main job's network:
Radford et al.'s DCGAN made deeper and narrower (widths 48, two 3x3 layers
at 7x7 in each network), batch 64, Adam(2e-3, (0.5, 0.999)), 3500 generator
steps; WGAN-GP Adam(1e-3, (0, 0.9)), 1500 steps of 5 critic updates.

  python -m experiments.run --config=configs/mnist.py:kl

Variants: configs.base.variant_names() (gan, js, kl, reverse_kl, pearson,
neyman, squared_hellinger, jeffrey, total_variation, wgan_gp). On a 2-core
AMD EPYC without AVX-512 an f-divergence variant trains in 1.5 T (T being
PyTorch eager's time for 3000 steps of the plain DCGAN in the same
experiments.benchmark run, 333 s there), about 13 minutes with its
evaluations. Every variant on seeds 1-3: configs/sweep_mnist.py (not yet
run: one member takes 13-15 min of a 2-core CPU).
"""

from configs import base

def get_config(variant: str = "js"):
  c = base.with_divergence(base.get_base_config(), variant, recipes="image")
  c.model.width = c.model.critic_width = 48  # Radford et al.'s: 64
  c.model.generator_extra_convs = c.model.critic_extra_convs = 2  # Radford et al.'s: 0
  c.train.num_steps = 3500
  if variant == "wgan_gp":
    c.train.num_steps = 1500  # of 5 critic updates each
  else:
    base.set_adam(c, 2e-3, 0.5, 0.999)
  return c
