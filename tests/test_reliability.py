"""Faults provoked for real: bad configs, NaNs, signals, SIGKILL during a
checkpoint write, corrupt checkpoints, unwritable or full disks (issue 9)."""

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from fgan import checkpoint
from fgan import data
from fgan import loop
from fgan import train
from fgan import validation
from fgan import writers
from tests.conftest import toy_config

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _cli(*args, timeout=300):
  return subprocess.run([sys.executable, "-m", "experiments.run", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout)


def _snapshot(directory):
  """{relative path: bytes} of every file under directory."""
  return {str(p.relative_to(directory)): p.read_bytes()
          for p in sorted(pathlib.Path(directory).rglob("*")) if p.is_file()}


@pytest.mark.parametrize("field,value,match", [
    ("divergence", "kll", "reverse_kl"),
    ("model.name", "resnet", "dcgan, mlp"),
    ("data.name", "cifar", "ring8"),
    ("optim.critic.name", "adamm", "adam, rmsprop, sgd"),
    ("optim.generator.learning_rate", 0.0, "must be > 0"),
    ("optim.critic.learning_rate", -1e-3, "must be > 0"),
    ("optim.generator.decay", "cosine", "none, linear"),
    ("model.conv_impl", "cudnn", "subpixel, matmul, xla"),
    ("train.batch_size", 0, "positive int"),
    ("train.n_critic", 0, "positive int"),
    ("generator_loss", "saturating", "nonsaturating"),
    ("parallel.mode", "ddp", "pmap"),
    ("train.on_nonfinite", "ignore", "skip"),
    ("critic_output_penalty", -1e-3, "must be >= 0"),
    ("gradient_penalty_kind", "r2", "wgan_gp, r1"),
    ("model.conv_chunk", -1, "int >= 0"),
    ("data.resize", -28, "0 = native size"),
    ("data.resize", 64, "toy vector data"),
    ("model.critic_norm", "spectre", "none, batch, layer, spectral"),
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


def test_model_that_cannot_make_the_data_and_gp_with_batchnorm(tmp_path):
  c = toy_config(**{"model.name": "dcgan"})
  with pytest.raises(validation.ConfigError, match="28x28, 32x32 or 64x64"):
    loop.run(c, tmp_path / "a", progress=False)
  images = data.Dataset("tfds:celeb_a", (218, 178, 3), {}, None, {})
  with pytest.raises(validation.ConfigError, match="config.data.resize to 28, 32 or 64"):
    validation.validate_with_data(c, images)
  c = toy_config(**{"model.critic_norm": "batch", "gradient_penalty": 10.0})
  c.model.name = "dcgan"
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


def test_absurd_learning_rate_stops_with_step_and_keeps_the_good_checkpoint(tmp_path):
  args = ["--config=configs/kl_ring8.py", "--config.train.num_steps=400",
          "--config.checkpoint.every_steps=100", "--config.train.log_every=100",
          "--config.model.hidden=(64, 64)"]
  ok = _cli(*args, "--config.train.num_steps=100", f"--workdir={tmp_path}")
  assert ok.returncode == 0, ok.stderr
  before = _snapshot(tmp_path / "checkpoints")
  # Same run continued with an absurd learning rate: refused as a different
  # config unless overwritten, so train it in a copy of the work directory.
  bad_dir = tmp_path.parent / (tmp_path.name + "_bad")
  shutil.copytree(tmp_path, bad_dir)
  (bad_dir / "config.json").unlink()
  out = _cli(*args, "--config.optim.critic.learning_rate=1e12",
             "--config.optim.generator.learning_rate=1e12", f"--workdir={bad_dir}")
  assert out.returncode == 2
  assert "non-finite losses or parameters at step" in out.stderr
  assert "last good checkpoint is step 100" in out.stderr
  assert _snapshot(bad_dir / "checkpoints") == before  # nothing overwritten or added


def test_skip_mode_counts_rejected_steps_and_keeps_parameters_finite(tmp_path):
  c = toy_config(steps=30, divergence="kl")
  c.optim.critic.learning_rate = c.optim.generator.learning_rate = 1e12
  c.train.on_nonfinite = "skip"
  loop.run(c, tmp_path, progress=False)
  last = writers.read_metrics(tmp_path)[-1]
  assert last["nonfinite_steps"] > 0
  ds = data.load(c.data)
  g, d = train.build_models(c, ds.shape)
  ckpt = checkpoint.Checkpointer(tmp_path, 3)
  _, state = ckpt.restore(train.create_state(c, g, d, ds.shape))
  ckpt.close()
  assert bool(train.all_finite((state.g_params, state.d_params)))
  assert int(state.first_nonfinite_step) >= 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_checkpoint_exits_cleanly_and_resumes(tmp_path, sig):
  args = ["--config=configs/js_ring8.py", "--config.train.num_steps=100000",
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
  write = writers.MetricWriter.write
  def write_then_signal(self, step, metrics):
    write(self, step, metrics)
    if step == 20:
      os.kill(os.getpid(), signal.SIGTERM)
  monkeypatch.setattr(writers.MetricWriter, "write", write_then_signal)
  c = toy_config(**{"train.num_steps": 1000, "train.log_every": 10,
                    "checkpoint.every_steps": 1000, "eval.every_steps": 1000,
                    "train.steps_per_call": 1})
  with pytest.raises(loop.Preempted, match="saved checkpoint 21"):
    loop.run(c, tmp_path, progress=False)
  assert [int(p.name) for p in (tmp_path / "checkpoints").glob("[0-9]*")] == [21]


def test_sigkill_during_checkpoint_write_leaves_previous_checkpoint(tmp_path):
  # Big MLPs make each checkpoint write long; the process is killed the moment
  # a checkpoint is seen being written (orbax's temporary folder).
  args = ["--config=configs/js_ring8.py", "--config.train.num_steps=30",
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
  a = [{k: v for k, v in r.items() if k != "steps_per_second"} for r in writers.read_metrics(tmp_path)]
  b = [{k: v for k, v in r.items() if k != "steps_per_second"} for r in writers.read_metrics(straight)]
  assert a == b


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
  strip = lambda rs: [{k: v for k, v in r.items() if k != "steps_per_second"} for r in rs]
  assert strip(writers.read_metrics(tmp_path)) == strip(writers.read_metrics(tmp_path.parent / "straight60"))


def test_unwritable_workdir_is_an_error_at_start(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a directory")
  out = _cli("--config=configs/js_ring8.py", f"--workdir={blocker / 'run'}")
  assert out.returncode == 2 and "is not writable" in out.stderr


def test_full_disk_is_an_error_at_start(tmp_path):
  mnt = tmp_path / "small"
  mnt.mkdir()
  if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                    capture_output=True).returncode != 0:
    pytest.skip("cannot mount a small tmpfs here (needs root)")
  try:
    out = _cli("--config=configs/js_ring8.py", f"--workdir={mnt / 'run'}")
    assert out.returncode == 2
    assert "MiB free but the run needs" in out.stderr
  finally:
    subprocess.run(["umount", str(mnt)], check=False)
