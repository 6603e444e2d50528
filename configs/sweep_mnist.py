r"""Every divergence and WGAN-GP on MNIST, 3 seeds each (the main job's DCGAN
and settings, configs/js_mnist.py).

  python -m experiments.sweep --config=configs/sweep_mnist.py

30 member runs of 3000 generator steps (WGAN-GP: 1500 steps of 5 critic
updates each), evaluated with the MNIST classifier every 1000 steps. Expected
on a 2-core CPU: about 4.5 hours (8 steps/s per seed for the f-GANs, about
1.6 for WGAN-GP; README "Sweeps"). A shorter check of the whole pipeline,
every divergence for 100 steps (about 10 minutes):

  python -m experiments.sweep --config=configs/sweep_mnist.py \
      --config.grid='(("train.num_steps", (100,)),)' --sweep_dir=runs/sweeps/mnist_100
"""

from configs import base


def get_config():
  c = base.get_base_config()
  s = base.sweep(c)
  s.variants.wgan_gp.train.num_steps = 1500
  # Measured here (experiments.benchmark): 4 DCGAN seeds vmapped run at
  # 0.68x the throughput of one seed after another on XLA's CPU backend, so
  # on CPUs the seeds train one by one; set True on accelerators.
  s.vmap_seeds = False
  return s
