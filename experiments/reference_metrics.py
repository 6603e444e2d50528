r"""Reference values of the image metrics, for reading any run's numbers.

  python -m experiments.reference_metrics --dataset=mnist

Evaluates, with the same code and 10,000 samples as a run's evaluation:
  * the dataset's test split against its training split ("real data": the
    best a generator can hope for);
  * an untrained DCGAN generator (the schema's, fgan.config, at step 0,
    seed 0).
Prints a table, the time each evaluation took, and writes
$FGAN_DATA_DIR/reference_metrics_<dataset>.json.
"""

import json
import time

from absl import app
from absl import flags
import jax

from configs import base
from fgan.evaluation import classifier
from fgan import data
from fgan import evaluation
from fgan import models
from fgan import train
from fgan.evaluation import metrics

_DATASET = flags.DEFINE_string("dataset", "mnist", "mnist | fashion_mnist")


def main(argv):
  del argv
  config = base.get_base_config()
  config.data.name = _DATASET.value
  clf = classifier.load_classifier(config.data)
  train_ds, test_ds = data.load(config.data, "train"), data.load(config.data, "test")
  _, train_features = clf.apply(data.as_float(train_ds.arrays["images"][:10_000]))
  rows = {}
  t = time.time()
  logits, test_features = clf.apply(data.as_float(test_ds.arrays["images"]))
  rows["test split vs train split"] = metrics.evaluate(
      metrics.Features("classifier", test_features, train_features, logits))
  rows["test split vs train split"]["seconds"] = time.time() - t

  g, d = models.build(config.model, train_ds.shape)
  state = train.create_state(config, g, d, train_ds.shape)
  evaluator = evaluation.Evaluator(config, train_ds, g)
  t = time.time()
  rows["untrained generator vs test split"] = evaluator(state.g_ema_params)
  rows["untrained generator vs test split"]["seconds"] = time.time() - t

  keys = [m.name for m in metrics.of_space("classifier")] + ["seconds"]
  print(f"classifier sha256 {clf.sha256} test accuracy {clf.test_accuracy:.4f}")
  print("| samples | " + " | ".join(keys) + " |")
  print("|---" * (len(keys) + 1) + "|")
  for name, m in rows.items():
    cells = []
    for k in keys:
      err = m.get(k + "_stderr")
      cells.append(f"{m[k]:.3f}" + (f" +- {err:.3f}" if err is not None else ""))
    print(f"| {name} | " + " | ".join(cells) + " |")
  out = data.data_dir() / f"reference_metrics_{config.data.name}.json"
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps({"classifier_sha256": clf.sha256, "jax": jax.__version__,
                             "rows": rows}, indent=1))
  print(f"written to {out}")


if __name__ == "__main__":
  app.run(main)
