"""SNGAN's networks and spectral normalisation against PyTorch: the ResNet and
the standard CNN give a PyTorch transcription's outputs with the same
weights, fgan's spectral norm gives torch.nn.utils.spectral_norm's sigma and
normalised weight step after step, and the parameter counts are the
reference implementation's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fgan import errors
from fgan import models
from fgan.models import spectral

torch = pytest.importorskip("torch")
torch_peer = pytest.importorskip("experiments.torch_peer")

# Parameter counts of the reference implementations at the paper's widths:
# kwotsin/mimicry torch_mimicry/nets/sngan/sngan_32.py and sngan_48.py (the
# ResNets), and Miyato et al.'s table 3 (the standard CNN, as
# experiments/torch_peer.py transcribes it).
REFERENCE_COUNTS = {("resnet", 32): (4_276_739, 1_053_825),
                    ("resnet", 48): (4_878_083, 10_141_441),
                    ("sndcgan", 32): (3_812_355, 2_935_873),
                    ("sndcgan", 48): (5_133_315, 2_946_113)}


def _rel(a, b) -> float:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


@pytest.mark.parametrize("name,side", sorted(REFERENCE_COUNTS))
def test_networks_equal_a_pytorch_transcription_with_the_same_weights(name, side):
  """Generator in training mode (batch statistics, as fgan's batch norm
  always is) and critic with spectral norm (PyTorch's in evaluation mode,
  reading the u and v that fgan's critic holds after its power
  iteration): outputs within 1e-5 relative, float32."""
  m = models.config(name, width=32 if name == "resnet" else 16, critic_width=32)
  g, d = models.build(m, (side, side, 3))
  z = jax.random.normal(jax.random.PRNGKey(0), (4, m.z_dim))
  gv = jax.jit(g.init)(jax.random.PRNGKey(1), z)  # compiled: op by op takes minutes
  with jax.default_matmul_precision("highest"):
    x = jax.jit(g.apply)(gv, z)
  dv = jax.jit(d.init)(jax.random.PRNGKey(2), x)
  dv = {"params": dv["params"],
        "spectral": jax.jit(spectral.power_iterate)(dv["params"], dv["spectral"])}
  with jax.default_matmul_precision("highest"):
    v = jax.jit(d.apply)(dv, x)[:, 0]
  family = {"resnet": (torch_peer.ResNetGenerator, torch_peer.ResNetCritic),
            "sndcgan": (torch_peer.SNDCGANGenerator, torch_peer.SNDCGANCritic)}[name]
  tg = family[0]((side, side, 3), m.z_dim, m.width)
  td = family[1]((side, side, 3), m.critic_width, "spectral")
  tg.load_flax(jax.device_get(gv))
  td.load_flax(jax.device_get(dv))
  tg.train()
  td.eval()
  with torch.no_grad():
    xt = tg(torch.from_numpy(np.asarray(z))).permute(0, 2, 3, 1).numpy()
    vt = td(torch.from_numpy(np.asarray(x)).permute(0, 3, 1, 2).contiguous()).numpy()
  assert _rel(xt, x) < 1e-5 and _rel(vt, v) < 1e-5
  counts = tuple(sum(p.numel() for p in net.parameters()) for net in (tg, td))
  ours = tuple(sum(a.size for a in jax.tree.leaves(vs["params"])) for vs in (gv, dv))
  assert counts == ours


@pytest.mark.parametrize("name,side", sorted(REFERENCE_COUNTS))
def test_parameter_counts_are_the_reference_implementations(name, side):
  g, d = models.build(models.config(name), (side, side, 3))
  z = jnp.zeros((1, models.config(name).z_dim))
  counts = []
  for net, x in ((g, z), (d, jnp.zeros((1, side, side, 3)))):
    shapes = jax.eval_shape(lambda n=net, x=x: n.init(jax.random.PRNGKey(0), x))
    counts.append(sum(int(np.prod(a.shape)) for a in jax.tree.leaves(shapes["params"])))
  assert tuple(counts) == REFERENCE_COUNTS[name, side]


@pytest.mark.parametrize("shape", [(3, 3, 4, 8), (4, 4, 6, 5), (12, 1)])
def test_spectral_norm_equals_pytorch_over_twenty_training_calls(shape):
  """The same kernel and initial u: after each of 20 training-mode calls
  (one power iteration each), PyTorch's sigma and W / sigma equal fgan's."""
  kernel = jax.random.normal(jax.random.PRNGKey(3), shape)
  u0 = np.asarray(jax.random.normal(jax.random.PRNGKey(4), (shape[-1],)))
  u0 = u0 / np.linalg.norm(u0)
  if len(shape) == 4:
    layer = torch.nn.Conv2d(shape[2], shape[3], shape[:2], bias=False)
    weight = np.asarray(kernel).transpose(3, 2, 0, 1)
  else:
    layer = torch.nn.Linear(shape[0], shape[1], bias=False)
    weight = np.asarray(kernel).T
  layer = torch.nn.utils.spectral_norm(layer, eps=1e-12)
  layer.weight_orig.data = torch.from_numpy(weight.copy())
  layer.weight_u.data = torch.from_numpy(u0.copy())
  layer.train()
  params = {"layer": {"kernel": kernel}}
  state = {"layer": {"u": jnp.asarray(u0), "v": jnp.zeros(int(np.prod(shape[:-1])))}}
  x = torch.zeros((1,) + ((shape[2], 8, 8) if len(shape) == 4 else (shape[0],)))
  for _ in range(20):
    state = spectral.power_iterate(params, state)
    with torch.no_grad():
      layer(x)  # one power iteration, then W / sigma into layer.weight
    ours_sigma = float(spectral.sigma(kernel, state["layer"]["u"], state["layer"]["v"]))
    theirs_w = layer.weight.detach().numpy()
    theirs_sigma = float(np.linalg.norm(weight) / np.linalg.norm(theirs_w))
    assert abs(ours_sigma - theirs_sigma) <= 1e-5 * theirs_sigma
    ours_w = np.asarray(kernel / ours_sigma)
    ours_w = ours_w.transpose(3, 2, 0, 1) if len(shape) == 4 else ours_w.T
    assert _rel(ours_w, theirs_w) < 1e-5
  # The iteration converges to the largest singular value.
  top = np.linalg.svd(np.asarray(kernel).reshape(-1, shape[-1]), compute_uv=False)[0]
  assert abs(ours_sigma - top) < 1e-3 * top


def test_spectral_state_is_not_trained_and_advances_once_per_critic_update():
  """The critic's optimiser sees its parameters only; its u and v are the
  train state's, advanced by one power iteration (from the parameters the
  update starts from) per critic update."""
  from configs import base  # pylint: disable=import-outside-toplevel
  from fgan import data, train  # pylint: disable=import-outside-toplevel
  c = base.get_base_config("resnet")
  c.model.width, c.model.critic_width, c.train.batch_size, c.data.resize = 16, 16, 8, 32
  images = np.random.default_rng(0).integers(0, 256, (32, 32, 32, 1), np.uint8)
  ds = data.Dataset("fake", "images", (32, 32, 1), {"images": images},
                    data.images.group_sampler(range(1), 1, 32), {})
  g, d = models.build(c.model, ds.shape)
  state = train.create_state(c, g, d, ds.shape)
  assert set(state.d_params) == {"params", "spectral"}
  assert set(state.d_opt_state[0].mu) == {"params"}
  after, _ = jax.jit(train.make_train_step(c, g, d, ds))(state, ds.arrays)
  expected = jax.jit(spectral.power_iterate)(state.d_params["params"],
                                             state.d_params["spectral"])
  for a, b in zip(jax.tree.leaves(after.d_params["spectral"]), jax.tree.leaves(expected)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert not np.array_equal(jax.tree.leaves(after.d_params["params"])[0],
                            jax.tree.leaves(state.d_params["params"])[0])


def test_families_check_their_fields_and_sizes():
  with pytest.raises(errors.ConfigError, match="multiple of 8"):
    models.check(models.config("resnet", width=12))
  with pytest.raises(errors.ConfigError, match="32x32 or 48x48"):
    models.check_data(models.config("resnet"), (64, 64, 3))
  with pytest.raises(errors.ConfigError, match="spectral"):
    models.check(models.config("sndcgan", critic_norm="batch"))
  with pytest.raises(errors.ConfigError, match="32x32 or 48x48"):
    models.check_data(models.config("sndcgan"), (28, 28, 1))


def test_vmapped_seeds_keep_their_own_spectral_state():
  """Two seeds of a spectrally normalised critic trained together
  (vmapped) end where each ends alone, u and v included: the spectral state
  is the same collection in every family, here a small DCGAN's (convolution
  and dense kernels), which compiles in a fraction of SNGAN's time."""
  from configs import base  # pylint: disable=import-outside-toplevel
  from fgan import data, train  # pylint: disable=import-outside-toplevel
  c = base.get_base_config("dcgan")
  c.model.width, c.model.critic_width, c.train.batch_size = 4, 8, 8
  c.model.critic_norm = "spectral"
  c.optim.critic.learning_rate = c.optim.generator.learning_rate = 1e-5
  images = np.random.default_rng(0).integers(0, 256, (32, 28, 28, 1), np.uint8)
  ds = data.Dataset("fake", "images", (28, 28, 1), {"images": images},
                    data.images.group_sampler(range(1), 1, 32), {})
  g, d = models.build(c.model, ds.shape)
  step = train.make_train_step(c, g, d, ds)
  alone = []
  for seed in (0, 1):
    seeded = c.copy_and_resolve_references()
    seeded.seed = seed
    state = train.create_state(seeded, g, d, ds.shape)
    for _ in range(3):
      state, _ = jax.jit(step)(state, ds.arrays)
    alone.append(state)
  states = [train.create_state(c.copy_and_resolve_references(), g, d, ds.shape)]
  second = c.copy_and_resolve_references()
  second.seed = 1
  states.append(train.create_state(second, g, d, ds.shape))
  together = jax.tree.map(lambda *x: jnp.stack(x), *states)
  vstep = jax.jit(jax.vmap(step, in_axes=(0, None)))
  for _ in range(3):
    together, _ = vstep(together, ds.arrays)
  # vmapped and single programs sum in other orders; Adam's step is about
  # lr * sign(g), so a gradient near 0 may move a weight by up to 2 lr
  # either way per step: the weights agree within 3 steps of that at a small
  # lr, and u, v (unit vectors) closely.
  for i, state in enumerate(alone):
    mine = jax.tree.map(lambda x, i=i: x[i], together.d_params)
    for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(state.d_params)):
      np.testing.assert_allclose(a, b, rtol=1e-3, atol=3 * 2 * c.optim.critic.learning_rate)
    for a, b in zip(jax.tree.leaves(mine["spectral"]), jax.tree.leaves(state.d_params["spectral"])):
      np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
  assert not np.allclose(jax.tree.leaves(together.d_params["spectral"])[0][0],
                         jax.tree.leaves(together.d_params["spectral"])[0][1])


