"""The math contract of fgan.divergences: every f, f*, g_f and fused
f*(g_f(v)) against closed forms, over float32's whole range, and from_f."""

import hypothesis
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.special

from fgan import divergences as divs
from fgan import information as info

F_DIVERGENCES = [n for n in divs.names() if not divs.get(n).is_ipm]


def _interior_t(div, n=41):
  lo, hi = div.conjugate_domain
  lo = max(lo, -4.0)
  hi = min(hi, 4.0)
  pad = 0.02 * (hi - lo)
  return np.linspace(lo + pad, hi - pad, n)


def test_names_and_unknown_name_lists_valid_names():
  for required in ["gan", "js", "kl", "reverse_kl", "pearson", "neyman",
                   "squared_hellinger", "jeffrey", "total_variation",
                   "wasserstein"]:
    assert required in divs.names()
  with pytest.raises(ValueError, match="kl, reverse_kl"):
    divs.get("kll")


@pytest.mark.parametrize("name", divs.names())
def test_f_at_one(name):
  expected = -np.log(4.0) if name == "gan" else 0.0
  assert float(divs.get(name).f(jnp.float32(1.0))) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("name", F_DIVERGENCES)
def test_f_convex_on_grid(name):
  u = np.linspace(0.05, 8.0, 400)
  fu = np.asarray(divs.get(name).f(jnp.asarray(u)), np.float64)
  second = fu[2:] - 2 * fu[1:-1] + fu[:-2]
  assert np.all(second >= -1e-5 * np.maximum(1.0, np.abs(fu[1:-1])))


@pytest.mark.parametrize("name", F_DIVERGENCES)
def test_conjugate_matches_numerical_sup(name):
  div = divs.get(name)
  u = np.concatenate([np.linspace(1e-6, 1, 20001), np.linspace(1, 400, 400001)])
  if div.f_domain[0] == -np.inf:
    u = np.concatenate([-u[::-1], u])
  with jax.enable_x64(True):
    fu = np.asarray(div.f(jnp.asarray(u)))
  t = _interior_t(div)
  sup = np.max(t[:, None] * u[None, :] - fu[None, :], axis=1)
  np.testing.assert_allclose(np.asarray(div.conjugate(jnp.asarray(t, jnp.float32))),
                             sup, rtol=2e-4, atol=2e-4)


def test_wasserstein_conjugate_is_identity():
  t = jnp.linspace(-5, 5, 11)
  np.testing.assert_array_equal(divs.get("wasserstein").conjugate(t), t)


