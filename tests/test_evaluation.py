"""Evaluation metrics on constructed cases, and the evaluation classifier."""

import hashlib
import json
import pathlib

import numpy as np
import pytest
import scipy.linalg

from fgan.evaluation import classifier
from fgan import data
from fgan import evaluation
from fgan.evaluation import metrics
from tests.conftest import TFDS_FIXTURES
from tests.conftest import data_config
from tests.conftest import fashion_fixture


def _spd(rng, d):
  a = rng.normal(size=(d, d))
  return a @ a.T + 0.1 * np.eye(d)


@pytest.mark.parametrize("d", [2, 16, 64])
def test_sqrtm_matches_scipy(d):
  a = _spd(np.random.default_rng(d), d)
  ours, ref = metrics.sqrtm_psd(a), scipy.linalg.sqrtm(a).real
  assert np.max(np.abs(ours - ref)) / np.max(np.abs(ref)) < 1e-4
  np.testing.assert_allclose(ours @ ours, a, rtol=1e-6, atol=1e-8)


def test_frechet_distance_identical_and_closed_form():
  rng = np.random.default_rng(0)
  s = _spd(rng, 8)
  mu = rng.normal(size=8)
  assert metrics.frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-8)
  # Diagonal covariances commute: FD = |mu1 - mu2|^2 + sum (sigma1 - sigma2)^2.
  s1, s2 = rng.uniform(0.5, 2, 8), rng.uniform(0.5, 2, 8)
  mu2 = rng.normal(size=8)
  expected = np.sum((mu - mu2)**2) + np.sum((s1 - s2)**2)
  got = metrics.frechet_distance(mu, np.diag(s1**2), mu2, np.diag(s2**2))
  assert got == pytest.approx(expected, rel=1e-8)
  # Against scipy's sqrtm of the (non-symmetric) product, the textbook formula.
  s2 = _spd(rng, 8)
  textbook = (np.sum((mu - mu2)**2) + np.trace(s) + np.trace(s2)
              - 2 * np.trace(scipy.linalg.sqrtm(s @ s2).real))
  assert metrics.frechet_distance(mu, s, mu2, s2) == pytest.approx(textbook, rel=1e-6)


def test_frechet_distance_of_fewer_samples_than_dimensions_equals_the_covariance_form():
  rng = np.random.default_rng(1)
  real, fake = rng.normal(size=(40, 96)), 0.2 + 1.5 * rng.normal(size=(30, 96))
  got = metrics.frechet_distance_of(real, fake)  # the n x n singular values
  expected = metrics.frechet_distance(*metrics.gaussian_stats(real),
                                         *metrics.gaussian_stats(fake))
  assert got == pytest.approx(expected, rel=1e-6)
  assert metrics.frechet_distance_of(real, real) == pytest.approx(0.0, abs=1e-6)


def test_single_class_samples_have_coverage_one_and_score_one():
  probs = np.full((1000, 10), 1e-4)
  probs[:, 3] = 1 - 9e-4
  covered, kl = metrics.class_coverage(probs)
  assert covered == 1 and kl == pytest.approx(np.log(10))
  assert metrics.classifier_score(probs) == pytest.approx(1.0, abs=1e-3)


def test_uniform_confident_samples_score_number_of_classes():
  probs = np.eye(10)[np.arange(1000) % 10] * (1 - 1e-6) + 1e-7
  assert metrics.classifier_score(probs) == pytest.approx(10.0, rel=1e-3)
  assert metrics.class_coverage(probs) == (10, pytest.approx(0.0, abs=1e-12))


