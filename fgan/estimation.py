"""Variational divergence estimation: train a critic, read off F.

Nguyen, Wainwright & Jordan, "Estimating divergence functionals and the
likelihood ratio by convex risk minimization", IEEE Trans. Inf. Theory 2010;
Nowozin et al. 2016, section 2. For fixed P and Q,

    D_f(P||Q) = sup_V E_P[g_f(V)] - E_Q[f*(g_f(V))],

so a critic trained to maximise F on fresh samples turns F into an estimate
of D_f (or of W1 for ``wasserstein`` with a gradient penalty).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from fgan import divergences
from fgan import losses
from fgan import models

Sampler = Callable[[jax.Array, int], jax.Array]


def estimate_divergence(div, sample_p: Sampler, sample_q: Sampler,
                        key: jax.Array, num_steps: int = 2000,
                        batch_size: int = 1024, learning_rate: float = 1e-3,
                        hidden: tuple[int, ...] = (64, 64),
                        gradient_penalty: float = 0.0,
                        eval_samples: int = 200_000) -> float:
  """Train an MLP critic by Adam on fresh samples; return F on new samples.

  Args:
    div: a divergence or its name.
    sample_p, sample_q: (key, n) -> array of n samples (n, d).
    key: PRNG key; every draw derives from it.
    num_steps, batch_size, learning_rate, hidden: critic training settings.
    gradient_penalty: WGAN-GP weight (0 = off).
    eval_samples: number of fresh samples from each side for the final F.
  """
  critic = models.MLP(hidden=hidden, out=1)
  init_key, train_key, eval_key = jax.random.split(key, 3)
  example = jax.eval_shape(lambda k: sample_p(k, 1), init_key)  # shape only: no draw
  params = critic.init(init_key, jnp.zeros(example.shape, example.dtype))
  opt = optax.adam(learning_rate)

  def v(params, x):
    return critic.apply(params, x)[:, 0]

  objective = losses.CriticObjective(divergences.get(div), gradient_penalty=gradient_penalty)

  def loss_fn(params, key):
    kp, kq, kgp = jax.random.split(key, 3)
    real, fake = sample_p(kp, batch_size), sample_q(kq, batch_size)
    eps = losses.interpolation_weights(kgp, batch_size)
    return objective(lambda x: v(params, x), real, fake, eps)[0]

  def step(carry, key):
    params, opt_state = carry
    grads = jax.grad(loss_fn)(params, key)
    updates, opt_state = opt.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  @jax.jit
  def train_and_evaluate(params):
    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)),
                                  jax.random.split(train_key, num_steps))
    kp, kq = jax.random.split(eval_key)
    return losses.divergence_estimate(
        div, v(params, sample_p(kp, eval_samples)),
        v(params, sample_q(kq, eval_samples)))

  return float(train_and_evaluate(params))


def normal_sampler(mean: float, std: float) -> Sampler:
  """Samples of N(mean, std^2) in one dimension, shape (n, 1)."""
  return lambda key, n: mean + std * jax.random.normal(key, (n, 1))
