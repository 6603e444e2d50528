"""Sweeps: vmapped seeds equal seeds run one by one; resume; tables; report."""

import csv
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import base
from fgan import errors
from fgan import loop
from fgan.studies import record
from fgan.studies import report
from fgan.studies import sweep
from fgan.rundir import writers
from tests.conftest import toy_config
from tests.conftest import comparable
from tests.conftest import final_state
from tests.conftest import ROOT



def _max_difference(a, b):
  return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_vmapped_seeds_equal_seeds_run_one_by_one(tmp_path):
  c = toy_config(steps=40)
  together = loop.run_seeds(c, [0, 1, 2], [tmp_path / f"v{s}" for s in range(3)],
                            progress=False)
  assert [s["seeds_trained_together"] for s in together] == [[0, 1, 2]] * 3
  for s in range(3):
    alone = loop.run(toy_config(steps=40, seed=s), tmp_path / f"a{s}", progress=False)
    _, state_v = final_state(toy_config(seed=s), tmp_path / f"v{s}")
    _, state_a = final_state(toy_config(seed=s), tmp_path / f"a{s}")
    assert _max_difference(state_v.g_params, state_a.g_params) < 1e-5
    assert _max_difference(state_v.d_params, state_a.d_params) < 1e-5
    rv, ra = (comparable(writers.read_metrics(tmp_path / f"{p}{s}")) for p in "va")
    assert [r["step"] for r in rv] == [r["step"] for r in ra]
    for x, y in zip(rv, ra):
      for k in x:
        assert abs(x[k] - y[k]) <= 1e-5 * max(1.0, abs(y[k])), (s, x["step"], k)
    assert together[s]["eval"]["modes_captured"] == alone["eval"]["modes_captured"]
  # Different seeds really are different runs.
  assert writers.read_metrics(tmp_path / "v0")[-1]["critic_loss"] != (
      writers.read_metrics(tmp_path / "v1")[-1]["critic_loss"])


def _tiny_sweep(steps=40, seeds=(0, 1)):
  s = base.sweep(lambda v: base.with_divergence(toy_config(steps=steps), v, recipes="toy"),
                 seeds=seeds, names=("js", "wgan_gp"))
  s.variants.wgan_gp.train.n_critic = 2
  return s


@pytest.mark.slow
def test_sweep_trains_resumes_skips_and_reports(tmp_path, capsys):
  # Seed 1 of js was interrupted at step 20: the sweep resumes it alone and
  # trains seed 0 from scratch (they are at different steps).
  def js_member(steps):  # the sweep's js variant (its recipe included) for seed 1
    c = _tiny_sweep().variants.js.copy_and_resolve_references()
    c.train.num_steps, c.seed = steps, 1
    return c
  runs, results = tmp_path / "runs", tmp_path / "results"
  loop.run(js_member(20), runs / "js" / "seed1", progress=False)
  (runs / "js" / "seed1" / "summary.json").unlink()
  lines = sweep.run(_tiny_sweep(), runs, progress=False, results_dir=results)
  assert sorted((r["variant"], r["seed"], r["status"]) for r in lines) == [
      ("js", 0, "finished"), ("js", 1, "finished"), ("wgan_gp", 0, "finished"),
      ("wgan_gp", 1, "finished")]
  assert "resuming from checkpoint 20" in capsys.readouterr().out
  straight = loop.run(js_member(40), tmp_path / "straight", progress=False)
  resumed = json.loads((runs / "js" / "seed1" / "summary.json").read_text())
  assert resumed["eval"] == straight["eval"]
  # The 20-step run ended there, so its step-20 record also holds the
  # end-of-run held-out estimates, which the straight run makes at 40 only.
  interim = lambda records: [{k: v for k, v in r.items()
                              if r["step"] == 40 or not k.startswith("eval/heldout")}
                             for r in records]
  assert interim(comparable(writers.read_metrics(runs / "js" / "seed1"))) == interim(
      comparable(writers.read_metrics(tmp_path / "straight")))
  wgan = json.loads((runs / "wgan_gp" / "seed0" / "summary.json").read_text())
  assert wgan["seeds_trained_together"] == [0, 1]
  line = next(r for r in lines if (r["variant"], r["seed"]) == ("js", 1))
  assert line["final"] == resumed["eval"] and line["num_steps"] == 40
  assert line["curves"]["40"]["modes_captured"] == resumed["eval"]["modes_captured"]
  assert line["machine"]["cpu_threads"] >= 1 and line["checkpoint_sha256"]

  # The record alone makes the sweep skip its members: their work
  # directories may be gone.
  import shutil  # pylint: disable=import-outside-toplevel
  shutil.rmtree(runs)
  sweep.run(_tiny_sweep(), runs, progress=False, results_dir=results)
  assert not (runs / "js").exists()

  rows = report.write(results)
  assert {r["variant"] for r in rows} == {"js", "wgan_gp"} and all(r["n"] == 2 for r in rows)
  # Ranked by modes captured, then high-quality share.
  keys = [(r["modes_captured_mean"], r["high_quality_share_mean"]) for r in rows]
  assert keys == sorted(keys, reverse=True)
  js_modes = [r["final"]["modes_captured"] for r in lines if r["variant"] == "js"]
  js_row = next(r for r in rows if r["variant"] == "js")
  assert js_row["modes_captured_mean"] == np.mean(js_modes)
  assert js_row["modes_captured_std"] == np.std(js_modes, ddof=1)
  for name in ("results.csv", "results.md", "results.tex", "curves.png", "members.jsonl"):
    assert (results / name).stat().st_size > 0, name
  tex = (results / "results.tex").read_text()
  assert r"\toprule" in tex and r"\bottomrule" in tex and r"wgan\_gp" in tex
  with (results / "results.csv").open() as f:
    assert len(list(csv.DictReader(f))) == 2

  # The report command rebuilds the same tables from the record alone.
  md = (results / "results.md").read_text()
  for name in ("results.md", "results.csv", "results.tex"):
    (results / name).unlink()
  out = subprocess.run([sys.executable, "-m", "experiments.report", str(results)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ))
  assert out.returncode == 0, out.stderr
  assert (results / "results.md").read_text() == md and "| js |" in out.stdout


