r"""Fashion-MNIST with configs/mnist.py's variants unchanged: the recipes
chosen on MNIST, tested on a dataset they were not tuned on (the only
change is the data: Debian's dataset-fashion-mnist, 60,000 training and
10,000 test images of 28x28 greyscale clothing, 10 classes).

  python -m experiments.run --config=configs/fashion_mnist.py:kl

Evaluated with the Fashion-MNIST classifier that ships with fgan
(fgan/evaluation/classifiers/fashion_mnist). Each variant trains as long as
its MNIST twin. Every variant on seeds 1-3: configs/sweep_fashion_mnist.py
(not yet run).
"""

from configs import mnist


def get_config(variant: str = "js"):
  c = mnist.get_config(variant)
  c.data.name = "fashion_mnist"
  return c
