r"""Builds the TFDS test fixtures in tests/data/tfds with TFDS's own builder
machinery (TensorFlow encodes the images when building; fgan reads them
without it, through tfds.data_source).

  pip install tensorflow-cpu tensorflow-datasets pillow   # a separate venv
  python tests/data/make_tfds_fixtures.py tests/data/tfds

Datasets (ArrayRecord files, PNG images, deterministic content: smooth
colour ramps with a per-image pattern and a little noise):
  fgan_tiny    40x30x3 (height 40, width 30), 2 classes, 24 training and 12
               test images: crop, resize, flip
  fgan_tiny32  32x32x3, 10 classes, 24 and 12: the CIFAR-10 preset's shape
  fgan_tiny96  96x96x3, 10 classes, 12 and 6, and an unlabelled split of 6:
               STL-10's shape (little noise, so the files stay small)
"""

import sys

import numpy as np
import tensorflow_datasets as tfds


def _images(n, h, w, seed, noise):
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:h, 0:w]
  out = []
  for i in range(n):
    base = np.stack([(xx * (3 + i % 5)) % 256, (yy * (2 + i % 7)) % 256,
                     ((xx + yy) * (1 + i % 3)) % 256], -1).astype(np.float64)
    jitter = rng.normal(0, noise, (h, w, 3))
    out.append(np.clip(base + jitter, 0, 255).astype(np.uint8))
  return out


def _builder(name, shape, classes, sizes, noise, extra_splits=()):
  """A GeneratorBasedBuilder class whose dataset name is ``name`` (TFDS
  takes it from the class name)."""
  def info(self):
    return tfds.core.DatasetInfo(
        builder=self, description=f"fgan's test fixture {name}",
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=shape),
            "label": tfds.features.ClassLabel(num_classes=classes)}),
        supervised_keys=("image", "label"))

  def generate(n, seed):
    for i, image in enumerate(_images(n, shape[0], shape[1], seed, noise)):
      yield i, {"image": image, "label": (i + seed) % classes}

  def split_generators(self, dl_manager):
    del self, dl_manager
    splits = {"train": generate(sizes[0], 0), "test": generate(sizes[1], 1)}
    for split in extra_splits:
      splits[split] = generate(sizes[1], 2)
    return splits

  class_name = "".join(p.capitalize() for p in name.split("_"))
  return type(class_name, (tfds.core.GeneratorBasedBuilder,), {
      "VERSION": tfds.core.Version("1.0.0"), "_info": info,
      "_split_generators": split_generators, "_generate_examples": None})


def main(data_dir):
  for name, shape, classes, sizes, noise, extra in (
      ("fgan_tiny", (40, 30, 3), 2, (24, 12), 6, ()),
      ("fgan_tiny32", (32, 32, 3), 10, (24, 12), 6, ()),
      ("fgan_tiny96", (96, 96, 3), 10, (12, 6), 2, ("unlabelled",))):
    builder = _builder(name, shape, classes, sizes, noise, extra)(
        data_dir=data_dir, file_format="array_record")
    builder.download_and_prepare()
    print(name, builder.info.splits)


if __name__ == "__main__":
  main(sys.argv[1])
