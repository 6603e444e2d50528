r"""f-GAN with the reverse_kl divergence on MNIST: the main job's DCGAN and
settings (configs/js_mnist.py) with this divergence's recipe
(configs/base.py, IMAGE_RECIPES).

  python -m experiments.run --config=configs/reverse_kl_mnist.py

Trains as long as the main job (the same step cost: the recipes add no
gradient penalty). Results in experiments/RESULTS.md.
"""

from configs import base


def get_config():
  return base.with_divergence(base.get_base_config(), "reverse_kl")
