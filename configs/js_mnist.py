r"""The main job: Jensen-Shannon f-GAN on the 60,000 MNIST training digits.

  python -m experiments.run --config=configs/js_mnist.py

DCGAN (28x28: G 64 -> 7x7x128 -> 14x14x64 -> 28x28x1; critic 64, 128 with
batch norm -> 1), batch 64, Adam(2e-4, (0.5, 0.999)), 3000 generator steps.
Expected on a 2-core AMD EPYC CPU (jax 0.7.1): about 5.5 minutes of training
at 9.4 steps/s alone (the first run on a machine also trains the MNIST
evaluation classifier, about 3.5 minutes); digit-like samples in
runs/js_mnist_seed0/samples/; final evaluation (seed 0): Frechet distance
339, classifier score 6.9, 8 classes covered, 68% of samples classified
with p >= 0.9 (experiments/RESULTS.md).
"""

from configs import base


def get_config():
  c = base.get_base_config()
  c.divergence = "js"
  return c
