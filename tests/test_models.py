"""Models: shapes, and the fast upsampling equal to the textbook one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fgan import errors
from fgan import models
from fgan.models import dcgan
from fgan.models import initializers
from fgan.models import kernels
from fgan.models import spectral


def _scatter_reference(x, w):
  """y[2i + k - 1] += x[i] W[k] per axis (PyTorch ConvTranspose2d, s2 p1)."""
  n, h, wd, _ = x.shape
  out = np.zeros((n, 2 * h + 2, 2 * wd + 2, w.shape[-1]))
  for i in range(h):
    for j in range(wd):
      for ky in range(4):
        for kx in range(4):
          out[:, 2 * i + ky, 2 * j + kx] += x[:, i, j] @ w[ky, kx]
  return out[:, 1:-1, 1:-1]


@pytest.mark.parametrize("shape", [(5, 7), (1, 1, 3, 2), (4, 4, 8, 16)])
def test_initializers_draw_the_numbers_of_jax_initializers(shape):
  """Drawn over the flattened shape, the same numbers bit for bit: the
  families' initialisers, and each distribution and fan mode."""
  key = jax.random.PRNGKey(7)
  nn_init = jax.nn.initializers
  pairs = [(initializers.normal(0.02), nn_init.normal(0.02)),
           (initializers.lecun_normal(), nn_init.lecun_normal()),
           (initializers.glorot_uniform(2 ** 0.5), nn_init.variance_scaling(2.0, "fan_avg", "uniform"))]
  pairs += [(initializers.variance_scaling(0.7, mode, dist), nn_init.variance_scaling(0.7, mode, dist))
            for mode, dist in (("fan_in", "normal"), ("fan_out", "uniform"),
                               ("fan_avg", "truncated_normal"))]
  for ours, theirs in pairs:
    a, b = np.asarray(ours(key, shape)), np.asarray(theirs(key, shape))
    assert a.shape == b.shape and a.dtype == b.dtype == np.float32
    np.testing.assert_array_equal(a, b)


def test_initialize_gives_init_on_zeros_bit_for_bit():
  """models.initialize (no layer evaluated) gives the variables module.init
  computes on a zero batch: parameters, batch norm statistics and spectral
  norm's power-iteration vectors, for a generator and a critic."""
  model = models.config("dcgan", width=4, critic_width=4, critic_norm="spectral")
  shape = (28, 28, 1)
  generator, critic = models.build(model, shape)
  for module, batch in ((generator, (2, model.z_dim)), (critic, (2,) + shape)):
    key = jax.random.PRNGKey(3)
    lazy, eager = models.initialize(module, key, batch), module.init(key, jnp.zeros(batch))
    assert jax.tree.structure(lazy) == jax.tree.structure(eager)
    for a, b in zip(jax.tree.leaves(lazy), jax.tree.leaves(eager)):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("impl", ["xla", "subpixel", "matmul"])
@pytest.mark.parametrize("c_out", [2, 8])  # subpixel takes XLA's form for <= 4 channels
def test_conv_transpose_matches_scatter_definition(impl, c_out):
  rng = np.random.default_rng(0)
  x, w = rng.normal(size=(2, 5, 4, 3)), rng.normal(size=(4, 4, 3, c_out))
  got = kernels.conv_transpose_2x(jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32), impl)
  np.testing.assert_allclose(got, _scatter_reference(x, w), rtol=1e-4, atol=1e-4)


def test_fast_transposed_convolution_gradients_equal_xla_gradients():
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.normal(k1, (4, 7, 7, 16))
  w = jax.random.normal(k2, (4, 4, 16, 8))
  ct = jax.random.normal(k3, (4, 14, 14, 8))
  grads = {impl: jax.grad(lambda x, w: jnp.sum(ct * kernels.conv_transpose_2x(x, w, impl)),
                          argnums=(0, 1))(x, w) for impl in ("xla", "subpixel", "matmul")}
  for impl in ("subpixel", "matmul"):
    for a, b in zip(grads["xla"], grads[impl]):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("side,channels", [(28, 1), (32, 3), (64, 3)])
def test_dcgan_shapes_and_impls_agree(side, channels):
  shape = (side, side, channels)
  z = jax.random.normal(jax.random.PRNGKey(0), (3, 16))
  fast = dcgan.DCGANGenerator(shape, width=8, conv_impl="subpixel")
  plain = dcgan.DCGANGenerator(shape, width=8, conv_impl="xla")
  params = fast.init(jax.random.PRNGKey(1), z)
  x = fast.apply(params, z)
  assert x.shape == (3,) + shape and float(jnp.max(jnp.abs(x))) <= 1.0
  np.testing.assert_allclose(x, plain.apply(params, z), atol=1e-5)
  critic = dcgan.DCGANCritic(shape, width=8, norm="batch")
  v = critic.apply(critic.init(jax.random.PRNGKey(2), x), x)
  assert v.shape == (3, 1)


