"""The math contract of fgan.divergences (issue 2, points 1, 2 and 7)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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
  with jax.experimental.enable_x64():
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
  with jax.experimental.enable_x64():  # strictly inside, where float64 resolves it
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
  with jax.experimental.enable_x64():
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
