r"""Evaluate a run's checkpoint (the latest, or --step) with fgan's metrics.

  python -m experiments.evaluate --workdir=runs/js_mnist_seed0
  python -m experiments.evaluate --workdir=runs/js_mnist_seed0 --step=1000 --num_samples=5000

Prints the metrics with their standard errors and writes them to
WORKDIR/eval_step_<STEP>.json together with the classifier's checksum.
"""

import json
import pathlib

from absl import app
from absl import flags
from absl import logging

from fgan import checkpoint
from fgan import compute
from fgan import data
from fgan import evaluation
from fgan import models
from fgan import train
from fgan import workdir as workdir_lib

_WORKDIR = flags.DEFINE_string("workdir", None, "A run's work directory.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", None, "Override eval.num_samples.")
flags.mark_flags_as_required(["workdir"])


def evaluate_workdir(workdir, step=None, num_samples=None) -> dict:
  workdir = pathlib.Path(workdir)
  config = workdir_lib.saved_config(workdir)
  if num_samples:
    config.eval.num_samples = num_samples
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
  evaluator = evaluation.Evaluator(config, dataset, generator)
  results = {"step": step, "num_samples": config.eval.num_samples,
             "metrics": evaluator(state.g_ema_params), **evaluator.info}
  (workdir / f"eval_step_{step}.json").write_text(json.dumps(results, indent=1))
  return results


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  results = evaluate_workdir(_WORKDIR.value, _STEP.value, _NUM_SAMPLES.value)
  m = results["metrics"]
  print(f"step {results['step']}, {results['num_samples']} samples")
  for k in sorted(m):
    if not k.endswith("_stderr"):
      err = m.get(k + "_stderr")
      print(f"  {k:24s} {m[k]:.4f}" + (f" +- {err:.4f}" if err is not None else ""))


if __name__ == "__main__":
  app.run(main)
