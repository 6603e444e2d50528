"""Faults provoked for real: bad configs and command lines, NaNs, signals
(from the first seconds on), SIGKILL during a checkpoint write, corrupted
checkpoints, data caches and run files, two processes on one run, unwritable
or full disks. Each asserts that nothing finished is lost and that the
resumed run equals an uninterrupted one."""

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fgan.rundir import checkpoint
from fgan import data
from fgan.data import cache
from fgan.data import sources
from fgan import errors
from fgan import loop
from fgan import models
from fgan import train
from fgan import validation
from fgan.rundir import writers
from tests.conftest import comparable
from tests.conftest import data_config
from tests.conftest import fashion_fixture
from tests.conftest import signal_after_logging
from tests.conftest import toy_config
from tests.conftest import RING_JS
from tests.conftest import ROOT



def _cli(*args, timeout=300):
  return subprocess.run([sys.executable, "-m", "experiments.run", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout)


def _snapshot(directory):
  """{relative path: bytes} of every file under directory."""
  return {str(p.relative_to(directory)): p.read_bytes()
          for p in sorted(pathlib.Path(directory).rglob("*")) if p.is_file()}


@pytest.mark.parametrize("field,value,match", [
    ("divergence", "kll", "reverse_kl"),
    ("model.name", "vit", "mlp, dcgan"),
    ("data.name", "cifar", "ring8"),
    ("optim.critic.name", "adamm", "adam, rmsprop, sgd"),
    ("optim.generator.learning_rate", 0.0, "finite number in \\(0, inf\\)"),
    ("optim.critic.learning_rate", -1e-3, "finite number in \\(0, inf\\)"),
    ("optim.critic.learning_rate", float("inf"), "finite number in \\(0, inf\\)"),
    ("optim.generator.decay", "cosine", "none, linear"),
    ("compute.conv_impl", "cudnn", "auto, subpixel, matmul, xla"),
    ("compute.steps_per_call", -1, "int >= 0"),
    ("train.batch_size", 0, "int >= 1"),
    ("train.n_critic", 0, "int >= 1"),
    ("train.ema_decay", 1.0, r"\[0, 1\)"),
    ("generator_loss", "saturating", "nonsaturating"),
    ("parallel.mode", "ddp", "pmap"),
    ("train.on_nonfinite", "ignore", "skip"),
    ("critic_output_penalty", -1e-3, "finite number in \\[0, inf\\)"),
    ("critic_output_bound", float("inf"), "finite number in \\[0, inf\\)"),
    ("gradient_penalty", float("nan"), "finite number in \\[0, inf\\)"),
    ("gradient_penalty_kind", "r2", "wgan_gp, r1"),
    ("data.resize", 64, "toy vector data"),
    ("model.hidden", (0,), "positive ints"),
    ("model.hidden", (-4, 8), "positive ints"),
    ("model.hidden", (), "no hidden layer"),
    ("model.z_dim", 0, "positive ints"),
    ("seed", -1, "int >= 0"),
    ("critic_pack", 0, "int >= 1"),
    ("critic_pack", 3, "batch_size = 64 is not a multiple of config.critic_pack = 3"),
])
def test_config_validation_names_the_problem(field, value, match):
  c = toy_config()
  section, _, key = field.rpartition(".")
  target = c
  for part in section.split(".") if section else []:
    target = target[part]
  target[key] = value
  with pytest.raises(validation.ConfigError, match=match):
    validation.validate(c)


@pytest.mark.parametrize("field,value,match", [
    ("data.source", "bogus", "auto, tfds, offline"),
    ("data.resize", -28, "0 = native size"),
    ("data.shards", 0, "int >= 1"),
    ("model.width", 0, "positive ints"),
    ("model.critic_extra_convs", -1, "int >= 0"),
    ("model.critic_norm", "spectre", "none, batch, layer, spectral"),
])
def test_image_config_validation_names_the_problem(field, value, match):
  from configs import js_mnist
  c = js_mnist.get_config()
  section, key = field.split(".")
  c[section][key] = value
  with pytest.raises(validation.ConfigError, match=match):
    validation.validate(c)


def test_model_that_cannot_make_the_data_and_gp_with_batchnorm(tmp_path):
  c = toy_config()
  c.model = models.config("dcgan")
  with pytest.raises(validation.ConfigError, match="28x28, 32x32 or 64x64"):
    loop.run(c, tmp_path / "a", progress=False)
  with pytest.raises(validation.ConfigError, match="config.data.resize to 28, 32 or 64"):
    models.check_data(c.model, (218, 178, 3))
  c = toy_config(gradient_penalty=10.0)
  c.model = models.config("dcgan", critic_norm="batch")
  with pytest.raises(validation.ConfigError, match="per-example"):
    validation.validate(c)
  with pytest.raises(validation.ConfigError, match="gradient_penalty"):
    validation.validate(toy_config(divergence="wasserstein"))
  with pytest.raises(validation.ConfigError, match="gradient_penalty_kind = 'wgan_gp'"):
    validation.validate(toy_config(divergence="wasserstein", gradient_penalty=10.0,
                                   gradient_penalty_kind="r1"))


def test_errors_come_before_compilation(tmp_path):
  out = _cli("--config=configs/js_mnist.py", "--config.train.batch_size=-4",
             f"--workdir={tmp_path}")
  assert out.returncode == 2 and "train.batch_size = -4" in out.stderr
  assert not (tmp_path / "config.json").exists()


@pytest.mark.slow
def test_nonfinite_stop_keeps_the_good_checkpoint_and_skip_resumes_from_it(tmp_path):
  args = ["--config=configs/ring8.py:kl", "--config.train.num_steps=200",
          "--config.eval.estimate_steps=0",
          "--config.checkpoint.every_steps=100", "--config.train.log_every=100",
          "--config.model.hidden=(64, 64)", f"--workdir={tmp_path}"]
  ok = _cli(*args[:1], "--config.train.num_steps=100", *args[2:])
  assert ok.returncode == 0, ok.stderr
  before = _snapshot(tmp_path / "checkpoints")
  # The same run whose later steps go non-finite: its config as the absurd
  # learning rates would make it.
  bad = ["--config.optim.critic.learning_rate=1e12", "--config.optim.generator.learning_rate=1e12"]
  saved = json.loads((tmp_path / "config.json").read_text())
  saved["optim"]["critic"]["learning_rate"] = saved["optim"]["generator"]["learning_rate"] = 1e12
  (tmp_path / "config.json").write_text(json.dumps(saved))
  out = _cli(*args, *bad)
  assert out.returncode == 2 and "Traceback" not in out.stderr
  assert re.search(r"non-finite losses or parameters at step 1\d\d;", out.stderr)
  assert "last good checkpoint is step 100" in out.stderr
  assert _snapshot(tmp_path / "checkpoints") == before  # nothing overwritten or added
  # The message's advice works: the same command with skip resumes from 100.
  skip = _cli(*args, *bad, "--config.train.on_nonfinite=skip")
  assert skip.returncode == 0, skip.stderr
  assert "resuming from checkpoint 100" in skip.stdout
  rejected = json.loads((tmp_path / "summary.json").read_text())["nonfinite_steps"]
  assert rejected > 0 and f"warning: {rejected} of 200 updates" in skip.stdout


def test_skip_mode_counts_rejected_steps_and_keeps_parameters_finite(tmp_path):
  c = toy_config(steps=30, divergence="kl")
  c.optim.critic.learning_rate = c.optim.generator.learning_rate = 1e12
  c.train.on_nonfinite = "skip"
  loop.run(c, tmp_path, progress=False)
  last = writers.read_metrics(tmp_path)[-1]
  assert last["nonfinite_steps"] > 0
  ds = data.load(c.data)
  g, d = models.build(c.model, ds.shape)
  ckpt = checkpoint.Checkpointer(tmp_path, 3)
  _, state = ckpt.restore(train.create_state(c, g, d, ds.shape))
  ckpt.close()
  assert bool(train.all_finite((state.g_params, state.d_params)))
  assert int(state.first_nonfinite_step) >= 1


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_checkpoint_exits_cleanly_and_resumes(tmp_path, sig):
  args = [*RING_JS, "--config.train.num_steps=100000",
          "--config.checkpoint.every_steps=100000", "--config.train.log_every=10",
          f"--workdir={tmp_path}"]
  proc = subprocess.Popen([sys.executable, "-m", "experiments.run", *args], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 120
  while not (tmp_path / "metrics.jsonl").exists() and time.time() < deadline:
    time.sleep(0.1)
  proc.send_signal(sig)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 0, err
  assert f"signal {int(sig)} received; saved checkpoint" in err
  saved = [int(p.name) for p in (tmp_path / "checkpoints").glob("[0-9]*")]
  assert len(saved) == 1 and saved[0] >= 10
  # The same command resumes from it.
  proc = subprocess.Popen([sys.executable, "-m", "experiments.run", *args], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  time.sleep(1)
  deadline = time.time() + 120
  while time.time() < deadline and len(writers.read_metrics(tmp_path)) <= saved[0] // 10:
    time.sleep(0.1)
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=120)
  assert f"resuming from checkpoint {saved[0]}" in out


def test_signal_after_the_steps_sync_saves_fresh_state_next_step(tmp_path, monkeypatch):
  # The signal lands while step 20's metrics are written, after that step
  # decided not to copy the state to the host: the run's state held on the
  # host is still the initial one, whose buffers the first step consumed
  # (donation), so saving it then failed. It is saved at step 21 instead.
  signal_after_logging(monkeypatch, [20])
  c = toy_config(**{"train.num_steps": 1000, "train.log_every": 10,
                    "checkpoint.every_steps": 1000, "eval.every_steps": 1000,
                    "train.steps_per_call": 1})
  with pytest.raises(loop.Preempted, match="saved checkpoint 21"):
    loop.run(c, tmp_path, progress=False)
  assert [int(p.name) for p in (tmp_path / "checkpoints").glob("[0-9]*")] == [21]


@pytest.mark.slow
def test_sigkill_during_checkpoint_write_leaves_previous_checkpoint(tmp_path):
  # Big MLPs make each checkpoint write long; the process is killed the moment
  # a checkpoint is seen being written (orbax's temporary folder).
  args = [*RING_JS, "--config.train.num_steps=30", "--config.model.hidden=(512, 512, 512)",
          "--config.checkpoint.every_steps=2", "--config.checkpoint.keep=2",
          "--config.train.log_every=2", f"--workdir={tmp_path}"]
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  proc = subprocess.Popen([sys.executable, "-m", "experiments.run", *args], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
  ckpts = tmp_path / "checkpoints"
  deadline, killed_mid_write = time.time() + 180, False
  while time.time() < deadline and proc.poll() is None:
    committed = [p for p in ckpts.glob("[0-9]*") if "tmp" not in p.name
                 and (p / "commit_success.txt").exists()] if ckpts.exists() else []
    in_flight = list(ckpts.glob("*tmp*")) if ckpts.exists() else []
    if committed and in_flight:
      proc.send_signal(signal.SIGKILL)
      killed_mid_write = True
      break
    time.sleep(0.001)
  proc.wait()
  assert killed_mid_write, "never observed a checkpoint being written"
  out = _cli(*args)
  assert out.returncode == 0, out.stderr
  assert "resuming from checkpoint" in out.stdout
  assert writers.read_metrics(tmp_path)[-1]["step"] == 30
  # Equal to an uninterrupted run.
  straight = tmp_path.parent / (tmp_path.name + "_straight")
  assert _cli(*args[:-1], f"--workdir={straight}").returncode == 0
  assert comparable(writers.read_metrics(tmp_path)) == comparable(writers.read_metrics(straight))


def test_truncated_latest_checkpoint_falls_back_to_previous(tmp_path, capsys):
  loop.run(toy_config(steps=40), tmp_path, progress=False)
  latest = tmp_path / "checkpoints" / "40"
  for f in latest.rglob("*"):
    if f.is_file() and f.stat().st_size > 100:
      f.write_bytes(f.read_bytes()[: f.stat().st_size // 3])
  loop.run(toy_config(steps=60), tmp_path, progress=False)
  out = capsys.readouterr().out
  assert "checkpoint 40" in out and "unreadable" in out
  assert "resuming from checkpoint 30" in out
  assert list((tmp_path / "checkpoints_unreadable").glob("40-*"))  # kept aside, not deleted
  assert writers.read_metrics(tmp_path)[-1]["step"] == 60
  # Resuming from 30 reproduces the uninterrupted run.
  loop.run(toy_config(steps=60), tmp_path.parent / "straight60", progress=False)
  assert comparable(writers.read_metrics(tmp_path)) == comparable(
      writers.read_metrics(tmp_path.parent / "straight60"))


def test_unwritable_workdir_is_an_error_at_start(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a directory")
  out = _cli("--config=configs/ring8.py:js", f"--workdir={blocker / 'run'}")
  assert out.returncode == 2 and "is not writable" in out.stderr


def test_full_disk_is_an_error_at_start(tmp_path):
  mnt = tmp_path / "small"
  mnt.mkdir()
  if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                    capture_output=True).returncode != 0:
    pytest.skip("cannot mount a small tmpfs here (needs root)")
  try:
    out = _cli("--config=configs/ring8.py:js", f"--workdir={mnt / 'run'}")
    assert out.returncode == 2
    assert "MiB free but the run needs" in out.stderr
  finally:
    subprocess.run(["umount", str(mnt)], check=False)


# Damaged or contested work directories ------------------------------------------


def _largest_file(directory):
  return max((p for p in pathlib.Path(directory).rglob("*") if p.is_file()),
             key=lambda p: p.stat().st_size)


@pytest.mark.parametrize("damage", ["flip_low_bits", "random_bytes"])
def test_corrupted_newest_checkpoint_is_detected_and_the_previous_used(tmp_path, capsys, damage):
  run_dir = tmp_path / "run"
  loop.run(toy_config(steps=40), run_dir, progress=False)
  victim = _largest_file(run_dir / "checkpoints" / "40")
  blob = bytearray(victim.read_bytes())
  rng = np.random.default_rng(0)
  if damage == "flip_low_bits":
    for i in rng.choice(len(blob), 8, replace=False):
      blob[i] ^= 1
  else:
    start = len(blob) // 4
    blob[start:start + 4096] = rng.integers(0, 256, min(4096, len(blob) - start), np.uint8).tobytes()
  victim.write_bytes(bytes(blob))
  loop.run(toy_config(steps=60), run_dir, progress=False)
  out = capsys.readouterr().out
  assert "checkpoint 40" in out and "unreadable" in out and "resuming from checkpoint 30" in out
  loop.run(toy_config(steps=60), tmp_path / "straight", progress=False)
  assert comparable(writers.read_metrics(run_dir)) == comparable(
      writers.read_metrics(tmp_path / "straight"))


def test_workdir_without_config_json_is_not_resumed_under_another_config(tmp_path):
  loop.run(toy_config(steps=20), tmp_path, progress=False)
  (tmp_path / "config.json").unlink()
  with pytest.raises(errors.WorkdirError, match="holds checkpoints but no config.json"):
    loop.run(toy_config(steps=40, divergence="kl"), tmp_path, progress=False)


def test_garbled_config_json_is_named_and_overwrite_moves_the_run_aside(tmp_path):
  loop.run(toy_config(steps=20), tmp_path, progress=False)
  (tmp_path / "config.json").write_text('{"seed": 0, "divergence": ')
  with pytest.raises(errors.WorkdirError, match="config.json is damaged"):
    loop.run(toy_config(steps=40), tmp_path, progress=False)
  loop.run(toy_config(steps=20), tmp_path, overwrite=True, progress=False)
  assert list(tmp_path.parent.glob(tmp_path.name + ".old-*/checkpoints"))


def test_torn_last_metrics_line_is_dropped_on_resume(tmp_path, capsys):
  run_dir = tmp_path / "run"
  # As a kill would leave it: records past the last checkpoint (20), the
  # last of them cut short, and no summary.
  c = toy_config(steps=40, **{"checkpoint.every_steps": 20})
  loop.run(c, run_dir, progress=False)
  shutil.rmtree(run_dir / "checkpoints" / "40")
  (run_dir / "summary.json").unlink()
  with (run_dir / "metrics.jsonl").open("a") as f:
    f.write('{"step": 50, "critic_lo')
  loop.run(c, run_dir, progress=False)
  assert "torn last line" in capsys.readouterr().out
  loop.run(c, tmp_path / "straight", progress=False)
  assert comparable(writers.read_metrics(run_dir)) == comparable(
      writers.read_metrics(tmp_path / "straight"))


def test_garbled_data_cache_is_rebuilt(tmp_path, monkeypatch, capsys):
  fashion_fixture(tmp_path, monkeypatch)
  config = data_config(name="fashion_mnist", source="offline", idx_dir=str(tmp_path))
  first = data.load(config)
  folder = cache.folder(config, "train", sources.raw_split(config, "train"))
  damages = (("images.npy", b"not an array"), ("info.json", b"{"),
             ("images.npy", None))  # None: one flipped pixel, caught by the checksum
  for name, broken in damages:
    if broken is None:
      images = np.load(folder / name, mmap_mode="r+")
      images[3, 4, 5, 0] ^= 1
      images.flush()
      del images
    else:
      (folder / name).write_bytes(broken)
    again = data.load(config)
    assert "rebuilding it" in capsys.readouterr().out
    assert again.info["preprocessed_sha256"] == first.info["preprocessed_sha256"]
    np.testing.assert_array_equal(again.arrays["images"], first.arrays["images"])


def test_overwrite_with_a_config_that_fails_late_leaves_the_previous_run(tmp_path):
  loop.run(toy_config(steps=20), tmp_path, progress=False)
  before = _snapshot(tmp_path)
  c = toy_config(steps=20)
  c.model = models.config("dcgan")
  with pytest.raises(errors.ConfigError, match="28x28, 32x32 or 64x64"):
    loop.run(c, tmp_path, overwrite=True, progress=False)
  assert _snapshot(tmp_path) == before
  assert not list(tmp_path.parent.glob(tmp_path.name + ".old-*"))
  assert "already finished" in _cli(*RING_JS, "--config.train.num_steps=20",
                                    "--config.model.hidden=(64, 64)",
                                    "--config.train.batch_size=64",
                                    "--config.train.log_every=10",
                                    "--config.eval.every_steps=20",
                                    "--config.checkpoint.every_steps=10",
                                    "--config.optim.critic.learning_rate=1e-4",
                                    "--config.optim.generator.learning_rate=1e-4",
                                    "--config.generator_loss=nonsaturating",
                                    f"--workdir={tmp_path}").stdout


@pytest.mark.slow
def test_a_second_process_is_refused_and_a_killed_holder_leaves_no_lock(tmp_path):
  rest = ["--config.checkpoint.every_steps=50", f"--workdir={tmp_path}"]
  args = [*RING_JS, "--config.train.num_steps=100000", *rest]
  first = subprocess.Popen([sys.executable, "-m", "experiments.run", *args], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    deadline = time.time() + 120
    while not (tmp_path / "metrics.jsonl").exists() and time.time() < deadline:
      time.sleep(0.2)
    t = time.time()
    second = _cli(*args, timeout=60)
    assert second.returncode == 2 and time.time() - t < 30  # at once: no wait for the lock
    assert f'"pid": {first.pid}' in second.stderr and "in use by another fgan process" in second.stderr
  finally:
    first.kill()
    first.wait()
  resumed = _cli(*RING_JS, "--config.train.num_steps=60", *rest)
  assert resumed.returncode == 0, resumed.stderr
  assert "resuming from checkpoint" in resumed.stdout


def test_disk_full_while_checkpointing_is_one_message_and_the_rerun_resumes(tmp_path, monkeypatch):
  run_dir = tmp_path / "run"
  import orbax.checkpoint as ocp
  save = ocp.CheckpointManager.save
  def full_at_30(self, step, *a, **kw):
    if step == 30:
      raise OSError(28, "No space left on device")
    return save(self, step, *a, **kw)
  monkeypatch.setattr(ocp.CheckpointManager, "save", full_at_30)
  with pytest.raises(errors.CheckpointWriteError,
                     match="could not write checkpoint 30 .* last good checkpoint is step 20"):
    loop.run(toy_config(steps=40), run_dir, progress=False)
  monkeypatch.undo()
  assert sorted(int(p.name) for p in (run_dir / "checkpoints").glob("[0-9]*")) == [10, 20]
  loop.run(toy_config(steps=40), run_dir, progress=False)
  loop.run(toy_config(steps=40), tmp_path / "straight", progress=False)
  assert comparable(writers.read_metrics(run_dir)) == comparable(
      writers.read_metrics(tmp_path / "straight"))


def test_ctrl_c_during_setup_stops_the_run(tmp_path):
  proc = subprocess.Popen([sys.executable, "-m", "experiments.run", "--config=configs/js_mnist.py",
                           "--config.eval.estimate_steps=0",
                           f"--workdir={tmp_path}"], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  time.sleep(3)  # importing, loading data or compiling: before the first step
  proc.send_signal(signal.SIGINT)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 0, err
  assert "signal 2 received" in err and "Traceback" not in err
  assert not (tmp_path / "summary.json").exists()


@pytest.mark.parametrize("args,message", [
    (["--config.nosuch=1"], "'nosuch'"),
    (["--config.train.num_stepz=20"], 'Did you mean "num_steps"'),
    (["--config.model.hidden=(0,)"], "must hold positive ints"),
    (["--config.optim.critic.learning_rate=inf"], "finite number in (0, inf)"),
    (["--config.data.name=fashion_mnist", "--config.data.source=offline",
      "--config.data.idx_dir=/nonexistent"],
     "apt-get install dataset-fashion-mnist"),
])
def test_bad_input_is_one_message_without_traceback(tmp_path, args, message):
  out = _cli(*RING_JS, *args, f"--workdir={tmp_path / 'w'}")
  assert out.returncode == 2 and message in out.stderr, out.stderr
  assert "Traceback" not in out.stderr
  assert not (tmp_path / "w").exists()
