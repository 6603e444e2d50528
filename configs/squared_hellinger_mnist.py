r"""f-GAN with the squared_hellinger divergence on MNIST (DCGAN, as configs/js_mnist.py).

  python -m experiments.run --config=configs/squared_hellinger_mnist.py

Expected: about 7 minutes of training on a 2-core CPU, like js_mnist.
"""

from configs import base


def get_config():
  c = base.get_base_config()
  c.divergence = "squared_hellinger"
  return c
