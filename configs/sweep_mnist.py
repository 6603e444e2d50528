r"""Every divergence and WGAN-GP on MNIST, 3 seeds each (the main job's DCGAN
and settings, configs/js_mnist.py).

  python -m experiments.sweep --config=configs/sweep_mnist.py

30 member runs of 3000 generator steps (WGAN-GP: 1500 steps of 5 critic
updates each), evaluated with the MNIST classifier every 1000 steps. Expected
on a 2-core CPU: about 4 h 45 min (measured before the faster transposed
convolution of commit 622fa11: 6.3-8.2 steps/s for the f-GANs, 0.86 for
WGAN-GP, i.e. about 3 h 15 min for the 27 f-GAN runs and 1 h 30 min for the
3 WGAN-GP runs; the f-GAN step is now about 30% faster). The whole pipeline with every divergence for 100
steps took 21 min 19 s here:

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
  # (0.64x with model.conv_impl "matmul"), so on CPUs the seeds train one
  # by one. On an H100 they ran at 1.0x with "subpixel" and 1.9x with
  # "matmul": on GPUs pass --config.vmap_seeds=True
  # --config.grid='(("model.conv_impl", ("matmul",)),)'.
  s.vmap_seeds = False
  return s
