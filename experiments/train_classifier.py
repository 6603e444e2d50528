r"""Train (and cache) the evaluation classifier of an image dataset.

  python -m experiments.train_classifier --dataset=mnist
  python -m experiments.train_classifier --dataset=fashion_mnist

Prints per-epoch progress and the test accuracy; the parameters land in
$FGAN_DATA_DIR/classifiers/<dataset>/ with their SHA-256 in meta.json.
"""

from absl import app
from absl import flags

from configs import base
from fgan import classifier

_DATASET = flags.DEFINE_string("dataset", "mnist", "mnist | fashion_mnist | tfds:<name>")
_EPOCHS = flags.DEFINE_integer("epochs", 4, "Training epochs.")


def main(argv):
  del argv
  data_config = base.get_base_config().data
  data_config.name = _DATASET.value
  clf = classifier.train_classifier(data_config, epochs=_EPOCHS.value)
  print(f"sha256 {clf.sha256}")


if __name__ == "__main__":
  app.run(main)