def test_dcgan_rejects_unsupported_image_size():
  from configs import base
  with pytest.raises(errors.ConfigError, match="28x28, 32x32 or 64x64"):
    models.check_data(base.get_base_config().model, (48, 48, 1))


@pytest.mark.parametrize("stride,padding", [(2, 1), (1, 0), (2, 2)])
def test_conv_matmul_equals_xla_convolution_values_and_gradients(stride, padding):
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.normal(k1, (3, 10, 8, 5))
  w = jax.random.normal(k2, (4, 3, 5, 6))
  args = ((stride, stride), ((padding, padding), (padding, padding)))
  conv = {"xla": lambda x, w: jax.lax.conv_general_dilated(
              x, w, *args, dimension_numbers=("NHWC", "HWIO", "NHWC")),
          "matmul": lambda x, w: kernels.conv_matmul(x, w, *args)}
  ys = {k: f(x, w) for k, f in conv.items()}
  np.testing.assert_allclose(ys["matmul"], ys["xla"], rtol=1e-4, atol=1e-4)
  ct = jax.random.normal(k3, ys["xla"].shape)
  grads = {k: jax.grad(lambda x, w: jnp.sum(ct * f(x, w)), argnums=(0, 1))(x, w)
           for k, f in conv.items()}
  for a, b in zip(grads["xla"], grads["matmul"]):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_dcgan_critic_impls_agree_and_share_parameters(norm):
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 28, 28, 1))
  plain = dcgan.DCGANCritic((28, 28, 1), width=8, norm=norm, conv_impl="xla")
  fast = dcgan.DCGANCritic((28, 28, 1), width=8, norm=norm, conv_impl="matmul")
  params = plain.init(jax.random.PRNGKey(1), x)
  assert jax.tree.structure(params) == jax.tree.structure(fast.init(jax.random.PRNGKey(1), x))
  np.testing.assert_allclose(fast.apply(params, x), plain.apply(params, x), rtol=1e-4, atol=1e-5)
  grads = [jax.grad(lambda p, x: jnp.sum(m.apply(p, x)), argnums=(0, 1))(params, x)
           for m in (plain, fast)]
  for a, b in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(grads[1])):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)



def test_power_iteration_converges_to_the_largest_singular_value():
  """Repeated training-step power iterations drive the stored sigma of a
  convolution kernel (read as a (4*4*8) x 16 matrix) to its largest singular
  value."""
  rng = np.random.default_rng(0)
  u, _ = np.linalg.qr(rng.standard_normal((4 * 4 * 8, 16)))
  v, _ = np.linalg.qr(rng.standard_normal((16, 16)))
  s = np.concatenate([[3.0], np.linspace(1.5, 0.5, 15)])  # gap 2: fast convergence
  kernel = jnp.asarray((u * s) @ v.T, jnp.float32).reshape(4, 4, 8, 16)
  layer = spectral.SNConv(16, (4, 4))
  variables = layer.init(jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 8)))
  params = {"kernel": {"kernel": kernel}, "bias": variables["params"]["bias"]}
  state = variables[spectral.COLLECTION]
  for _ in range(20):
    state = spectral.power_iterate(params, state)
  got = spectral.sigma(kernel, state["kernel"]["u"], state["kernel"]["v"])
  np.testing.assert_allclose(got, 3.0, rtol=1e-4)


def test_spectral_critic_layers_are_normalised_and_differentiable():
  """Scaling every kernel of a spectrally normalised critic leaves its
  output unchanged (W / sigma(W) is scale-free at fixed u, v); its gradients
  are finite and its trainable parameters have the plain critic's
  structure."""
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 28, 28, 1))
  critic = dcgan.DCGANCritic((28, 28, 1), width=8, norm="spectral")
  variables = critic.init(jax.random.PRNGKey(1), x)
  plain_net = dcgan.DCGANCritic((28, 28, 1), width=8, norm="none")
  plain = plain_net.init(jax.random.PRNGKey(1), x)
  assert set(variables) == {"params", spectral.COLLECTION}
  assert ([a.shape for a in jax.tree.leaves(variables["params"])]
          == [a.shape for a in jax.tree.leaves(plain["params"])])
  scale = lambda tree: jax.tree_util.tree_map_with_path(
      lambda path, p: p * 7.0 if "kernel" in jax.tree_util.keystr(path) else p, tree)
  scaled = {**variables, "params": scale(variables["params"])}
  np.testing.assert_allclose(critic.apply(scaled, x), critic.apply(variables, x),
                             rtol=1e-4, atol=1e-5)
  assert not np.allclose(plain_net.apply(scale(plain), x), plain_net.apply(plain, x))
  grads = jax.grad(lambda p: jnp.sum(critic.apply({**variables, "params": p}, x)))(
      variables["params"])
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


