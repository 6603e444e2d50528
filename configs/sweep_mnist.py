r"""Every divergence and WGAN-GP on MNIST, 3 seeds each: seed 003's DCGAN at
configs/base.py's settings (Adam 1e-3, 5000 steps; the main job's network
is deeper) with each divergence's recipe (configs/base.py, IMAGE_RECIPES).

  python -m experiments.sweep --config=configs/sweep_mnist.py

30 member runs: the f-GANs 5000 generator steps each (each about as long
as the main job), WGAN-GP 1500 steps of 5 critic updates; evaluated every
1000 steps, and at the end with the held-out divergence estimates. On a
2-core CPU that is many hours: the sweep resumes, so run it in pieces (or
on a GPU). The pipeline check with every divergence for 100 steps:

  python -m experiments.sweep --config=configs/sweep_mnist.py \
      --config.grid='(("train.num_steps", (100,)),)' --sweep_dir=runs/sweeps/mnist_100
"""

from configs import base


def get_config():
  c = base.get_base_config()
  s = base.sweep(c)
  s.variants.wgan_gp.train.num_steps = 1500
  # Measured (experiments.benchmark, RESULTS.md): 4 DCGAN seeds vmapped run
  # at 0.50x the throughput of one seed after another on XLA's CPU backend
  # (0.64x with compute.conv_impl "matmul"), so on CPUs the seeds train one
  # by one. On an H100 they ran at 1.0x with "subpixel" and 1.9x with
  # "matmul": on GPUs pass --config.vmap_seeds=True
  # --config.grid='(("compute.conv_impl", ("matmul",)),)'.
  s.vmap_seeds = False
  return s
