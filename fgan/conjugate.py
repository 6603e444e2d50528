"""The Fenchel conjugate of a convex f, solved numerically inside jit.

For a divergence defined by f alone (fgan.divergences.from_f): f*(t) =
sup_u [t u - f(u)] = t u* - f(u*) with u*(t) the root of f'(u) = t, found by
bisection in float64 with exact derivatives as custom JVPs (envelope and
implicit function theorems), and dom f* = the range of f', estimated from f'
near the ends of f's domain (Nowozin et al. 2016, section 2).
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

Fn = Callable[[jax.Array], jax.Array]


def _to_domain(lo: float, hi: float) -> Fn:
  """A smooth increasing bijection s -> u from R onto (lo, hi) that reaches
  within e^-|s| of a finite end and e^|s| towards an infinite one."""
  if math.isfinite(lo) and math.isfinite(hi):
    w = hi - lo
    return lambda s: jnp.where(s < 0, lo + w * jax.nn.sigmoid(s), hi - w * jax.nn.sigmoid(-s))
  if math.isfinite(lo):
    return lambda s: lo + jnp.exp(s)
  if math.isfinite(hi):
    return lambda s: hi - jnp.exp(-s)
  return jnp.sinh


def _solve_dtype():
  """The dtype f* is solved in: float64 (jax.enable_x64 inside the trace),
  except on TPUs, which lack it."""
  return jnp.float32 if jax.default_backend() == "tpu" else jnp.float64


def _derivatives(f: Fn) -> tuple[Fn, Fn]:
  fp = jax.grad(lambda u: jnp.sum(f(u)))
  return fp, jax.grad(lambda u: jnp.sum(fp(u)))


# Probe points s = 5 2^k (u = e^{+-s} towards an infinite end of f's domain,
# within e^-s of a finite one), as far as float64 reaches.
_PROBES = tuple(5.0 * 2.0**k for k in range(8))


def _f_prime_limit(fp: Fn, u_of_s: Fn, side: int) -> float:
  """lim f'(u) as u approaches the upper (side +1) or lower (side -1) end of
  f's domain: an end of dom f* (Nowozin et al. 2016, section 2: f'(u) runs
  over dom f* as u runs over dom f).

  f' is monotone, so G_k = side f'(u(side s_k)) increases along the probes
  s_k = 5 2^k. Between probes that double s, the increments of G double
  for growth like log u, stay constant for log log u, and shrink for a
  finite limit approached like u^-beta (every alpha-divergence's f'):
  with the last three probes s, 2s, 4s and G = c - a x^(s/s_0)
  (x = e^(-beta s_0)), the increment ratio is r = d_2 / d_1 = x (1 + x) < 1
  and the limit c = G_3 + d_1 x^3 / (1 - x), exactly. So r >= 1 is an
  infinite end, r < 1 a finite one at that c, and increments below
  float64's resolution of G a limit already reached. Approaches slower
  than u^-0.003 look like growth here; state such an end with
  ``from_f(conjugate_domain=...)``.
  """
  with jax.enable_x64(True):
    values = []
    for s in _PROBES:
      g = side * float(fp(u_of_s(jnp.float64(side * s))))
      if math.isnan(g):
        break
      if math.isinf(g):
        return side * math.inf
      values.append(g)
  if len(values) < 3:
    raise ValueError("f' is not finite near the end of f's domain; give "
                     "from_f its conjugate_domain.")
  g1, g2, g3 = values[-3:]
  d1, d2 = g2 - g1, g3 - g2
  if d2 <= 1e-12 * max(1.0, abs(g3)):
    return side * g3
  r = d2 / d1 if d1 > 0 else math.inf
  if r >= 1.0:
    return side * math.inf
  x = (math.sqrt(1.0 + 4.0 * r) - 1.0) / 2.0
  return side * (g3 + d1 * x**3 / (1.0 - x))


def domain(f: Fn, lo: float, hi: float, stated=None) -> tuple[float, float]:
  """dom f* = (lim_{u->lo} f', lim_{u->hi} f'), estimated by
  ``_f_prime_limit``, or ``stated`` and checked against it: f' must stay
  inside it at every probe, and an end the estimate finds finite must equal
  the stated one (within 1e-3 relative).

  Args:
    f: convex function of an array, written with jax.numpy.
    lo, hi: the open interval where f is finite.
    stated: (lo, hi) of dom f* to check, or None.

  Returns:
    (lo, hi) of dom f*.

  Raises:
    ValueError: f' is not finite near an end, or contradicts ``stated``.
  """
  fp, _ = _derivatives(f)
  u_of_s = _to_domain(lo, hi)
  estimate = (_f_prime_limit(fp, u_of_s, -1), _f_prime_limit(fp, u_of_s, +1))
  if stated is None:
    return estimate
  stated = (float(stated[0]), float(stated[1]))
  with jax.enable_x64(True):
    probes = [float(fp(u_of_s(jnp.float64(side * s)))) for side in (-1, 1) for s in _PROBES]
  tol = lambda c: 1e-9 * max(1.0, abs(c))
  for end, guess, name in zip(stated, estimate, ("lower", "upper")):
    outside = [p for p in probes if math.isfinite(end) and (
        p < end - tol(end) if name == "lower" else p > end + tol(end))]
    if outside:
      raise ValueError(f"The stated {name} end {end} of dom f* is contradicted: f' "
                       f"reaches {outside[0]} inside f's domain.")
    if math.isfinite(guess) and abs(guess - end) > 1e-3 * max(1.0, abs(guess)):
      raise ValueError(f"The stated {name} end {end} of dom f* is contradicted: f' "
                       f"converges to {guess} there.")
  return stated


def _in_dtype_of(x, value, beyond):
  """value in x's dtype; +inf past the bracket, and where float64 itself
  overflowed (t u* and f(u*) both inf: u* ~ 1e300, f* beyond float32)."""
  value = jnp.where(beyond | jnp.isnan(value), jnp.inf, value)
  return value.astype(jnp.result_type(x, float))


def _bisect_root(fp: Fn, u_of_s: Fn, t):
  """(u with fp(u) = t, t beyond fp at the bracket's upper end): 64 bisection
  steps in s over |s| <= 0.99 log(the dtype's max), safe because fp
  increases; in t's dtype."""
  span = 0.99 * math.log(jnp.finfo(t.dtype).max)

  def bisect(_, bounds):
    a, b = bounds
    mid = 0.5 * (a + b)
    right = fp(u_of_s(mid)) < t
    return jnp.where(right, mid, a), jnp.where(right, b, mid)

  a, b = jax.lax.fori_loop(0, 64, bisect, (jnp.full_like(t, -span), jnp.full_like(t, span)))
  return u_of_s(0.5 * (a + b)), fp(u_of_s(jnp.full_like(t, span))) < t


def numerical(f: Fn, lo: float, hi: float, pre: Fn = lambda x: x) -> tuple[Fn, Fn]:
  """f* and its maximiser, solved numerically: (x -> f*(pre(x)), x ->
  u*(pre(x))) with u*(t) = argmax_u [t u - f(u)],
  the root of f'(u) = t in (lo, hi), and f*(t) = t u* - f(u*), computed in
  float64 (``_solve_dtype``) from x, and returned in x's dtype.

  ``pre`` (the identity, or g_f for a fused f*(g_f(v))) runs in float64
  too, so that a t = g_f(v) that float32 would round onto the end of dom f*
  keeps its distance to it. The root is bisected in s (u = u(s),
  ``_to_domain``, ``_bisect_root``; 700 in float64 bounds |s|); float64
  keeps t u* - f(u*) free of the cancellation float32 suffers where u* is
  large. t past f' at the bracket's end (u* beyond e^700, or t outside dom
  f*) gives f* = +inf. Custom JVPs: d f*/dt = u*(t) (envelope theorem) and
  du*/dt = 1 / f''(u*) (implicit function theorem), times pre'(x).

  Args:
    f: convex function of an array, written with jax.numpy.
    lo, hi: the open interval where f is finite.
    pre: applied to x first (in float64).

  Returns:
    (conjugate, argmax), functions of an array x in x's dtype.
  """
  u_of_s = _to_domain(lo, hi)
  fp, fpp = _derivatives(f)

  def solve(x):
    """(u*, t = pre(x), pre'(x), whether t lies past the bracket's end), in
    the solve dtype; call inside jax.enable_x64."""
    dtype = _solve_dtype()
    t, dt_dx = jax.jvp(pre, (jnp.asarray(x).astype(dtype),),
                       (jnp.ones(jnp.shape(x), dtype),))
    u, beyond = _bisect_root(fp, u_of_s, t)
    return u, t, dt_dx, beyond

  @jax.custom_jvp
  def argmax(x):
    with jax.enable_x64(True):
      u, _, _, beyond = solve(x)
      return _in_dtype_of(x, u, beyond)

  @argmax.defjvp
  def argmax_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    with jax.enable_x64(True):
      u, _, dt_dx, beyond = solve(x)
      return _in_dtype_of(x, u, beyond), _in_dtype_of(x, dt_dx / fpp(u), beyond) * dx

  @jax.custom_jvp
  def conjugate(x):
    with jax.enable_x64(True):
      u, t, _, beyond = solve(x)
      return _in_dtype_of(x, t * u - f(u), beyond)

  @conjugate.defjvp
  def conjugate_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    with jax.enable_x64(True):
      _, _, dt_dx, _ = solve(x)
      slope = dt_dx.astype(jnp.result_type(x, float))
    return conjugate(x), argmax(x) * slope * dx

  return conjugate, argmax
