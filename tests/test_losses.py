"""The f-GAN losses, the penalties and variational estimation."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fgan import divergences as divs
from fgan.evaluation import estimation
from fgan import information as info
from fgan import losses


def _bce_with_logits(logits, label):
  return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)))


def test_gan_losses_equal_the_vanilla_gan_bce():
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
  if mode == "log_ratio" and divs.get(name).log_ratio is None:
    with pytest.raises(ValueError, match="no density ratio"):
      losses.generator_loss(name, jnp.zeros(3), mode)
    return
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


def test_bounded_output_is_c_tanh_v_over_c_in_value_and_gradient():
  v = jnp.array([-50.0, -3.0, -0.1, 0.0, 0.2, 4.0, 1e4])
  value, grad = jax.vmap(jax.value_and_grad(lambda x: losses.bounded_output(x, 2.0)))(v)
  np.testing.assert_allclose(value, 2.0 * np.tanh(np.asarray(v) / 2.0), rtol=1e-6)
  np.testing.assert_allclose(grad, 1.0 / np.cosh(np.asarray(v, np.float64) / 2.0) ** 2,
                             rtol=1e-5, atol=1e-12)
  assert losses.bounded_output(v, 0.0) is v  # off: V itself, no operation
  np.testing.assert_allclose(losses.bounded_output(jnp.array(0.01), 2.0), 0.01, rtol=1e-4)


def test_bounded_critic_keeps_neyman_finite_where_supports_are_disjoint():
  # A critic that rejects generated points ever more strongly (V -> -inf on
  # Q): Neyman's F = E_P[1 - e^-V] - E_Q[2 - 2 e^{-V/2}] grows without
  # bound, its gradient too; bounded at c it tends to F at V_fake = -c.
  objective = lambda c: losses.CriticObjective(divs.get("neyman"), output_bound=c)
  v_fn = lambda scale: (lambda x: scale * x)  # real x = +1, fake x = -1
  real, fake = jnp.ones(4), -jnp.ones(4)
  free = [-objective(0.0)(v_fn(s), real, fake)[0] for s in (10.0, 40.0, 80.0)]
  assert free[0] < free[1] < free[2] and free[2] > 1e16
  bounded = [objective(2.0)(v_fn(s), real, fake)[0] for s in (10.0, 40.0, 80.0, 1e4)]
  limit = -((1 - np.exp(-2.0)) - (2 - 2 * np.exp(1.0)))  # loss -F at V = +2 on P, -2 on Q
  np.testing.assert_allclose(bounded[-1], limit, rtol=1e-6)
  assert np.all(np.abs(np.diff(bounded)) < 0.1) and np.all(np.asarray(bounded) >= limit - 1e-6)
  grad = jax.grad(lambda s: objective(2.0)(v_fn(s), real, fake)[0])(1e3)
  assert np.isfinite(grad) and abs(grad) < 1e-6


def test_reverse_kl_nonsaturating_gradient_explodes_where_log_ratio_stays_bounded():
  """Why reverse KL's recipe uses the log_ratio generator loss: with g(v) =
  -e^-v, the nonsaturating loss -E_Q[g(V)] = E_Q[e^-V] has gradient -e^-V / n
  per sample, which grows without bound where the critic rejects generated
  points (V -> -inf); log r = -V is linear, so its gradient is -1 / n
  everywhere."""
  v = jnp.array([-80.0, -40.0, -1.0, 0.0, 3.0])
  n = v.shape[0]
  ns = jax.grad(lambda x: losses.generator_loss("reverse_kl", x, "nonsaturating"))(v)
  np.testing.assert_allclose(ns, -np.exp(-np.asarray(v, np.float64)) / n, rtol=1e-5)
  assert ns[0] < -1e30 and not np.isfinite(float(jax.grad(
      lambda x: losses.generator_loss("reverse_kl", x, "nonsaturating"))(jnp.array([-100.0]))[0]))
  lr = jax.grad(lambda x: losses.generator_loss("reverse_kl", x, "log_ratio"))(v)
  np.testing.assert_allclose(lr, np.full(n, -1.0 / n), rtol=1e-6)


def test_output_penalty_pulls_a_saturated_bounded_critic_out_of_the_tail():
  """A bounded critic whose raw V sits deep in tanh's flat tail on every
  point (a grid run of Neyman reached V = +c everywhere by step 300 and
  stayed) gets no gradient from -F; the output penalty on the raw V gives
  it w (E_P[V] + E_Q[V]) per unit shift of V, towards 0."""
  real, fake = jnp.ones(4), -jnp.ones(4)

  def grad(penalty):
    objective = losses.CriticObjective(divs.get("neyman"), output_bound=3.0,
                                       output_penalty=penalty)
    return jax.grad(lambda b: objective(lambda x: 0.1 * x + b, real, fake)[0])(30.0)
  assert abs(grad(0.0)) < 1e-6
  np.testing.assert_allclose(grad(1e-2), 1e-2 * (30.1 + 29.9), rtol=1e-4)


def test_pack_concatenates_consecutive_examples_along_the_last_axis():
  x = jnp.arange(6 * 2 * 2 * 3, dtype=jnp.float32).reshape(6, 2, 2, 3)  # (B, H, W, C)
  packed = losses.pack(x, 3)
  assert packed.shape == (2, 2, 2, 9) == (2,) + losses.packed_shape((2, 2, 3), 3)
  for j in range(2):  # packed example j is examples 3j, 3j+1, 3j+2 side by side in C
    np.testing.assert_array_equal(packed[j], np.concatenate(np.asarray(x[3 * j:3 * j + 3]), -1))
  vectors = jnp.arange(8.0).reshape(4, 2)  # toy data (B, D): [x_0, x_1], [x_2, x_3]
  np.testing.assert_array_equal(losses.pack(vectors, 2), [[0, 1, 2, 3], [4, 5, 6, 7]])
  assert losses.pack(x, 1) is x and losses.packed_shape((2, 2, 3), 1) == (2, 2, 3)


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


# Roth et al.'s regulariser ----------------------------------------------------

_ROTH_DIVS = [n for n in divs.names() if not divs.get(n).is_ipm]


def _tiny_critic(key):
  """A 2-16-1 tanh MLP: (params, V(params, x))."""
  k1, k2 = jax.random.split(key)
  params = {"w1": jax.random.normal(k1, (2, 16)), "w2": 0.3 * jax.random.normal(k2, (16,))}
  return params, lambda p, x: jnp.tanh(x @ p["w1"]) @ p["w2"]


@pytest.mark.parametrize("name", _ROTH_DIVS)
def test_roth_regularizer_is_its_formula_in_value_and_gradient(name):
  div = divs.get(name)
  params, v = _tiny_critic(jax.random.key(5))
  real, fake = jax.random.normal(jax.random.key(6), (2, 32, 2))
  def formula(p):  # E_Q[f*''(psi) |grad psi|^2], psi = g_f(V), one example at a time
    psi = lambda x: div.activation(v(p, x[None])[0])
    t = jax.vmap(psi)(fake)
    f_star_2 = jax.vmap(jax.grad(jax.grad(div.conjugate)))(t)
    sq = jnp.sum(jnp.square(jax.vmap(jax.grad(psi))(fake)), axis=1)
    return jnp.mean(f_star_2 * sq)
  ours = lambda p: losses.roth_regularizer(name, lambda x: v(p, x), real, fake)
  np.testing.assert_allclose(ours(params), formula(params), rtol=2e-4)
  for g_ours, g_ref in zip(jax.tree.leaves(jax.grad(ours)(params)),
                           jax.tree.leaves(jax.grad(formula)(params))):
    np.testing.assert_allclose(g_ours, g_ref, rtol=2e-3, atol=1e-6)
  weighted = losses.gradient_penalty(lambda x: v(params, x), real, fake, weight=3.0,
                                     kind="roth", divergence=name)
  np.testing.assert_allclose(weighted, 1.5 * formula(params), rtol=2e-4)


@pytest.mark.parametrize("name", ["gan", "js"])
def test_roth_symmetric_form_equals_general_form_at_the_optimal_critic(name):
  # P = N(0, 1), Q = N(1, 1.2^2); the optimal critic is V* = log p/q for both
  # divergences. Expectations by quantile quadrature (x_i = F^-1((i + 1/2)/n)).
  n = 200_000
  u = (jnp.arange(n) + 0.5) / n
  real = (P_MEAN + P_STD * jax.scipy.special.ndtri(u))[:, None]
  fake = (Q_MEAN + Q_STD * jax.scipy.special.ndtri(u))[:, None]
  log_pdf = lambda x, m, s: -0.5 * jnp.square((x - m) / s) - jnp.log(s)  # + const
  v_star = lambda x: log_pdf(x[:, 0], P_MEAN, P_STD) - log_pdf(x[:, 0], Q_MEAN, Q_STD)
  general = losses.roth_regularizer(name, v_star, real, fake)
  symmetric = losses.roth_regularizer(name, v_star, real, fake, symmetric=True)
  np.testing.assert_allclose(symmetric, general, rtol=2e-3)
  # Away from the optimum they differ: the identity holds at D* only.
  v_off = lambda x: v_star(x) + 1.0
  assert abs(losses.roth_regularizer(name, v_off, real, fake, symmetric=True)
             - losses.roth_regularizer(name, v_off, real, fake)) > 0.05 * general


def test_roth_symmetric_form_is_refused_for_other_divergences():
  params, v = _tiny_critic(jax.random.key(7))
  x = jnp.zeros((4, 2))
  with pytest.raises(ValueError, match="symmetric form exists for gan, js"):
    losses.roth_regularizer("kl", lambda x: v(params, x), x, x, symmetric=True)
  from configs import base
  c = base.get_base_config()
  c.divergence, c.gradient_penalty_kind, c.gradient_penalty = "kl", "roth_symmetric", 1.0
  from fgan import errors
  with pytest.raises(errors.ConfigError, match="use 'roth'"):
    losses.check(c)
  from fgan import validation
  c.gradient_penalty_kind, c.gradient_penalty_anneal = "roth", 0.0
  with pytest.raises(errors.ConfigError, match="gradient_penalty_anneal"):
    validation.validate(c)


def test_annealed_weight_is_geometric_from_weight_to_its_final_ratio():
  w = [float(losses.annealed_weight(2.0, 0.01, t)) for t in (0.0, 0.5, 1.0)]
  np.testing.assert_allclose(w, [2.0, 0.2, 0.02], rtol=1e-6)
  objective = losses.CriticObjective(divs.get("gan"), 2.0, "roth", 0.0, 0.01)
  params, v = _tiny_critic(jax.random.key(8))
  real, fake = jax.random.normal(jax.random.key(9), (2, 16, 2))
  gp = [objective(lambda x: v(params, x), real, fake, progress=t)[1]["gradient_penalty"]
        for t in (0.0, 1.0)]
  np.testing.assert_allclose(gp[1], 0.01 * gp[0], rtol=1e-5)


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


def test_bounded_critic_keeps_the_neyman_estimate_a_stable_lower_bound():
  """Neyman chi^2 of P = N(0, 1) from Q. For Q = N(0.5, 1) it is
  e^(1/4) - 1, which a critic bounded at c = 3 reads within 5% and not
  above. For Q = N(0, 1.5^2) it is infinite (q^2 / p is not integrable):
  unbounded, the optimal critic's E_P[1 - (q/p)^2] rests on rare draws and
  the reading depends on the key (-0.44 and 1.53 +- 0.18 on keys 0 and 1
  on an AMD EPYC); bounded, it does not."""
  def read(q_std, q_mean, key):
    return estimation.estimate(
        "neyman", estimation.models.MLP(hidden=(64, 64), out=1),
        estimation.normal_sampler(0.0, 1.0), estimation.normal_sampler(q_mean, q_std),
        jax.random.key(key), 2000, 1024, 1e-3, output_bound=3.0)
  exact = np.exp(0.25) - 1
  finite = read(1.0, 0.5, 0)
  assert 0.95 * exact < finite.value < exact + 3 * finite.stderr
  a, b = read(1.5, 0.0, 0), read(1.5, 0.0, 1)
  assert a.value > 2 * exact and abs(a.value - b.value) < 3 * np.hypot(a.stderr, b.stderr)
