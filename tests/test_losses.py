"""The f-GAN losses, the penalties and variational estimation."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fgan import divergences as divs
from fgan import estimation
from fgan import information as info
from fgan import losses


def _bce_with_logits(logits, label):
  return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)))


def test_gan_losses_equal_seed_003_bce():
  key_r, key_f = jax.random.split(jax.random.key(0))
  v_real = 5 * jax.random.normal(key_r, (256,))
  v_fake = 5 * jax.random.normal(key_f, (256,))
  d_loss = _bce_with_logits(v_real, 1.0) + _bce_with_logits(v_fake, 0.0)
  g_loss = _bce_with_logits(v_fake, 1.0)
  np.testing.assert_allclose(losses.critic_loss("gan", v_real, v_fake), d_loss, rtol=1e-6)
  np.testing.assert_allclose(losses.generator_loss("gan", v_fake, "nonsaturating"),
                             g_loss, rtol=1e-6)
  # minimax: minimise E log(1 - D(G(z))) = -E softplus(v).
  np.testing.assert_allclose(losses.generator_loss("gan", v_fake, "minimax"),
                             -jnp.mean(jax.nn.softplus(v_fake)), rtol=1e-6)


def test_critic_and_generator_signs():
  v_real, v_fake = jnp.array([1.0, 2.0]), jnp.array([-1.0, 0.5])
  for name in divs.names():
    f = losses.divergence_estimate(name, v_real, v_fake)
    np.testing.assert_allclose(losses.critic_loss(name, v_real, v_fake), -f)
    # The minimax generator loss is F minus its P-term, which theta cannot move.
    div = divs.get(name)
    np.testing.assert_allclose(
        losses.generator_loss(name, v_fake, "minimax"),
        f - jnp.mean(div.activation(v_real)), rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="nonsaturating"):
    losses.generator_loss("gan", v_fake, "saturating")


@pytest.mark.parametrize("name", divs.names())
@pytest.mark.parametrize("mode", losses.GENERATOR_LOSS_MODES)
def test_losses_and_gradients_finite_for_large_outputs(name, mode):
  bound = 100.0 if name in ("gan", "js") else 30.0
  v = jnp.linspace(-bound, bound, 801, dtype=jnp.float32)
  for fn in (lambda v: losses.critic_loss(name, v, v[::-1]),
             lambda v: losses.generator_loss(name, v, mode)):
    value, grad = jax.value_and_grad(fn)(v)
    assert np.isfinite(value) and np.all(np.isfinite(grad))


def test_output_penalty_is_half_weighted_second_moments():
  v_real, v_fake = jnp.array([1.0, -3.0]), jnp.array([2.0, 0.0, 4.0])
  expected = 0.5 * 0.1 * ((1 + 9) / 2 + (4 + 0 + 16) / 3)
  np.testing.assert_allclose(losses.output_penalty(v_real, v_fake, 0.1), expected, rtol=1e-6)
  assert losses.output_penalty(v_real, v_fake, 0.0) == 0.0


def test_gradient_penalty_of_linear_critic_is_exact():
  w = jnp.array([[0.3, -1.7], [2.0, 0.1]])  # any input shape: (B, 2, 2)
  critic = lambda x: jnp.einsum("bij,ij->b", x, w)
  k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
  real, fake = jax.random.normal(k1, (16, 2, 2)), jax.random.normal(k2, (16, 2, 2))
  gp = losses.gradient_penalty(critic, real, fake, losses.interpolation_weights(k3, 16),
                               weight=10.0)
  expected = 10.0 * (jnp.linalg.norm(w) - 1.0)**2
  np.testing.assert_allclose(gp, expected, rtol=1e-5)


def test_gradient_penalty_interpolates_per_example():
  # A critic V(x) = x^2/2 has gradient x_hat; with real = 1 and fake = 0 the
  # norm is e_i itself, so the penalty reveals the per-example draws.
  key = jax.random.key(3)
  real, fake = jnp.ones((512, 1)), jnp.zeros((512, 1))
  eps = losses.interpolation_weights(key, 512)
  gp = losses.gradient_penalty(lambda x: 0.5 * x[:, 0]**2, real, fake, eps, weight=1.0)
  # The norm is e_i itself: the penalty is the mean of (e_i - 1)^2 exactly,
  # E[(e - 1)^2] = 1/3 for e ~ U[0, 1]; a single shared e would rarely land near it.
  np.testing.assert_allclose(gp, np.mean((np.asarray(eps) - 1.0)**2), rtol=1e-5)
  assert float(gp) == pytest.approx(1 / 3, abs=0.04)
  with pytest.raises(ValueError, match="shape"):
    losses.gradient_penalty(lambda x: x[:, 0], real, fake[:3], eps)
  with pytest.raises(ValueError, match="one interpolation weight per example"):
    losses.gradient_penalty(lambda x: x[:, 0], real, fake, eps[:3])


def test_r1_penalty_is_zero_centred_on_real_data_only():
  # V(x) = x^2/2 has gradient x: R1 = weight/2 E_P[x^2], whatever the fakes.
  real = jax.random.normal(jax.random.key(4), (64, 3))
  critic = lambda x: 0.5 * jnp.sum(x**2, axis=1)
  r1 = losses.gradient_penalty(critic, real, jnp.zeros_like(real), weight=4.0, kind="r1")
  np.testing.assert_allclose(r1, 2.0 * jnp.mean(jnp.sum(real**2, axis=1)), rtol=1e-6)
  assert losses.gradient_penalty(critic, real, real + 5.0, weight=4.0, kind="r1") == r1
  with pytest.raises(ValueError, match="kind"):
    losses.gradient_penalty(critic, real, real, kind="r2")


# Variational estimation converges to the exact divergence ---------------------

P_MEAN, P_STD, Q_MEAN, Q_STD = 0.0, 1.0, 1.0, 1.2


def _exact(div):
  x = np.linspace(-15, 15, 200_001)
  return info.f_divergence_density(
      div, lambda x: info.normal_log_pdf(x, P_MEAN, P_STD),
      lambda x: info.normal_log_pdf(x, Q_MEAN, Q_STD), x)


def test_quadrature_matches_closed_form_kl():
  assert _exact("kl") == pytest.approx(float(info.kl_normal(P_MEAN, P_STD, Q_MEAN, Q_STD)), rel=1e-6)


def _estimate(div, **kw):
  return estimation.estimate_divergence(
      div, estimation.normal_sampler(P_MEAN, P_STD),
      estimation.normal_sampler(Q_MEAN, Q_STD), jax.random.key(0), **kw)


@pytest.mark.parametrize("name", ["kl", "reverse_kl", "js", "gan", "pearson",
                                  "squared_hellinger", "jeffrey", "total_variation"])
def test_variational_estimate_converges(name):
  exact = _exact(name)
  assert _estimate(name) == pytest.approx(exact, rel=0.05)


@pytest.mark.parametrize("name", ["kl", "reverse_kl", "js"])
def test_variational_estimate_converges_for_divergence_from_f(name):
  derived = divs.from_f(name + "_from_f", divs.get(name).f)
  assert _estimate(derived) == pytest.approx(_exact(name), rel=0.05)


def test_wasserstein_with_gradient_penalty_estimates_w1():
  est = estimation.estimate_divergence(
      "wasserstein", estimation.normal_sampler(0.0, 1.0),
      estimation.normal_sampler(1.5, 1.0), jax.random.key(0),
      gradient_penalty=10.0)
  assert est == pytest.approx(1.5, rel=0.10)
