"""f-divergences for variational (f-GAN) training.

Nowozin, Cseke & Tomioka, "f-GAN: Training Generative Neural Samplers using
Variational Divergence Minimization", NeurIPS 2016. For a convex f with
f(1) = 0,

    D_f(P||Q) = E_Q[f(p/q)] >= sup_T E_P[T(x)] - E_Q[f*(T(x))],

where f*(t) = sup_u [t u - f(u)] is the Fenchel conjugate. The critic's raw
output v = V(x) is mapped into dom f* by an output activation g_f, so that
T = g_f(V). The bound is tight at T*(x) = f'(p(x)/q(x)).

Each divergence here carries f, f*, g_f, the fused composition f*(g_f(v))
(written in a numerically stable form), f'(1) and the interval dom f*.
Conventions differing from the f-GAN paper's Table 1/2 by a constant factor
are stated on the divergence: ``js`` is the Jensen-Shannon divergence itself
(<= log 2), the paper's "Jensen-Shannon" row is 2 JS.

``wasserstein`` is an integral probability metric, not an f-divergence; it
fits the same objective with f*(t) = t and g(v) = v (f is the indicator of
{1}: 0 at u = 1, +inf elsewhere, whose conjugate is t).

A new divergence can be defined from f alone (``from_f``): f* is then solved
numerically inside jit with an implicit-gradient rule.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy

Array = jax.Array
Fn = Callable[[Array], Array]

_LOG2 = math.log(2.0)


@dataclasses.dataclass(frozen=True)
class Divergence:
  """One f-divergence (or IPM) in the f-GAN objective.

  Attributes:
    name: registry name.
    f: the generator function f(u), convex on its domain, f(1) = 0.
    conjugate: the Fenchel conjugate f*(t) = sup_u [t u - f(u)].
    activation: g_f, maps any real v into dom f*.
    conjugate_of_activation: f*(g_f(v)), fused for numerical stability.
    f_prime_one: f'(1); T = f'(1) is the optimal critic when P = Q.
    conjugate_domain: (lo, hi), the open interval dom f*. Its upper end is
      lim_{u->inf} f(u)/u, which is what an atom of P where q = 0 costs.
    f_domain: (lo, hi), where f is finite; the sup defining f* runs over it.
    is_ipm: True for integral probability metrics (wasserstein).
  """

  name: str
  f: Fn
  conjugate: Fn
  activation: Fn
  conjugate_of_activation: Fn
  f_prime_one: float
  conjugate_domain: tuple[float, float]
  f_domain: tuple[float, float] = (0.0, math.inf)
  is_ipm: bool = False

  def __repr__(self) -> str:
    return f"Divergence({self.name!r})"


def _softplus(x):
  return jax.nn.softplus(x)


@jax.custom_jvp
def _lambertw_exp(x: Array) -> Array:
  """w = W(e^x), the principal Lambert W of e^x, i.e. the root of w + log w = x.

  Solved in log space (y = log w, y + e^y = x, increasing and convex in y) by
  Newton's method from y0 = x (x <= 1) or log x (x > 1), both right of the
  root, from where Newton converges monotonically; dw/dx = w / (1 + w) is
  given by a custom JVP.
  """
  x = jnp.asarray(x)
  y0 = jnp.where(x > 1.0, jnp.log(jnp.maximum(x, 1.0)), x)

  def newton(_, y):
    ey = jnp.exp(y)
    return y - (y + ey - x) / (1.0 + ey)

  return jnp.exp(jax.lax.fori_loop(0, 30, newton, y0))


@_lambertw_exp.defjvp
def _lambertw_exp_jvp(primals, tangents):
  (x,), (dx,) = primals, tangents
  w = _lambertw_exp(x)
  return w, w / (1.0 + w) * dx


def _make_registry() -> dict[str, Divergence]:
  inf = math.inf
  divs = [
      Divergence(
          name="gan",
          # D_GAN = 2 JS - log 4 (Goodfellow et al. 2014); T = log D.
          f=lambda u: xlogy(u, u) - xlogy(u + 1.0, u + 1.0),
          conjugate=lambda t: -jnp.log1p(-jnp.exp(t)),
          activation=lambda v: -_softplus(-v),  # log sigmoid(v)
          conjugate_of_activation=_softplus,  # -log(1 - sigmoid(v))
          f_prime_one=-_LOG2,
          conjugate_domain=(-inf, 0.0),
      ),
      Divergence(
          name="js",
          # JS(P||Q) = 1/2 KL(P||M) + 1/2 KL(Q||M), M = (P+Q)/2; half the f-GAN
          # table's f(u) = u log u - (u+1) log((u+1)/2), which gives 2 JS.
          f=lambda u: 0.5 * (xlogy(u, u) - xlogy(u + 1.0, (u + 1.0) / 2.0)),
          conjugate=lambda t: -0.5 * jnp.log(2.0 - jnp.exp(2.0 * t)),
          activation=lambda v: 0.5 * (_LOG2 - _softplus(-v)),
          conjugate_of_activation=lambda v: 0.5 * (_softplus(v) - _LOG2),
          f_prime_one=0.0,
          conjugate_domain=(-inf, 0.5 * _LOG2),
      ),
      Divergence(
          name="kl",
          # KL(P||Q) = E_P log(p/q): data first, mode covering (MLE direction).
          f=lambda u: xlogy(u, u),
          conjugate=lambda t: jnp.exp(t - 1.0),
          activation=lambda v: v,
          conjugate_of_activation=lambda v: jnp.exp(v - 1.0),
          f_prime_one=1.0,
          conjugate_domain=(-inf, inf),
      ),
      Divergence(
          name="reverse_kl",
          # KL(Q||P) = E_Q log(q/p): mode seeking.
          f=lambda u: -jnp.log(u),
          conjugate=lambda t: -1.0 - jnp.log(-t),
          activation=lambda v: -jnp.exp(-v),
          conjugate_of_activation=lambda v: v - 1.0,
          f_prime_one=-1.0,
          conjugate_domain=(-inf, 0.0),
      ),
      Divergence(
          name="pearson",
          # Pearson chi^2(P||Q) = E_Q (p/q - 1)^2. As in the f-GAN paper's
          # Table 6, f is taken on all of R, so f* is t^2/4 + t everywhere.
          f=lambda u: jnp.square(u - 1.0),
          conjugate=lambda t: 0.25 * jnp.square(t) + t,
          activation=lambda v: v,
          conjugate_of_activation=lambda v: 0.25 * jnp.square(v) + v,
          f_prime_one=0.0,
          conjugate_domain=(-inf, inf),
          f_domain=(-inf, inf),
      ),
      Divergence(
          name="neyman",
          # Neyman chi^2(P||Q) = E_P (q/p - 1)^2 = E_Q (1 - u)^2 / u.
          f=lambda u: jnp.square(1.0 - u) / u,
          conjugate=lambda t: 2.0 - 2.0 * jnp.sqrt(1.0 - t),
          activation=lambda v: -jnp.expm1(-v),  # 1 - e^-v
          conjugate_of_activation=lambda v: 2.0 - 2.0 * jnp.exp(-0.5 * v),
          f_prime_one=0.0,
          conjugate_domain=(-inf, 1.0),
      ),
      Divergence(
          name="squared_hellinger",
          # H^2(P,Q) = E_Q (sqrt(p/q) - 1)^2 = sum (sqrt p - sqrt q)^2 (no 1/2).
          f=lambda u: jnp.square(jnp.sqrt(u) - 1.0),
          conjugate=lambda t: t / (1.0 - t),
          activation=lambda v: -jnp.expm1(-v),  # 1 - e^-v
          conjugate_of_activation=jnp.expm1,  # e^v - 1
          f_prime_one=0.0,
          conjugate_domain=(-inf, 1.0),
      ),
      Divergence(
          name="jeffrey",
          # Jeffrey = KL(P||Q) + KL(Q||P); f* via Lambert W:
          # f*(t) = W(e^{1-t}) + 1/W(e^{1-t}) + t - 2.
          f=lambda u: (u - 1.0) * jnp.log(u),
          conjugate=_jeffrey_conjugate,
          activation=lambda v: v,
          conjugate_of_activation=_jeffrey_conjugate,
          f_prime_one=0.0,
          conjugate_domain=(-inf, inf),
      ),
      Divergence(
          name="total_variation",
          # TV(P,Q) = 1/2 sum |p - q|; f is not differentiable at 1, f'(1) is
          # the centre 0 of its subdifferential [-1/2, 1/2].
          f=lambda u: 0.5 * jnp.abs(u - 1.0),
          conjugate=lambda t: t,
          activation=lambda v: 0.5 * jnp.tanh(v),
          conjugate_of_activation=lambda v: 0.5 * jnp.tanh(v),
          f_prime_one=0.0,
          conjugate_domain=(-0.5, 0.5),
      ),
      Divergence(
          name="wasserstein",
          # IPM sup_{|V|_L <= 1} E_P V - E_Q V (Arjovsky et al. 2017); f is the
          # indicator of {1}, so f* (t) = t; Lipschitz via a gradient penalty.
          f=lambda u: jnp.where(u == 1.0, 0.0, jnp.inf),
          conjugate=lambda t: t,
          activation=lambda v: v,
          conjugate_of_activation=lambda v: v,
          f_prime_one=0.0,
          conjugate_domain=(-inf, inf),
          is_ipm=True,
      ),
  ]
  return {d.name: d for d in divs}


def _jeffrey_conjugate(t: Array) -> Array:
  w = _lambertw_exp(1.0 - t)
  return w + 1.0 / w + t - 2.0


_REGISTRY = _make_registry()


def names() -> tuple[str, ...]:
  """Names of the built-in divergences."""
  return tuple(_REGISTRY)


def get(name: str | Divergence) -> Divergence:
  """The divergence called ``name`` (a Divergence is returned unchanged)."""
  if isinstance(name, Divergence):
    return name
  if name not in _REGISTRY:
    raise ValueError(
        f"Unknown divergence {name!r}. Valid names: {', '.join(names())}. "
        "A new one can be defined with fgan.divergences.from_f(...) or "
        "Divergence(...).")
  return _REGISTRY[name]


# --------------------------------------------------------------------------
# Divergences defined from f alone.


def _to_domain(lo: float, hi: float) -> tuple[Fn, Fn]:
  """A smooth increasing bijection s -> u from R onto (lo, hi), and d u/d s."""
  if math.isfinite(lo) and math.isfinite(hi):
    return (lambda s: lo + (hi - lo) * jax.nn.sigmoid(s),
            lambda s: (hi - lo) * jax.nn.sigmoid(s) * jax.nn.sigmoid(-s))
  if math.isfinite(lo):
    return lambda s: lo + jnp.exp(s), jnp.exp
  if math.isfinite(hi):
    return lambda s: hi - jnp.exp(-s), lambda s: jnp.exp(-s)
  return lambda s: s, jnp.ones_like


def _numerical_argmax(f: Fn, lo: float, hi: float, iters: int = 60,
                      span: float = 40.0) -> Fn:
  """t -> u*(t) = argmax_u [t u - f(u)], the root of f'(u) = t in (lo, hi).

  The root is bracketed in the unconstrained variable s (u = u(s), monotone)
  and found by bisection, which f' being increasing makes safe, then polished
  by two Newton steps. Its derivative du*/dt = 1 / f''(u*) (implicit function
  theorem) is a custom JVP, so f* below is twice differentiable.
  """
  u_of_s, du_ds = _to_domain(lo, hi)
  fp = jax.grad(lambda u: jnp.sum(f(u)))
  fpp = jax.grad(lambda u: jnp.sum(fp(u)))

  @jax.custom_jvp
  def argmax(t):
    def bisect(_, bounds):
      a, b = bounds
      mid = 0.5 * (a + b)
      right = fp(u_of_s(mid)) < t
      return jnp.where(right, mid, a), jnp.where(right, b, mid)

    a, b = jax.lax.fori_loop(0, iters, bisect,
                             (jnp.full_like(t, -span), jnp.full_like(t, span)))
    s = 0.5 * (a + b)
    for _ in range(2):
      g = (fp(u_of_s(s)) - t) / (fpp(u_of_s(s)) * du_ds(s))
      s = jnp.where(jnp.isfinite(g), jnp.clip(s - g, a - 1.0, b + 1.0), s)
    return u_of_s(s)

  @argmax.defjvp
  def argmax_jvp(primals, tangents):
    (t,), (dt,) = primals, tangents
    u = argmax(t)
    return u, dt / fpp(u)

  return argmax


def _conjugate_domain_of(f: Fn, lo: float, hi: float) -> tuple[float, float]:
  """Estimate dom f* = (inf f', sup f') over (lo, hi).

  An end of the range of f' is taken as infinite where f' still grows by more
  than 0.5 between the two probe points nearest that end of the domain; else
  it is the value of f' at the nearest probe, which lies strictly inside
  dom f* since f' is increasing.
  """
  fp = jax.grad(lambda u: jnp.sum(f(u)))
  u_of_s, _ = _to_domain(lo, hi)
  near_hi = [float(fp(u_of_s(jnp.float32(s)))) for s in (7.0, 14.0)]
  near_lo = [float(fp(u_of_s(jnp.float32(s)))) for s in (-7.0, -14.0)]
  upper = math.inf if near_hi[1] - near_hi[0] > 0.5 else near_hi[1]
  lower = -math.inf if near_lo[0] - near_lo[1] > 0.5 else near_lo[1]
  return lower, upper


def _activation_for(lo: float, hi: float) -> Fn:
  """An activation from R onto (lo, hi), following the f-GAN paper's shapes:
  identity on R, b - softplus(-v) below b, a + softplus(v) above a, and a
  scaled sigmoid on a bounded interval."""
  if math.isinf(lo) and math.isinf(hi):
    return lambda v: v
  if math.isinf(lo):
    return lambda v: hi - _softplus(-v)
  if math.isinf(hi):
    return lambda v: lo + _softplus(v)
  return lambda v: lo + (hi - lo) * jax.nn.sigmoid(v)


def from_f(name: str, f: Fn, domain: tuple[float, float] = (0.0, math.inf),
           activation: Fn | None = None) -> Divergence:
  """A divergence defined by a convex f with f(1) = 0 alone.

  f* (t) = t u*(t) - f(u*(t)) with u*(t) the root of f'(u) = t, solved
  numerically (see ``_numerical_argmax``); its derivative is d f*/dt = u*(t)
  (envelope theorem), given as a custom JVP. dom f* is estimated from the
  range of f' and, unless given, g_f is picked by ``_activation_for``.

  Args:
    name: the divergence's name.
    f: convex function of an array u, written with jax.numpy, f(1) = 0.
    domain: the open interval where f is finite, default (0, inf).
    activation: optional g_f; must map R into dom f*.
  """
  lo, hi = float(domain[0]), float(domain[1])
  if not lo < 1.0 < hi:
    raise ValueError(f"The domain {domain} of f must contain 1 (f(1) = 0).")
  f1 = float(f(jnp.float32(1.0)))
  if abs(f1) > 1e-6:
    raise ValueError(f"f(1) must be 0 for an f-divergence, got f(1) = {f1}. "
                     "Subtract the constant from f.")
  argmax = _numerical_argmax(f, lo, hi)

  @jax.custom_jvp
  def conjugate(t):
    t = jnp.asarray(t, jnp.result_type(float))
    u = argmax(t)
    return t * u - f(u)

  @conjugate.defjvp
  def conjugate_jvp(primals, tangents):
    (t,), (dt,) = primals, tangents
    t = jnp.asarray(t, jnp.result_type(float))
    return conjugate(t), argmax(t) * dt

  dom = _conjugate_domain_of(f, lo, hi)
  g = activation or _activation_for(*dom)
  fprime_one = float(jax.grad(f)(jnp.float32(1.0)))
  return Divergence(name=name, f=f, conjugate=conjugate, activation=g,
                    conjugate_of_activation=lambda v: conjugate(g(v)),
                    f_prime_one=fprime_one, conjugate_domain=dom,
                    f_domain=(lo, hi))
