"""A 1-D Gaussian fitted to a mixture of Gaussians under each f-divergence
(Nowozin et al. 2016, "f-GAN", section 4: "Approximating a mixture of
Gaussians").

The model Q_theta = N(mu, sigma^2) cannot equal P, so each divergence picks
its own best Gaussian: KL(P||Q) (mass-covering) matches P's mean and
variance, reverse KL (mode-seeking) shrinks onto one mode, the others lie in
between. Two answers per divergence:

  exact_minimiser  argmin_theta D_f(P || Q_theta), with D_f by quadrature
                   (fgan.information.f_divergence_density) and Nelder-Mead.
  fit              the f-GAN saddle point min_theta max_V F(V, theta) found by
                   training: generator x = mu + sigma z, an MLP critic, the
                   minimax generator loss (its fixed point is the
                   divergence's minimiser; the non-saturating loss's is not,
                   in general), Adam on fresh samples, for a divergence whose
                   dom f* is bounded on both sides (total variation) the
                   critic's output penalty (fgan.losses.output_penalty,
                   OUTPUT_PENALTY: its optimal critic sits at the ends of dom
                   f*, V grows without bound and the critic goes stale
                   without it; for the others the penalty only biases the
                   fit), and the last quarter of the generator iterates
                   averaged (Polyak averaging).

And the check that a fit can succeed at all: estimate_std, the noise that a
batch leaves in F at the minimiser even with the optimal critic (infinite
for some mixtures and divergences, and then no sample-based fit finds it).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.optimize

from fgan import divergences
from fgan import information
from fgan import losses
from fgan import models

GRID = np.linspace(-20.0, 20.0, 40_001)
# The critic output penalty's weight for a divergence whose dom f* is bounded
# on both sides (total variation): the penalty biases F towards 0, so it is
# small, as small as keeps total variation's critic alive and its fits at
# the minimiser (chosen over seeds 0-2 against 1e-3).
OUTPUT_PENALTY = 3e-4


def mixture_log_pdf(weights, means, stds):
  """log density of a 1-D Gaussian mixture (numpy, float64).

  Args:
    weights, means, stds: the components', (K,) each.

  Returns:
    log_p: x (n,) -> (n,) log densities.
  """
  w, m, s = (np.asarray(a, np.float64).reshape(-1) for a in (weights, means, stds))

  def log_p(x):
    comps = np.log(w) + information.normal_log_pdf(np.asarray(x)[:, None], m, s)
    top = comps.max(1)
    return top + np.log(np.exp(comps - top[:, None]).sum(1))
  return log_p


def exact_minimiser(div, log_p, starts=((0.0, 1.0),)) -> tuple[float, float, float]:
  """(mu*, sigma*, D_f(P || N(mu*, sigma*^2))): the best of Nelder-Mead runs
  on (mu, log sigma) from each of ``starts`` (the objective need not be
  convex: Neyman's chi-square has a local minimum on each mode).

  Args:
    div: a divergence or its name.
    log_p: x -> log p(x), P's log density.
    starts: (mu, sigma) starting points.

  Returns:
    (mu*, sigma*, the divergence there).
  """
  def objective(theta):
    mu, sigma = theta[0], np.exp(theta[1])
    log_q = lambda x: np.asarray(information.normal_log_pdf(x, mu, sigma), np.float64)
    value = information.f_divergence_density(div, log_p, log_q, GRID)
    return value if np.isfinite(value) else np.inf

  best = None
  for mu0, sigma0 in starts:
    with np.errstate(invalid="ignore"):  # infinite values on the simplex
      result = scipy.optimize.minimize(
          objective, np.array([mu0, np.log(sigma0)]), method="Nelder-Mead",
          options={"xatol": 1e-6, "fatol": 1e-10, "maxiter": 4000})
    if best is None or result.fun < best.fun:
      best = result
  return float(best.x[0]), float(np.exp(best.x[1])), float(best.fun)


def estimate_std(div, log_p, mu: float, sigma: float, x=GRID) -> float:
  """Standard deviation of one sample pair's term T*(x) - f*(T*(y)), x ~ P,
  y ~ Q = N(mu, sigma^2), of the variational estimate F at the optimal
  critic T* = f'(p/q) (Nguyen, Wainwright & Jordan 2010): F from a batch of
  B pairs has standard error estimate_std / sqrt(B), the noise that even the
  best critic leaves in the generator's objective. Var_P[T*] + Var_Q[f*(T*)]
  by quadrature (float64) on the grid x and on x stretched to twice its
  range; where the two differ by more than 1% the variance is growing with
  the range, i.e. infinite, and the answer is inf. (Neyman chi-square:
  T* = 1 - (q/p)^2 and f*(T*) = 2 - 2 q/p; for Gaussians Var_P[T*] is
  finite only if sigma_Q < sqrt(4/3) sigma_P and Var_Q[f*(T*)] only if
  sigma_Q < sqrt(3/2) sigma_P.)

  Args:
    div: a divergence or its name.
    log_p: x -> log p(x).
    mu, sigma: Q's mean and std.
    x: the quadrature grid.

  Returns:
    The standard deviation, or inf.
  """
  div = divergences.get(div)

  def std_on(x):
    lp = np.asarray(log_p(x), np.float64)
    lq = np.asarray(information.normal_log_pdf(x, mu, sigma), np.float64)
    p, q = np.exp(lp), np.exp(lq)
    both = (p > 0) & (q > 0)
    with jax.enable_x64(True):
      t = jax.vmap(jax.grad(div.f))(jnp.exp(jnp.asarray(lp - lq)))
      conj = div.conjugate(t)

    def variance(w, g):
      g = np.where(both, np.asarray(g), 0.0)
      with np.errstate(over="ignore", invalid="ignore"):
        return information.trapezoid(w * (g - information.trapezoid(w * g, x))**2, x)
    return float(np.sqrt(variance(p, t) + variance(q, conj)))

  x = np.asarray(x, np.float64)
  near, far = std_on(x), std_on(np.linspace(2 * x[0], 2 * x[-1], 2 * len(x) - 1))
  grows = not np.isfinite(far) or abs(far - near) > 0.01 * near + 1e-9
  return float("inf") if grows else near


def mixture_starts(weights, means, stds) -> list[tuple[float, float]]:
  """Starting points for exact_minimiser: the moment-matched Gaussian and
  each component widened by 10%.

  Args:
    weights, means, stds: the components', (K,) each.

  Returns:
    [(mu, sigma), ...].
  """
  w, m, s = (np.asarray(a, np.float64).reshape(-1) for a in (weights, means, stds))
  mean = float(np.sum(w * m))
  std = float(np.sqrt(np.sum(w * (s**2 + m**2)) - mean**2))
  return [(mean, std)] + [(float(a), 1.1 * float(b)) for a, b in zip(m, s)]


def fit(div, sample_p, key, num_steps: int = 6000, batch_size: int = 4096,
        hidden=(64, 64), critic_lr: float = 1e-3, generator_lr: float = 2e-3,
        n_critic: int = 5, init=(0.0, 1.0), output_penalty: float | None = None
        ) -> tuple[float, float]:
  """(mu, sigma) of the Gaussian generator N(init) trained as an f-GAN
  against samples of P (sample_p(key, n) -> (n, 1)); deterministic given
  ``key``. ``output_penalty`` None: OUTPUT_PENALTY where dom f* is bounded on both
  sides, else 0.

  Args:
    div: a divergence or its name.
    sample_p: (key, n) -> (n, 1) samples of P.
    key: the fit's PRNG key.
    num_steps: generator steps.
    batch_size: samples of each distribution per step.
    hidden: the MLP critic's hidden widths.
    critic_lr, generator_lr: their Adam learning rates.
    n_critic: critic steps per generator step.
    init: the generator's starting (mu, sigma).
    output_penalty: the critic's output penalty (see above).

  Returns:
    (mu, sigma) after training.
  """
  div = divergences.get(div)
  if output_penalty is None:
    output_penalty = OUTPUT_PENALTY if all(map(np.isfinite, div.conjugate_domain)) else 0.0
  critic = models.MLP(hidden=tuple(hidden), out=1)
  k_init, k_train = jax.random.split(key)
  d_params = models.initialize(critic, k_init, (1, 1))
  g_params = {"mu": jnp.asarray(init[0], jnp.float32),
              "log_sigma": jnp.log(jnp.asarray(init[1], jnp.float32))}
  d_opt = optax.adam(critic_lr, b1=0.5)
  g_opt = optax.adam(optax.cosine_decay_schedule(generator_lr, num_steps, 0.05), b1=0.5)

  def sample_q(g, key, n):
    return g["mu"] + jnp.exp(g["log_sigma"]) * jax.random.normal(key, (n, 1))

  def v(d, x):
    return critic.apply(d, x)[:, 0]

  objective = losses.CriticObjective(div, output_penalty=output_penalty)

  def step(carry, key):
    d, d_state, g, g_state = carry
    k_critic, kz = jax.random.split(key)
    for k in jax.random.split(k_critic, n_critic):
      kp, kq = jax.random.split(k)
      real, fake = sample_p(kp, batch_size), sample_q(g, kq, batch_size)
      grads = jax.grad(lambda d: objective(lambda x: v(d, x), real, fake)[0])(d)
      updates, d_state = d_opt.update(grads, d_state, d)
      d = optax.apply_updates(d, updates)
    grads = jax.grad(lambda g: losses.generator_loss(
        div, v(d, sample_q(g, kz, batch_size)), "minimax"))(g)
    updates, g_state = g_opt.update(grads, g_state, g)
    g = optax.apply_updates(g, updates)
    return (d, d_state, g, g_state), (g["mu"], jnp.exp(g["log_sigma"]))

  @jax.jit
  def train():
    carry = (d_params, d_opt.init(d_params), g_params, g_opt.init(g_params))
    _, (mus, sigmas) = jax.lax.scan(step, carry, jax.random.split(k_train, num_steps))
    tail = num_steps // 4
    return mus[-tail:].mean(), sigmas[-tail:].mean()

  mu, sigma = train()
  return float(mu), float(sigma)
