"""The pure train step: updates, scan, determinism, schedules, key use."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import base
from fgan import data
from fgan import models
from fgan import train
from tests.conftest import toy_config


def _setup(c):
  ds = data.load(c.data)
  g, d = models.build(c.model, ds.shape)
  return ds, g, d, train.create_state(c, g, d, ds.shape)


def test_critic_updated_n_critic_times_per_generator_step():
  c = toy_config(**{"train.n_critic": 3})
  ds, g, d, state = _setup(c)
  step = jax.jit(train.make_train_step(c, g, d, ds))
  for _ in range(2):
    state, _ = step(state, ds.arrays)
  assert int(state.step) == 2
  assert int(state.d_opt_state[0].count) == 6
  assert int(state.g_opt_state[0].count) == 2


@pytest.mark.parametrize("critic_pack", [1, 2])
def test_generator_samples_approach_the_data(critic_pack):
  """Also with PacGAN's packing: the critic then sees pairs, (B/2, 2)."""
  c = base.toy(base.get_base_config(), "mixture1d")
  c.data.means, c.data.stds, c.data.weights = (2.0,), (0.5,), (1.0,)
  c.model.hidden, c.train.batch_size = (32, 32), 256
  c.critic_pack = critic_pack
  for net in ("critic", "generator"):
    c.optim[net].learning_rate = 1e-3
  ds, g, d, state = _setup(c)
  assert state.d_params["params"]["Dense_0"]["kernel"].shape == (critic_pack, 32)
  z = jax.random.normal(jax.random.PRNGKey(1), (4000, c.model.z_dim))

  def moments(state):
    x = np.asarray(train.generate(g, state.g_params, z, ds.shape))[:, 0]
    return abs(x.mean() - 2.0) + abs(x.std() - 0.5)

  before = moments(state)
  run = jax.jit(train.multi_step(train.make_train_step(c, g, d, ds), 100))
  for _ in range(5):
    state, metrics = run(state, ds.arrays)
  assert before > 1.0
  assert moments(state) < 0.25 * before
  assert np.all(np.isfinite(metrics["critic_loss"]))


def test_scanned_steps_equal_single_steps():
  c = toy_config()
  ds, g, d, state = _setup(c)
  step = train.make_train_step(c, g, d, ds)
  one = jax.jit(train.multi_step(step, 1))
  four = jax.jit(train.multi_step(step, 4))
  s1 = state
  for _ in range(4):
    s1, _ = one(s1, ds.arrays)
  s4, m4 = four(state, ds.arrays)
  assert m4["generator_loss"].shape == (4,)
  for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s4)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_dcgan_step_on_images_runs_and_is_deterministic():
  c = base.get_base_config()
  c.model.width, c.train.batch_size = 8, 8
  ds = data.Dataset(name="fake", kind="images", shape=(28, 28, 1),
                    arrays={"images": np.random.default_rng(0).integers(0, 256, (32, 28, 28, 1), np.uint8)},
                    sample=data.images.group_sampler(range(1), 1, 32), info={})
  g, d = models.build(c.model, ds.shape)
  step = jax.jit(train.make_train_step(c, g, d, ds))
  results = []
  for _ in range(2):
    state = train.create_state(c, g, d, ds.shape)
    for _ in range(2):
      state, m = step(state, ds.arrays)
    results.append(state)
  for a, b in zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[1])):
    np.testing.assert_array_equal(a, b)
  assert np.isfinite(float(m["divergence_estimate"]))


def test_linear_decay_stops_both_networks_at_the_last_step():
  c = toy_config(**{"train.n_critic": 2, "train.num_steps": 3})
  c.optim.critic.decay = c.optim.generator.decay = "linear"
  ds, g, d, state = _setup(c)
  step = jax.jit(train.make_train_step(c, g, d, ds))
  change = lambda x, y: max(float(np.max(np.abs(a - b)))
                            for a, b in zip(jax.tree.leaves(x), jax.tree.leaves(y)))
  moved = []
  for _ in range(4):
    new, _ = step(state, ds.arrays)
    moved.append([change(state.g_params, new.g_params) > 1e-8,
                  change(state.d_params, new.d_params) > 1e-8])
    state = new
  # Steps 1-3 update both networks; past num_steps the learning rates are 0
  # (up to rounding in the schedule, ~1e-12).
  assert moved == [[True, True]] * 3 + [[False, False]]


