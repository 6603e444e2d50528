"""Sample-quality and mode-coverage metrics, each with its uncertainty, and
the registry that owns them.

A metric is registered once (``register``, a ``Metric``) with its name, the
space it reads, its function, its direction and whether it ranks sweep
tables; evaluation (fgan.evaluation), the run's summary, the sweep tables
(fgan.studies.report) and the command lines all read it from there.

  Frechet distance (Heusel et al. 2017, "GANs trained by a two time-scale
    update rule"; TF-GAN's MNIST Frechet distance):
    |mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 (S_1^{1/2} S_2 S_1^{1/2})^{1/2}).
  Classifier score (Salimans et al. 2016's Inception score with the
    dataset's classifier): exp(E_x KL(p(y|x) || p(y))), between 1 and K.
  Class coverage: classes receiving at least half their fair share 1/K of
    samples, and KL(class histogram || uniform).
  Precision, recall (Kynkaanniemi et al. 2019) and density, coverage (Naeem
    et al. 2020) from k-nearest-neighbour balls, k = 5.
  Inception score and KID (Binkowski et al. 2018) as torch-fidelity
    computes them.

Toy metrics, for mixtures of Gaussians with known modes (Srivastava et al.
2017, VEEGAN; Lin et al. 2018, PacGAN): a sample is high quality when it lies
within 3 standard deviations of its nearest mode; a mode is captured when it
has at least one high-quality sample.

Uncertainty: the standard error over 10 disjoint splits of the samples (std
of the split values / sqrt(splits)); the Frechet distance uses a bootstrap
over samples; the Inception score and KID report their std over splits and
subsets, as torch-fidelity does.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np


def sqrtm_psd(a: np.ndarray) -> np.ndarray:
  """Square root of a symmetric positive semi-definite matrix (eigh).

  Args:
    a: (d, d) symmetric PSD.

  Returns:
    (d, d) float64 S with S S = a.
  """
  a = np.asarray(a, np.float64)
  w, v = np.linalg.eigh(0.5 * (a + a.T))
  return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """Frechet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2).

  Args:
    mu1, mu2: (d,) means.
    sigma1, sigma2: (d, d) covariances.

  Returns:
    The distance (>= 0).
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  s1_half = sqrtm_psd(sigma1)
  cross = sqrtm_psd(s1_half @ np.asarray(sigma2, np.float64) @ s1_half)
  value = (np.sum((mu1 - mu2)**2) + np.trace(sigma1) + np.trace(sigma2)
           - 2.0 * np.trace(cross))
  return float(max(value, 0.0))


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
  """(mean (d,), covariance (d, d)) of features (n, d), in float64.

  Returns:
    (mean, covariance).
  """
  f = np.asarray(features, np.float64)
  return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance_of(features1, features2) -> float:
  """Frechet distance between the Gaussians fitted to two feature sets.

  With fewer samples than feature dimensions (n1, n2 < d), the covariances
  S_i = A_i^T A_i (A_i the centred features over sqrt(n_i - 1), n_i x d)
  have rank < n_i, and tr sqrt(S1^1/2 S2 S1^1/2) = sum of the singular
  values of A_1 A_2^T (n1 x n2): the nonzero eigenvalues of S1 S2 are those
  of (A_1 A_2^T)(A_1 A_2^T)^T. One n1 x n2 SVD replaces two d x d
  eigendecompositions.

  Args:
    features1: (n1, d).
    features2: (n2, d).

  Returns:
    The distance (>= 0).
  """
  f1, f2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
  if max(len(f1), len(f2)) >= f1.shape[1]:
    return frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2))
  mu1, mu2 = f1.mean(0), f2.mean(0)
  a1, a2 = (f1 - mu1) / np.sqrt(len(f1) - 1), (f2 - mu2) / np.sqrt(len(f2) - 1)
  cross = np.sum(np.linalg.svd(a1 @ a2.T, compute_uv=False))
  value = np.sum((mu1 - mu2)**2) + np.sum(a1**2) + np.sum(a2**2) - 2.0 * cross
  return float(max(value, 0.0))


def frechet_with_stderr(real, fake, seed: int = 0) -> tuple[float, float]:
  """The Frechet distance of two feature sets and its standard error over 5
  bootstrap resamples of both.

  Args:
    real: (n1, d) features.
    fake: (n2, d) features.
    seed: of the resampling.

  Returns:
    (distance, standard error).
  """
  rng = np.random.default_rng(seed)
  boot = [frechet_distance_of(real[rng.integers(0, len(real), len(real))],
                              fake[rng.integers(0, len(fake), len(fake))]) for _ in range(5)]
  return frechet_distance_of(real, fake), float(np.std(boot, ddof=1))