def test_prdc_same_and_disjoint_distributions():
  rng = np.random.default_rng(0)
  real, fake = rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8))
  same = metrics.prdc(real, fake)
  assert same["precision"] > 0.9 and same["recall"] > 0.9 and same["coverage"] > 0.9
  assert 0.8 < same["density"] < 1.2
  far = metrics.prdc(real, fake + 50.0)
  assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_toy_metrics_modes_and_quality():
  means, stds = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]]), np.array([0.1, 0.1, 0.1])
  rng = np.random.default_rng(0)
  good = means[rng.integers(0, 3, 3000)] + 0.1 * rng.normal(size=(3000, 2))
  toy = lambda x: metrics.evaluate(metrics.Features("toy", x, means=means, stds=stds))
  m = toy(good)
  assert m["modes_captured"] == 3 and m["high_quality_share"] > 0.98
  assert set(m) == {"modes_captured", "modes_captured_stderr", "high_quality_share",
                    "high_quality_share_stderr"}
  collapsed = means[0] + 0.1 * rng.normal(size=(3000, 2))
  assert toy(collapsed)["modes_captured"] == 1
  spread = rng.uniform(-10, 10, size=(3000, 2))
  assert toy(spread)["high_quality_share"] < 0.05


def test_with_splits_reports_standard_error():
  x = np.random.default_rng(0).normal(size=10_000)
  value, err = metrics.with_splits(np.mean, x, num_splits=10)
  assert value == pytest.approx(x.mean())
  assert 0.003 < err < 0.02  # 1/sqrt(10000) = 0.01


def test_shipped_mnist_classifier_reads_real_digits():
  clf = classifier.load_classifier(data_config(name="mnist"))
  meta = json.loads((classifier.SHIPPED / "mnist" / "meta.json").read_text())
  assert clf.source == "shipped with fgan" and clf.sha256 == meta["sha256"]
  test = data.load(data_config(name="mnist"), "test")
  logits, features = clf.apply(data.as_float(test.arrays["images"]))
  accuracy = float(np.mean(logits.argmax(1) == test.labels))
  assert accuracy == pytest.approx(meta["test_accuracy"], abs=1e-4) and accuracy >= 0.99
  assert features.shape == (10_000, 128)
  assert (classifier.SHIPPED / "mnist" / "params.msgpack").stat().st_size < 1 << 20


@pytest.mark.parametrize("resize,folder", [(0, "fashion_mnist"), (32, "fashion_mnist-32px")])
def test_fashion_mnist_runs_use_the_shipped_classifier_and_train_none(tmp_path, monkeypatch,
                                                                      resize, folder):
  """Every machine measures Fashion-MNIST, as it is and resized to 32x32,
  in the shipped network's feature space: its file's checksum, no training
  on first use."""
  fashion_fixture(tmp_path, monkeypatch, n=256)
  def no_training(*args, **kwargs):
    raise AssertionError("a classifier was trained")
  monkeypatch.setattr(classifier, "train_classifier", no_training)
  config = data_config(name="fashion_mnist", source="offline", idx_dir=str(tmp_path),
                       resize=resize)
  clf = classifier.load_classifier(config)
  meta = json.loads((classifier.SHIPPED / folder / "meta.json").read_text())
  assert clf.source == "shipped with fgan" and clf.sha256 == meta["sha256"]
  assert meta["shape"] == [resize or 28, resize or 28, 1]
  assert meta["sha256"] == hashlib.sha256(
      (classifier.SHIPPED / folder / "params.msgpack").read_bytes()).hexdigest()


def test_classifier_trains_caches_and_a_damaged_cache_is_retrained(capsys):
  """A labelled dataset without a shipped classifier (the 10-class TFDS
  fixture) gets one trained on first use and cached; a damaged cache is
  said and trained again, to the same network."""
  config = data_config(name="tfds:fgan_tiny32", tfds_data_dir=str(TFDS_FIXTURES))
  first = classifier.load_classifier(config)  # nothing shipped or cached: trains
  assert "test accuracy" in capsys.readouterr().out
  again = classifier.load_classifier(config)  # from the cache, verified
  assert again.sha256 == first.sha256 and again.source == first.source
  meta = pathlib.Path(first.source) / "meta.json"
  meta.write_text(meta.read_text()[:20])  # garbled
  third = classifier.load_classifier(config)
  out = capsys.readouterr().out
  assert "is damaged" in out and "test accuracy" in out
  assert third.sha256 == first.sha256  # the same network, trained again


