r"""The main job: Jensen-Shannon f-GAN on the 60,000 MNIST training digits.

  python -m experiments.run --config=configs/js_mnist.py

DCGAN (28x28: G 64 -> 7x7x128 -> 14x14x64 -> 28x28x1; D 64, 128 -> 1),
batch 64, Adam(2e-4, (0.5, 0.999)), 3000 generator steps.
Expected: about 7 minutes of training on a 2-core CPU (AMD EPYC, jax 0.7.1,
~8 it/s), recognisable digits of every class in runs/js_mnist_seed0/samples/.
"""

from configs import base


def get_config():
  c = base.get_base_config()
  c.divergence = "js"
  return c