def softmax(logits) -> np.ndarray:
  """Class probabilities (float64) of logits (n, K).

  Args:
    logits: (n, K).

  Returns:
    (n, K) probabilities.
  """
  z = np.asarray(logits, np.float64)
  z = np.exp(z - z.max(1, keepdims=True))
  return z / z.sum(1, keepdims=True)


def classifier_score(probs) -> float:
  """exp(E_x KL(p(y|x) || p(y))) of predicted class probabilities (n, K).

  Args:
    probs: (n, K) class probabilities.

  Returns:
    The score, in [1, K].
  """
  p = np.asarray(probs, np.float64)
  marginal = p.mean(0, keepdims=True)
  kl = np.sum(p * (np.log(p + 1e-12) - np.log(marginal + 1e-12)), axis=1)
  return float(np.exp(kl.mean()))


def inception_score(logits, splits: int = 10, seed: int = 2020) -> tuple[float, float]:
  """Inception score (Salimans et al. 2016) as torch-fidelity computes it:
  the samples shuffled by np.random.RandomState(seed), then for each of
  ``splits`` consecutive chunks exp(mean_x KL(p(y|x) || p_chunk(y))) with p
  the softmax (float64) of the logits.

  Args:
    logits: (n, K) logits without bias.
    splits: chunks.
    seed: of the shuffle.

  Returns:
    (mean, std) over the chunks.
  """
  z = np.asarray(logits, np.float64)
  z = z[np.random.RandomState(seed).permutation(len(z))]
  log_p = z - z.max(1, keepdims=True)
  log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
  n, scores = len(z), []
  for i in range(splits):
    chunk = log_p[i * n // splits:(i + 1) * n // splits]
    p = np.exp(chunk)
    kl = np.sum(p * (chunk - np.log(p.mean(0, keepdims=True))), axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))


def kernel_inception_distance(real_features, fake_features, subsets: int = 100,
                              subset_size: int = 1000, degree: int = 3,
                              coef0: float = 1.0, seed: int = 2020) -> tuple[float, float]:
  """KID (Binkowski et al. 2018, "Demystifying MMD GANs") as torch-fidelity
  computes it, in float64: for each of ``subsets`` pairs of subsets (drawn
  without replacement by np.random.RandomState(seed), real then fake), the
  unbiased MMD^2 with the kernel k(x, y) = (x.y / d + coef0)^degree,

    sum_{i != j} (k(x_i, x_j) + k(y_i, y_j)) / (m (m - 1)) - 2 sum_ij k(x_i, y_j) / m^2.

  Args:
    real_features: (n1, d).
    fake_features: (n2, d).
    subsets, subset_size, degree, coef0, seed: as above.

  Returns:
    (mean, std) over the subsets.

  Raises:
    ValueError: fewer than ``subset_size`` samples of either.
  """
  real = np.asarray(real_features, np.float64)
  fake = np.asarray(fake_features, np.float64)
  if min(len(real), len(fake)) < subset_size:
    raise ValueError(f"KID needs at least subset_size = {subset_size} samples of each; "
                     f"got {len(real)} real and {len(fake)} generated.")
  rng, d, m = np.random.RandomState(seed), real.shape[1], subset_size
  kernel = lambda a, b: (a @ b.T / d + coef0)**degree
  mmds = []
  for _ in range(subsets):
    x = real[rng.choice(len(real), m, replace=False)]
    y = fake[rng.choice(len(fake), m, replace=False)]
    kxx, kyy = kernel(x, x), kernel(y, y)
    within = kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)
    mmds.append(within / (m * (m - 1)) - 2.0 * kernel(x, y).sum() / m**2)
  return float(np.mean(mmds)), float(np.std(mmds))


def class_coverage(probs) -> tuple[int, float]:
  """How the predicted classes of samples cover the K classes.

  Args:
    probs: (n, K) class probabilities.

  Returns:
    (classes with at least half of the fair share 1/K of the samples,
    KL(predicted class histogram || uniform) in nats).
  """
  p = np.asarray(probs)
  k = p.shape[1]
  hist = np.bincount(p.argmax(1), minlength=k) / len(p)
  covered = int(np.sum(hist >= 0.5 / k))
  nz = hist > 0
  return covered, float(np.sum(hist[nz] * np.log(hist[nz] * k)))


