r"""f-GAN with the reverse_kl divergence on MNIST (DCGAN, as configs/js_mnist.py).

  python -m experiments.run --config=configs/reverse_kl_mnist.py

Expected: about 7 minutes of training on a 2-core CPU, like js_mnist.
"""

from configs import base


def get_config():
  c = base.get_base_config()
  c.divergence = "reverse_kl"
  return c
