"""The main job's machinery end to end: files, overrides, resume, determinism."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from fgan import config as config_lib
from fgan import errors
from fgan import loop
from fgan.rundir import workdir
from fgan.rundir import writers
from tests.conftest import comparable
from tests.conftest import final_state
from tests.conftest import toy_config
from tests.conftest import RING_JS
from tests.conftest import ROOT



def _run_cli(*args, timeout=300):
  return subprocess.run([sys.executable, "-m", "experiments.run", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout,
                        env=dict(os.environ, PYTHONUNBUFFERED="1"))



def test_event_files_hold_the_bytes_tensorboardx_writes(tmp_path, monkeypatch):
  """fgan's TensorBoard files equal tensorboardX's EventsWriter's for the
  same scalars, steps and times (file name included), zeros and extremes
  among them; CRC-32C gives RFC 3720's check value."""
  from tensorboardX import event_file_writer  # pylint: disable=import-outside-toplevel
  from tensorboardX import summary  # pylint: disable=import-outside-toplevel
  from tensorboardX.proto import event_pb2  # pylint: disable=import-outside-toplevel
  from fgan.rundir import events  # pylint: disable=import-outside-toplevel
  assert events.crc32c(b"123456789") == 0xE3069283
  monkeypatch.setattr(time, "time", lambda: 1765000000.25)
  ours, theirs = tmp_path / "ours", tmp_path / "theirs"
  ours.mkdir(), theirs.mkdir()
  scalars = {"critic_loss": 1.5, "zero": 0.0, "tiny": -3.25e-40, "big": 3.4e38,
             "beyond_float32": -1e39, "eval/frechet": 123.456}
  writer, reference = events.EventFile(ours), event_file_writer.EventsWriter(str(theirs / "events"))
  for step in (0, 1, 300, 2 ** 40):
    writer.write_scalars(step, scalars)
    for k, v in scalars.items():
      reference.write_event(event_pb2.Event(summary=summary.scalar(k, v), step=step,
                                            wall_time=time.time()))
  writer.close(), reference.close()
  [a], [b] = list(ours.iterdir()), list(theirs.iterdir())
  assert a.name == b.name
  assert a.read_bytes() == b.read_bytes()

def test_run_leaves_its_files(tmp_path):
  summary = loop.run(toy_config(), tmp_path, progress=False)
  for name in ("config.json", "data.json", "run.json", "metrics.jsonl", "summary.json",
               "samples/final.png", "samples/step_0000020.png"):
    assert (tmp_path / name).exists(), name
  assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
  assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["20", "30", "40"]
  records = writers.read_metrics(tmp_path)
  assert [r["step"] for r in records] == [10, 20, 30, 40]
  assert {"critic_loss", "generator_loss", "divergence_estimate", "critic_grad_norm",
          "generator_grad_norm", "steps_per_second"} <= set(records[0])
  assert summary["step"] == 40 and summary["data"]["content_sha256"]
  assert json.loads((tmp_path / "config.json").read_text())["train"]["num_steps"] == 40
  run_info = json.loads((tmp_path / "run.json").read_text())
  assert run_info["seed"] == 0 and run_info["versions"]["jax"] == jax.__version__
  assert run_info["machine"]["cpu_threads"] == len(os.sched_getaffinity(0))


def test_same_config_and_seed_give_identical_metrics(tmp_path):
  loop.run(toy_config(), tmp_path / "a", progress=False)
  loop.run(toy_config(), tmp_path / "b", progress=False)
  a, b = (comparable(writers.read_metrics(tmp_path / x)) for x in "ab")
  assert a == b and len(a) == 4
  loop.run(toy_config(seed=1), tmp_path / "c", progress=False)
  assert comparable(writers.read_metrics(tmp_path / "c")) != a


def test_finished_run_does_not_train_again(tmp_path, capsys):
  loop.run(toy_config(), tmp_path, progress=False)
  mtime = (tmp_path / "metrics.jsonl").stat().st_mtime_ns
  loop.run(toy_config(), tmp_path, progress=False)
  assert "already finished" in capsys.readouterr().out
  assert (tmp_path / "metrics.jsonl").stat().st_mtime_ns == mtime
  # Asking for more steps continues the same run.
  loop.run(toy_config(steps=60), tmp_path, progress=False)
  assert writers.read_metrics(tmp_path)[-1]["step"] == 60


