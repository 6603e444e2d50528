r"""STL-10 at 48x48 with SNGAN's ResNet (configs/base.py, sngan_resnet; the
48x48 widths), one variant per divergence (and WGAN-GP), over TFDS's stl10
unlabelled split (100,000 images of 96x96, resized to 48x48 with the
antialiased bilinear filter, as torchvision's Resize on PIL images).

  python -m experiments.run --config=configs/stl10.py:wgan_gp

The published rows it sets out to reproduce (mimicry, kwotsin/mimicry,
README "STL-10": 100k iterations, n_dis 5, Adam 2e-4 (0, 0.9), linear
decay; Inception FID of 50k generated images against 50k training images,
which mimicry draws from the unlabelled split):
  wgan_gp  mimicry's WGAN-GP (torch_mimicry/nets/wgan_gp/wgan_gp_48.py):
           FID 43.01 +- 0.19, IS 8.55.
  gan      the standard GAN loss with spectral norm: mimicry's SNGAN row
           (FID 39.56, sngan_48.py) uses the hinge loss, not an
           f-divergence.
  the other f-divergences: no published row with this network.
Not run here: these numbers have not been reproduced with fgan (it needs a
GPU). The FID reference is the whole unlabelled split (100,000 images;
mimicry samples 50,000 of them).
"""

from configs import base


def get_config(variant: str = "wgan_gp"):
  c = base.sngan_resnet(variant)
  c.data.name = "tfds:stl10"
  c.data.train_split = c.data.test_split = "unlabelled"
  c.data.label_key = ""  # the unlabelled split's labels are all -1
  c.data.resize = 48
  return c