@pytest.mark.parametrize("name", divs.names())
def test_activation_maps_reals_into_conjugate_domain(name):
  div = divs.get(name)
  lo, hi = div.conjugate_domain
  with jax.enable_x64(True):  # strictly inside, where float64 resolves it
    g = np.asarray(div.activation(jnp.linspace(-15.0, 15.0, 3001)))
  assert np.all(g > lo) and np.all(g < hi)
  # In float32 the ends of the range may round onto the boundary; f*(g(v)) is
  # computed fused and stays finite there.
  v = jnp.linspace(-30.0, 30.0, 2001)
  g = np.asarray(div.activation(v))
  assert np.all(g >= lo) and np.all(g <= hi)
  assert np.all(np.isfinite(div.conjugate_of_activation(v)))
  # Where f*(g(v)) is computed fused, it equals the composition.
  inner = jnp.linspace(-8.0, 8.0, 101)
  np.testing.assert_allclose(div.conjugate_of_activation(inner),
                             div.conjugate(div.activation(inner)),
                             rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", F_DIVERGENCES)
def test_f_prime_one(name):
  div = divs.get(name)
  h = 1e-4
  with jax.enable_x64(True):
    fd = (div.f(jnp.float64(1 + h)) - div.f(jnp.float64(1 - h))) / (2 * h)
  assert div.f_prime_one == pytest.approx(float(fd), abs=1e-6)


def _random_pq(seed, k=6):
  rng = np.random.default_rng(seed)
  p, q = rng.random(k) + 0.01, rng.random(k) + 0.01
  return p / p.sum(), q / q.sum()


def _kl(p, q):
  return float(np.sum(p * np.log(p / q)))


TEXTBOOK = {
    "kl": lambda p, q: _kl(p, q),
    "reverse_kl": lambda p, q: _kl(q, p),
    "js": lambda p, q: 0.5 * _kl(p, (p + q) / 2) + 0.5 * _kl(q, (p + q) / 2),
    "gan": lambda p, q: _kl(p, (p + q) / 2) + _kl(q, (p + q) / 2) - np.log(4),
    "total_variation": lambda p, q: 0.5 * np.abs(p - q).sum(),
    "squared_hellinger": lambda p, q: np.sum((np.sqrt(p) - np.sqrt(q))**2),
    "pearson": lambda p, q: np.sum((p - q)**2 / q),
    "neyman": lambda p, q: np.sum((p - q)**2 / p),
    "jeffrey": lambda p, q: _kl(p, q) + _kl(q, p),
}


@pytest.mark.parametrize("name", sorted(TEXTBOOK))
@pytest.mark.parametrize("seed", range(3))
def test_f_divergence_equals_named_divergence(name, seed):
  p, q = _random_pq(seed)
  got = float(info.f_divergence(name, p, q))
  assert got == pytest.approx(TEXTBOOK[name](p, q), rel=1e-5, abs=1e-6)
  if name == "js":
    assert got <= np.log(2)


def test_js_of_disjoint_supports_is_log2():
  p, q = np.array([0.5, 0.5, 0, 0]), np.array([0, 0, 0.5, 0.5])
  assert float(info.f_divergence("js", p, q)) == pytest.approx(np.log(2), rel=1e-6)
  assert float(info.f_divergence("kl", p, q)) == np.inf
  assert float(info.f_divergence("reverse_kl", p, q)) == np.inf


# Divergences defined from f alone -------------------------------------------------


@pytest.mark.parametrize("name", ["kl", "reverse_kl", "js"])
def test_from_f_reproduces_builtin_conjugates(name):
  builtin = divs.get(name)
  derived = divs.from_f(name + "_from_f", builtin.f)
  t = jnp.asarray(_interior_t(builtin, 101), jnp.float32)
  np.testing.assert_allclose(derived.conjugate(t), builtin.conjugate(t),
                             rtol=1e-5, atol=1e-5)
  # The derivative d f*/dt (implicit rule) matches the closed form's too.
  grad_derived = jax.vmap(jax.grad(derived.conjugate))(t)
  grad_builtin = jax.vmap(jax.grad(builtin.conjugate))(t)
  np.testing.assert_allclose(grad_derived, grad_builtin, rtol=1e-4, atol=1e-5)
  assert derived.f_prime_one == pytest.approx(builtin.f_prime_one, abs=1e-6)


def test_from_f_works_under_jit_and_picks_an_activation_into_domain():
  derived = divs.from_f("rkl", lambda u: -jnp.log(u))
  lo, hi = derived.conjugate_domain
  assert lo == -np.inf and -1e-3 < hi <= 0.0
  v = jnp.linspace(-30, 30, 101)
  out = jax.jit(derived.conjugate_of_activation)(v)
  assert np.all(np.isfinite(out))
  assert np.all(np.asarray(derived.activation(v)) < hi)


def test_from_f_rejects_f_not_zero_at_one():
  with pytest.raises(ValueError, match="f\\(1\\) must be 0"):
    divs.from_f("bad", lambda u: u * jnp.log(u) + 1.0)


# f*(g_f(v)) over all of float32's range ---------------------------------------

# f*(g_f(v)) and its derivative in v, float64, written from the definitions
# (the conjugates of Nowozin et al.'s Table 6 composed with their
# activations, Jeffrey's through scipy's Wright omega w(x) = W(e^x)).
_sig = scipy.special.expit
_COMPOSED = {
    "gan": (lambda v: np.logaddexp(0.0, v), _sig),
    "js": (lambda v: 0.5 * (np.logaddexp(0.0, v) - np.log(2.0)), lambda v: 0.5 * _sig(v)),
    "kl": (lambda v: np.exp(v - 1.0), lambda v: np.exp(v - 1.0)),
    "reverse_kl": (lambda v: v - 1.0, np.ones_like),
    "pearson": (lambda v: 0.25 * v * v + v, lambda v: 0.5 * v + 1.0),
    "neyman": (lambda v: 2.0 - 2.0 * np.exp(-0.5 * v), lambda v: np.exp(-0.5 * v)),
    "squared_hellinger": (np.expm1, np.exp),
    "jeffrey": (lambda v: (scipy.special.wrightomega(1.0 - v)
                           + 1.0 / scipy.special.wrightomega(1.0 - v) + v - 2.0),
                lambda v: 1.0 / scipy.special.wrightomega(1.0 - v)),
    "total_variation": (lambda v: 0.5 * np.tanh(v), lambda v: 0.5 / np.cosh(v)**2),
    "wasserstein": (lambda v: v, np.ones_like),
}
_V = np.unique(np.concatenate([np.linspace(-1e4, 1e4, 20001), np.linspace(-100, 100, 20001),
                               np.geomspace(1e-6, 1e4, 2001), -np.geomspace(1e-6, 1e4, 2001)])
               ).astype(np.float32)


def _close_where_finite(got, ref, what, x=None, atol=0.0):
  """got (float32) equals ref (float64) within 1e-4 relative (or ``atol``)
  wherever ref is
  finite in float32 (NaN nowhere), or is 0 where ref is within a factor 16
  of float32's smallest normal number (XLA flushes smaller intermediates to
  0); where ref overflows
  float32, got is inf of ref's sign."""
  x = _V if x is None else x
  got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
  assert not np.any(np.isnan(got)), what
  finite = np.isfinite(ref) & (np.abs(ref) < np.finfo(np.float32).max)
  tiny = np.finfo(np.float32).tiny
  err = np.maximum(np.abs(got[finite] - ref[finite]) - atol, 0.0) / np.maximum(
      np.abs(ref[finite]), tiny)
  err[(np.abs(ref[finite]) < 16 * tiny) & (np.abs(got[finite]) < 16 * tiny)] = 0.0
  worst = int(np.argmax(err)) if err.size else 0
  assert err.size == 0 or err[worst] < 1e-4, (
      f"{what}: relative error {err[worst]:.2e} at {x[finite][worst]}: "
      f"{got[finite][worst]} vs {ref[finite][worst]}")
  assert np.all(np.isinf(got[~finite]) & (np.sign(got[~finite]) == np.sign(ref[~finite]))), what


@pytest.mark.parametrize("name", divs.names())
def test_conjugate_of_activation_and_gradient_over_float32_range(name):
  div = divs.get(name)
  value, grad = jax.jit(jax.vmap(jax.value_and_grad(div.conjugate_of_activation)))(_V)
  with np.errstate(over="ignore", divide="ignore"):
    ref_value, ref_grad = (fn(_V.astype(np.float64)) for fn in _COMPOSED[name])
  _close_where_finite(value, ref_value, f"{name} f*(g(v))")
  _close_where_finite(grad, ref_grad, f"{name} d/dv f*(g(v))")


def test_jeffrey_conjugate_at_the_extremes():
  # The audit's cases: f*(-1e8) = -19.42 (not +30), and f*'(45) = u*(45) =
  # 1/W(e^-44) ~ 1.3e19 (not inf); both finite up to v = 88.
  jeffrey = divs.get("jeffrey")
  assert float(jeffrey.conjugate(jnp.float32(-1e8))) == pytest.approx(-19.4207, rel=1e-4)
  grad = jax.grad(jeffrey.conjugate_of_activation)
  assert float(grad(jnp.float32(45.0))) == pytest.approx(
      1.0 / scipy.special.wrightomega(-44.0), rel=1e-5)
  assert np.isfinite(float(grad(jnp.float32(88.0))))
  assert np.isfinite(float(jax.grad(grad)(jnp.float32(88.0))))


# from_f against closed forms --------------------------------------------------


def _alpha(a):
  """The alpha-divergence's f (Amari; Cichocki & Amari 2010):
  f(u) = (u^a - 1 - a (u - 1)) / (a (a - 1)), f'(u) = (u^(a-1) - 1)/(a - 1),
  so dom f* ends at 1/(1 - a) (above for a < 1, below for a > 1) and
  u*(t) = (1 + (a - 1) t)^(1/(a-1))."""
  return (lambda u: (u**a - 1.0 - a * (u - 1.0)) / (a * (a - 1.0)),
          (-np.inf, 1 / (1 - a)) if a < 1 else (1 / (1 - a), np.inf),
          lambda t: (1.0 + (a - 1.0) * t)**(1.0 / (a - 1.0)))


_FAMILY = {f"alpha={a}": _alpha(a) for a in (-1, 0.3, 0.5, 0.8, 0.9, 0.99, 1.1, 1.5, 3)}
_FAMILY.update({
    "kl": (lambda u: u * jnp.log(u), (-np.inf, np.inf), lambda t: np.exp(t - 1.0)),
    "js": (divs.get("js").f, (-np.inf, 0.5 * np.log(2)),
           lambda t: np.exp(2 * t) / (2.0 - np.exp(2 * t))),
    "pearson": (lambda u: (u - 1.0)**2, (-2.0, np.inf), lambda t: 1.0 + 0.5 * t),
})


def _family_ts(f):
  """t = f'(u) for u from 1e-30 to 1e30 (so u* spans float32's range; t
  stops at -1e4 below), evenly in log u and evenly in t."""
  with jax.enable_x64(True):
    t = np.asarray(jax.vmap(jax.grad(f))(jnp.geomspace(1e-30, 1e30, 301)))
  t = t[t > -1e4]
  return np.concatenate([t, np.linspace(max(t[0], -1e4), t[-1], 300)])


@pytest.mark.parametrize("name", sorted(_FAMILY))
def test_from_f_matches_closed_forms_over_dom_f_star(name):
  f, dom, u_star = _FAMILY[name]
  div = divs.from_f(name, f)
  np.testing.assert_allclose(div.conjugate_domain, dom, rtol=1e-6)
  t32 = np.asarray(_family_ts(f), np.float32)
  with jax.enable_x64(True):
    t64 = jnp.asarray(t32, jnp.float64)  # the float32 inputs, exactly
    with np.errstate(all="ignore"):
      u = np.array(u_star(np.asarray(t64)))
      ref = np.array(t64 * u - f(jnp.asarray(u)))
  # t rounded to float32 past the end of dom f* has u* < 0 or NaN: f* = +inf.
  # (At an end itself f* is a limit, finite or not: not compared.)
  outside = ~(u > 0)
  ref[outside], u[outside] = np.inf, np.inf
  inside = (t32 != np.float32(dom[0])) & (t32 != np.float32(dom[1]))
  value, grad = jax.jit(jax.vmap(jax.value_and_grad(div.conjugate)))(jnp.asarray(t32[inside]))
  # The reference t u - f(u) itself cancels to ~1e-16 where u* ~ 1 (t ~ 0).
  _close_where_finite(value, ref[inside], f"{name} f*(t)", t32[inside], atol=1e-13)
  _close_where_finite(grad, u[inside], f"{name} f*'(t)", t32[inside])
  # Past the end of dom f*, or where u* leaves float32's range: +inf.
  beyond = [dom[1] + 1.0] if np.isfinite(dom[1]) else [200.0 if name == "kl" else 1e30]
  assert np.all(np.isinf(jax.vmap(div.conjugate)(jnp.asarray(beyond, jnp.float32))))


def test_from_f_fused_activation_keeps_the_distance_to_the_end():
  # g(v) = hi - softplus(-v) rounds onto hi in float32 for v > 17, where the
  # composition f*(g(v)) is +inf; the fused f*(g(v)) evaluates g in float64
  # and stays exact up to where float64's f' no longer resolves hi - t
  # (from v ~ 23 for this f).
  div = divs.from_f("js_from_f", divs.get("js").f)
  v = np.linspace(-20.0, 20.0, 81)
  assert np.isinf(float(div.conjugate(div.activation(jnp.float32(20.0)))))
  # JS's f*(t) = -log(2 - e^{2t}) / 2 with 2t - log 2 = -2 softplus(-v), float64
  ref = -0.5 * np.log(-2.0 * np.expm1(-2.0 * np.logaddexp(0.0, -v)))
  got = jax.vmap(div.conjugate_of_activation)(jnp.asarray(v, jnp.float32))
  np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_from_f_stated_conjugate_domain_is_checked():
  f, dom, _ = _alpha(0.999)  # converges like u^-0.001: too slow to see
  assert divs.from_f("a", f).conjugate_domain == (-np.inf, np.inf)
  assert divs.from_f("a", f, conjugate_domain=dom).conjugate_domain == dom
  f9, dom9, _ = _alpha(0.9)
  with pytest.raises(ValueError, match="contradicted: f' reaches"):
    divs.from_f("a", f9, conjugate_domain=(-np.inf, 5.0))
  with pytest.raises(ValueError, match="contradicted: f' converges to 10"):
    divs.from_f("a", f9, conjugate_domain=(-np.inf, np.inf))


# Fenchel-Young and f*' = (f')^-1, as properties ------------------------------

_SMOOTH = [n for n in F_DIVERGENCES if n != "total_variation"]


@pytest.mark.parametrize("name", _SMOOTH)
@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(u=st.floats(1e-3, 1e3), s=st.floats(-20.0, 20.0))
def test_fenchel_young_and_inverse_derivative(name, u, s):
  """f(u) + f*(t) >= t u for every u in dom f and t in dom f*, with equality
  exactly at t = f'(u), where d f*/dt = u (f*' is the inverse of f')."""
  div = divs.get(name)
  with jax.enable_x64(True):
    t = div.activation(jnp.float64(s))  # any point of dom f*
    lhs = float(div.f(jnp.float64(u)) + div.conjugate(t))
    assert lhs >= float(t) * u - 1e-9 * (1 + abs(float(t) * u))
    t_u = jax.grad(div.f)(jnp.float64(u))
    gap = float(div.f(jnp.float64(u)) + div.conjugate(t_u) - t_u * u)
    assert abs(gap) <= 1e-8 * (1 + abs(float(t_u) * u))
    assert float(jax.grad(div.conjugate)(t_u)) == pytest.approx(u, rel=1e-7)


@pytest.mark.parametrize("name", divs.names())
def test_curvature_is_f_star_second_derivative_times_activation_slope_squared(name):
  """curvature(v) = f*''(g(v)) g'(v)^2, against autodiff of the unfused
  definitions in float64 where they are well conditioned (|v| <= 8)."""
  div = divs.get(name)
  v = np.linspace(-8.0, 8.0, 161)
  with jax.enable_x64(True):
    vv = jnp.asarray(v)
    second = jax.vmap(jax.grad(jax.grad(div.conjugate)))(div.activation(vv))
    slope = jax.vmap(jax.grad(div.activation))(vv)
    expected = np.asarray(second * slope**2)
  np.testing.assert_allclose(div.curvature(jnp.asarray(v, jnp.float32)), expected,
                             rtol=1e-4, atol=1e-6)


def test_from_f_curvature_matches_the_builtin():
  derived = divs.from_f("kl_again", divs.get("kl").f)
  v = jnp.linspace(-8.0, 8.0, 33)
  # from_f picks g = identity for KL's dom f* = R, as the built-in does.
  np.testing.assert_allclose(derived.curvature(v), divs.get("kl").curvature(v), rtol=1e-4)


@pytest.mark.parametrize("name", [n for n in divs.names() if divs.get(n).log_ratio])
def test_log_ratio_is_log_of_the_conjugate_slope_and_exact_at_the_optimal_critic(name):
  """log_ratio(v) = log f*'(g(v)) (autodiff, float64), and at the optimal
  critic g(V*) = f'(r) it returns log r."""
  div = divs.get(name)
  v = np.linspace(-8.0, 8.0, 161)
  with jax.enable_x64(True):
    slope = jax.vmap(jax.grad(div.conjugate))(div.activation(jnp.asarray(v)))
    np.testing.assert_allclose(div.log_ratio(jnp.asarray(v)), np.log(slope),
                               rtol=1e-6, atol=1e-9)
    r = jnp.geomspace(0.05, 20.0, 41)
    t_star = jax.vmap(jax.grad(div.f))(r)  # f'(r), inside dom f*
    v_star = _inverse(div.activation, t_star)
    np.testing.assert_allclose(div.log_ratio(v_star), np.log(r), atol=1e-6)


def _inverse(fn, y, lo=-60.0, hi=60.0):
  """x with fn(x) = y elementwise for an increasing fn, by bisection (in
  the dtype of y)."""
  lo, hi = jnp.full_like(y, lo), jnp.full_like(y, hi)
  for _ in range(200):
    mid = 0.5 * (lo + hi)
    below = fn(mid) < y
    lo, hi = jnp.where(below, mid, lo), jnp.where(below, hi, mid)
  return 0.5 * (lo + hi)


def test_log_ratio_of_from_f_matches_the_builtin_and_is_refused_where_absent():
  derived = divs.from_f("kl_again", divs.get("kl").f)  # g = identity, as the built-in's
  v = jnp.linspace(-6.0, 6.0, 25)
  np.testing.assert_allclose(derived.log_ratio(v), divs.get("kl").log_ratio(v),
                             rtol=1e-4, atol=1e-5)
  from configs import base
  from fgan import errors, losses
  c = base.get_base_config()
  c.divergence, c.generator_loss = "pearson", "log_ratio"
  with pytest.raises(errors.ConfigError, match="does not give"):
    losses.check(c)