@pytest.mark.parametrize("impl", ["subpixel", "matmul"])
def test_extra_convs_add_3x3_layers_at_the_smallest_resolution(impl):
  """generator_extra_convs / critic_extra_convs add exactly the stride-1 3x3
  layers (kernel 3x3xCxC plus batch norm's scale and bias; C = 16 at 7x7
  for width 8), keep the output shapes, and compute as XLA's convolution."""
  z = jax.random.normal(jax.random.PRNGKey(0), (4, 16))
  x = jax.random.normal(jax.random.PRNGKey(1), (4, 28, 28, 1))
  count = lambda p: sum(a.size for a in jax.tree.leaves(p))
  for net, inp, kwargs in ((dcgan.DCGANGenerator, z, {}),
                           (dcgan.DCGANCritic, x, {"norm": "batch"})):
    base = net((28, 28, 1), width=8, conv_impl=impl, **kwargs)
    deep = net((28, 28, 1), width=8, conv_impl=impl, extra_convs=2, **kwargs)
    plain = net((28, 28, 1), width=8, conv_impl="xla", extra_convs=2, **kwargs)
    p0, p2 = base.init(jax.random.PRNGKey(2), inp), deep.init(jax.random.PRNGKey(2), inp)
    assert count(p2) - count(p0) == 2 * (3 * 3 * 16 * 16 + 2 * 16)
    out = deep.apply(p2, inp)
    assert out.shape == base.apply(p0, inp).shape
    np.testing.assert_allclose(out, plain.apply(p2, inp), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("c_in", [1, 16])
def test_conv_4x4_stride2_values_and_gradients_equal_xla(c_in):
  """Its custom VJP (the input gradient as a subpixel transposed
  convolution) equals XLA's autodiff, to first and second order (a
  gradient penalty differentiates the input gradient by the kernel), in
  float64 so that only the formulas are compared."""
  with jax.enable_x64(True):
    _check_conv_4x4_stride2(c_in)


def _check_conv_4x4_stride2(c_in):
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.normal(k1, (3, 14, 14, c_in), jnp.float64)
  w = jax.random.normal(k2, (4, 4, c_in, 8), jnp.float64)
  ct = jax.random.normal(k3, (3, 7, 7, 8), jnp.float64)
  xla = lambda x, w: jax.lax.conv_general_dilated(x, w, (2, 2), ((1, 1), (1, 1)),
                                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))
  np.testing.assert_allclose(kernels.conv_4x4_stride2(x, w), xla(x, w), rtol=1e-12)
  loss = lambda conv: lambda x, w: jnp.sum(ct * jnp.sin(conv(x, w)))
  first = [jax.grad(loss(conv), argnums=(0, 1))(x, w) for conv in (xla, kernels.conv_4x4_stride2)]
  second = [jax.grad(lambda w, conv=conv: jnp.sum(jax.grad(loss(conv))(x, w)**2))(w)
            for conv in (xla, kernels.conv_4x4_stride2)]
  for a, b in zip(jax.tree.leaves(first[0]) + [second[0]], jax.tree.leaves(first[1]) + [second[1]]):
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_batch_norm_vjp_equals_autodiff_of_its_definition():
  def textbook(x, scale, bias, eps=1e-5):
    mean = jnp.mean(x, (0, 1, 2))
    var = jnp.mean(jnp.square(x - mean), (0, 1, 2))
    return (x - mean) * jax.lax.rsqrt(var + eps) * scale + bias
  k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(0), 4)
  x = 3.0 + 2.0 * jax.random.normal(k1, (8, 5, 5, 6))
  scale, bias = jax.random.normal(k2, (6,)), jax.random.normal(k3, (6,))
  ct = jax.random.normal(k4, x.shape)
  np.testing.assert_allclose(kernels.batch_norm(x, scale, bias), textbook(x, scale, bias),
                             rtol=1e-5, atol=1e-5)
  grads = [jax.grad(lambda *a, f=f: jnp.sum(ct * jnp.tanh(f(*a))), argnums=(0, 1, 2))(x, scale, bias)
           for f in (textbook, kernels.batch_norm)]
  for a, b in zip(*grads):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_cpu_compiler_options_compute_the_same_step():
  """compute.compiler_options (YNNPACK fusions off on CPU) changes speed,
  not the train step's values (float32 rounding apart)."""
  from configs import base
  from fgan import compute, data, train
  c = base.get_base_config()
  c.model.width = c.model.critic_width = 8
  c.train.batch_size = 16
  ds = data.Dataset(name="fake", kind="images", shape=(28, 28, 1),
                    arrays={"images": np.random.default_rng(0).integers(0, 256, (64, 28, 28, 1), np.uint8)},
                    sample=data.images.group_sampler(range(1), 1, 64), info={})
  g, d = models.build(c.model, ds.shape)
  step = train.make_train_step(c, g, d, ds)
  state = train.create_state(c, g, d, ds.shape)
  if not compute.compiler_options():
    pytest.skip("no options on this backend (or an XLA without YNNPACK fusions)")
  outs = [jax.jit(step, compiler_options=o)(state, ds.arrays)[0]
          for o in (compute.compiler_options(), {})]
  for a, b in zip(jax.tree.leaves(outs[0]), jax.tree.leaves(outs[1])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
