"""Generators and critics (flax.linen), built by name from config.model.

MLP: the toy-data networks of Gulrajani et al. 2017 (WGAN-GP, 3 hidden layers
of 512, ReLU). DCGAN: Radford, Metz & Chintala 2016 (the DCGAN of the
background notes, document 003): strided convolutions in the critic,
stride-2 transposed convolutions in the generator, batch norm,
LeakyReLU(0.2) in the critic, ReLU and a tanh output in the generator. The
critic returns raw outputs V(x) (no activation); the divergence's g_f is
applied in the loss.

``MODELS`` owns the names: each entry builds the (generator, critic) pair
from config.model and the data's example shape, and checks the config's
fields (``check``) and the data's shape (``check_data``) before anything is
compiled.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from fgan import errors


class MLP(nn.Module):
  """Fully connected net: hidden ReLU layers, linear output of size ``out``."""

  hidden: Sequence[int]
  out: int

  @nn.compact
  def __call__(self, x):
    x = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      x = nn.relu(nn.Dense(width)(x))
    return nn.Dense(self.out)(x)


def _rows_mean(x, axis_name: str | None):
  """The mean of the rows of x (M, C), over every device of ``axis_name``
  too, as a matrix product: XLA's CPU backend reduces a (M, C) array
  several times slower than it multiplies it by a row of ones."""
  mean = (jnp.ones((1, x.shape[0]), x.dtype) @ x)[0] / x.shape[0]
  return mean if axis_name is None else jax.lax.pmean(mean, axis_name)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def batch_norm(x, scale, bias, axis_name: str | None = None, epsilon: float = 1e-5):
  """y = (x - mean) / sqrt(var + epsilon) * scale + bias with the mean and
  (biased) variance of the batch (all axes but the last; and over the
  devices of ``axis_name``), Ioffe & Szegedy 2015. Its VJP is the standard
  one written out, with x_hat = (x - mean) / sqrt(var + epsilon) and the
  means over the batch (and devices) of g and g x_hat:

      dx = scale / sqrt(var + epsilon) (g - mean(g) - x_hat mean(g x_hat)),
      dscale = sum(g x_hat), dbias = sum(g)

  (the parameters' sums over this device's rows), so that every reduction,
  forward and backward, is a matrix product (``_rows_mean``)."""
  return _batch_norm_fwd(x, scale, bias, axis_name, epsilon)[0]


def _batch_norm_fwd(x, scale, bias, axis_name, epsilon):
  rows = x.reshape(-1, x.shape[-1])
  centred = rows - _rows_mean(rows, axis_name)
  inv_std = jax.lax.rsqrt(_rows_mean(centred * centred, axis_name) + epsilon)
  x_hat = centred * inv_std
  return (x_hat * scale + bias).reshape(x.shape), (x_hat, inv_std, scale)


def _batch_norm_bwd(axis_name, epsilon, residuals, g):
  del epsilon
  x_hat, inv_std, scale = residuals
  rows, c = g.reshape(x_hat.shape), x_hat.shape[1]
  both = jnp.concatenate([rows, rows * x_hat], 1)  # one product for both sums
  local_sums = (jnp.ones((1, rows.shape[0]), rows.dtype) @ both)[0]
  means = local_sums / rows.shape[0]
  if axis_name is not None:
    means = jax.lax.pmean(means, axis_name)
  dx = (scale * inv_std) * (rows - means[:c] - x_hat * means[c:])
  return dx.reshape(g.shape), local_sums[c:], local_sums[:c]


batch_norm.defvjp(_batch_norm_fwd, _batch_norm_bwd)


class BatchNorm(nn.Module):
  """Batch normalisation with the statistics of the current batch (Ioffe &
  Szegedy 2015, ``batch_norm``), in training and in sampling alike, as the
  DCGAN reference code uses it; no running averages are kept, so a model's
  state is its parameters. With ``axis_name`` the statistics are averaged
  over that mapped axis (pmap devices), so they are those of the global
  batch and results do not depend on the device count."""

  axis_name: str | None = None
  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x):
    scale = self.param("scale", nn.initializers.ones, (x.shape[-1],))
    bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
    return batch_norm(x, scale, bias, self.axis_name, self.epsilon)


_DN = ("NHWC", "HWIO", "NHWC")  # flax's layouts
# Below this many output channels (image layers), conv_transpose_2x's
# "subpixel" uses XLA's form (faster there).
_FEW_CHANNELS = 4

# Tap selection A[r, j, k]: output phase r (row 2m + r) of a stride-2,
# kernel-4, padding-1 transposed convolution is a 2-tap correlation over the
# once-padded input window starting at padded row m + r; tap j of that
# window meets kernel row k where A[r, j, k] = 1.
_PHASE_TAPS = np.zeros((2, 2, 4), np.float32)
_PHASE_TAPS[0, 0, 3] = _PHASE_TAPS[0, 1, 1] = 1.0
_PHASE_TAPS[1, 0, 2] = _PHASE_TAPS[1, 1, 0] = 1.0


def conv_transpose_2x(x, kernel, impl: str = "subpixel"):
  """Stride-2 transposed convolution, kernel 4, padding 1: (H, W) -> (2H, 2W).

  PyTorch's ConvTranspose2d(k=4, s=2, p=1) semantics with kernel
  (4, 4, C_in, C_out): y[o] = sum_{i, k: o = 2 i + k - 1} x[i] W[k] per axis,
  the adjoint of conv_4x4_stride2 with C_in and C_out swapped.

  impl="xla": the textbook form, a convolution of the 2x-dilated input with
  the flipped kernel (XLA's CPU backend computes its gradient slowly, 12x
  the subpixel form's at 128 -> 64 channels, but faster than it for few
  output channels).
  impl="subpixel": the phase decomposition (``_phases``), with the gradients
  of the adjoint pair (``_conv_transpose_2x_subpixel``); for at most
  _FEW_CHANNELS output channels (an image layer) the xla form instead,
  forward and backward 2x faster there (measured on CPU, 64 -> 1 channels).
  impl="matmul": the phase decomposition with its 2x2 convolution computed
  by conv_matmul (for vmapped seeds, see conv_matmul), autodiff's gradients.
  """
  if impl not in ("subpixel", "matmul", "xla"):
    raise ValueError(f"Unknown transposed-convolution impl {impl!r}; valid: "
                     "subpixel, matmul, xla.")
  if impl == "xla" or (impl == "subpixel" and kernel.shape[-1] <= _FEW_CHANNELS):
    op = _conv_transpose_2x_dilated
  elif impl == "subpixel":
    op = _conv_transpose_2x_subpixel
  else:
    op = functools.partial(_phases, conv=conv_matmul)
  return op(x, kernel)


def _conv_transpose_2x_dilated(x, kernel):
  return jax.lax.conv_general_dilated(
      x, kernel[::-1, ::-1], window_strides=(1, 1), padding=((2, 2), (2, 2)),
      lhs_dilation=(2, 2), dimension_numbers=_DN)


def _phases(x, kernel, conv=jax.lax.conv_general_dilated):
  """The transposed convolution by its phase decomposition (Shi et al.
  2016, "Real-time single image and video super-resolution using an
  efficient sub-pixel CNN"): the four output phases (r_y, r_x) are one
  stride-1 2x2 convolution ``conv`` of the padded input with 4 C_out
  channels (kernel built from W by _PHASE_TAPS), phase r read at offset r,
  then interleaved (depth-to-space). Same multiply count as the dilated
  form without its zeros."""
  n, h, w, c_in = x.shape
  c_out = kernel.shape[-1]
  a = jnp.asarray(_PHASE_TAPS, kernel.dtype)
  k2 = jnp.einsum("ajk,bil,klco->jicabo", a, a, kernel).reshape(2, 2, c_in, 4 * c_out)
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  y = conv(xp, k2, (1, 1), ((0, 0), (0, 0)), dimension_numbers=_DN)
  y = y.reshape(n, h + 1, w + 1, 2, 2, c_out)
  phases = jnp.stack([jnp.stack([y[:, ry:ry + h, rx:rx + w, ry, rx]
                                 for rx in (0, 1)], 3) for ry in (0, 1)], 2)
  return phases.reshape(n, 2 * h, 2 * w, c_out)  # (n, h, ry, w, rx, c)


@jax.custom_vjp
def _conv_transpose_2x_subpixel(x, kernel):
  """``_phases``, differentiated through its adjoint: with K = W with C_in
  and C_out swapped, dx = conv_4x4_stride2(g, K), XLA's fast forward
  strided convolution (0.6x the multiplies of the phase convolution's
  input gradient, which runs on the padded input), and dW the swapped
  kernel gradient of that convolution."""
  return _phases(x, kernel)


def _conv_transpose_2x_subpixel_fwd(x, kernel):
  return _phases(x, kernel), (x, kernel)


def _conv_transpose_2x_subpixel_bwd(residuals, g):
  x, kernel = residuals
  swapped = jnp.swapaxes(kernel, 2, 3)
  dx, kernel_vjp = jax.vjp(lambda k: _conv_4x4_stride2(g, k), swapped)
  return dx, jnp.swapaxes(kernel_vjp(x)[0], 2, 3)


_conv_transpose_2x_subpixel.defvjp(_conv_transpose_2x_subpixel_fwd,
                                   _conv_transpose_2x_subpixel_bwd)


def conv_matmul(lhs, rhs, window_strides, padding, lhs_dilation=None,
                rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                precision=None):
  """``jax.lax.conv_general_dilated`` for NHWC inputs and HWIO kernels (flax's
  layout) as one matrix product: the kernel's kh x kw shifted, strided views
  of the padded input side by side on the channel axis (im2col) times the
  kernel reshaped to (kh kw C_in, C_out). Same values and gradients as the
  convolution. It exists for vmapped seeds: under jax.vmap over per-seed
  kernels XLA turns a convolution into a grouped one, which its CPU backend
  runs several times slower, while this becomes a batched matrix product."""
  del dimension_numbers, precision  # flax passes channel-last numbers
  if any(d != 1 for d in (lhs_dilation or ()) + (rhs_dilation or ())) or feature_group_count != 1:
    raise ValueError("conv_matmul supports undilated, ungrouped convolutions only.")
  n, _, _, c_in = lhs.shape
  kh, kw, _, c_out = rhs.shape
  (sy, sx), ((py0, py1), (px0, px1)) = window_strides, padding
  xp = jnp.pad(lhs, ((0, 0), (py0, py1), (px0, px1), (0, 0)))
  ho, wo = (xp.shape[1] - kh) // sy + 1, (xp.shape[2] - kw) // sx + 1
  cols = jnp.concatenate([xp[:, i:i + sy * (ho - 1) + 1:sy, j:j + sx * (wo - 1) + 1:sx]
                          for i in range(kh) for j in range(kw)], -1)
  return (cols.reshape(-1, kh * kw * c_in) @ rhs.reshape(-1, c_out)).reshape(n, ho, wo, c_out)


def _conv_4x4_stride2(x, kernel):
  return jax.lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)),
                                      dimension_numbers=_DN)


@jax.custom_vjp
def conv_4x4_stride2(x, kernel):
  """The critic's downsampling convolution (kernel 4, stride 2, padding 1)
  by XLA, with the gradient for x computed as the transposed convolution it
  is, ``conv_transpose_2x(g, W with C_in and C_out swapped)`` in its
  subpixel form: on XLA's CPU backend 1.3x faster than XLA's own at batch
  64 and 2.4x at 256 (64 -> 128 channels). The kernel's gradient is XLA's."""
  return _conv_4x4_stride2(x, kernel)


def _conv_4x4_stride2_fwd(x, kernel):
  return _conv_4x4_stride2(x, kernel), (x, kernel)


def _conv_4x4_stride2_bwd(residuals, g):
  x, kernel = residuals
  _, kernel_vjp = jax.vjp(lambda k: _conv_4x4_stride2(x, k), kernel)
  return conv_transpose_2x(g, jnp.swapaxes(kernel, 2, 3), "subpixel"), kernel_vjp(g)[0]


conv_4x4_stride2.defvjp(_conv_4x4_stride2_fwd, _conv_4x4_stride2_bwd)


def _convolution_subpixel(lhs, rhs, window_strides, padding, lhs_dilation=None,
                          rhs_dilation=None, dimension_numbers=None,
                          feature_group_count=1, precision=None):
  """``jax.lax.conv_general_dilated`` (NHWC, HWIO) with conv_4x4_stride2 for
  the 4x4, stride-2, padding-1 case."""
  plain = (tuple(window_strides) == (2, 2) and rhs.shape[:2] == (4, 4)
           and tuple(map(tuple, padding)) == ((1, 1), (1, 1)) and feature_group_count == 1
           and all(d == 1 for d in (lhs_dilation or ()) + (rhs_dilation or ())))
  if plain:
    return conv_4x4_stride2(lhs, rhs)
  return jax.lax.conv_general_dilated(
      lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
      feature_group_count, precision=precision)


def convolution(impl: str):
  """The stride-1 and strided convolutions of the DCGAN networks for
  compute.conv_impl: ``conv_matmul`` for "matmul", XLA's convolution for
  "xla", and for "subpixel" XLA's with conv_4x4_stride2's gradient."""
  return {"matmul": conv_matmul, "xla": jax.lax.conv_general_dilated}.get(
      impl, _convolution_subpixel)


# DCGAN (Radford et al. 2016, section 4): "All weights were initialized from
# a zero-centered Normal distribution with standard deviation 0.02."
DCGAN_INIT = nn.initializers.normal(0.02)


class ConvTranspose2x(nn.Module):
  """Learned stride-2 upsampling layer (kernel 4, padding 1); see
  ``conv_transpose_2x``. The parameters do not depend on ``impl``."""

  features: int
  use_bias: bool = False
  impl: str = "subpixel"

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", DCGAN_INIT,
                        (4, 4, x.shape[-1], self.features))
    y = conv_transpose_2x(x, kernel, self.impl)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y


# (initial side, number of 2x stages) of the DCGAN for each image side.
_DCGAN_PLANS = {28: (7, 2), 32: (4, 3), 64: (4, 4)}


def _dcgan_plan(image_shape):
  return _DCGAN_PLANS[image_shape[0]]


class DCGANGenerator(nn.Module):
  """z -> dense to s0 x s0 x (w 2^(n-1)) -> BN, ReLU -> [3x3 conv, BN,
  ReLU] x extra_convs -> [2x up, BN, ReLU]... -> 2x up to C channels -> tanh.
  For 28x28 with width 64: 7x7x128 -> 14x14x64 -> 28x28x1; for 64x64:
  4x4x512 -> ... -> 64x64x3 (DCGAN's). ``extra_convs`` (default 0, DCGAN's
  network) adds stride-1 3x3 convolutions at the smallest resolution, as
  TensorFlow's DCGAN tutorial for MNIST has one (5x5 there). ``axis_name``:
  batch norm's statistics over that mapped axis too (pmap)."""

  image_shape: Sequence[int]
  width: int = 64
  conv_impl: str = "subpixel"
  axis_name: str | None = None
  extra_convs: int = 0

  @nn.compact
  def __call__(self, z):
    s0, stages = _dcgan_plan(self.image_shape)
    ch = self.width * 2**(stages - 1)
    x = nn.Dense(s0 * s0 * ch, use_bias=False, kernel_init=DCGAN_INIT)(z)
    x = x.reshape(-1, s0, s0, ch)
    x = nn.relu(BatchNorm(self.axis_name)(x))
    conv = convolution(self.conv_impl)
    for _ in range(self.extra_convs):
      x = nn.Conv(ch, (3, 3), padding=((1, 1), (1, 1)), use_bias=False,
                  kernel_init=DCGAN_INIT, conv_general_dilated=conv)(x)
      x = nn.relu(BatchNorm(self.axis_name)(x))
    for _ in range(stages - 1):
      ch //= 2
      x = ConvTranspose2x(ch, impl=self.conv_impl)(x)
      x = nn.relu(BatchNorm(self.axis_name)(x))
    x = ConvTranspose2x(self.image_shape[-1], use_bias=True, impl=self.conv_impl)(x)
    return jnp.tanh(x)


def spectral_norm(kernel, iterations: int = 8):
  """sigma(W), the largest singular value of the kernel as a matrix
  (inputs x outputs; a convolution kernel (kh, kw, C_in, C_out) as
  (kh kw C_in) x C_out), by power iteration (Miyato et al. 2018, "Spectral
  normalization for generative adversarial networks", Algorithm 1).

  Stateless: the iteration starts every call from the same fixed vector
  instead of Miyato's persistent u, so the critic's state stays its
  parameters; u and v carry no gradient, sigma = u^T W v does."""
  w = kernel.reshape(-1, kernel.shape[-1])
  v = jnp.asarray(np.random.default_rng(0).standard_normal(w.shape[1]), w.dtype)
  for _ in range(iterations):
    u = w @ v
    u = u / (jnp.linalg.norm(u) + 1e-12)
    v = w.T @ u
    v = v / (jnp.linalg.norm(v) + 1e-12)
  u, v = jax.lax.stop_gradient(u), jax.lax.stop_gradient(v)
  return u @ w @ v


def spectrally_normalized(op):
  """``op(x, kernel, ...)`` (a convolution or dot_general) applied to
  W / sigma(W): the layer's Lipschitz constant is at most 1."""
  def normalized(lhs, kernel, *args, **kwargs):
    return op(lhs, kernel / spectral_norm(kernel), *args, **kwargs)
  return normalized


class DCGANCritic(nn.Module):
  """[conv k4 s2 -> (norm) -> LeakyReLU(0.2)]... -> dense 1 (raw output V).

  ``norm``: "none" (required for a gradient penalty, which needs per-example
  outputs), "batch" (DCGAN's; not on the first layer), "layer" or
  "spectral" (every layer's kernel divided by its spectral norm, Miyato et
  al. 2018; per-example, so it combines with a gradient penalty).
  ``conv_impl``: see ``convolution``; the parameters do not depend on it.
  ``extra_convs``: stride-1 3x3 layers (with the same norm and activation)
  after the last stride-2 one; 0 is DCGAN's critic."""

  image_shape: Sequence[int]
  width: int = 64
  norm: str = "none"
  axis_name: str | None = None
  conv_impl: str = "subpixel"
  extra_convs: int = 0

  @nn.compact
  def __call__(self, x):
    _, stages = _dcgan_plan(self.image_shape)
    conv = convolution(self.conv_impl)
    dot = jax.lax.dot_general
    if self.norm == "spectral":
      conv, dot = spectrally_normalized(conv), spectrally_normalized(dot)
    # (features, kernel, stride) of each layer: the stride-2 stages, then
    # the extra stride-1 3x3 layers at the smallest resolution.
    layers = [(self.width * 2**i, 4, 2) for i in range(stages)]
    layers += [(self.width * 2**(stages - 1), 3, 1)] * self.extra_convs
    for i, (features, k, stride) in enumerate(layers):
      x = nn.Conv(features, (k, k), (stride, stride), padding=((1, 1), (1, 1)),
                  use_bias=self.norm in ("none", "spectral") or i == 0,
                  kernel_init=DCGAN_INIT, conv_general_dilated=conv)(x)
      if i > 0 and self.norm == "batch":
        x = BatchNorm(self.axis_name)(x)
      elif i > 0 and self.norm == "layer":
        x = nn.LayerNorm()(x)
      x = nn.leaky_relu(x, 0.2)
    return nn.Dense(1, kernel_init=DCGAN_INIT, dot_general=dot)(x.reshape(x.shape[0], -1))


# The registry -----------------------------------------------------------------

CONV_IMPLS = ("subpixel", "matmul", "xla")
CRITIC_NORMS = ("none", "batch", "layer", "spectral")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """One model family: ``build(model_config, data_shape, conv_impl)`` ->
  (generator, critic); ``check(model_config)`` and ``check_data(model_config,
  data_shape)`` raise errors.ConfigError naming the field and the fix."""
  build: Callable
  check: Callable
  check_data: Callable


def _positive_ints(field: str, values) -> None:
  if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
    raise errors.ConfigError(f"config.model.{field} = {values!r} must hold positive ints.")


def _build_mlp(m, data_shape, conv_impl):
  del conv_impl
  out = int(np.prod(data_shape))
  return MLP(hidden=tuple(m.hidden), out=out), MLP(hidden=tuple(m.hidden), out=1)


def _check_mlp(m):
  hidden = tuple(m.hidden) if isinstance(m.hidden, (tuple, list)) else (m.hidden,)
  if not hidden:
    raise errors.ConfigError("config.model.hidden = () gives the MLP no hidden layer; "
                             "give at least one width, e.g. (128, 128).")
  _positive_ints("hidden", hidden)
  _positive_ints("z_dim", (m.z_dim,))


def _build_dcgan(m, data_shape, conv_impl):
  shape = tuple(data_shape)
  return (DCGANGenerator(shape, width=m.width, conv_impl=conv_impl,
                         extra_convs=m.generator_extra_convs),
          DCGANCritic(shape, width=m.critic_width, norm=m.critic_norm, conv_impl=conv_impl,
                      extra_convs=m.critic_extra_convs))


def _check_dcgan(m):
  _positive_ints("width", (m.width,))
  _positive_ints("critic_width", (m.critic_width,))
  _positive_ints("z_dim", (m.z_dim,))
  for field in ("generator_extra_convs", "critic_extra_convs"):
    errors.check_int(f"model.{field}", m[field], 0, "DCGAN's network")
  errors.check_choice("model.critic_norm", m.critic_norm, CRITIC_NORMS)


def _check_dcgan_data(m, shape):
  del m
  if len(shape) != 3 or shape[0] != shape[1] or shape[0] not in _DCGAN_PLANS:
    raise errors.ConfigError(
        f"config.model.name = 'dcgan' makes 28x28, 32x32 or 64x64 images, but the data "
        f"has examples of shape {tuple(shape)}. Set config.data.resize to 28, 32 or 64 "
        "for other images, or use config.model.name = 'mlp' for vector data.")


MODELS = {
    "dcgan": ModelSpec(_build_dcgan, _check_dcgan, _check_dcgan_data),
    "mlp": ModelSpec(_build_mlp, _check_mlp, lambda m, shape: None),
}


def names() -> tuple[str, ...]:
  return tuple(MODELS)


def _spec(model_config) -> ModelSpec:
  errors.check_choice("model.name", model_config.name, names())
  return MODELS[model_config.name]


def check(model_config) -> None:
  """The model's name and its fields."""
  _spec(model_config).check(model_config)


def check_data(model_config, data_shape) -> None:
  """That the model can make examples of this shape."""
  _spec(model_config).check_data(model_config, tuple(data_shape))


def build(model_config, data_shape, conv_impl: str = "subpixel"):
  """(generator, critic) for config.model and one example's shape, with
  compute.conv_impl's convolutions (resolved: fgan.compute)."""
  return _spec(model_config).build(model_config, tuple(data_shape), conv_impl)


def with_axis(module: nn.Module, axis_name: str) -> nn.Module:
  """``module`` with batch norm's statistics averaged over the mapped axis
  ``axis_name`` too (pmap): the same parameters, another program."""
  return module.clone(axis_name=axis_name) if hasattr(module, "axis_name") else module
