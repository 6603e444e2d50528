r"""CIFAR-10 at 32x32 with SNGAN's ResNet (configs/base.py, sngan_resnet),
one variant per divergence (and WGAN-GP), over TFDS's cifar10 (prepared
with `tfds build cifar10 --file_format=array_record`; data.tfds_data_dir).

  python -m experiments.run --config=configs/cifar10.py:wgan_gp

The published rows it sets out to reproduce (mimicry, kwotsin/mimicry,
README "CIFAR-10": 100k iterations, n_dis 5, Adam 2e-4 (0, 0.9), linear
decay; Inception FID of 50k generated images against the 50k training
images, torch-fidelity's FID Inception):
  wgan_gp  mimicry's WGAN-GP (torch_mimicry/nets/wgan_gp/wgan_gp_32.py):
           FID 22.29 +- 0.06, IS 7.33.
  gan      the standard GAN loss with spectral norm: mimicry's SNGAN row
           (FID 16.77, sngan_32.py) uses the hinge loss, which is not an
           f-divergence, so it is the nearest row, not this one's.
  the other f-divergences: no published row with this network.
Not run here: these numbers have not been reproduced with fgan (a CPU
cannot train it; 100,000 steps of 5 critic updates need a GPU). fgan's
FID is measured the same way (eval.feature_space "inception", the
published weights file, data.test_split "train" as the reference, 50,000
samples).
"""

from configs import base


def get_config(variant: str = "wgan_gp"):
  c = base.sngan_resnet(variant)
  c.data.name = "tfds:cifar10"  # 50,000 training images, 32x32, 10 classes
  c.data.test_split = "train"  # the FID reference: the training images, as mimicry
  return c
