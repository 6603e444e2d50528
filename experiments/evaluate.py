r"""Evaluate a run's checkpoint (the latest, or --step) with fgan's metrics.

  python -m experiments.evaluate --workdir=runs/js_mnist_seed0
  python -m experiments.evaluate --workdir=runs/js_mnist_seed0 --step=1000 --num_samples=5000
  python -m experiments.evaluate --workdir=runs/js_mnist_seed0 --feature_space=inception \
      [--inception_weights=PATH]

Prints the metrics with their uncertainties and the evaluation's seconds,
and writes them to WORKDIR/eval_step_<STEP>.json (eval_step_<STEP>_inception
.json in Inception space) with the protocol: feature extractors and their
checksums, reference split, n_real, n_fake.
"""

from experiments import cli  # first: records SIGTERM/SIGINT from here on

# pylint: disable=wrong-import-position
import pathlib
import time

from absl import app
from absl import flags
from absl import logging

from fgan import compute
from fgan import data
from fgan import errors
from fgan import evaluation
from fgan import models
from fgan import train
from fgan import validation
from fgan.rundir import checkpoint
from fgan.rundir import workdir as workdir_lib

_WORKDIR = flags.DEFINE_string("workdir", None, "A run's work directory.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", None, "Override eval.num_samples.")
_FEATURE_SPACE = flags.DEFINE_enum("feature_space", None, list(evaluation.FEATURE_SPACES),
                                   "Override eval.feature_space.")
_INCEPTION_WEIGHTS = flags.DEFINE_string("inception_weights", None,
                                         "Override eval.inception_weights.")
flags.mark_flags_as_required(["workdir"])


def _restore(workdir: pathlib.Path, config, generator, critic, shape, step):
  """(step, state) of the checkpoint ``step`` (None: the latest readable)."""
  ckpt = checkpoint.Checkpointer(workdir, config.checkpoint.keep)
  try:
    if step is not None and step not in ckpt.steps():
      raise errors.WorkdirError(f"No checkpoint {step} in {workdir}; it has {ckpt.steps()}.")
    target = train.create_state(config, generator, critic, shape)
    if step is None:
      step, state = ckpt.restore(target)
    else:
      state = ckpt.restore_step(step, target)
  finally:
    ckpt.close()
  if step is None:
    raise errors.WorkdirError(f"No readable checkpoint in {workdir}.")
  return step, state


def evaluate_workdir(workdir, step=None, num_samples=None, feature_space=None,
                     inception_weights=None) -> dict:
  """A run's evaluation of one of its checkpoints.

  Args:
    workdir: the run's work directory.
    step: the checkpoint (None: the latest).
    num_samples, feature_space, inception_weights: overrides of the run's
      eval fields (None: the run's).

  Returns:
    {"step", "num_samples", "metrics", "seconds": {"set_up", "evaluation"},
    and the protocol (Evaluator.info)}, also written to the work directory.

  Raises:
    errors.FganError: no such run or checkpoint, bad overrides.
  """
  workdir = pathlib.Path(workdir)
  if not (workdir / "config.json").exists():
    raise errors.WorkdirError(f"{workdir} is not a run's work directory (no config.json).")
  config = workdir_lib.saved_config(workdir)
  for field, value in (("num_samples", num_samples), ("feature_space", feature_space),
                       ("inception_weights", inception_weights)):
    if value is not None:
      config.eval[field] = value
  validation.RULES["eval.num_samples"]("eval.num_samples", config.eval.num_samples)
  evaluation.check(config)
  dataset = data.load(config.data)
  generator, critic = models.build(config.model, dataset.shape,
                                   compute.resolve(config.compute).conv_impl)
  step, state = _restore(workdir, config, generator, critic, dataset.shape, step)
  start = time.perf_counter()
  evaluator = evaluation.Evaluator(config, dataset, generator)
  set_up = time.perf_counter()
  metrics = evaluator(state.g_ema_params)
  seconds = {"set_up": set_up - start, "evaluation": time.perf_counter() - set_up}
  results = {"step": step, "num_samples": config.eval.num_samples, "metrics": metrics,
             "seconds": seconds, **evaluator.info}
  suffix = "_inception" if config.eval.feature_space == "inception" else ""
  workdir_lib.write_json(workdir / f"eval_step_{step}{suffix}.json", results)
  return results


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  results = evaluate_workdir(_WORKDIR.value, _STEP.value, _NUM_SAMPLES.value,
                             _FEATURE_SPACE.value, _INCEPTION_WEIGHTS.value)
  m, sec = results["metrics"], results["seconds"]
  print(f"step {results['step']}, {results['num_samples']} samples; set-up {sec['set_up']:.1f} s "
        f"(classifier, reference features), evaluation {sec['evaluation']:.1f} s")
  for k in sorted(m):
    if not k.endswith(("_stderr", "_std")):
      err = m.get(k + "_stderr", m.get(k + "_std"))
      print(f"  {k:24s} {m[k]:.4f}" + (f" +- {err:.4f}" if err is not None else ""))


if __name__ == "__main__":
  app.run(cli.main_guard(main), flags_parser=cli.parse_flags)