def test_a_longer_run_is_another_run_where_a_schedule_spans_its_length(tmp_path):
  """Linear decay over train.num_steps (or an annealed penalty) makes every
  step depend on the length, so a rerun with more steps must not resume."""
  decayed = lambda steps: toy_config(steps=steps, **{"optim.critic.decay": "linear",
                                                    "optim.generator.decay": "linear"})
  loop.run(decayed(10), tmp_path, progress=False)
  with pytest.raises(errors.WorkdirError, match=r"differs in train.num_steps\) \(a learning"):
    loop.run(decayed(20), tmp_path, progress=False)
  annealed = toy_config(steps=20, gradient_penalty=1.0, gradient_penalty_kind="r1",
                        gradient_penalty_anneal=0.1)
  assert workdir.length_dependent(config_lib.flatten(annealed.to_dict()))
  assert not workdir.length_dependent(config_lib.flatten(toy_config(steps=20).to_dict()))
  from configs import ring8
  from experiments import run
  c = ring8.get_config("js")
  c.optim.generator.decay = "linear"
  short = str(run.default_workdir(c, "configs/ring8.py:js"))
  c.train.num_steps = 5
  assert str(run.default_workdir(c, "configs/ring8.py:js")) != short


def test_workdir_of_a_different_config_is_refused(tmp_path):
  loop.run(toy_config(steps=10), tmp_path, progress=False)
  with pytest.raises(errors.WorkdirError, match="differs in divergence"):
    loop.run(toy_config(steps=10, divergence="kl"), tmp_path, progress=False)
  loop.run(toy_config(steps=10, divergence="kl"), tmp_path, overwrite=True, progress=False)
  assert json.loads((tmp_path / "config.json").read_text())["divergence"] == "kl"
  moved = list(tmp_path.parent.glob(tmp_path.name + ".old-*"))
  assert moved and (moved[0] / "checkpoints").exists()  # the old run is kept


def test_a_run_written_before_the_redesign_resumes_and_equals_a_fresh_one(tmp_path):
  """tests/data/run_before_redesign: a toy run of configs/js_ring8.py's
  settings stopped at step 10, written by fgan before the config schema
  moved into the library (its config.json has every model field of the
  union, no commit in run.json). It resumes under today's code, and its
  records equal a fresh run's bitwise."""
  import shutil  # pylint: disable=import-outside-toplevel
  from configs import ring8  # pylint: disable=import-outside-toplevel
  old = tmp_path / "old"
  shutil.copytree(ROOT / "tests" / "data" / "run_before_redesign", old)
  saved = json.loads((old / "config.json").read_text())
  assert "critic_norm" in saved["model"] and "width" in saved["model"]  # the old union
  c = ring8.get_config("js")
  c.model.hidden, c.train.batch_size, c.train.num_steps = (16,), 64, 20
  c.train.log_every, c.eval.every_steps, c.eval.num_samples = 5, 10, 500
  c.eval.estimate_steps, c.checkpoint.every_steps = 5, 10
  assert config_lib.as_json(workdir.saved_config(old).model) == config_lib.as_json(c.model)
  summary = loop.run(c, old, progress=False)
  assert summary["step"] == 20 and summary["resumed_from"] == 10
  loop.run(c, tmp_path / "fresh", progress=False)
  # Records at steps 5 and 10 came from the old code, 15 and 20 from today's
  # (the old run's step 10 also holds its end-of-run held-out estimates).
  interim = lambda records: [{k: v for k, v in r.items()
                              if r["step"] == 20 or not k.startswith("eval/heldout")}
                             for r in comparable(records)]
  assert interim(writers.read_metrics(old)) == interim(writers.read_metrics(tmp_path / "fresh"))


def test_fields_missing_from_a_saved_config_take_their_defaults(tmp_path):
  loop.run(toy_config(steps=10), tmp_path, progress=False)
  saved = json.loads((tmp_path / "config.json").read_text())
  for field in ("critic_output_penalty", "critic_pack", "gradient_penalty_kind"):
    del saved[field]
  del saved["eval"]["feature_space"]
  (tmp_path / "config.json").write_text(json.dumps(saved))
  assert workdir.saved_config(tmp_path).gradient_penalty_kind == "wgan_gp"
  summary = loop.run(toy_config(steps=20), tmp_path, progress=False)
  assert summary["step"] == 20 and summary["resumed_from"] == 10
  with pytest.raises(errors.WorkdirError, match="differs in gradient_penalty_kind"):
    loop.run(toy_config(steps=30, gradient_penalty_kind="r1"), tmp_path, progress=False)


