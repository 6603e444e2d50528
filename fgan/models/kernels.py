"""The networks' compute kernels: batch normalisation and the DCGAN's
convolutions written for XLA's CPU backend.

Each kernel computes exactly the textbook operation (tests compare values
and gradients with XLA's own ops); the forms differ in how the work is laid
out, because XLA's CPU backend runs some layouts much faster than others:
reductions as matrix products with a row of ones, a stride-2 transposed
convolution as four phase convolutions (sub-pixel), and a convolution under
``jax.vmap`` over per-seed kernels as one batched matrix product (im2col).
``experiments.benchmark`` measures the forms against each other and against
PyTorch.

All arrays are NHWC images and HWIO kernels (flax's layouts).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

# compute.conv_impl's values: how the DCGAN's convolutions are computed.
CONV_IMPLS = ("subpixel", "matmul", "xla")

_DN = ("NHWC", "HWIO", "NHWC")  # flax's layouts
# Below this many output channels (an image layer), conv_transpose_2x's
# "subpixel" form uses XLA's dilated convolution, whose gradient is the
# faster one there.
_FEW_CHANNELS = 4

# Tap selection A[r, j, k]: output phase r (row 2m + r) of a stride-2,
# kernel-4, padding-1 transposed convolution is a 2-tap correlation over the
# once-padded input window starting at padded row m + r; tap j of that
# window meets kernel row k where A[r, j, k] = 1.
_PHASE_TAPS = np.zeros((2, 2, 4), np.float32)
_PHASE_TAPS[0, 0, 3] = _PHASE_TAPS[0, 1, 1] = 1.0
_PHASE_TAPS[1, 0, 2] = _PHASE_TAPS[1, 1, 0] = 1.0


def _rows_mean(x, axis_name: str | None):
  """The mean of the rows of x (M, C), over every device of ``axis_name``
  too, as a matrix product with a row of ones (XLA's CPU backend reduces a
  tall array much slower than it multiplies it)."""
  mean = (jnp.ones((1, x.shape[0]), x.dtype) @ x)[0] / x.shape[0]
  return mean if axis_name is None else jax.lax.pmean(mean, axis_name)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def batch_norm(x, scale, bias, axis_name: str | None = None, epsilon: float = 1e-5):
  """Batch normalisation with the batch's statistics (Ioffe & Szegedy 2015):

      y = (x - mean) / sqrt(var + epsilon) * scale + bias,

  mean and (biased) variance over every axis but the last, and over the
  devices of ``axis_name``. Its VJP is the standard one written out, with
  x_hat = (x - mean) / sqrt(var + epsilon) and means over the batch (and
  devices) of g and g x_hat:

      dx = scale / sqrt(var + epsilon) (g - mean(g) - x_hat mean(g x_hat)),
      dscale = sum(g x_hat), dbias = sum(g)

  (the parameters' sums over this device's rows), every reduction a matrix
  product.

  Args:
    x: (..., C) float array.
    scale: (C,) multiplier.
    bias: (C,) offset.
    axis_name: a mapped axis (pmap) whose devices share the statistics, or
      None.
    epsilon: added to the variance.

  Returns:
    y, shaped like x.
  """
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


def conv_transpose_2x(x, kernel, impl: str = "subpixel"):
  """Stride-2 transposed convolution, kernel 4, padding 1: (H, W) -> (2H, 2W).

  PyTorch's ConvTranspose2d(k=4, s=2, p=1) semantics: per axis
  y[o] = sum_{i, k: o = 2 i + k - 1} x[i] W[k], the adjoint of
  ``conv_4x4_stride2`` with C_in and C_out swapped.

  Args:
    x: (N, H, W, C_in) input.
    kernel: (4, 4, C_in, C_out).
    impl: "xla", the textbook convolution of the 2x-dilated input with the
      flipped kernel; "subpixel", the phase decomposition (``_phases``)
      differentiated through its adjoint pair, or for at most
      ``_FEW_CHANNELS`` output channels the xla form; "matmul", the phase
      decomposition with its 2x2 convolution computed by ``conv_matmul``.

  Returns:
    (N, 2H, 2W, C_out).

  Raises:
    ValueError: for an unknown ``impl``.
  """
  if impl not in CONV_IMPLS:
    raise ValueError(f"Unknown transposed-convolution impl {impl!r}; valid: "
                     f"{', '.join(CONV_IMPLS)}.")
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
  and C_out swapped, dx = conv_4x4_stride2(g, K), XLA's forward strided
  convolution (0.6x the multiplies of the phase convolution's input
  gradient, which runs on the padded input), and dW the swapped kernel
  gradient of that convolution."""
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
  """``jax.lax.conv_general_dilated`` (NHWC, HWIO) as one matrix product:
  the kernel's kh x kw shifted, strided views of the padded input side by
  side on the channel axis (im2col) times the kernel reshaped to
  (kh kw C_in, C_out). Same values and gradients as the convolution; under
  jax.vmap over per-seed kernels it becomes a batched matrix product where
  XLA would make a grouped convolution.

  Args:
    lhs: (N, H, W, C_in) input.
    rhs: (kh, kw, C_in, C_out) kernel.
    window_strides: (sy, sx).
    padding: ((top, bottom), (left, right)).
    lhs_dilation, rhs_dilation: must be None or all 1.
    dimension_numbers, precision: accepted for flax's call and ignored
      (channel-last layouts, default precision).
    feature_group_count: must be 1.

  Returns:
    (N, H_out, W_out, C_out).

  Raises:
    ValueError: for a dilated or grouped convolution.
  """
  del dimension_numbers, precision
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
  by XLA, with the input gradient computed as the transposed convolution
  it is, ``conv_transpose_2x(g, W with C_in and C_out swapped)`` in its
  subpixel form (faster than XLA's own on its CPU backend); the kernel's
  gradient is XLA's.

  Args:
    x: (N, H, W, C_in), H and W even.
    kernel: (4, 4, C_in, C_out).

  Returns:
    (N, H / 2, W / 2, C_out).
  """
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
  """The convolution function a flax ``nn.Conv`` should use
  (``conv_general_dilated=``) for compute.conv_impl.

  Args:
    impl: "matmul" (``conv_matmul``), "xla" (XLA's convolution) or
      "subpixel" (XLA's, with ``conv_4x4_stride2``'s gradient for the 4x4
      stride-2 case).

  Returns:
    A function with ``jax.lax.conv_general_dilated``'s signature.
  """
  return {"matmul": conv_matmul, "xla": jax.lax.conv_general_dilated}.get(
      impl, _convolution_subpixel)
