r"""Every variant of configs/mnist.py (each divergence and WGAN-GP) on the
main job's network, seeds 1, 2, 3 (the recipes were chosen on seed 0),
trained one after another.

  python -m experiments.sweep --config=configs/sweep_mnist.py \
      --results_dir=experiments/results/sweep_mnist

30 member runs, evaluated every 1000 steps and at the end with the held-out
divergence estimates: on a 2-core CPU about 7 hours (the sweep resumes, so
run it in pieces, or on a GPU). The pipeline check with every variant for
100 steps:

  python -m experiments.sweep --config=configs/sweep_mnist.py \
      --config.grid='(("train.num_steps", (100,)),)' --sweep_dir=runs/sweeps/mnist_100

Vmapping DCGAN seeds is slower than training them one by one on XLA's CPU
backend (experiments.benchmark's dcgan section measures it); on GPUs pass
--config.vmap_seeds=True --config.grid='(("compute.conv_impl", ("matmul",)),)'.
"""

from configs import base
from configs import mnist


def get_config():
  s = base.sweep(mnist.get_config, seeds=(1, 2, 3))
  s.vmap_seeds = False
  return s
