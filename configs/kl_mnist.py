r"""f-GAN with the kl divergence on MNIST: seed 003's DCGAN at
configs/base.py's settings (Adam 1e-3, 5000 steps: the MNIST sweep's) with
this divergence's recipe (configs/base.py, IMAGE_RECIPES).

  python -m experiments.run --config=configs/kl_mnist.py

Every such config trains in the same time (the recipes add no gradient
penalty): 1.4-1.9 T on the CPUs measured (RESULTS.md). Results in
experiments/RESULTS.md.
"""

from configs import base


def get_config():
  return base.with_divergence(base.get_base_config(), "kl")
