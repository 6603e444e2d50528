"""Information measures for discrete distributions and Gaussians.

Shannon, "A Mathematical Theory of Communication", 1948; Cover & Thomas,
"Elements of Information Theory", ch. 2. With P the true and Q the model
distribution over the same outcomes (along ``axis``):

    I(x)      = -log P(x)                        self-information
    H(P)      = -sum P log P                     entropy
    H(P, Q)   = -sum P log Q = H(P) + KL(P||Q)   cross entropy
    KL(P||Q)  =  sum P log(P/Q)                  (+inf where Q = 0 < P)
    JS(P, Q)  =  1/2 KL(P||M) + 1/2 KL(Q||M),  M = (P + Q)/2,  0 <= JS <= log 2
    D_f(P||Q) =  sum Q f(P/Q)                    any fgan divergence's own f

0 log 0 = 0 throughout. ``base`` is "nats" (natural log) or "bits" (log 2).
Inputs are validated on the host (concrete arrays): negative entries, shape
mismatches and distributions that do not sum to 1 raise ValueError. Under
jit (traced inputs) validation is skipped.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy

from fgan import divergences as divs

_BASES = {"nats": 1.0, "bits": math.log(2.0)}


def _scale(base: str) -> float:
  if base not in _BASES:
    raise ValueError(f"Unknown base {base!r}; use 'nats' or 'bits'.")
  return _BASES[base]


def _check(name: str, p, axis: int, atol: float = 1e-5):
  p = jnp.asarray(p, dtype=jnp.result_type(float))
  if isinstance(p, jax.core.Tracer):
    return p
  arr = np.asarray(p)
  if arr.ndim == 0:
    raise ValueError(f"{name} must have at least one axis of outcomes; got a "
                     "scalar.")
  if np.any(np.isnan(arr)) or np.any(arr < 0):
    raise ValueError(f"{name} has negative or NaN entries; probabilities must "
                     "be >= 0.")
  sums = arr.sum(axis=axis)
  if not np.allclose(sums, 1.0, atol=atol * max(1, arr.shape[axis])):
    raise ValueError(f"{name} does not sum to 1 along axis {axis} (sums "
                     f"{np.ravel(sums)[:4]}...); normalise it first.")
  return p


def _pair(p, q, axis):
  p, q = _check("p", p, axis), _check("q", q, axis)
  if p.shape != q.shape:
    raise ValueError(f"p and q must have the same shape, got {p.shape} and "
                     f"{q.shape}.")
  return p, q


def self_information(p, base: str = "nats") -> jax.Array:
  """I = -log p of each probability (inf at p = 0).

  Args:
    p: probabilities in [0, 1].
    base: "nats" or "bits".

  Returns:
    -log p, elementwise.

  Raises:
    ValueError: a probability outside [0, 1].
  """
  p = jnp.asarray(p, dtype=jnp.result_type(float))
  if not isinstance(p, jax.core.Tracer) and np.any(
      (np.asarray(p) < 0) | (np.asarray(p) > 1)):
    raise ValueError("Probabilities must lie in [0, 1].")
  return -jnp.log(p) / _scale(base)


def entropy(p, axis: int = -1, base: str = "nats") -> jax.Array:
  """H(P) = -sum P log P.

  Args:
    p: probabilities summing to 1 along ``axis``.
    axis: the outcomes' axis.
    base: "nats" or "bits".

  Returns:
    The value, with ``axis`` reduced.

  Raises:
    ValueError: not distributions (checked outside jit).
  """
  p = _check("p", p, axis)
  return -jnp.sum(xlogy(p, p), axis=axis) / _scale(base)


def cross_entropy(p, q, axis: int = -1, base: str = "nats") -> jax.Array:
  """H(P, Q) = -sum P log Q (+inf where Q = 0 < P).

  Args:
    p: probabilities summing to 1 along ``axis``.
    q: probabilities of the same shape.
    axis: the outcomes' axis.
    base: "nats" or "bits".

  Returns:
    The value, with ``axis`` reduced.

  Raises:
    ValueError: not distributions (checked outside jit).
  """
  p, q = _pair(p, q, axis)
  return -jnp.sum(xlogy(p, q), axis=axis) / _scale(base)


def kl_divergence(p, q, axis: int = -1, base: str = "nats") -> jax.Array:
  """KL(P||Q) = sum P log(P/Q) (+inf where Q = 0 < P).

  Args:
    p: probabilities summing to 1 along ``axis``.
    q: probabilities of the same shape.
    axis: the outcomes' axis.
    base: "nats" or "bits".

  Returns:
    The value, with ``axis`` reduced.

  Raises:
    ValueError: not distributions (checked outside jit).
  """
  p, q = _pair(p, q, axis)
  return jnp.sum(xlogy(p, p) - xlogy(p, q), axis=axis) / _scale(base)


def js_divergence(p, q, axis: int = -1, base: str = "nats") -> jax.Array:
  """JS(P, Q) = 1/2 KL(P||M) + 1/2 KL(Q||M), bounded by log 2 (1 bit).

  Args:
    p: probabilities summing to 1 along ``axis``.
    q: probabilities of the same shape.
    axis: the outcomes' axis.
    base: "nats" or "bits".

  Returns:
    The value, with ``axis`` reduced.

  Raises:
    ValueError: not distributions (checked outside jit).
  """
  p, q = _pair(p, q, axis)
  m = 0.5 * (p + q)
  return 0.5 * (kl_divergence(p, m, axis, base) + kl_divergence(q, m, axis, base))


def f_divergence(div, p, q, axis: int = -1) -> jax.Array:
  """D_f(P||Q) = sum Q f(P/Q) from the divergence's own f, in nats.

  Outcomes with q = 0 < p contribute p * lim_{u->inf} f(u)/u, the upper end of
  dom f* (so +inf for kl, 0 for reverse_kl); outcomes with p = q = 0 nothing.

  Args:
    div: a divergence or its name (fgan.divergences).
    p, q: probabilities of the same shape, summing to 1 along ``axis``.
    axis: the outcomes' axis.

  Returns:
    D_f, with ``axis`` reduced.
  """
  div = divs.get(div)
  p, q = _pair(p, q, axis)
  safe_q = jnp.where(q > 0, q, 1.0)
  slope_at_inf = div.conjugate_domain[1]
  terms = jnp.where(q > 0, q * div.f(p / safe_q),
                    jnp.where(p > 0, p * slope_at_inf, 0.0))
  return jnp.sum(terms, axis=axis)


def f_divergence_density(div, log_p, log_q, x) -> float:
  """D_f(P||Q) = int q(x) f(p(x)/q(x)) dx for 1-D densities, by quadrature.

  log_p, log_q: callables returning log densities (numpy, float64) on the
  grid x, which must cover the mass of both (trapezoid rule). The integrand
  is evaluated in float64 with the divergence's own f.

  Args:
    div: a divergence or its name.
    log_p, log_q: x -> log density.
    x: the grid (1-D).

  Returns:
    D_f(P||Q).
  """
  div = divs.get(div)
  x = np.asarray(x, np.float64)
  lp, lq = np.asarray(log_p(x), np.float64), np.asarray(log_q(x), np.float64)
  with jax.enable_x64(True):
    u = jnp.exp(jnp.asarray(lp - lq))
    integrand = np.asarray(jnp.exp(jnp.asarray(lq)) * div.f(u))
  integrand = np.where(np.exp(lq) == 0, 0.0, integrand)
  return float(trapezoid(integrand, x))


def trapezoid(y, x) -> float:
  """The trapezoid rule (numpy's, under its name in numpy 1 and 2).

  Args:
    y: values on the grid.
    x: the grid.

  Returns:
    The integral.
  """
  rule = np.trapezoid if hasattr(np, "trapezoid") else np.trapz
  return float(rule(y, x))


def kl_normal(mu1, sigma1, mu2, sigma2) -> jax.Array:
  """KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)) in closed form, in nats:
  log(sigma2/sigma1) + (sigma1^2 + (mu1 - mu2)^2) / (2 sigma2^2) - 1/2.

  Args:
    mu1, sigma1: the first Gaussian's mean and std.
    mu2, sigma2: the second's.

  Returns:
    The divergence.
  """
  return (jnp.log(sigma2 / sigma1)
          + (sigma1**2 + (mu1 - mu2)**2) / (2.0 * sigma2**2) - 0.5)


def normal_log_pdf(x, mu, sigma):
  """log N(x; mu, sigma^2), numpy float64.

  Args:
    x: points.
    mu, sigma: the Gaussian's mean and std.

  Returns:
    log densities at x.
  """
  x = np.asarray(x, np.float64)
  return -0.5 * ((x - mu) / sigma)**2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)
