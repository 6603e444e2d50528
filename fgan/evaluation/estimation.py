"""Variational divergence estimation: train a critic, read off F.

Nguyen, Wainwright & Jordan, "Estimating divergence functionals and the
likelihood ratio by convex risk minimization", IEEE Trans. Inf. Theory 2010;
Nowozin et al. 2016, section 2. For fixed P and Q,

    D_f(P||Q) = sup_V E_P[g_f(V)] - E_Q[f*(g_f(V))],

so a critic trained to maximise F on fresh samples turns F into an estimate
of D_f (or of W1 for ``wasserstein`` with a gradient penalty).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import flax.linen as nn
import jax
import numpy as np
import optax

from fgan import divergences
from fgan import losses
from fgan import models

Sampler = Callable[[jax.Array, int], jax.Array]


@dataclasses.dataclass(frozen=True)
class Estimate:
  """A divergence estimate.

  Attributes:
    value: F on held-out samples.
    stderr: its standard error, sqrt(Var g_f(V(x)) / n_P + Var f*(g_f(V(y)))
      / n_Q) (the critic held fixed: the sampling error of the two means,
      not the critic's fit).
  """

  value: float
  stderr: float


def estimate(div, critic: nn.Module, sample_p: Sampler, sample_q: Sampler,
             key: jax.Array, num_steps: int, batch_size: int, learning_rate: float,
             b1: float = 0.9, gradient_penalty: float = 0.0,
             eval_p: jax.Array | None = None, eval_q: jax.Array | None = None,
             eval_samples: int = 200_000, p_data=None,
             output_bound: float = 0.0) -> Estimate:
  """Train ``critic`` to maximise F on fresh batches, and read F off it on
  held-out samples.

  The critic (batch -> one output per example, examples treated
  independently) is trained by Adam(learning_rate, (b1, 0.999)) for
  ``num_steps`` steps, one jitted call each (a scan around convolutions is
  slow on XLA's CPU backend), with a WGAN-GP penalty of weight
  ``gradient_penalty``. With ``output_bound`` c > 0 its outputs are
  c tanh(V/c) (fgan.losses.bounded_output) in training and in the reading:
  F of any critic is at most D_f, so the estimate stays a lower bound, and
  where f*(g_f(V)) is unbounded (Neyman: E_P[1 - e^-V], whose optimal critic
  has e^-V = (q/p)^2) one held-out point in a region the training draws
  left empty cannot swamp the mean.

  Args:
    div: a divergence name or fgan.divergences.Divergence.
    critic: the critic module.
    sample_p: (key, n) -> n samples of P; with ``p_data``, (p_data, key, n).
    sample_q: (key, n) -> n samples of Q.
    key: the estimate's key (initialisation, batches, evaluation draws).
    num_steps: training steps.
    batch_size: samples of each distribution per step.
    learning_rate, b1: Adam's.
    gradient_penalty: WGAN-GP weight (0: none).
    eval_p, eval_q: the held-out samples F is read on (default:
      ``eval_samples`` fresh draws of each sampler).
    eval_samples: see ``eval_p``.
    p_data: a dataset's arrays, passed to the compiled step as an argument
      rather than baked in as a constant; None for a sampler without data.
    output_bound: c above (0: unbounded).

  Returns:
    The Estimate: F and its standard error.
  """
  div = divergences.get(div)
  init_key, train_key, eval_key = jax.random.split(key, 3)
  draw_p = sample_p if p_data is None else (lambda k, n, data: sample_p(data, k, n))
  data = () if p_data is None else (p_data,)
  example = jax.eval_shape(lambda k, d: draw_p(k, 1, *d), init_key, data)  # shape only
  params = models.initialize(critic, init_key, example.shape, example.dtype)
  opt = optax.adam(learning_rate, b1=b1)
  v = lambda params, x: critic.apply(params, x)[:, 0]
  objective = losses.CriticObjective(div, gradient_penalty=gradient_penalty,
                                     output_bound=output_bound)

  @jax.jit
  def step(params, opt_state, key, data):
    kp, kq, kgp = jax.random.split(key, 3)
    real, fake = draw_p(kp, batch_size, *data), sample_q(kq, batch_size)
    eps = losses.interpolation_weights(kgp, batch_size)
    grads = jax.grad(lambda p: objective(lambda x: v(p, x), real, fake, eps)[0])(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  opt_state = opt.init(params)
  for k in jax.random.split(train_key, num_steps):
    params, opt_state = step(params, opt_state, k, data)
  kp, kq = jax.random.split(eval_key)
  eval_p = draw_p(kp, eval_samples, *data) if eval_p is None else eval_p
  eval_q = sample_q(kq, eval_samples) if eval_q is None else eval_q

  @jax.jit
  def terms(params, x, y):
    bounded = lambda z: losses.bounded_output(v(params, z), output_bound)
    return div.activation(bounded(x)), div.conjugate_of_activation(bounded(y))
  a, b = (np.asarray(t, np.float64) for t in terms(params, eval_p, eval_q))
  return Estimate(float(a.mean() - b.mean()),
                  float(np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)))


def estimate_divergence(div, sample_p: Sampler, sample_q: Sampler,
                        key: jax.Array, num_steps: int = 2000,
                        batch_size: int = 1024, learning_rate: float = 1e-3,
                        hidden: tuple[int, ...] = (64, 64),
                        gradient_penalty: float = 0.0,
                        eval_samples: int = 200_000) -> float:
  """F of an MLP critic trained by ``estimate`` on fresh samples: an
  estimate of D_f(P||Q), or of W1 for ``wasserstein`` with a gradient
  penalty.

  Args:
    div: a divergence name.
    sample_p, sample_q: (key, n) -> (n, d) samples of P and of Q.
    key: the estimate's key.
    num_steps, batch_size, learning_rate: the critic's training.
    hidden: the MLP's hidden widths.
    gradient_penalty: WGAN-GP weight (0: none).
    eval_samples: new samples of each that F is read on.

  Returns:
    The estimate.
  """
  return estimate(div, models.MLP(hidden=hidden, out=1), sample_p, sample_q, key,
                  num_steps, batch_size, learning_rate, gradient_penalty=gradient_penalty,
                  eval_samples=eval_samples).value


def normal_sampler(mean: float, std: float) -> Sampler:
  """A sampler of N(mean, std^2) in one dimension.

  Args:
    mean, std: the normal's.

  Returns:
    (key, n) -> (n, 1) samples.
  """
  return lambda key, n: mean + std * jax.random.normal(key, (n, 1))