@pytest.mark.slow
def test_cli_overrides_and_unknown_keys(tmp_path):
  args = (*RING_JS, "--config.train.num_steps=20", "--config.train.log_every=10",
          "--config.divergence=kl", "--config.model.hidden=(32, 16)", f"--workdir={tmp_path / 'w'}")
  out = _run_cli(*args)
  assert out.returncode == 0, out.stderr
  cfg = json.loads((tmp_path / "w" / "config.json").read_text())
  assert cfg["train"]["num_steps"] == 20 and cfg["divergence"] == "kl"
  assert cfg["model"]["hidden"] == [32, 16]
  again = _run_cli(*args)  # the saved config (JSON lists) is the same config
  assert again.returncode == 0 and "already finished" in again.stdout, again.stderr
  bad = _run_cli(*RING_JS, "--config.train.num_stepz=20",
                 f"--workdir={tmp_path / 'x'}")
  assert bad.returncode != 0 and "num_stepz" in bad.stderr
  bad = _run_cli(*RING_JS, "--config.divergence=kll",
                 f"--workdir={tmp_path / 'y'}")
  assert bad.returncode == 2 and "reverse_kl" in bad.stderr


def test_default_workdir_is_stable_and_tracks_overrides():
  from configs import js_mnist, ring8
  from experiments import run
  c = ring8.get_config("js")
  assert str(run.default_workdir(c, "configs/ring8.py:js")) == "runs/ring8_js_seed0"
  c.train.num_steps = 5  # continuing a run keeps its directory
  assert str(run.default_workdir(c, "configs/ring8.py:js")) == "runs/ring8_js_seed0"
  c.divergence = "kl"
  other = str(run.default_workdir(c, "configs/ring8.py:js"))
  assert other.startswith("runs/ring8_js_seed0_") and other == str(
      run.default_workdir(c, "configs/ring8.py:js"))
  assert str(run.default_workdir(js_mnist.get_config(), "configs/js_mnist.py")) == (
      "runs/js_mnist_seed0")


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path):
  args = [*RING_JS, "--config.train.num_steps=400", "--config.checkpoint.every_steps=50",
          "--config.train.log_every=50", "--config.eval.every_steps=200",
          "--config.model.hidden=(128, 128, 128)"]
  killed = tmp_path / "killed"
  proc = subprocess.Popen([sys.executable, "-m", "experiments.run", *args,
                           f"--workdir={killed}"], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 240
  while time.time() < deadline:
    done = [p for p in (killed / "checkpoints").glob("[0-9]*") if (p / "commit_success.txt").exists()] \
        if (killed / "checkpoints").exists() else []
    if len(done) >= 2:
      break
    time.sleep(0.2)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert proc.returncode == -signal.SIGKILL
  assert not (killed / "summary.json").exists()
  resumed = _run_cli(*args, f"--workdir={killed}")
  assert resumed.returncode == 0, resumed.stderr
  assert "resuming from checkpoint" in resumed.stdout
  straight = _run_cli(*args, f"--workdir={tmp_path / 'straight'}")
  assert straight.returncode == 0, straight.stderr

  from configs import ring8
  c = ring8.get_config("js")
  c.model.hidden = (128, 128, 128)
  (sa, a), (sb, b) = final_state(c, killed), final_state(c, tmp_path / "straight")
  assert sa == sb == 400
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)
  assert comparable(writers.read_metrics(killed)) == comparable(
      writers.read_metrics(tmp_path / "straight"))


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path):
  proc = subprocess.Popen([sys.executable, "-m", "experiments.run", *RING_JS,
                           "--config.train.num_steps=100000", f"--workdir={tmp_path}"],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 120
  while not (tmp_path / "metrics.jsonl").exists() and time.time() < deadline:
    time.sleep(0.2)
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 0, err
  assert "saved checkpoint" in err and "Rerun the same command" in err
  steps = [int(p.name) for p in (tmp_path / "checkpoints").glob("[0-9]*")]
  assert steps and max(steps) % 1 == 0 and max(steps) >= 100


def test_changing_a_performance_switch_resumes_the_run(tmp_path, capsys):
  loop.run(toy_config(steps=20), tmp_path, progress=False)
  faster = toy_config(steps=40, **{"compute.steps_per_call": 2, "compute.conv_impl": "xla"})
  summary = loop.run(faster, tmp_path, progress=False)
  assert "resuming from checkpoint 20" in capsys.readouterr().out
  assert summary["step"] == 40 and summary["resumed_from"] == 20
  run_info = json.loads((tmp_path / "run.json").read_text())
  assert run_info["compute"]["steps_per_call"] == 2 and run_info["compute"]["conv_impl"] == "xla"


def test_run_saved_with_retired_fields_resumes(tmp_path):
  # Runs of earlier versions kept the performance switches in model. and
  # train.; their saved configs still resume.
  loop.run(toy_config(steps=10), tmp_path, progress=False)
  saved = json.loads((tmp_path / "config.json").read_text())
  saved["model"].update(conv_impl="subpixel", conv_chunk=0)
  saved["train"]["steps_per_call"] = 0
  del saved["compute"]
  (tmp_path / "config.json").write_text(json.dumps(saved))
  assert loop.run(toy_config(steps=20), tmp_path, progress=False)["resumed_from"] == 10
