"""Sample-quality and mode-coverage metrics, each with its uncertainty.

Image metrics live in the feature space of fgan's own evaluation classifier
(fgan.classifier), and with eval.feature_space = "inception" also in the
FID Inception-v3's (fgan.inception): FID, Inception score and KID as
torch-fidelity computes them. Every evaluation records its protocol (feature
extractor and its checksum, resizer, quantisation, reference split and its
checksum, n_real, n_fake), so numbers of different protocols are never
compared silently.

  Frechet distance (Heusel et al. 2017, "GANs trained by a two time-scale
    update rule"; TF-GAN's MNIST Frechet distance):
    |mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 (S_1^{1/2} S_2 S_1^{1/2})^{1/2}).
  Classifier score (Salimans et al. 2016's Inception score with the
    dataset's classifier): exp(E_x KL(p(y|x) || p(y))), between 1 and K.
  Class coverage: classes receiving at least half their fair share 1/K of
    samples, and KL(class histogram || uniform).
  Precision, recall (Kynkaanniemi et al. 2019) and density, coverage (Naeem
    et al. 2020) from k-nearest-neighbour balls, k = 5.

Toy metrics, for mixtures of Gaussians with known modes (Srivastava et al.
2017, VEEGAN; Lin et al. 2018, PacGAN): a sample is high quality when it lies
within 3 standard deviations of its nearest mode; a mode is captured when it
has at least one high-quality sample.

Uncertainty: the standard error over ``num_splits`` disjoint splits of the
samples (std of the split values / sqrt(splits)), as the Inception score is
usually reported; the Frechet distance uses a bootstrap over samples.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def sqrtm_psd(a: np.ndarray) -> np.ndarray:
  """Square root of a symmetric positive semi-definite matrix via eigh."""
  a = np.asarray(a, np.float64)
  w, v = np.linalg.eigh(0.5 * (a + a.T))
  return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  s1_half = sqrtm_psd(sigma1)
  cross = sqrtm_psd(s1_half @ np.asarray(sigma2, np.float64) @ s1_half)
  value = (np.sum((mu1 - mu2)**2) + np.trace(sigma1) + np.trace(sigma2)
           - 2.0 * np.trace(cross))
  return float(max(value, 0.0))


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
  f = np.asarray(features, np.float64)
  return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance_of(features1, features2) -> float:
  """Frechet distance between the Gaussians fitted to two feature sets.

  With fewer samples than feature dimensions (n1, n2 < d), the covariances
  S_i = A_i^T A_i (A_i the centred features over sqrt(n_i - 1), n_i x d)
  have rank < n_i, and tr sqrt(S1^1/2 S2 S1^1/2) = sum of the singular
  values of A_1 A_2^T (n1 x n2): the nonzero eigenvalues of S1 S2 are those
  of (A_1 A_2^T)(A_1 A_2^T)^T. That replaces two d x d eigendecompositions
  (d = 2048 for Inception features) with one n1 x n2 SVD."""
  f1, f2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
  if max(len(f1), len(f2)) >= f1.shape[1]:
    return frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2))
  mu1, mu2 = f1.mean(0), f2.mean(0)
  a1, a2 = (f1 - mu1) / np.sqrt(len(f1) - 1), (f2 - mu2) / np.sqrt(len(f2) - 1)
  cross = np.sum(np.linalg.svd(a1 @ a2.T, compute_uv=False))
  value = np.sum((mu1 - mu2)**2) + np.sum(a1**2) + np.sum(a2**2) - 2.0 * cross
  return float(max(value, 0.0))


def frechet_with_stderr(real, fake, seed: int = 0) -> tuple[float, float]:
  """(Frechet distance, its standard error over 5 bootstrap resamples of
  both sample sets)."""
  rng = np.random.default_rng(seed)
  boot = [frechet_distance_of(real[rng.integers(0, len(real), len(real))],
                              fake[rng.integers(0, len(fake), len(fake))]) for _ in range(5)]
  return frechet_distance_of(real, fake), float(np.std(boot, ddof=1))


def _softmax(logits):
  z = np.asarray(logits, np.float64)
  z = np.exp(z - z.max(1, keepdims=True))
  return z / z.sum(1, keepdims=True)


def classifier_score(probs) -> float:
  """exp(E_x KL(p(y|x) || p(y))) of predicted class probabilities."""
  p = np.asarray(probs, np.float64)
  marginal = p.mean(0, keepdims=True)
  kl = np.sum(p * (np.log(p + 1e-12) - np.log(marginal + 1e-12)), axis=1)
  return float(np.exp(kl.mean()))


def inception_score(logits, splits: int = 10, seed: int = 2020) -> tuple[float, float]:
  """Inception score (Salimans et al. 2016) as torch-fidelity computes it:
  the samples shuffled by np.random.RandomState(seed), then for each of
  ``splits`` consecutive chunks exp(mean_x KL(p(y|x) || p_chunk(y))) with p
  the softmax (float64) of the logits without bias; (mean, std) over the
  chunks."""
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
  computes it: for each of ``subsets`` pairs of subsets (drawn without
  replacement by np.random.RandomState(seed), real then fake), the unbiased
  MMD^2 with the kernel k(x, y) = (x.y / d + coef0)^degree,
    sum_{i != j} (k(x_i, x_j) + k(y_i, y_j)) / (m (m - 1)) - 2 sum_ij k(x_i, y_j) / m^2;
  (mean, std) over the subsets. In float64."""
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
  """(classes with at least half of the fair share 1/K of predicted samples,
  KL(predicted class histogram || uniform) in nats)."""
  p = np.asarray(probs)
  k = p.shape[1]
  hist = np.bincount(p.argmax(1), minlength=k) / len(p)
  covered = int(np.sum(hist >= 0.5 / k))
  nz = hist > 0
  return covered, float(np.sum(hist[nz] * np.log(hist[nz] * k)))


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
  """Precision, recall, density and coverage with k-NN balls."""
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
  """(fn on all samples, standard error of fn over disjoint splits)."""
  n = len(arrays[0])
  values = [fn(*(a[i * n // num_splits:(i + 1) * n // num_splits] for a in arrays))
            for i in range(num_splits)]
  return float(fn(*arrays)), float(np.std(values, ddof=1) / np.sqrt(num_splits))


def image_metrics(clf, fake_images, real_features, num_splits: int = 10,
                  seed: int = 0) -> dict[str, float]:
  """All image metrics of ``fake_images`` against real data given by its
  classifier features; each ``m`` comes with ``m_stderr``."""
  fake_logits, fake_feat = clf.apply(fake_images)
  probs = _softmax(fake_logits)
  out = {}
  for name, fn in (("classifier_score", classifier_score),
                   ("classes_covered", lambda p: class_coverage(p)[0]),
                   ("class_kl_from_uniform", lambda p: class_coverage(p)[1]),
                   ("confident_share", confident_share)):
    out[name], out[f"{name}_stderr"] = with_splits(fn, probs, num_splits=num_splits)
  out["frechet_distance"], out["frechet_distance_stderr"] = frechet_with_stderr(
      real_features, fake_feat, seed)
  m = min(len(real_features), len(fake_feat), 5000)
  out.update(prdc(real_features[:m], fake_feat[:m]))
  return out


def confident_share(probs, threshold: float = 0.9) -> float:
  """Share of samples whose most likely class has probability >= threshold:
  samples the classifier reads as clear digits (real MNIST test digits:
  0.98 with fgan's classifier)."""
  return float(np.mean(np.asarray(probs).max(1) >= threshold))


def toy_metrics(samples, means, stds, num_splits: int = 10) -> dict[str, float]:
  """Modes captured and share of high-quality samples for a Gaussian mixture
  with component means (K, d) and stds (K,)."""
  x = np.asarray(samples, np.float64)
  means, stds = np.asarray(means, np.float64), np.asarray(stds, np.float64)

  def stats(x):
    d = np.linalg.norm(x[:, None, :] - means[None], axis=-1)
    nearest = d.argmin(1)
    hq = d[np.arange(len(x)), nearest] <= 3.0 * stds[nearest]
    return float(len(np.unique(nearest[hq]))), float(hq.mean())

  out = {}
  out["modes_captured"], out["modes_captured_stderr"] = with_splits(
      lambda x: stats(x)[0], x, num_splits=num_splits)
  out["high_quality_share"], out["high_quality_share_stderr"] = with_splits(
      lambda x: stats(x)[1], x, num_splits=num_splits)
  return out


FEATURE_SPACES = ("classifier", "inception")
CLASSIFIER_DATASETS = ("mnist", "fashion_mnist")


def check(config) -> None:
  """eval.feature_space, and for "inception" image data and the weights
  file."""
  from fgan import data as data_lib  # pylint: disable=import-outside-toplevel
  from fgan import errors, inception  # pylint: disable=import-outside-toplevel
  space = config.eval.get("feature_space", "classifier")
  errors.check_choice("eval.feature_space", space, FEATURE_SPACES)
  if space == "inception" and config.eval.metrics:
    if data_lib.kind(config.data.name) != "images":
      raise errors.ConfigError(
          f"config.eval.feature_space = 'inception' needs image data; "
          f"config.data.name = {config.data.name!r} is a toy mixture. Set "
          "--config.eval.feature_space=classifier.")
    inception.check(config.eval)


def inception_metrics(real_features, fake_features, fake_logits, seed: int = 0) -> dict:
  """FID (with a bootstrap standard error), Inception score (10 splits,
  mean and std) and KID (100 subsets of 1000, mean and std), and precision,
  recall, density, coverage in Inception space, all ``inception_``-named."""
  out = dict(zip(("inception_fid", "inception_fid_stderr"),
                 frechet_with_stderr(real_features, fake_features, seed)))
  out["inception_score"], out["inception_score_std"] = inception_score(fake_logits)
  size = min(1000, len(real_features), len(fake_features))
  out["inception_kid"], out["inception_kid_std"] = kernel_inception_distance(
      real_features, fake_features, subset_size=size)
  m = min(len(real_features), len(fake_features), 5000)
  out.update({f"inception_{k}": v for k, v in prdc(real_features[:m], fake_features[:m]).items()})
  return out


def _inception_reference(extractor, config, test) -> np.ndarray:
  """pool3 features of the test split, cached under a key of the dataset,
  split, its content checksum, the resizer, the quantisation and the
  weights' checksum."""
  import hashlib  # pylint: disable=import-outside-toplevel
  import json  # pylint: disable=import-outside-toplevel
  import os  # pylint: disable=import-outside-toplevel
  from fgan import inception  # pylint: disable=import-outside-toplevel
  key = {"dataset": config.data.name, "split": "test",
         "content_sha256": test.info["content_sha256"], "resizer": inception.RESIZER,
         "quantisation": inception.QUANTISATION, "extractor_sha256": extractor.sha256}
  digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
  path = inception.default_weights_path().parent / f"reference-{digest}.npz"
  if path.is_file():
    with np.load(path, allow_pickle=False) as f:
      if json.loads(str(f["key"])) == key:
        return f["features"]
  features, _ = extractor.features_of_uint8(np.asarray(test.arrays["images"]))
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
  np.savez(tmp, features=features, key=json.dumps(key, sort_keys=True))
  os.replace(tmp, path)
  return features


class Evaluator:
  """Evaluates a generator's samples for a run's config and dataset.

  Images: ``eval.num_samples`` samples against the dataset's test split in
  the evaluation classifier's feature space (fgan.classifier) and, with
  eval.feature_space = "inception", in the FID Inception's
  (fgan.inception), its reference features cached by _inception_reference. Toy
  mixtures: modes captured and high-quality share. Samples come from a
  latent batch fixed by the seed (stream "evaluation"), so the same
  parameters always get the same numbers.
  """

  def __init__(self, config, dataset, generator, shared: "Evaluator | None" = None):
    """``shared``: an Evaluator of the same data whose classifier and
    reference features are reused (runs of several seeds)."""
    from fgan import classifier as classifier_lib  # pylint: disable=import-outside-toplevel
    from fgan import data as data_lib  # pylint: disable=import-outside-toplevel
    from fgan import train  # pylint: disable=import-outside-toplevel
    self.num_samples = config.eval.num_samples
    self.config, self.dataset, self.generator = config, dataset, generator
    self._z = jax.random.normal(train.stream_key(config.seed, "evaluation"),
                                (self.num_samples, config.model.z_dim))
    self._generate = jax.jit(lambda p, z: train.generate(generator, p, z, dataset.shape))
    self.info = {}
    if shared is not None:
      self.info = shared.info
      for name in ("classifier", "real_features", "held_out", "means", "stds", "inception",
                   "inception_features"):
        if hasattr(shared, name):
          setattr(self, name, getattr(shared, name))
    elif dataset.kind == "images":
      from fgan import inception  # pylint: disable=import-outside-toplevel
      test = data_lib.load(config.data, "test")
      self.held_out = data_lib.as_float(test.arrays["images"])
      space = config.eval.get("feature_space", "classifier")
      self.info = {"feature_space": space, "reference": f"{config.data.name} test split",
                   "reference_sha256": test.info["content_sha256"],
                   "n_real": len(self.held_out), "n_fake": self.num_samples}
      if space == "classifier" or config.data.name in CLASSIFIER_DATASETS:
        self.classifier = classifier_lib.load_classifier(config.data)
        _, self.real_features = self.classifier.apply(self.held_out)
        self.info.update({"classifier_sha256": self.classifier.sha256,
                          "classifier_test_accuracy": self.classifier.test_accuracy,
                          "classifier_source": self.classifier.source})
      if space == "inception":
        self.inception = inception.load(config.eval)
        self.inception_features = _inception_reference(self.inception, config, test)
        self.info["inception"] = {
            "extractor": "FID Inception-v3 2015-12-05 (pool3 2048; logits 1008 without bias)",
            "extractor_sha256": self.inception.sha256,
            "official_weights": self.inception.official, "resizer": inception.RESIZER,
            "quantisation": inception.QUANTISATION, "inception_score_splits": 10,
            "kid_subsets": 100, "kid_subset_size": min(1000, self.num_samples)}
    else:
      from fgan.data import toy  # pylint: disable=import-outside-toplevel
      _, self.means, self.stds = toy.mixture_params(config.data)

  def samples(self, g_params, batch: int = 500) -> np.ndarray:
    return np.concatenate([np.asarray(self._generate(g_params, self._z[i:i + batch]))
                           for i in range(0, self.num_samples, batch)])

  def __call__(self, g_params) -> dict[str, float]:
    x = self.samples(g_params)
    if self.dataset.kind != "images":
      return toy_metrics(x, self.means, self.stds)
    out = image_metrics(self.classifier, x, self.real_features) if hasattr(
        self, "classifier") else {}
    if hasattr(self, "inception"):
      out.update(inception_metrics(self.inception_features, *self.inception.features(x)))
    return out

  def divergence_estimates(self, g_params) -> dict[str, float]:
    """Independent estimates of D(P || Q_theta) for the run's divergence and
    Jensen-Shannon (fgan.estimation.estimate), after Im et al. 2018
    ("Quantitatively evaluating GANs with divergences proposed for
    training"): for each, a fresh critic (the run's critic architecture,
    without normalisation; WGAN-GP weight 10 for wasserstein; for the
    run's divergence its critic_output_bound, for JS none, so that the JS
    column compares runs) trained for eval.estimate_steps on the training
    data against fresh samples, its F then read on held-out data: images,
    the whole test split against as many new samples; toys, 100,000 new
    draws of the mixture and of the generator. Keys from the seed's "estimation" stream. {"heldout_divergence":
    F of the run's divergence, "heldout_js": F of JS, each with its
    "_stderr"}."""
    from fgan import divergences as divs  # pylint: disable=import-outside-toplevel
    from fgan import estimation, models, train  # pylint: disable=import-outside-toplevel
    c = self.config
    model = c.model.copy_and_resolve_references()
    model.critic_norm = "none"
    critic = models.build(model, self.dataset.shape)[1]
    shape, z_dim = tuple(self.dataset.shape), c.model.z_dim
    sample_q = lambda k, n: train.generate(self.generator, g_params,
                                           jax.random.normal(k, (n, z_dim)), shape)
    key = train.stream_key(c.seed, "estimation")
    eval_p = eval_q = None
    if self.dataset.kind == "images":
      eval_p = self.held_out
      eval_q = sample_q(jax.random.fold_in(key, 0), len(eval_p))
    wanted = {"heldout_divergence": (c.divergence, float(c.critic_output_bound)),
              "heldout_js": ("js", 0.0)}
    estimates = {}
    for i, (name, bound) in enumerate(dict.fromkeys(wanted.values())):
      estimates[name, bound] = estimation.estimate(
          name, critic, self.dataset.sample, sample_q, jax.random.fold_in(key, i + 1),
          c.eval.estimate_steps, c.train.batch_size, c.eval.estimate_learning_rate, b1=0.5,
          gradient_penalty=10.0 if divs.get(name).is_ipm else 0.0,
          eval_p=eval_p, eval_q=eval_q, eval_samples=100_000,
          p_data=self.dataset.arrays, output_bound=bound)
    out = {}
    for key_name, which in wanted.items():
      out[key_name], out[f"{key_name}_stderr"] = estimates[which].value, estimates[which].stderr
    return out
