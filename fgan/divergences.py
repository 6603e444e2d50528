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

from fgan import conjugate

Array = jax.Array
Fn = Callable[[Array], Array]

_LOG2 = math.log(2.0)
_INF = math.inf


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
    curvature: v -> f*''(g_f(v)) g_f'(v)^2, so that f*''(psi) |grad_x psi|^2
      = curvature(V) |grad_x V|^2 for psi = g_f(V): the weight of Roth et
      al.'s regulariser (fgan.losses.roth_regularizer); written per
      divergence in a form that stays finite where the product's factors do
      not (for gan it is sigmoid(v)). 0 where f* is linear (total
      variation, wasserstein).
    log_ratio: v -> log f*'(g_f(v)), the critic's estimate of log p(x)/q(x)
      (exact at the optimal critic, where g_f(V) = f'(p/q)); None where f'
      is not invertible (total variation, wasserstein) or f*' can be <= 0
      (pearson). The "log_ratio" generator loss minimises -E_Q[log_ratio].
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
  curvature: Fn | None = None
  log_ratio: Fn | None = None

  def __repr__(self) -> str:
    return f"Divergence({self.name!r})"


def _softplus(x):
  return jax.nn.softplus(x)


def _with_derivative(fn: Fn, derivative: Fn) -> Fn:
  """fn with ``derivative`` as its JVP: for the elementwise maps below whose
  autodiff would lose the derivative's relative precision (JAX
  differentiates expm1(x) as expm1(x) + 1, which is 0 once expm1(x) rounds
  to -1, and tanh as 1 - tanh^2)."""
  fn = jax.custom_jvp(fn)
  fn.defjvp(lambda primals, tangents: (fn(primals[0]), derivative(primals[0]) * tangents[0]))
  return fn


def _log_mean_exp1(v):
  """log((1 + e^v) / 2) = softplus(v) - log 2, to full relative precision:
  log1p(expm1(v) / 2) for v <= 0 and v + log1p(expm1(-v) / 2) above, where
  the plain difference would cancel near v = 0."""
  return jnp.maximum(v, 0.0) + jnp.log1p(0.5 * jnp.expm1(-jnp.abs(v)))


# Elementwise maps of the activations and fused conjugates, each with its
# exact derivative (``_with_derivative``).
_half_log_mean_exp1 = _with_derivative(lambda v: 0.5 * _log_mean_exp1(v),
                                       lambda v: 0.5 * jax.nn.sigmoid(v))
_one_minus_exp_neg = _with_derivative(lambda v: -jnp.expm1(-v), lambda v: jnp.exp(-v))
_expm1 = _with_derivative(jnp.expm1, jnp.exp)
_half_tanh = _with_derivative(  # d/dv tanh(v)/2 = 2 sigmoid(2v) sigmoid(-2v)
    lambda v: 0.5 * jnp.tanh(v), lambda v: 2.0 * jax.nn.sigmoid(2.0 * v) * jax.nn.sigmoid(-2.0 * v))


@jax.custom_jvp
def _jeffrey_log_w(t: Array) -> Array:
  """y = log W(e^{1-t}), the log of the principal Lambert W of e^{1-t}: the
  root of expm1(y) + y = -t (i.e. y + e^y = 1 - t; increasing and convex
  in y), written so that t near 0 keeps its relative precision.

  Newton's method from y0 = 1 - t (t >= 0) or log1p(-t) (t < 0), both right
  of the root, from where it converges monotonically; 12 steps reach float32
  and float64 precision over all of float32's range. Working in log space
  keeps y finite where W itself underflows (W(e^x) ~ e^x for x << 0).
  dy/dt = -1 / (1 + e^y) is a custom JVP, finite everywhere.
  """
  t = jnp.asarray(t)
  y0 = jnp.where(t < 0.0, jnp.log1p(-jnp.minimum(t, 0.0)), 1.0 - t)

  def newton(_, y):
    return y - (jnp.expm1(y) + y + t) / (1.0 + jnp.exp(y))

  return jax.lax.fori_loop(0, 12, newton, y0)


@_jeffrey_log_w.defjvp
def _jeffrey_log_w_jvp(primals, tangents):
  (t,), (dt,) = primals, tangents
  y = _jeffrey_log_w(t)
  return y, -jax.nn.sigmoid(-y) * dt


@jax.custom_jvp
def _jeffrey_conjugate(t: Array) -> Array:
  """Jeffrey's f*(t) for f(u) = (u - 1) log u.

  f'(u) = log u + 1 - 1/u = t has the root u* = 1/W(e^{1-t}); with
  y = log W(e^{1-t}) (so W = e^y = 1 - t - y),

      f*(t) = t u* - f(u*) = W + 1/W + t - 2 = e^{-y} - y - 1,

  the last form (as expm1(-y) - y, two terms of t's sign) free of the
  cancellation of W + t for t << 0 (f*(-1e8) = -19.42) and of overflow in
  1/W for t >> 0 (f*(t) ~ e^{t-1} + t - 2). Its derivative is u* = e^{-y}
  (custom JVP: finite wherever f* is, and so is its own derivative
  e^{-y} / (1 + e^y) = 1 / f''(u*)).
  """
  y = _jeffrey_log_w(t)
  return jnp.expm1(-y) - y


def _jeffrey_curvature(v: Array) -> Array:
  """f*''(v) = du*/dt = e^{-y} / (1 + e^y), y = log W(e^{1-v}) (g = identity)."""
  y = _jeffrey_log_w(v)
  return jnp.exp(-y) * jax.nn.sigmoid(-y)


@_jeffrey_conjugate.defjvp
def _jeffrey_conjugate_jvp(primals, tangents):
  (t,), (dt,) = primals, tangents
  y = _jeffrey_log_w(t)
  return jnp.expm1(-y) - y, jnp.exp(-y) * dt


# The built-in divergences, in the order names() lists them.
_BUILTIN = (
    Divergence(
        name="gan",
        # D_GAN = 2 JS - log 4 (Goodfellow et al. 2014); T = log D.
        f=lambda u: xlogy(u, u) - xlogy(u + 1.0, u + 1.0),
        conjugate=lambda t: -jnp.log1p(-jnp.exp(t)),
        activation=lambda v: -_softplus(-v),  # log sigmoid(v)
        conjugate_of_activation=_softplus,  # -log(1 - sigmoid(v))
        curvature=jax.nn.sigmoid,  # f*''(t) = e^t / (1 - e^t)^2, g' = 1 - D
        log_ratio=lambda v: v,  # D / (1 - D) = e^v
        f_prime_one=-_LOG2,
        conjugate_domain=(-_INF, 0.0),
    ),
    Divergence(
        name="js",
        # JS(P||Q) = 1/2 KL(P||M) + 1/2 KL(Q||M), M = (P+Q)/2; half the f-GAN
        # table's f(u) = u log u - (u+1) log((u+1)/2), which gives 2 JS.
        f=lambda u: 0.5 * (xlogy(u, u) - xlogy(u + 1.0, (u + 1.0) / 2.0)),
        conjugate=lambda t: -0.5 * jnp.log(2.0 - jnp.exp(2.0 * t)),
        activation=lambda v: -_half_log_mean_exp1(-v),  # (log 2 - softplus(-v)) / 2
        conjugate_of_activation=_half_log_mean_exp1,  # (softplus(v) - log 2) / 2
        curvature=lambda v: 0.5 * jax.nn.sigmoid(v),
        log_ratio=lambda v: v,  # f*'(t) = e^2t / (2 - e^2t), e^2t = 2 sigmoid(v)
        f_prime_one=0.0,
        conjugate_domain=(-_INF, 0.5 * _LOG2),
    ),
    Divergence(
        name="kl",
        # KL(P||Q) = E_P log(p/q): data first, mode covering (MLE direction).
        f=lambda u: xlogy(u, u),
        conjugate=lambda t: jnp.exp(t - 1.0),
        activation=lambda v: v,
        conjugate_of_activation=lambda v: jnp.exp(v - 1.0),
        curvature=lambda v: jnp.exp(v - 1.0),
        log_ratio=lambda v: v - 1.0,  # f*'(t) = e^(t - 1)
        f_prime_one=1.0,
        conjugate_domain=(-_INF, _INF),
    ),
    Divergence(
        name="reverse_kl",
        # KL(Q||P) = E_Q log(q/p): mode seeking.
        f=lambda u: -jnp.log(u),
        conjugate=lambda t: -1.0 - jnp.log(-t),
        activation=lambda v: -jnp.exp(-v),
        conjugate_of_activation=lambda v: v - 1.0,
        curvature=jnp.ones_like,  # f*''(t) = 1/t^2, g' = e^-v = -t
        log_ratio=lambda v: v,  # f*'(t) = -1/t, t = -e^-v
        f_prime_one=-1.0,
        conjugate_domain=(-_INF, 0.0),
    ),
    Divergence(
        name="pearson",
        # Pearson chi^2(P||Q) = E_Q (p/q - 1)^2. As in the f-GAN paper's
        # Table 6, f is taken on all of R, so f* is t^2/4 + t everywhere.
        f=lambda u: jnp.square(u - 1.0),
        conjugate=lambda t: t * (0.25 * t + 1.0),  # t^2/4 + t, exact near its root -4
        activation=lambda v: v,
        conjugate_of_activation=lambda v: v * (0.25 * v + 1.0),
        curvature=lambda v: jnp.full_like(v, 0.5),
        f_prime_one=0.0,
        conjugate_domain=(-_INF, _INF),
        f_domain=(-_INF, _INF),
    ),
    Divergence(
        name="neyman",
        # Neyman chi^2(P||Q) = E_P (q/p - 1)^2 = E_Q (1 - u)^2 / u.
        f=lambda u: jnp.square(1.0 - u) / u,
        conjugate=lambda t: 2.0 - 2.0 * jnp.sqrt(1.0 - t),
        activation=_one_minus_exp_neg,  # 1 - e^-v
        conjugate_of_activation=lambda v: 2.0 * _one_minus_exp_neg(0.5 * v),  # 2 - 2 e^{-v/2}
        curvature=lambda v: 0.5 * jnp.exp(-0.5 * v),  # f*'' = (1 - t)^(-3/2) / 2, 1 - t = e^-v
        log_ratio=lambda v: 0.5 * v,  # f*'(t) = (1 - t)^(-1/2)
        f_prime_one=0.0,
        conjugate_domain=(-_INF, 1.0),
    ),
    Divergence(
        name="squared_hellinger",
        # H^2(P,Q) = E_Q (sqrt(p/q) - 1)^2 = sum (sqrt p - sqrt q)^2 (no 1/2).
        f=lambda u: jnp.square(jnp.sqrt(u) - 1.0),
        conjugate=lambda t: t / (1.0 - t),
        activation=_one_minus_exp_neg,  # 1 - e^-v
        conjugate_of_activation=_expm1,  # e^v - 1
        curvature=lambda v: 2.0 * jnp.exp(v),  # f*'' = 2 / (1 - t)^3, 1 - t = e^-v
        log_ratio=lambda v: 2.0 * v,  # f*'(t) = (1 - t)^-2
        f_prime_one=0.0,
        conjugate_domain=(-_INF, 1.0),
    ),
    Divergence(
        name="jeffrey",
        # Jeffrey = KL(P||Q) + KL(Q||P); f* via Lambert W (_jeffrey_conjugate).
        f=lambda u: (u - 1.0) * jnp.log(u),
        conjugate=_jeffrey_conjugate,
        activation=lambda v: v,
        conjugate_of_activation=_jeffrey_conjugate,
        curvature=_jeffrey_curvature,
        log_ratio=lambda v: -_jeffrey_log_w(v),  # u* = 1 / W(e^(1 - t))
        f_prime_one=0.0,
        conjugate_domain=(-_INF, _INF),
    ),
    Divergence(
        name="total_variation",
        # TV(P,Q) = 1/2 sum |p - q|; f is not differentiable at 1, f'(1) is
        # the centre 0 of its subdifferential [-1/2, 1/2].
        f=lambda u: 0.5 * jnp.abs(u - 1.0),
        conjugate=lambda t: t,
        activation=_half_tanh,
        conjugate_of_activation=_half_tanh,
        curvature=jnp.zeros_like,
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
        curvature=jnp.zeros_like,
        f_prime_one=0.0,
        conjugate_domain=(-_INF, _INF),
        is_ipm=True,
    ),
)


_REGISTRY = {d.name: d for d in _BUILTIN}


def names() -> tuple[str, ...]:
  """Names of the divergences: the built-in ones, then any registered.

  Returns:
    The names, built-in ones first.
  """
  return tuple(_REGISTRY)


def register(div: Divergence) -> Divergence:
  """Make ``div`` (for example one from ``from_f``) available by its name to
  configs (config.divergence) and sweeps.

  Args:
    div: the Divergence; its name must be new.

  Returns:
    ``div``.

  Raises:
    ValueError: a different divergence has that name.
  """
  if div.name in _REGISTRY and _REGISTRY[div.name] is not div:
    raise ValueError(f"A divergence named {div.name!r} exists already.")
  _REGISTRY[div.name] = div
  return div


def get(name: str | Divergence) -> Divergence:
  """The divergence called ``name`` (a Divergence is returned unchanged).

  Args:
    name: a name of ``names()``, or a Divergence.

  Returns:
    The Divergence.

  Raises:
    ValueError: no divergence has that name; the message lists them.
  """
  if isinstance(name, Divergence):
    return name
  if name not in _REGISTRY:
    raise ValueError(
        f"Unknown divergence {name!r}. Valid names: {', '.join(names())}. "
        "A new one can be defined with fgan.divergences.from_f(...) or "
        "Divergence(...).")
  return _REGISTRY[name]


# Divergences defined from f alone.


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
           activation: Fn | None = None,
           conjugate_domain: tuple[float, float] | None = None) -> Divergence:
  """A divergence defined by a convex f with f(1) = 0 alone.

  f*(t) = t u*(t) - f(u*(t)) with u*(t) the root of f'(u) = t, solved
  numerically in float64 with its derivatives as custom JVPs
  (fgan.conjugate.numerical; f*(g_f(v)) fused, g_f evaluated in float64
  too). dom f* is the range of f', estimated from f' near the ends of f's
  domain or stated and then checked (fgan.conjugate.domain); unless given,
  g_f is picked by ``_activation_for``.

  Args:
    name: the divergence's name.
    f: convex function of an array u, written with jax.numpy, f(1) = 0.
    domain: the open interval where f is finite, default (0, inf).
    activation: optional g_f; must map R into dom f*.
    conjugate_domain: optional (lo, hi) of dom f*, for an f' that converges
      too slowly for the estimate (an alpha-divergence with alpha within
      0.003 of 1, say); checked against f'.

  Returns:
    The Divergence (not registered: ``register`` it to name it in configs).

  Raises:
    ValueError: f(1) != 0, 1 outside the domain, or a stated dom f* that f'
      contradicts.
  """
  lo, hi = float(domain[0]), float(domain[1])
  if not lo < 1.0 < hi:
    raise ValueError(f"The domain {domain} of f must contain 1 (f(1) = 0).")
  with jax.enable_x64(True):
    f1 = float(f(jnp.float64(1.0)))
    fprime_one = float(jax.grad(f)(jnp.float64(1.0)))
  if abs(f1) > 1e-6:
    raise ValueError(f"f(1) must be 0 for an f-divergence, got f(1) = {f1}. "
                     "Subtract the constant from f.")
  dom = conjugate.domain(f, lo, hi, conjugate_domain)
  g = activation or _activation_for(*dom)
  conjugate_fn, _ = conjugate.numerical(f, lo, hi)
  fused, fused_argmax = conjugate.numerical(f, lo, hi, g)

  def curvature(v):  # f*''(g(v)) g'(v)^2 = d u*(g(v))/dv * g'(v)
    ones = jnp.ones_like(v)
    return jax.jvp(fused_argmax, (v,), (ones,))[1] * jax.jvp(g, (v,), (ones,))[1]

  return Divergence(name=name, f=f, conjugate=conjugate_fn, activation=g,
                    conjugate_of_activation=fused,
                    f_prime_one=fprime_one, conjugate_domain=dom,
                    f_domain=(lo, hi), curvature=curvature,
                    log_ratio=lambda v: jnp.log(fused_argmax(v)))
