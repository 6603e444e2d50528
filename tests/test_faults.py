"""Nothing silently different: one lock per run whatever the path's
spelling, runs that end at exactly num_steps under any steps_per_call,
checkpoints restored only when verified, summaries that are always
complete, signals from the first instant, checks of content before
--overwrite moves anything, I/O failures that end in one message, and a
fuzz of the command lines."""

import errno
import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from fgan import errors
from fgan import loop
from fgan.rundir import events
from fgan.rundir import writers
from tests.conftest import RING_JS
from tests.conftest import ROOT
from tests.conftest import cli_many
from tests.conftest import comparable
from tests.conftest import final_state
from tests.conftest import toy_config

RING = [*RING_JS, "--config.model.hidden=(16,)", "--config.eval.num_samples=500"]


def _files(directory) -> dict:
  """{relative path: bytes} of every file under ``directory``."""
  return {str(p.relative_to(directory)): p.read_bytes()
          for p in sorted(pathlib.Path(directory).rglob("*")) if p.is_file()}


def _equal_states(a, b) -> None:
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_every_spelling_of_a_work_directory_meets_the_same_lock(tmp_path):
  """A second process on the same run, through a symbolic link, a relative
  path or '..', is refused within 10 s with the first one's PID."""
  run = tmp_path / "runs" / "A"
  first = subprocess.Popen([sys.executable, "-m", "experiments.run", *RING,
                            "--config.train.num_steps=1000000", f"--workdir={run}"],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    deadline = time.time() + 120
    while not (run / "metrics.jsonl").exists() and time.time() < deadline:
      time.sleep(0.2)
    (tmp_path / "runs" / "linkA").symlink_to("A")
    spellings = [str(tmp_path / "runs" / "linkA"),
                 os.path.relpath(run, ROOT),
                 str(tmp_path / "runs" / "A" / ".." / "A")]
    results = cli_many("experiments.run", [
        RING + ["--config.train.num_steps=1000000", f"--workdir={w}"] for w in spellings])
    for w, r in zip(spellings, results):
      assert r.returncode == 2 and r.seconds < 10, (w, r.seconds, r.stderr)
      assert f"'pid': {first.pid}" in r.stderr.replace('"', "'"), (w, r.stderr)
      assert "Traceback" not in r.stderr
  finally:
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=120)
  assert not list((tmp_path / "runs").glob("linkA.lock"))


def test_a_second_run_through_a_symbolic_link_is_refused_in_process(tmp_path):
  """The same lock, taken by this process through two paths."""
  from fgan.rundir import workdir  # pylint: disable=import-outside-toplevel
  (tmp_path / "A").mkdir()
  (tmp_path / "link").symlink_to("A")
  held = workdir.WorkDir(tmp_path / "A", {})
  held.lock()
  try:
    with pytest.raises(errors.WorkdirError, match=f"'pid': {os.getpid()}|\"pid\": {os.getpid()}"):
      workdir.WorkDir(tmp_path / "link", {}).lock()
    with pytest.raises(errors.WorkdirError, match="in use by another fgan process"):
      workdir.WorkDir(tmp_path / "A" / ".." / "A", {}).lock()
  finally:
    held.unlock()


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
  """An uninterrupted 40-step toy run, steps_per_call 1."""
  workdir = tmp_path_factory.mktemp("straight")
  loop.run(toy_config(steps=40), workdir, progress=False)
  return workdir


@pytest.mark.parametrize("k", [3, 7, 0])
def test_steps_per_call_never_overshoots_and_changes_no_result(tmp_path, straight, k):
  """A 40-step run resumed at step 13, under steps_per_call 1, 3, 7 and 0
  (automatic), ends at step 40 with the parameters and records of the
  uninterrupted steps_per_call = 1 run, bitwise."""
  run = tmp_path / f"k{k}"
  first = loop.run(toy_config(steps=13, **{"compute.steps_per_call": k}), run, progress=False)
  assert first["step"] == 13 and writers.read_metrics(run)[-1]["step"] == 13
  summary = loop.run(toy_config(steps=40, **{"compute.steps_per_call": k}), run, progress=False)
  assert summary["step"] == 40 and summary["resumed_from"] == 13
  (s1, a), (s2, b) = final_state(toy_config(steps=40), run), final_state(
      toy_config(steps=40), straight)
  assert s1 == s2 == 40 and int(a.step) == 40
  _equal_states(a, b)
  # The records at the log steps are the same too (the 13-step run's own
  # end-of-run record at 13 aside).
  ours = [r for r in comparable(writers.read_metrics(run)) if r["step"] != 13]
  theirs = comparable(writers.read_metrics(straight))
  strip = lambda rs: [{k_: v for k_, v in r.items() if not k_.startswith("eval/")} for r in rs]
  assert strip(ours) == strip(theirs)