def confident_share(probs, threshold: float = 0.9) -> float:
  """Share of samples whose most likely class has probability >= threshold:
  samples the classifier reads as clear members of a class (real MNIST test
  digits: 0.98 with fgan's classifier).

  Args:
    probs: (n, K) class probabilities.
    threshold: the probability.

  Returns:
    The share in [0, 1].
  """
  return float(np.mean(np.asarray(probs).max(1) >= threshold))


@jax.jit
def _pairwise_sq_block(x, y):
  return jnp.maximum(jnp.sum(x * x, 1)[:, None] + jnp.sum(y * y, 1)[None, :] - 2.0 * x @ y.T,
                     0.0)


def _pairwise_sq(a, b):
  """Squared Euclidean distances between rows, computed in blocks."""
  a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
  return np.concatenate([np.asarray(_pairwise_sq_block(a[i:i + 2048], b))
                         for i in range(0, len(a), 2048)])


def _kth_neighbour_radius(x, k):
  d = _pairwise_sq(x, x)
  return np.sqrt(np.partition(d, k, axis=1)[:, k])  # index 0 is the point itself


def prdc(real_features, fake_features, k: int = 5) -> dict[str, float]:
  """Precision, recall, density and coverage with k-nearest-neighbour balls.

  Args:
    real_features: (n1, d).
    fake_features: (n2, d).
    k: the neighbour whose distance is a ball's radius.

  Returns:
    {"precision", "recall", "density", "coverage"}.
  """
  real, fake = np.asarray(real_features), np.asarray(fake_features)
  r_real, r_fake = _kth_neighbour_radius(real, k), _kth_neighbour_radius(fake, k)
  d = np.sqrt(_pairwise_sq(real, fake))  # (real, fake)
  in_real_ball = d < r_real[:, None]
  return {
      "precision": float(np.mean(in_real_ball.any(0))),
      "recall": float(np.mean((d < r_fake[None, :]).any(1))),
      "density": float(in_real_ball.sum(0).mean() / k),
      "coverage": float(np.mean((d.min(1) < r_real))),
  }


