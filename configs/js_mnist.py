r"""The main job: Jensen-Shannon f-GAN on the 60,000 MNIST training digits.

  python -m experiments.run --config=configs/js_mnist.py

DCGAN (28x28: G 64 -> 7x7x128 -> 14x14x64 -> 28x28x1; critic 64, 128 with
batch norm -> 1), batch 64, Adam(1e-3, (0.5, 0.999)), 5000 generator steps
(the rate chosen on seed 0; the length is what 2 T allows, T = PyTorch
eager's time for 3000 steps of this DCGAN, printed by experiments.benchmark).
Samples in runs/js_mnist_seed0/samples/; at the end the evaluation (seed 0:
Frechet distance 75, 10 classes covered, 70% of samples classified with
p >= 0.9) and the held-out divergence estimates are printed
(experiments/RESULTS.md, "Main job").
"""

from configs import base


def get_config():
  return base.with_divergence(base.get_base_config(), "js")