def _damage_newest_checkpoint(run) -> int:
  step = max(int(p.name) for p in (run / "checkpoints").glob("[0-9]*"))
  files = [p for p in (run / "checkpoints" / str(step)).rglob("*") if p.is_file()
           and "/d/" in str(p)]
  largest = max(files, key=lambda p: p.stat().st_size)
  data = bytearray(largest.read_bytes())
  for i in range(16):
    data[len(data) // 2 + i] ^= 0xFF
  largest.write_bytes(bytes(data))
  return step


def test_a_checkpoint_without_its_checksums_is_set_aside_not_restored(tmp_path, capsys):
  run = tmp_path / "run"
  loop.run(toy_config(steps=30), run, progress=False)
  step = _damage_newest_checkpoint(run)
  (run / "checkpoint_sha256" / f"{step}.json").unlink()
  (run / "summary.json").unlink()
  summary = loop.run(toy_config(steps=30), run, progress=False)
  out = capsys.readouterr().out
  assert f"checkpoint {step} in" in out and "checksum file" in out and "moved it to" in out
  assert summary["resumed_from"] == step - 10
  loop.run(toy_config(steps=30), tmp_path / "straight", progress=False)
  _equal_states(final_state(toy_config(steps=30), run)[1],
                final_state(toy_config(steps=30), tmp_path / "straight")[1])
  assert list((run / "checkpoints_unreadable").iterdir())


@pytest.mark.parametrize("lost", ["summary", "summary_and_last_record"])
def test_a_rerun_rebuilds_a_complete_summary(tmp_path, capsys, lost):
  """Killed after its last checkpoint, before summary.json (or with that
  file deleted, or with the last record torn off too): the rerun writes the
  summary the uninterrupted run wrote, final training record included."""
  run = tmp_path / "run"
  original = loop.run(toy_config(steps=20), run, progress=False)
  (run / "summary.json").unlink()
  if lost == "summary_and_last_record":
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
  rebuilt = loop.run(toy_config(steps=20), run, progress=False)
  assert rebuilt["final_metrics"] and rebuilt["eval"] == original["eval"]
  if lost == "summary":
    assert comparable([rebuilt["final_metrics"]]) == comparable([original["final_metrics"]])
  else:  # the last training record is the one before the torn line
    assert rebuilt["final_metrics"]["critic_loss"] == writers.read_metrics(run)[-2][
        "critic_loss"]
  assert writers.read_metrics(run)[-1]["step"] == 20
  assert json.loads((run / "summary.json").read_text())["final_metrics"]
  capsys.readouterr()
  assert loop.run(toy_config(steps=20), run, progress=False) == json.loads(
      (run / "summary.json").read_text())
  assert "already finished" in capsys.readouterr().out


@pytest.mark.slow
def test_ctrl_c_at_any_moment_of_start_up_exits_with_one_line(tmp_path):
  """SIGINT at its terminal default, at several instants of start-up
  (imports, flag parsing, data, compilation): exit 0, one line naming the
  signal, no traceback, nothing trained or half-written."""
  procs = {}
  for delay in (0.3, 0.8, 1.5, 2.5, 4.0):
    workdir = tmp_path / f"d{delay}"
    procs[delay] = (workdir, subprocess.Popen(
        [sys.executable, "-m", "experiments.run", *RING, f"--workdir={workdir}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  start = time.time()
  for delay in sorted(procs):
    time.sleep(max(0.0, start + delay - time.time()))
    procs[delay][1].send_signal(signal.SIGINT)
  for delay, (workdir, proc) in procs.items():
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err and "Exception ignored" not in err, (delay, err)
    assert proc.returncode == 0, (delay, err)
    assert "signal 2 received" in err, (delay, err)
    assert not (workdir / "summary.json").exists()
    assert not list(workdir.glob("checkpoints/[0-9]*")) or "saved checkpoint" in err


def test_overwrite_checks_the_inception_weights_content_first(tmp_path):
  """A weights file with the right name and wrong bytes is refused before
  --overwrite moves the old run aside."""
  run = tmp_path / "run"
  loop.run(toy_config(steps=10), run, progress=False)
  before = _files(run)
  fake = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
  fake.write_bytes(random.Random(0).randbytes(4096))
  results = cli_many("experiments.run", [
      ["--config=configs/js_mnist.py", "--config.eval.feature_space=inception",
       f"--config.eval.inception_weights={fake}", "--overwrite", f"--workdir={run}"],
      ["--config=configs/js_mnist.py", "--config.eval.feature_space=inception",
       f"--config.eval.inception_weights={tmp_path / 'absent.pth'}", f"--workdir={run}"]])
  for r in results:
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
  assert "not a readable FID Inception weights file" in results[0].stderr
  assert _files(run) == before and not list(tmp_path.glob("run.old-*"))


def test_a_file_in_place_of_the_checkpoints_is_one_message_not_a_hang(tmp_path):
  run = tmp_path / "run"
  loop.run(toy_config(steps=10), run, progress=False)
  shutil.rmtree(run / "checkpoints")
  (run / "checkpoints").write_text("not a folder")
  (run / "summary.json").unlink()
  [r] = cli_many("experiments.run", [RING + ["--config.train.num_steps=10", f"--workdir={run}"]],
                 timeout=120)
  assert r.returncode == 2 and "is a file, not a directory" in r.stderr, r.stderr
  assert "Traceback" not in r.stderr


@pytest.mark.parametrize("where", ["samples", "tensorboard", "metrics", "summary"])
def test_a_full_disk_anywhere_in_a_run_is_one_message_and_the_rerun_resumes(
    tmp_path, monkeypatch, where):
  """ENOSPC from the sample grid, the TensorBoard events, metrics.jsonl or
  summary.json: an OSError that experiments.cli turns into one message and
  exit status 2; after it the rerun ends equal to an uninterrupted run."""
  from experiments import cli  # pylint: disable=import-outside-toplevel
  from fgan.rundir import grids  # pylint: disable=import-outside-toplevel
  from fgan.rundir import workdir  # pylint: disable=import-outside-toplevel
  full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "the disk")
  calls = {"n": 0}

  def fail_late(original):
    def failing(*args, **kwargs):
      calls["n"] += 1
      if calls["n"] >= 2:
        raise full
      return original(*args, **kwargs)
    return failing
  target = {"samples": (grids, "_draw"), "tensorboard": (events, "record"),
            "metrics": (writers, "_jsonable"), "summary": (workdir, "write_json")}[where]
  if where == "summary":  # identity files are written first; fail the summary only
    original = workdir.write_json
    monkeypatch.setattr(workdir, "write_json", lambda path, obj: (_ for _ in ()).throw(full)
                        if path.name == "summary.json" else original(path, obj))
  else:
    monkeypatch.setattr(*target, fail_late(getattr(*target)))
  run = tmp_path / "run"
  with pytest.raises(OSError) as raised:
    loop.run(toy_config(steps=30), run, progress=False)
  assert cli.report_error(raised.value) == 2
  monkeypatch.undo()
  loop.run(toy_config(steps=30), run, progress=False)
  loop.run(toy_config(steps=30), tmp_path / "straight", progress=False)
  _equal_states(final_state(toy_config(steps=30), run)[1],
                final_state(toy_config(steps=30), tmp_path / "straight")[1])
  assert json.loads((run / "summary.json").read_text())["final_metrics"]


def test_a_nan_stop_before_any_checkpoint_says_so(tmp_path):
  c = toy_config(steps=20, **{"optim.critic.learning_rate": 1e30,
                              "optim.generator.learning_rate": 1e30})
  c.checkpoint.every_steps = 20
  with pytest.raises(errors.NonFiniteError) as raised:
    loop.run(c, tmp_path, progress=False)
  message = str(raised.value)
  assert "no checkpoint had been written yet" in message
  assert "resumes from that checkpoint" not in message


def test_heldout_estimates_are_a_function_of_state_and_seed_and_name_their_estimator():
  """The same generator evaluated by two evaluators (one sharing the
  other's data, as grouped seeds do) gets the same estimates; the protocol
  names the estimator's settings, so runs estimated otherwise are not
  compared silently."""
  from fgan import data, evaluation, models, train  # pylint: disable=import-outside-toplevel
  c = toy_config(divergence="kl", critic_output_bound=3.0)
  c.eval.estimate_steps = 30
  ds = data.load(c.data)
  g, d = models.build(c.model, ds.shape)
  state = train.create_state(c, g, d, ds.shape)
  first = evaluation.Evaluator(c, ds, g)
  second = evaluation.Evaluator(c, ds, g, shared=first)
  assert first.divergence_estimates(state.g_ema_params) == second.divergence_estimates(
      state.g_ema_params)
  estimator = first.info["heldout_estimator"]
  assert estimator["steps"] == 30 and estimator["output_bound"] == 3.0
  assert "held-out estimator 30 critic steps" in evaluation.protocol_line(
      {"num_samples": 500, **first.info})


def _bad_run_invocations(tmp, finished):
  """(args, env) of bad command lines of experiments.run: every schema
  rule broken once, wrong types, unknown fields, and bad files and paths;
  those naming ``finished`` (a finished run) must leave it unchanged."""
  fresh = lambda name: [f"--workdir={tmp / 'fresh' / name}"]
  bad_values = {
      "train.num_steps": "0", "train.batch_size": "0", "train.n_critic": "0",
      "train.log_every": "-1", "train.ema_decay": "1.5", "train.on_nonfinite": "ignore",
      "eval.estimate_steps": "-3", "eval.num_samples": "0", "eval.grid_size": "0",
      "eval.every_steps": "0", "eval.feature_space": "pixels", "eval.estimate_learning_rate": "0",
      "checkpoint.keep": "0", "checkpoint.every_steps": "-2", "seed": "-1",
      "divergence": "kll", "generator_loss": "saturating", "gradient_penalty": "-1",
      "gradient_penalty_anneal": "0", "gradient_penalty_kind": "r2", "critic_pack": "3",
      "critic_output_bound": "nan", "critic_output_penalty": "inf",
      "optim.critic.learning_rate": "-1e-3", "optim.generator.b1": "1.0",
      "optim.critic.name": "adamm", "optim.generator.decay": "cosine",
      "data.name": "cifar", "data.source": "bogus", "data.shards": "0", "data.resize": "28",
      "parallel.mode": "ddp", "parallel.num_devices": "3", "compute.conv_impl": "cudnn",
      "compute.steps_per_call": "-1", "model.hidden": "(0,)", "model.z_dim": "0",
      "train.num_steps=abc": None, "eval.metrics=maybe": None, "nosuch=1": None,
      "model.width=8": None, "train.num_stepz=3": None}
  out = [(RING + [f"--config.{field}" + (f"={v}" if v is not None else "")] + fresh(field), {})
         for field, v in bad_values.items()]
  syntax = tmp / "syntax.py"
  syntax.write_text("def get_config(:\n")
  no_get = tmp / "no_get_config.py"
  no_get.write_text("X = 1\n")
  weights = tmp / "weights-inception-2015-12-05-6726825d.pth"
  weights.write_bytes(os.urandom(2048))
  (tmp / "foreign").mkdir(exist_ok=True)
  (tmp / "foreign" / "notes.txt").write_text("mine")
  (tmp / "a_file").write_text("x")
  out += [
      (["--config=configs/nosuch.py"] + fresh("nosuch"), {}),
      (["--config=README.md"] + fresh("readme"), {}),
      ([f"--config={syntax}"] + fresh("syntax"), {}),
      ([f"--config={no_get}"] + fresh("no_get"), {}),
      (["--config=configs/ring8.py:nosuch"] + fresh("variant"), {}),
      (["--config=configs/js_mnist.py:extra"] + fresh("extra"), {}),
      (RING + ["positional"] + fresh("positional"), {}),
      (RING + ["--workdir=/"], {}),
      (RING + [f"--workdir={tmp / 'a_file'}"], {}),
      (RING + [f"--workdir={tmp / 'foreign'}"], {}),
      (["--config=configs/js_mnist.py"] + fresh("data_dir"), {"FGAN_DATA_DIR": str(tmp / "a_file")}),
      (RING + ["--config.data.name=fashion_mnist", "--config.data.source=offline",
               "--config.data.idx_dir=/nonexistent"] + fresh("fashion"), {}),
      (["--config=configs/js_mnist.py", "--config.eval.feature_space=inception",
        f"--config.eval.inception_weights={weights}"] + fresh("weights"), {}),
      (RING + ["--config.train.batch_size=100000000"] + fresh("batch"), {}),
      (RING + ["--config.divergence=kl", f"--workdir={finished}"], {}),
      (RING + ["--config.divergence=kl", "--config.eval.estimate_steps=-1", "--overwrite",
               f"--workdir={finished}"], {}),
  ]
  return out


@pytest.mark.slow
def test_bad_command_lines_end_in_one_message_and_change_nothing(tmp_path):
  """At least 50 generated bad invocations of experiments.run, .sweep,
  .evaluate and .report: each exits with status 2 and one message naming
  the problem, no traceback; no file of an existing run changes, and no
  new work directory appears."""
  finished = tmp_path / "finished"
  results = cli_many("experiments.run", [RING + ["--config.train.num_steps=10",
                                                  f"--workdir={finished}"]])
  assert results[0].returncode == 0, results[0].stderr
  (tmp_path / "study").mkdir()
  (tmp_path / "study" / "members.jsonl").write_text('[1, 2]\n')
  garbled = tmp_path / "garbled"
  shutil.copytree(finished, garbled)
  (garbled / "config.json").write_text("{not json")
  before = {p: _files(p) for p in (finished, garbled)}
  run_cases = _bad_run_invocations(tmp_path, finished)
  run_cases.append((RING + [f"--workdir={garbled}"], {}))
  sweep_cases = [
      ["--config=configs/nosuch.py"], ["--config=configs/sweep_ring8.py", "--variants=nosuch"],
      ["--config=configs/sweep_ring8.py", "--config.seeds=()"],
      ["--config=configs/sweep_ring8.py", "--config.seeds=(1, 1)"],
      ["--config=configs/sweep_ring8.py", "--config.grid=((\"train.nosuch\", (1,)),)"],
      ["--config=configs/sweep_ring8.py", "--config.grid=((\"train.num_steps\", (0,)),)"],
      ["--config=configs/js_mnist.py"]]
  sweep_cases = [c + [f"--sweep_dir={tmp_path / 'sweeps' / str(i)}"]
                 for i, c in enumerate(sweep_cases)]
  evaluate_cases = [
      [f"--workdir={tmp_path / 'absent'}"], [f"--workdir={tmp_path / 'foreign'}"],
      [f"--workdir={finished}", "--num_samples=-5"], [f"--workdir={finished}", "--num_samples=0"],
      [f"--workdir={finished}", "--step=999"], [f"--workdir={finished}", "--feature_space=pixels"],
      [f"--workdir={finished}", "--feature_space=inception"], [f"--workdir={garbled}"],
      ["--workdir"], []]
  report_cases = [[], [str(tmp_path / "absent")], [str(tmp_path / "foreign")],
                  [str(tmp_path / "study")], [str(finished), "extra"]]
  results = []
  for module, cases in (("experiments.run", [a for a, env in run_cases if not env]),
                        ("experiments.sweep", sweep_cases),
                        ("experiments.evaluate", evaluate_cases),
                        ("experiments.report", report_cases)):
    results += [(module, c, r) for c, r in zip(cases, cli_many(module, cases))]
  for args, env in run_cases:
    if env:
      results += [("experiments.run", args, cli_many("experiments.run", [args], env=env)[0])]
  assert len(results) >= 50
  for module, args, r in results:
    said = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2, (module, args, r.stdout[-500:], r.stderr[-1500:])
    assert "Traceback" not in r.stderr + r.stdout, (module, args, r.stderr)
    assert 1 <= len(said) <= 3, (module, args, r.stderr)
  assert {p: _files(p) for p in before} == before
  assert not (tmp_path / "fresh").exists() and not (tmp_path / "sweeps").exists()
  assert not list(tmp_path.glob("finished.old-*"))