def _fresh_generator_estimates(config):
  from fgan import models, train
  ds = data.load(config.data)
  g, d = models.build(config.model, ds.shape)
  state = train.create_state(config, g, d, ds.shape)
  ev = evaluation.Evaluator(config, ds, g)
  return ev, state.g_ema_params


def test_heldout_estimates_see_an_untrained_generator_far_from_the_ring():
  from tests.conftest import toy_config
  c = toy_config(divergence="kl")
  c.eval.estimate_steps = 300
  ev, g_params = _fresh_generator_estimates(c)
  est = ev.divergence_estimates(g_params)
  assert set(est) == {"heldout_divergence", "heldout_divergence_stderr",
                      "heldout_js", "heldout_js_stderr"}
  # The untrained generator's samples lie near 0, the ring at radius 2: the
  # two barely overlap, so JS is near its maximum log 2 and KL is large.
  assert 0.5 < est["heldout_js"] <= np.log(2) + 3 * est["heldout_js_stderr"]
  assert est["heldout_divergence"] > 2.0
  assert 0 < est["heldout_divergence_stderr"] < 0.2 * est["heldout_divergence"]
  assert ev.divergence_estimates(g_params) == est  # keys from the seed alone


def test_heldout_wasserstein_estimate_on_images_reads_the_test_split():
  from configs import base
  c = base.wgan_gp(base.get_base_config())
  c.model.width = c.model.critic_width = 8
  c.eval.estimate_steps = 20
  ev, g_params = _fresh_generator_estimates(c)
  est = ev.divergence_estimates(g_params)
  assert est["heldout_divergence"] > 0 and est["heldout_divergence_stderr"] > 0
  assert np.isfinite(est["heldout_js"])


def _class_folder(root, classes: int, per_class: int = 2):
  """A folder of 28x28 greyscale PNGs, ``per_class`` in each of ``classes``
  subfolders (a label-free dataset when read without folder_labels)."""
  from PIL import Image  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  for k in range(classes):
    (root / f"c{k:03d}").mkdir(parents=True)
    for i in range(per_class):
      Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(
          root / f"c{k:03d}" / f"{i}.png")
  return root


def _evaluate(config):
  from fgan import models, train  # pylint: disable=import-outside-toplevel
  dataset = data.load(config.data)
  generator, critic = models.build(config.model, dataset.shape)
  state = train.create_state(config, generator, critic, dataset.shape)
  evaluator = evaluation.Evaluator(config, dataset, generator)
  return evaluator, evaluator(state.g_ema_params)


def test_classifier_metrics_are_over_the_datasets_own_classes(tmp_path):
  """A 100-class folder: a 100-way classifier, and coverage out of 100 (an
  untrained generator's samples fall in few classes: KL from uniform above
  log 10, the most a 10-way histogram can have)."""
  from tests.conftest import image_config  # pylint: disable=import-outside-toplevel
  root = _class_folder(tmp_path / "hundred", 100)
  config = image_config(name=f"folder:{root}", **{"data.folder_labels": True,
                                                  "data.resize": 28})
  evaluator, got = _evaluate(config)
  assert evaluator.info["classifier_classes"] == 100
  assert got["classes_covered"] <= 100
  assert np.log(10) < got["class_kl_from_uniform"] <= np.log(100) + 1e-6


def test_a_label_free_dataset_gets_no_classifier_metrics_and_says_so(tmp_path):
  from tests.conftest import image_config  # pylint: disable=import-outside-toplevel
  root = _class_folder(tmp_path / "free", 4)
  evaluator, got = _evaluate(image_config(name=f"folder:{root}", **{"data.resize": 28}))
  assert got == {}
  assert "no labels" in evaluator.info["classifier"]
  assert "classifier_sha256" not in evaluator.info
  assert "no labels" in evaluation.protocol_line(evaluator.info)