@pytest.mark.slow
@pytest.mark.parametrize("preset,fixture,split,variant", [
    ("cifar10", "fgan_tiny32", "train", "wgan_gp"),  # no normalisation, gradient penalty
    ("stl10", "fgan_tiny96", "unlabelled", "kl")])   # spectral norm, bounded output
def test_the_sngan_presets_validate_and_train_on_a_prepared_dataset(preset, fixture, split,
                                                                    variant, tmp_path):
  """configs/cifar10.py and stl10.py as they are, but for the dataset (a
  TFDS fixture of the same shape: 32x32, and 96x96 resized to 48 with an
  unlabelled split), validate with the Inception weights in place; 10 steps
  at reduced widths and batch and one critic update a step train with every
  other setting kept (the preset's 5 updates are one update unrolled 5 times,
  each compiled; n_critic above 1 is tested on the toy networks)."""
  import importlib  # pylint: disable=import-outside-toplevel
  from fgan import loop, validation  # pylint: disable=import-outside-toplevel
  from fgan.rundir import writers  # pylint: disable=import-outside-toplevel
  from tests.conftest import TFDS_FIXTURES  # pylint: disable=import-outside-toplevel
  c = importlib.import_module(f"configs.{preset}").get_config(variant)
  assert c.model.name == "resnet" and c.train.n_critic == 5
  assert c.optim.critic.decay == c.optim.generator.decay == "linear"
  assert c.data.train_split == split
  c.data.name, c.data.tfds_data_dir = f"tfds:{fixture}", str(TFDS_FIXTURES)
  from tests.test_inception import _random_state_dict  # pylint: disable=import-outside-toplevel
  torch.save(_random_state_dict(), tmp_path / "weights.pth")
  c.eval.inception_weights = str(tmp_path / "weights.pth")
  validation.validate(c)
  c.model.width, c.model.critic_width = 16, 16
  c.train.batch_size, c.train.num_steps, c.train.log_every, c.train.n_critic = 4, 10, 5, 1
  c.eval.metrics, c.eval.estimate_steps, c.eval.every_steps = False, 0, 10
  loop.run(c, tmp_path / "run", progress=False)
  records = writers.read_metrics(tmp_path / "run")
  assert [r["step"] for r in records] == [5, 10]
  assert all(np.isfinite(r["critic_loss"]) for r in records)
  assert (tmp_path / "run" / "samples" / "final.png").exists()
