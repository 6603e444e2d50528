r"""configs/sweep_mnist.py on Fashion-MNIST (configs/fashion_mnist.py): every
variant with its MNIST recipe unchanged, seeds 1, 2, 3.

  python -m experiments.sweep --config=configs/sweep_fashion_mnist.py \
      --results_dir=experiments/results/sweep_fashion_mnist

As long as the MNIST sweep (30 runs, about 7 hours on a 2-core CPU).
"""

from configs import base
from configs import fashion_mnist


def get_config():
  s = base.sweep(fashion_mnist.get_config, seeds=(1, 2, 3))
  s.vmap_seeds = False
  return s