# Key discipline ---------------------------------------------------------------

_RANDOM_OPS = ("split", "fold_in", "normal", "uniform", "randint", "categorical",
               "bernoulli", "permutation")


@contextlib.contextmanager
def _key_uses(monkeypatch):
  """Records (op, key bytes, fold_in data) for every use of a PRNG key by
  jax.random, with jit disabled so that the keys are concrete."""
  uses = []
  for name in _RANDOM_OPS:
    original = getattr(jax.random, name)
    def recorder(key, *args, _original=original, _name=name, **kwargs):
      if not isinstance(key, jax.core.Tracer):  # shape-only traces draw nothing
        data = np.asarray(key if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
                          else jax.random.key_data(key))
        uses.append((_name, data.tobytes(), int(args[0]) if _name == "fold_in" else None))
      return _original(key, *args, **kwargs)
    monkeypatch.setattr(jax.random, name, recorder)
  with jax.disable_jit():
    yield uses


def _assert_each_key_used_once(uses):
  """Every key is used once, or only folded with distinct data (fold_in(k, i)
  over steps or groups): never split twice, sampled twice, or both."""
  by_key = {}
  for op, key, operand in uses:
    by_key.setdefault(key, []).append((op, operand))
  for key, ops in by_key.items():
    folds = [d for op, d in ops if op == "fold_in"]
    ok = len(ops) == 1 or (len(folds) == len(ops) and len(set(folds)) == len(folds))
    assert ok, f"key {np.frombuffer(key, np.uint32)} used by {ops}"


@pytest.mark.slow
def test_train_step_uses_each_key_once(monkeypatch):
  c = toy_config(**{"train.n_critic": 3, "gradient_penalty": 1.0})
  ds, g, d, state = _setup(c)
  step = train.make_train_step(c, g, d, ds)
  with _key_uses(monkeypatch) as uses:
    for _ in range(2):
      state, _ = step(state, ds.arrays)
  assert len(uses) > 10
  _assert_each_key_used_once(uses)


def test_gaussian_fit_uses_each_key_once(monkeypatch):
  from fgan.evaluation import estimation
  from fgan.studies import gaussian_fit
  with _key_uses(monkeypatch) as uses:
    gaussian_fit.fit("kl", estimation.normal_sampler(0.0, 1.0), jax.random.PRNGKey(0),
                     num_steps=2, batch_size=8, n_critic=3)
  _assert_each_key_used_once(uses)


def test_estimation_uses_each_key_once(monkeypatch):
  from fgan.evaluation import estimation
  with _key_uses(monkeypatch) as uses:
    estimation.estimate_divergence(
        "wasserstein", estimation.normal_sampler(0.0, 1.0), estimation.normal_sampler(1.0, 1.0),
        jax.random.PRNGKey(0), num_steps=2, batch_size=8, gradient_penalty=1.0, eval_samples=8)
  _assert_each_key_used_once(uses)


def _short_toy_run(c, steps, workdir):
  """``c`` trained ``steps`` steps, evaluated once at the end without the
  held-out estimates; its summary."""
  from fgan import loop
  c.train.num_steps = c.eval.every_steps = c.checkpoint.every_steps = steps
  c.eval.estimate_steps = 0
  return loop.run(c, workdir, progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", base.variant_names())
def test_every_ring_config_trains_finite_with_its_recipe(tmp_path, name):
  """configs/ring8.py:<name> (its toy recipe) for 600 generator steps: no
  non-finite step, and the samples already cover several of the 8 modes.
  (Why reverse KL and Neyman need their recipes is the math of their losses:
  tests/test_losses.py.)"""
  from configs import ring8
  summary = _short_toy_run(ring8.get_config(name), 600, tmp_path)
  assert summary["nonfinite_steps"] == 0
  assert summary["eval"]["modes_captured"] >= 4, summary["eval"]