def with_splits(fn, *arrays, num_splits: int = 10) -> tuple[float, float]:
  """A statistic of samples and its standard error over disjoint splits.

  Args:
    fn: (*arrays) -> float.
    *arrays: arrays with the samples on their first axis.
    num_splits: splits.

  Returns:
    (fn on all samples, std of fn over the splits / sqrt(num_splits)).
  """
  n = len(arrays[0])
  values = [fn(*(a[i * n // num_splits:(i + 1) * n // num_splits] for a in arrays))
            for i in range(num_splits)]
  return float(fn(*arrays)), float(np.std(values, ddof=1) / np.sqrt(num_splits))


def toy_stats(samples, means, stds) -> tuple[float, float]:
  """(modes captured, share of high-quality samples) of samples of a
  Gaussian mixture.

  Args:
    samples: (n, d).
    means: (K, d) component means.
    stds: (K,) component standard deviations.

  Returns:
    (modes with at least one sample within 3 std of it as its nearest mode,
    share of samples within 3 std of their nearest mode).
  """
  x = np.asarray(samples, np.float64)
  d = np.linalg.norm(x[:, None, :] - means[None], axis=-1)
  nearest = d.argmin(1)
  hq = d[np.arange(len(x)), nearest] <= 3.0 * stds[nearest]
  return float(len(np.unique(nearest[hq]))), float(hq.mean())


class Features:
  """What the metrics of one evaluation read: the generated samples in one
  space, and the reference data in it. Derived quantities are computed on
  first use and shared by the metrics that need them.

  Attributes:
    space: "classifier", "inception" or "toy".
    real: (n, d) reference features (None for toy data).
    fake: (m, d) generated samples' features (toy: the samples themselves).
    logits: (m, K) generated samples' class logits, or None.
    means, stds: toy mixtures' component means (K, d) and stds (K,).
    seed: of resamplings (the Frechet distance's bootstrap).
  """

  def __init__(self, space: str, fake, real=None, logits=None, means=None, stds=None,
               seed: int = 0):
    """Args: as the attributes.

    Args:
      space, fake, real, logits, means, stds, seed: as the attributes.
    """
    self.space, self.fake, self.real, self.logits = space, fake, real, logits
    self.means = None if means is None else np.asarray(means, np.float64)
    self.stds = None if stds is None else np.asarray(stds, np.float64)
    self.seed = seed

  @functools.cached_property
  def probs(self) -> np.ndarray:
    """(m, K) class probabilities of the generated samples."""
    return softmax(self.logits)

  @functools.cached_property
  def prdc(self) -> dict[str, float]:
    """Precision, recall, density, coverage of the first min(n, m, 5000)
    samples of each."""
    m = min(len(self.real), len(self.fake), 5000)
    return prdc(self.real[:m], self.fake[:m])


@dataclasses.dataclass(frozen=True)
class Metric:
  """One evaluation number.

  Attributes:
    name: its key in evaluations, metrics.jsonl ("eval/<name>"), summaries
      and tables.
    space: the Features it reads: "classifier", "inception" or "toy".
    fn: (Features) -> value, or (value, uncertainty).
    higher_is_better: its direction.
    rank: precedence in ranking a sweep's rows (lower first); None: not
      ranked.
    headline: shown first in a run's final summary.
    uncertainty: the suffix of its uncertainty's key ("stderr": a standard
      error, "std": a standard deviation over splits), where ``fn`` gives
      one.
  """

  name: str
  space: str
  fn: Callable[[Features], float | tuple[float, float]]
  higher_is_better: bool
  rank: int | None = None
  headline: bool = False
  uncertainty: str = "stderr"

  def __call__(self, features: Features) -> dict[str, float]:
    """Args: features. Returns: {name: value} (and its uncertainty)."""
    out = self.fn(features)
    if isinstance(out, tuple):
      return {self.name: float(out[0]), f"{self.name}_{self.uncertainty}": float(out[1])}
    return {self.name: float(out)}


_METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
  """Make ``metric`` part of every evaluation in its space.

  Args:
    metric: the metric; its name must be new.

  Returns:
    ``metric``.

  Raises:
    ValueError: a different metric has that name.
  """
  if _METRICS.get(metric.name, metric) is not metric:
    raise ValueError(f"A metric named {metric.name!r} exists already.")
  _METRICS[metric.name] = metric
  return metric


def of_space(space: str) -> tuple[Metric, ...]:
  """The metrics that read ``space``'s Features, in registration order.

  Args:
    space: a feature space's name.

  Returns:
    The metrics.
  """
  return tuple(m for m in _METRICS.values() if m.space == space)


def ranking() -> tuple[tuple[str, bool], ...]:
  """((name, higher is better), ...) of the ranked metrics, by precedence.

  Returns:
    The ranking.
  """
  ranked = sorted((m for m in _METRICS.values() if m.rank is not None), key=lambda m: m.rank)
  return tuple((m.name, m.higher_is_better) for m in ranked)


def headline() -> tuple[str, ...]:
  """Names of the metrics a run's summary shows first.

  Returns:
    The names, in registration order.
  """
  return tuple(m.name for m in _METRICS.values() if m.headline)


def _split(fn):
  """A metric function of the class probabilities, with its split
  standard error."""
  return lambda f: with_splits(fn, f.probs)


def _toy(index):
  return lambda f: with_splits(lambda x: toy_stats(x, f.means, f.stds)[index], f.fake)


def _kid(f):
  size = min(1000, len(f.real), len(f.fake))
  return kernel_inception_distance(f.real, f.fake, subset_size=size)


for _metric in (
    Metric("classifier_score", "classifier", _split(classifier_score), True, headline=True),
    Metric("classes_covered", "classifier", _split(lambda p: class_coverage(p)[0]), True,
           headline=True),
    Metric("class_kl_from_uniform", "classifier", _split(lambda p: class_coverage(p)[1]),
           False),
    Metric("confident_share", "classifier", _split(confident_share), True, rank=3,
           headline=True),
    Metric("frechet_distance", "classifier",
           lambda f: frechet_with_stderr(f.real, f.fake, f.seed), False, rank=2, headline=True),
    *(Metric(name, "classifier", lambda f, name=name: f.prdc[name], True)
      for name in ("precision", "recall", "density", "coverage")),
    Metric("inception_fid", "inception",
           lambda f: frechet_with_stderr(f.real, f.fake, f.seed), False, headline=True),
    Metric("inception_score", "inception", lambda f: inception_score(f.logits), True,
           uncertainty="std"),
    Metric("inception_kid", "inception", _kid, False, uncertainty="std"),
    *(Metric(f"inception_{name}", "inception", lambda f, name=name: f.prdc[name], True)
      for name in ("precision", "recall", "density", "coverage")),
    Metric("modes_captured", "toy", _toy(0), True, rank=0, headline=True),
    Metric("high_quality_share", "toy", _toy(1), True, rank=1, headline=True),
):
  register(_metric)


def evaluate(features: Features) -> dict[str, float]:
  """Every registered metric of ``features.space``.

  Args:
    features: the samples and the reference in one space.

  Returns:
    {name: value, name_<uncertainty>: its uncertainty, ...} in registration
    order.
  """
  out = {}
  for metric in of_space(features.space):
    out.update(metric(features))
  return out
