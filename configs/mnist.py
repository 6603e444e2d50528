r"""MNIST, one variant per divergence (and WGAN-GP), each with its image
recipe (configs/base.py, RECIPES["image"]): Radford et al.'s DCGAN at the
schema's settings (widths 64, Adam 1e-3 (0.5, 0.999), batch 64, 5000
steps; WGAN-GP 1500 steps of 5 critic updates).

  python -m experiments.run --config=configs/mnist.py:kl

Variants: configs.base.variant_names() (gan, js, kl, reverse_kl, pearson,
neyman, squared_hellinger, jeffrey, total_variation, wgan_gp). On a 2-core
AMD EPYC without AVX-512 each trains in 1.4-1.5 T (WGAN-GP 1.9 T), T being
PyTorch eager's time for 3000 steps of this DCGAN in the same
experiments.benchmark run (333 s there), and reaches a Frechet distance of
53-136 and a confident share of 0.62-0.71 in the shipped classifier's space
(experiments/results/sweep_mnist: seeds 0-2 of every variant).
"""

from configs import base


def get_config(variant: str = "js"):
  c = base.with_divergence(base.get_base_config(), variant, recipes="image")
  if variant == "wgan_gp":
    c.train.num_steps = 1500  # of 5 critic updates each
  return c
