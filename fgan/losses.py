"""The f-GAN objective, its critic and generator losses, the critic's
penalties (gradient penalty, output penalty) and the critic objective that
combines them (``CriticObjective``: one for the train step, the Gaussian fit
and the divergence estimator).

Nowozin et al. 2016, eq. (6): with T = g_f(V_w(x)),

    F(theta, w) = E_{x~P}[g_f(V_w(x))] - E_{x~Q_theta}[f*(g_f(V_w(x)))].

The critic maximises F (loss -F); at the optimal critic F = D_f(P||Q_theta),
so F is the divergence estimate. The generator minimises F ("minimax") or
maximises E_Q[g_f(V)] ("nonsaturating", the paper's section 3.2 alternative;
for ``gan`` it is Goodfellow et al.'s -log D(G(z)) trick).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from fgan import divergences as divs
from fgan import errors

GENERATOR_LOSS_MODES = ("nonsaturating", "minimax", "log_ratio")


def divergence_estimate(div, v_real: jax.Array, v_fake: jax.Array) -> jax.Array:
  """F = mean g_f(v_real) - mean f*(g_f(v_fake)), a lower bound on D_f(P||Q).

  Args:
    div: a divergence or its name (fgan.divergences).
    v_real: (B,) critic outputs on data.
    v_fake: (B,) critic outputs on generated samples.

  Returns:
    F, a scalar.
  """
  div = divs.get(div)
  return (jnp.mean(div.activation(v_real))
          - jnp.mean(div.conjugate_of_activation(v_fake)))


def critic_loss(div, v_real: jax.Array, v_fake: jax.Array) -> jax.Array:
  """-F. For ``gan`` this is BCE(D(x), 1) + BCE(D(G(z)), 0) with logits V.

  Args:
    div: a divergence or its name.
    v_real: (B,) critic outputs on data.
    v_fake: (B,) critic outputs on generated samples.

  Returns:
    -F, a scalar.
  """
  return -divergence_estimate(div, v_real, v_fake)


def generator_loss(div, v_fake: jax.Array,
                   mode: str = "nonsaturating") -> jax.Array:
  """The generator's loss on the critic's raw outputs for its samples.

  minimax: F up to the P-term (constant in theta), i.e. -E_Q[f*(g_f(V))].
  nonsaturating: -E_Q[g_f(V)]; for ``gan`` this is BCE(D(G(z)), 1).
  log_ratio: -E_Q[log r(x)], r = f*'(g_f(V)) the critic's density ratio
    p/q (``Divergence.log_ratio``): at the optimal critic its gradient is
    that of KL(Q_theta || P) (Poole et al. 2016, "Improved generator
    objectives for GANs", sec. 3). For gan, js, kl, reverse_kl, neyman and
    squared Hellinger log r is linear in V, so the generator's gradient
    neither vanishes nor explodes with the critic's output.

  Args:
    div: a divergence or its name.
    v_fake: (B,) critic outputs on generated samples.
    mode: one of GENERATOR_LOSS_MODES.

  Returns:
    The loss, a scalar.

  Raises:
    ValueError: an unknown mode, or log_ratio for a divergence without a
      density ratio.
  """
  div = divs.get(div)
  if mode == "minimax":
    return -jnp.mean(div.conjugate_of_activation(v_fake))
  if mode == "nonsaturating":
    return -jnp.mean(div.activation(v_fake))
  if mode == "log_ratio":
    if div.log_ratio is None:
      raise ValueError(f"Divergence {div.name!r} has no density ratio (log_ratio).")
    return -jnp.mean(div.log_ratio(v_fake))
  raise ValueError(f"Unknown generator loss mode {mode!r}; valid: "
                   f"{', '.join(GENERATOR_LOSS_MODES)}.")


def bounded_output(v: jax.Array, bound: float) -> jax.Array:
  """c tanh(V / c) for bound c > 0 (V itself for c = 0): the critic's raw
  output confined smoothly to (-c, c), so T = g_f(V) stays in the compact
  set g_f([-c, c]) inside dom f*, where f* and its derivatives are bounded.

  For a divergence whose variational bound is unbounded when P and Q_theta
  have disjoint supports (Neyman chi^2 = int (q - p)^2 / p: its critic
  gains 2 e^{-V/2} without limit as V -> -inf on generated points), F and
  its gradients then stay finite: the critic estimates the divergence of
  density ratios clipped to r(+-c) (for Neyman, log r = V/2 in (-c/2, c/2)).
  Nowozin et al. 2016 (sec. 2.4) constrain T to dom f* with g_f; this also
  keeps it a margin inside. Near 0 it is the identity to O(V^3 / c^2).

  Args:
    v: critic outputs, any shape.
    bound: c >= 0.

  Returns:
    c tanh(v / c), or ``v`` itself for c = 0.
  """
  return v if bound == 0 else bound * jnp.tanh(v / bound)


def pack(x: jax.Array, m: int) -> jax.Array:
  """PacGAN's packing (Lin, Khetan, Fanti & Oh 2018, "PacGAN: The power of
  two samples in generative adversarial networks", sec. 3): m consecutive
  examples of a batch become one, concatenated along the last (channel or
  feature) axis, (B, ..., C) -> (B / m, ..., m C), for m = 1 the batch
  itself.

  A critic of packed examples compares the product distributions P^m and
  Q_theta^m: D_f(P^m || Q^m) grows with m where Q drops modes (for total
  variation, the paper's Theorem 3 bounds it below by what mode collapse
  costs), so the critic punishes a missing mode more than one sample at a
  time can. F then estimates the divergence between the packed
  distributions, not D_f(P || Q) (the held-out estimate of
  fgan.evaluation stays unpacked). B must be a multiple of m.

  Args:
    x: (B, ..., C) examples.
    m: the pack size, dividing B.

  Returns:
    (B / m, ..., m C).
  """
  if m == 1:
    return x
  x = jnp.moveaxis(x.reshape((x.shape[0] // m, m) + x.shape[1:]), 1, -2)
  return x.reshape(x.shape[:-2] + (m * x.shape[-1],))


def packed_shape(shape, m: int) -> tuple:
  """An example's shape after ``pack``: the last axis m times as long.

  Args:
    shape: one example's shape.
    m: the pack size.

  Returns:
    The packed example's shape.
  """
  shape = tuple(shape)
  return shape[:-1] + (m * shape[-1],)


def output_penalty(v_real: jax.Array, v_fake: jax.Array, weight: float) -> jax.Array:
  """weight/2 (E_P[V^2] + E_Q[V^2]): keeps the critic's raw outputs near 0.

  Karras et al. 2018 (Progressive GAN, appendix A.1) add such a "drift" term,
  0.001 E_P[V^2], to the WGAN-GP critic. For an f-divergence whose output
  activation saturates (total variation's T = tanh(V)/2, whose optimum is
  sign(p - q)/2) it keeps V where tanh still has a slope: without it V grows
  without bound, the critic's gradients vanish, its decision boundary stops
  following Q and the generator follows a stale critic (the Gaussian fit,
  experiments.gaussian_fit, shows it). It biases F towards 0 by O(weight).

  Args:
    v_real: (B,) raw critic outputs on data.
    v_fake: (B,) raw critic outputs on generated samples.
    weight: w >= 0.

  Returns:
    The penalty, a scalar.
  """
  return 0.5 * weight * (jnp.mean(jnp.square(v_real)) + jnp.mean(jnp.square(v_fake)))


GRADIENT_PENALTY_KINDS = ("wgan_gp", "r1", "roth", "roth_symmetric")
# The divergences whose critic is a discriminator D = sigmoid(V), for which
# Roth et al.'s symmetric form exists, and its scale (f*''(g(v)) g'(v)^2 =
# scale * D).
_SYMMETRIC_SCALE = {"gan": 1.0, "js": 0.5}


def interpolation_weights(key: jax.Array, n: int) -> jax.Array:
  """WGAN-GP's e ~ U[0, 1], one per example of a batch of n.

  Args:
    key: a PRNG key.
    n: the batch size.

  Returns:
    (n,) weights in [0, 1).
  """
  return jax.random.uniform(key, (n,))


def _outputs_and_sq_grad_norms(critic_fn, x):
  """(V(x_i), ||grad_x V(x_i)||^2) per example, from one forward and one
  backward pass of sum_i V(x_i)."""
  def total(x):
    v = critic_fn(x)
    return jnp.sum(v), v
  grads, v = jax.grad(total, has_aux=True)(x)
  return v, jnp.sum(jnp.square(grads).reshape(x.shape[0], -1), axis=1)


def roth_regularizer(div, critic_fn: Callable[[jax.Array], jax.Array],
                     real: jax.Array, fake: jax.Array,
                     symmetric: bool = False) -> jax.Array:
  """Omega of Roth, Lucchi, Nowozin & Hofmann 2017 ("Stabilizing Training of
  Generative Adversarial Networks through Regularization", eq. 15 and 19).

  General form, for every f-divergence with psi = g_f(V) in dom f*:

      Omega_f = E_Q[f*''(psi(x)) ||grad_x psi(x)||^2]
              = E_Q[c_f(V(x)) ||grad_x V(x)||^2],  c_f = f*''(g_f) g_f'^2

  (``Divergence.curvature``). Symmetric form, for gan and js, whose critic
  is a discriminator D = sigmoid(V) (the form the authors train with):

      Omega_JS = s (E_P[(1 - D)^2 ||grad_x V||^2] + E_Q[D^2 ||grad_x V||^2])

  with s = 1 for gan and 1/2 for js (c_f = s D). The two agree at the
  optimal critic D* = p / (p + q), since q D*^2 + p (1 - D*)^2 = q D*.
  Gradients flow through the weights too, as in the authors' code. The
  critic maximises F - (gamma/2) Omega; ``critic_fn`` must treat examples
  independently (no batch norm).

  Args:
    div: a divergence or its name.
    critic_fn: (B, ...) -> (B,) raw outputs V.
    real: (B, ...) data.
    fake: (B, ...) generated samples.
    symmetric: the symmetric form (gan, js) instead of the general one.

  Returns:
    Omega, a scalar.

  Raises:
    ValueError: the divergence has no curvature, or no symmetric form.
  """
  div = divs.get(div)
  v_fake, sq_fake = _outputs_and_sq_grad_norms(critic_fn, fake)
  if not symmetric:
    if div.curvature is None:
      raise ValueError(f"Divergence {div.name!r} has no curvature; give it one "
                       "(fgan.divergences.Divergence.curvature).")
    return jnp.mean(div.curvature(v_fake) * sq_fake)
  if div.name not in _SYMMETRIC_SCALE:
    raise ValueError(f"The symmetric form exists for {', '.join(_SYMMETRIC_SCALE)}, "
                     f"not {div.name!r}; use the general form.")
  v_real, sq_real = _outputs_and_sq_grad_norms(critic_fn, real)
  return _SYMMETRIC_SCALE[div.name] * (
      jnp.mean(jnp.square(jax.nn.sigmoid(-v_real)) * sq_real)
      + jnp.mean(jnp.square(jax.nn.sigmoid(v_fake)) * sq_fake))


def gradient_penalty(critic_fn: Callable[[jax.Array], jax.Array],
                     real: jax.Array, fake: jax.Array, eps: jax.Array | None = None,
                     weight: float = 10.0, kind: str = "wgan_gp",
                     divergence=None) -> jax.Array:
  """A penalty on the critic's input gradients, of one of four kinds.

  wgan_gp (Gulrajani et al. 2017, eq. 3): weight * E[(||grad_x V(x_hat)||_2 - 1)^2]
  with x_hat = e x + (1 - e) x~, e ~ U[0, 1] drawn once per example
  (``eps``, shape (batch,), from ``interpolation_weights``; a data-parallel
  step draws it for the global batch and passes each device its rows):
  keeps a Wasserstein critic 1-Lipschitz.

  r1 (Mescheder et al. 2018, "Which training methods for GANs do actually
  converge?", eq. 9): weight/2 * E_P[||grad_x V(x)||_2^2] on real data only
  (weight = their gamma): zero-centred, it damps the critic's oscillation
  around the data manifold, under which their GAN game converges locally.

  roth, roth_symmetric: weight/2 * Omega (weight = Roth et al.'s gamma;
  ``roth_regularizer``, general or symmetric form, of ``divergence``).

  ``eps`` is used by wgan_gp only. ``critic_fn`` maps a batch to one raw
  output per example and must treat examples independently (no batch norm),
  so the per-example gradients are those of sum_i V(x_i). Any input shape
  (batch first) works; the norm runs over all non-batch axes.

  Args:
    critic_fn: (B, ...) -> (B,) raw outputs V.
    real: (B, ...) data.
    fake: (B, ...) generated samples, shaped like ``real``.
    eps: (B,) interpolation weights (wgan_gp only).
    weight: the penalty's weight.
    kind: one of GRADIENT_PENALTY_KINDS.
    divergence: the run's divergence (roth, roth_symmetric).

  Returns:
    The penalty, a scalar.

  Raises:
    ValueError: mismatched shapes, an unknown kind, or missing eps.
  """
  if real.shape != fake.shape:
    raise ValueError(f"real and fake batches differ in shape: {real.shape} vs "
                     f"{fake.shape}.")
  if kind not in GRADIENT_PENALTY_KINDS:
    raise ValueError(f"Unknown gradient penalty kind {kind!r}; valid: "
                     f"{', '.join(GRADIENT_PENALTY_KINDS)}.")
  if kind == "r1":
    return 0.5 * weight * jnp.mean(_outputs_and_sq_grad_norms(critic_fn, real)[1])
  if kind in ("roth", "roth_symmetric"):
    return 0.5 * weight * roth_regularizer(divergence, critic_fn, real, fake,
                                           symmetric=kind == "roth_symmetric")
  if eps is None or eps.shape != real.shape[:1]:
    raise ValueError(f"wgan_gp needs one interpolation weight per example, shape "
                     f"{real.shape[:1]}; got {None if eps is None else eps.shape}.")
  e = eps.astype(real.dtype).reshape((-1,) + (1,) * (real.ndim - 1))
  sq = _outputs_and_sq_grad_norms(critic_fn, e * real + (1.0 - e) * fake)[1]
  # sqrt has an infinite derivative at 0; a zero gradient norm gets slope 0.
  norm = jnp.sqrt(jnp.where(sq > 0, sq, 1.0)) * (sq > 0)
  return weight * jnp.mean(jnp.square(norm - 1.0))


def annealed_weight(weight: float, final_ratio: float, progress: jax.Array) -> jax.Array:
  """weight * final_ratio^progress, progress = t / T in [0, 1]: Roth et
  al.'s annealing gamma_t = gamma_0 * 0.01^(t/T) for final_ratio 0.01.

  Args:
    weight: the weight at t = 0.
    final_ratio: the weight at t = T over the weight at t = 0.
    progress: t / T.

  Returns:
    The weight at ``progress``.
  """
  return weight * jnp.power(jnp.asarray(final_ratio, jnp.float32), progress)


@dataclasses.dataclass(frozen=True)
class CriticObjective:
  """The critic's loss, -F + penalties, on one real and one fake batch:

      loss = -F + gradient_penalty (kind, weight) + output_penalty (weight)

  with F = mean g_f(V(real)) - mean f*(g_f(V(fake))) (``divergence_estimate``);
  a penalty of weight 0 is not computed. With ``output_bound`` c > 0 the
  caller's critic outputs are confined to (-c, c) (``bounded_output``; the
  train step bounds them for the generator's loss too) in F and the
  gradient penalty; the output penalty acts on the raw outputs, which keeps
  the critic out of tanh's flat tails, where its own gradients vanish.

  Attributes:
    divergence: the Divergence.
    gradient_penalty: the penalty's weight; 0 = off.
    gradient_penalty_kind: one of GRADIENT_PENALTY_KINDS.
    output_penalty: the output penalty's weight; 0 = off.
    gradient_penalty_anneal: the penalty's weight at the last step over its
      first (``annealed_weight``; 1 = constant).
    output_bound: c; 0 = off.
  """

  divergence: divs.Divergence
  gradient_penalty: float = 0.0
  gradient_penalty_kind: str = "wgan_gp"
  output_penalty: float = 0.0
  gradient_penalty_anneal: float = 1.0
  output_bound: float = 0.0

  @classmethod
  def from_config(cls, config) -> "CriticObjective":
    """The objective of a run config (config.divergence,
    .gradient_penalty, .gradient_penalty_kind, .critic_output_penalty,
    .gradient_penalty_anneal, .critic_output_bound).

    Args:
      config: a run config.

    Returns:
      The CriticObjective.
    """
    return cls(divs.get(config.divergence), float(config.gradient_penalty),
               config.gradient_penalty_kind, float(config.critic_output_penalty),
               float(config.gradient_penalty_anneal), float(config.critic_output_bound))

  @property
  def anneals(self) -> bool:
    """Whether the gradient penalty's weight changes over the run (then the
    loss reads ``progress``)."""
    return bool(self.gradient_penalty) and self.gradient_penalty_anneal != 1.0

  def __call__(self, v_fn, real, fake, eps=None, progress=0.0):
    """The critic's loss on one real and one generated batch.

    Args:
      v_fn: (B, ...) -> (B,) raw critic outputs.
      real: (B, ...) data.
      fake: (B, ...) generated samples.
      eps: (B,) interpolation weights (wgan_gp only).
      progress: t / T, for an annealed penalty.

    Returns:
      (loss, {"divergence_estimate": F, "gradient_penalty": the penalty}).
    """
    raw_real, raw_fake = v_fn(real), v_fn(fake)
    if self.output_bound:
      v_fn = lambda x, raw=v_fn: bounded_output(raw(x), self.output_bound)
    v_real, v_fake = (bounded_output(v, self.output_bound) for v in (raw_real, raw_fake))
    estimate = divergence_estimate(self.divergence, v_real, v_fake)
    weight = (annealed_weight(self.gradient_penalty, self.gradient_penalty_anneal, progress)
              if self.anneals else self.gradient_penalty)
    gp = (gradient_penalty(v_fn, real, fake, eps, weight=weight,
                           kind=self.gradient_penalty_kind, divergence=self.divergence)
          if self.gradient_penalty else jnp.zeros(()))
    loss = -estimate + gp
    if self.output_penalty:  # off: the same computation as without the option
      loss = loss + output_penalty(raw_real, raw_fake, self.output_penalty)
    return loss, {"divergence_estimate": estimate, "gradient_penalty": gp}


def check(config) -> None:
  """The objective's rules across fields (each field's own range:
  fgan.validation.RULES).

  Args:
    config: a run config.

  Raises:
    errors.ConfigError: naming the field and the fix.
  """
  if config.train.batch_size % config.critic_pack:
    raise errors.ConfigError(
        f"config.train.batch_size = {config.train.batch_size} is not a multiple of "
        f"config.critic_pack = {config.critic_pack}: the critic packs that many "
        "examples into one. Use a batch that is.")
  if config.generator_loss == "log_ratio" and divs.get(config.divergence).log_ratio is None:
    raise errors.ConfigError(
        f"config.generator_loss = 'log_ratio' needs the critic's density ratio, which "
        f"config.divergence = {config.divergence!r} does not give (f' is not invertible "
        "or f*' can be <= 0): use 'nonsaturating' or 'minimax'.")
  kind = config.gradient_penalty_kind
  if kind == "roth_symmetric" and config.divergence not in _SYMMETRIC_SCALE:
    raise errors.ConfigError(
        f"config.gradient_penalty_kind = 'roth_symmetric' exists for "
        f"{' and '.join(_SYMMETRIC_SCALE)} only, not config.divergence = "
        f"{config.divergence!r}: use 'roth' (the general form).")
  if divs.get(config.divergence).is_ipm and (
      config.gradient_penalty == 0 or config.gradient_penalty_kind != "wgan_gp"):
    raise errors.ConfigError(
        f"config.divergence = {config.divergence!r} is an IPM whose critic must "
        "be Lipschitz: set config.gradient_penalty (10 is the WGAN-GP default) "
        "with config.gradient_penalty_kind = 'wgan_gp'.")