def test_grid_crosses_fields_with_variants(tmp_path):
  s = _tiny_sweep()
  s.grid = (("train.batch_size", (32, 64)),)
  names = sorted(sweep.variants(s))
  assert names == ["js__train.batch_size=32", "js__train.batch_size=64",
                   "wgan_gp__train.batch_size=32", "wgan_gp__train.batch_size=64"]
  assert sweep.variants(s)["js__train.batch_size=32"].train.batch_size == 32
  assert len(sweep.members(s, tmp_path)) == 8


def test_only_named_variants_train_and_an_unknown_name_stops_first(tmp_path):
  with pytest.raises(errors.ConfigError, match=r"\['hellinger'\] are not in this sweep"):
    sweep.run(_tiny_sweep(steps=10, seeds=(0,)), tmp_path / "none", only=("hellinger",))
  assert not (tmp_path / "none").exists()
  lines = sweep.run(_tiny_sweep(steps=10, seeds=(0,)), tmp_path, progress=False,
                    only=("wgan_gp",))
  assert [r["variant"] for r in lines] == ["wgan_gp"] and not (tmp_path / "js").exists()
  assert sorted(json.loads((tmp_path / "sweep.json").read_text())["variants"]) == [
      "js", "wgan_gp"]


def test_a_member_finished_under_another_config_is_not_counted(tmp_path):
  sweep.run(_tiny_sweep(steps=10, seeds=(0,)), tmp_path, progress=False, only=("js",))
  changed = _tiny_sweep(steps=10, seeds=(0,))
  changed.variants.js.critic_output_bound = 3.0
  with pytest.raises(errors.WorkdirError, match="differs in critic_output_bound"):
    sweep.run(changed, tmp_path, progress=False, only=("js",))
  lines = sweep.run(changed, tmp_path, overwrite=True, progress=False, only=("js",))
  saved = json.loads((tmp_path / "js" / "seed0" / "config.json").read_text())
  assert saved["critic_output_bound"] == 3.0 and len(lines) == 1
  assert lines[0]["config_sha256"] == record.config_sha256(saved)


def test_diverging_seed_is_recorded_and_the_others_finish(tmp_path):
  s = _tiny_sweep(steps=20, seeds=(0, 1))
  s.variants.js.optim.critic.learning_rate = 1e12
  s.variants.js.optim.generator.learning_rate = 1e12
  sweep.run(s, tmp_path, progress=False)
  assert (tmp_path / "js" / "seed0" / "failed.json").exists()
  assert (tmp_path / "wgan_gp" / "seed1" / "summary.json").exists()
  rows = report.write(tmp_path)
  js_row = next(r for r in rows if r["variant"] == "js")
  assert js_row["n"] == 0 and js_row["failed"] == 2
  assert "diverged" in (tmp_path / "results.md").read_text()


@pytest.mark.slow
def test_sweep_command_line(tmp_path):
  out = subprocess.run(
      [sys.executable, "-m", "experiments.sweep", "--config=configs/sweep_ring8.py",
       f"--sweep_dir={tmp_path}", "--config.seeds=(0,)", "--variants=kl,wgan_gp",
       "--config.grid=(('train.num_steps', (20,)), ('model.hidden', ((32, 32),)),"
       " ('eval.estimate_steps', (10,)))"],
      cwd=ROOT, capture_output=True, text=True, timeout=300, env=dict(os.environ))
  assert out.returncode == 0, out.stderr[-3000:]
  rows = list(csv.DictReader((tmp_path / "results.csv").open()))
  assert sorted(r["variant"].split("__")[0] for r in rows) == ["kl", "wgan_gp"]
  from configs import sweep_ring8  # pylint: disable=import-outside-toplevel
  assert sorted(sweep_ring8.get_config().variants) == sorted(base.variant_names())
  assert "fgan.sweep: record, tables and figures in" in out.stdout
