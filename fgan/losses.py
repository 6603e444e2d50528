"""The f-GAN objective, its critic and generator losses, and the critic's
penalties (gradient penalty, output penalty).

Nowozin et al. 2016, eq. (6): with T = g_f(V_w(x)),

    F(theta, w) = E_{x~P}[g_f(V_w(x))] - E_{x~Q_theta}[f*(g_f(V_w(x)))].

The critic maximises F (loss -F); at the optimal critic F = D_f(P||Q_theta),
so F is the divergence estimate. The generator minimises F ("minimax") or
maximises E_Q[g_f(V)] ("nonsaturating", the paper's section 3.2 alternative;
for ``gan`` it is Goodfellow et al.'s -log D(G(z)) trick).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from fgan import divergences as divs

GENERATOR_LOSS_MODES = ("nonsaturating", "minimax")


def divergence_estimate(div, v_real: jax.Array, v_fake: jax.Array) -> jax.Array:
  """F = mean g_f(v_real) - mean f*(g_f(v_fake)), a lower bound on D_f(P||Q)."""
  div = divs.get(div)
  return (jnp.mean(div.activation(v_real))
          - jnp.mean(div.conjugate_of_activation(v_fake)))


def critic_loss(div, v_real: jax.Array, v_fake: jax.Array) -> jax.Array:
  """-F. For ``gan`` this is BCE(D(x), 1) + BCE(D(G(z)), 0) with logits V."""
  return -divergence_estimate(div, v_real, v_fake)


def generator_loss(div, v_fake: jax.Array,
                   mode: str = "nonsaturating") -> jax.Array:
  """The generator's loss on the critic's raw outputs for its samples.

  minimax: F up to the P-term (constant in theta), i.e. -E_Q[f*(g_f(V))].
  nonsaturating: -E_Q[g_f(V)]; for ``gan`` this is BCE(D(G(z)), 1).
  """
  div = divs.get(div)
  if mode == "minimax":
    return -jnp.mean(div.conjugate_of_activation(v_fake))
  if mode == "nonsaturating":
    return -jnp.mean(div.activation(v_fake))
  raise ValueError(f"Unknown generator loss mode {mode!r}; valid: "
                   f"{', '.join(GENERATOR_LOSS_MODES)}.")


def output_penalty(v_real: jax.Array, v_fake: jax.Array, weight: float) -> jax.Array:
  """weight/2 (E_P[V^2] + E_Q[V^2]): keeps the critic's raw outputs near 0.

  Karras et al. 2018 (Progressive GAN, appendix A.1) add such a "drift" term,
  0.001 E_P[V^2], to the WGAN-GP critic. For an f-divergence whose output
  activation saturates (total variation's T = tanh(V)/2, whose optimum is
  sign(p - q)/2) it keeps V where tanh still has a slope: without it V grows
  without bound, the critic's gradients vanish, its decision boundary stops
  following Q and the generator follows a stale critic (measured in
  experiments/RESULTS.md, Gaussian fit). It biases F towards 0 by O(weight).
  """
  return 0.5 * weight * (jnp.mean(jnp.square(v_real)) + jnp.mean(jnp.square(v_fake)))


GRADIENT_PENALTY_KINDS = ("wgan_gp", "r1")


def interpolation_weights(key: jax.Array, n: int) -> jax.Array:
  """WGAN-GP's e ~ U[0, 1], one per example of a batch of n."""
  return jax.random.uniform(key, (n,))


def gradient_penalty(critic_fn: Callable[[jax.Array], jax.Array],
                     real: jax.Array, fake: jax.Array, eps: jax.Array | None = None,
                     weight: float = 10.0, kind: str = "wgan_gp") -> jax.Array:
  """A penalty on the critic's input gradients, of one of two kinds.

  wgan_gp (Gulrajani et al. 2017, eq. 3): weight * E[(||grad_x V(x_hat)||_2 - 1)^2]
  with x_hat = e x + (1 - e) x~, e ~ U[0, 1] drawn once per example
  (``eps``, shape (batch,), from ``interpolation_weights``; a data-parallel
  step draws it for the global batch and passes each device its rows):
  keeps a Wasserstein critic 1-Lipschitz.

  r1 (Mescheder et al. 2018, "Which training methods for GANs do actually
  converge?", eq. 9): weight/2 * E_P[||grad_x V(x)||_2^2] on real data only
  (weight = their gamma; ``eps`` unused): zero-centred, it damps the
  critic's oscillation around the data manifold, under which their GAN
  game converges locally.

  ``critic_fn`` maps a batch to one raw output per example and must treat
  examples independently (no batch norm), so the per-example gradients are
  those of sum_i V(x_i). Any input shape (batch first) works; the norm runs
  over all non-batch axes.
  """
  if real.shape != fake.shape:
    raise ValueError(f"real and fake batches differ in shape: {real.shape} vs "
                     f"{fake.shape}.")
  if kind not in GRADIENT_PENALTY_KINDS:
    raise ValueError(f"Unknown gradient penalty kind {kind!r}; valid: "
                     f"{', '.join(GRADIENT_PENALTY_KINDS)}.")
  def sq_norms(x):  # ||grad_x V(x_i)||^2 per example
    grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(x)
    return jnp.sum(jnp.square(grads).reshape(x.shape[0], -1), axis=1)

  if kind == "r1":
    return 0.5 * weight * jnp.mean(sq_norms(real))
  if eps is None or eps.shape != real.shape[:1]:
    raise ValueError(f"wgan_gp needs one interpolation weight per example, shape "
                     f"{real.shape[:1]}; got {None if eps is None else eps.shape}.")
  e = eps.astype(real.dtype).reshape((-1,) + (1,) * (real.ndim - 1))
  sq = sq_norms(e * real + (1.0 - e) * fake)
  # sqrt has an infinite derivative at 0; a zero gradient norm gets slope 0.
  norm = jnp.sqrt(jnp.where(sq > 0, sq, 1.0)) * (sq > 0)
  return weight * jnp.mean(jnp.square(norm - 1.0))
