r"""Evaluate a run's checkpoint (the latest, or --step) with fgan's metrics.

  python -m experiments.evaluate --workdir=runs/js_mnist_seed0
  python -m experiments.evaluate --workdir=runs/js_mnist_seed0 --step=1000 --num_samples=5000
  python -m experiments.evaluate --workdir=runs/js_mnist_seed0 --feature_space=inception \
      [--inception_weights=PATH]

Prints the metrics with their standard errors and the evaluation's seconds,
and writes them to WORKDIR/eval_step_<STEP>.json (eval_step_<STEP>_inception
.json in Inception space) with the protocol: feature extractors and their
checksums, reference split, n_real, n_fake.
"""

import json
import pathlib
import sys
import time

from absl import app
from absl import flags
from absl import logging

from experiments import cli
from fgan import checkpoint
from fgan import compute
from fgan import data
from fgan import errors
from fgan import evaluation
from fgan import models
from fgan import train
from fgan import workdir as workdir_lib

_WORKDIR = flags.DEFINE_string("workdir", None, "A run's work directory.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", None, "Override eval.num_samples.")
_FEATURE_SPACE = flags.DEFINE_enum("feature_space", None, list(evaluation.FEATURE_SPACES),
                                   "Override eval.feature_space.")
_INCEPTION_WEIGHTS = flags.DEFINE_string("inception_weights", None,
                                         "Override eval.inception_weights.")
flags.mark_flags_as_required(["workdir"])


def evaluate_workdir(workdir, step=None, num_samples=None, feature_space=None,
                     inception_weights=None) -> dict:
  """The run's evaluation of checkpoint ``step`` (default: the latest), with
  ``seconds``: the evaluator's set-up (classifier, reference features) and
  the evaluation itself."""
  workdir = pathlib.Path(workdir)
  config = workdir_lib.saved_config(workdir)
  if num_samples:
    config.eval.num_samples = num_samples
  if feature_space:
    config.eval.feature_space = feature_space
  if inception_weights is not None:
    config.eval.inception_weights = inception_weights
  evaluation.check(config)
  dataset = data.load(config.data)
  generator, critic = models.build(config.model, dataset.shape,
                                   compute.resolve(config.compute).conv_impl)
  ckpt = checkpoint.Checkpointer(workdir, config.checkpoint.keep)
  if step is not None and step not in ckpt.steps():
    raise app.UsageError(f"No checkpoint {step} in {workdir}; have {ckpt.steps()}.")
  target = train.create_state(config, generator, critic, dataset.shape)
  if step is None:
    step, state = ckpt.restore(target)
  else:
    state = ckpt.restore_step(step, target)
  ckpt.close()
  if step is None:
    raise app.UsageError(f"No readable checkpoint in {workdir}.")
  start = time.perf_counter()
  evaluator = evaluation.Evaluator(config, dataset, generator)
  set_up = time.perf_counter()
  metrics = evaluator(state.g_ema_params)
  seconds = {"set_up": set_up - start, "evaluation": time.perf_counter() - set_up}
  results = {"step": step, "num_samples": config.eval.num_samples, "metrics": metrics,
             "seconds": seconds, **evaluator.info}
  suffix = "_inception" if config.eval.get("feature_space") == "inception" else ""
  (workdir / f"eval_step_{step}{suffix}.json").write_text(json.dumps(results, indent=1))
  return results


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  try:
    results = evaluate_workdir(_WORKDIR.value, _STEP.value, _NUM_SAMPLES.value,
                               _FEATURE_SPACE.value, _INCEPTION_WEIGHTS.value)
  except (errors.FganError, OSError) as e:
    sys.exit(cli.report_error(e))
  m, sec = results["metrics"], results["seconds"]
  print(f"step {results['step']}, {results['num_samples']} samples; set-up {sec['set_up']:.1f} s "
        f"(classifier, reference features), evaluation {sec['evaluation']:.1f} s")
  for k in sorted(m):
    if not k.endswith("_stderr"):
      err = m.get(k + "_stderr")
      print(f"  {k:24s} {m[k]:.4f}" + (f" +- {err:.4f}" if err is not None else ""))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
