r"""Train the evaluation classifier of an image dataset.

  python -m experiments.train_classifier --dataset=fashion_mnist
  python -m experiments.train_classifier --dataset=mnist --ship
  python -m experiments.train_classifier --dataset=fashion_mnist --resize=32 --ship

Prints per-epoch progress and the test accuracy. The parameters land in
$FGAN_DATA_DIR/classifiers/<dataset>/ with their SHA-256 in meta.json, or
with --ship in fgan/evaluation/classifiers/<dataset>/, the copy that ships with fgan
(MNIST's, Fashion-MNIST's at 28x28 and resized to 32x32) and that every
machine then uses. --resize trains it on the images as data.resize prepares
them (the folder is named for it: fashion_mnist-32px), for runs at that size.
"""

from absl import app
from absl import flags

from configs import base
from fgan.evaluation import classifier

_DATASET = flags.DEFINE_string("dataset", "mnist", "mnist | fashion_mnist | tfds:<name>")
_RESIZE = flags.DEFINE_integer("resize", 0, "data.resize of the runs it evaluates (0: none).")
_EPOCHS = flags.DEFINE_integer("epochs", 4, "Training epochs.")
_SHIP = flags.DEFINE_bool("ship", False, "Write into fgan/classifiers/ (the shipped copy).")


def main(argv):
  del argv
  data_config = base.get_base_config().data
  data_config.name = _DATASET.value
  data_config.resize = _RESIZE.value
  out = classifier.SHIPPED / classifier.folder_name(data_config) if _SHIP.value else None
  clf = classifier.train_classifier(data_config, out, epochs=_EPOCHS.value)
  print(f"sha256 {clf.sha256}")


if __name__ == "__main__":
  app.run(main)
