"""fgan.inception and the Inception metrics against torch-fidelity, the
reference implementation (a test-only peer: `pip install torch==2.13.0` and
`pip install --no-deps torch-fidelity==0.4.0`; skipped without them).

The real weights file cannot be downloaded here, so a state dict of random
weights with the reference's names and shapes is written with torch.save
(both of PyTorch's file formats), loaded strictly by torch-fidelity and read
by fgan without PyTorch.
"""

import functools
import importlib
import pathlib
import subprocess
import sys
import types

import jax
import ml_collections
import numpy as np
import pytest

from fgan import errors
from fgan import evaluation
from fgan.evaluation import metrics
from fgan.evaluation import inception
from tests.conftest import ROOT

try:
  import torch
except ImportError:
  torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed "
                                 "(pip install torch==2.13.0)")


@pytest.fixture(scope="module")
def mnist_test_uint8():
  """The first 64 real MNIST test digits, (64, 28, 28, 1) uint8."""
  from tests.conftest import data_config  # pylint: disable=import-outside-toplevel
  from fgan import data  # pylint: disable=import-outside-toplevel
  return np.asarray(data.load(data_config(name="mnist"), "test").arrays["images"][:64])


@functools.cache
def _torch_fidelity():
  """torch-fidelity's feature extractor, resize and metric modules. PyPI's
  torchvision does not import beside the CPU torch wheel on these machines
  ('operator torchvision::nms does not exist'), and only torch-fidelity's
  dataset and CLIP/VGG modules need it: where it fails, the package is
  registered without running its __init__ and its I/O module (utils) by an
  empty stand-in, so the modules below are the installed ones, unchanged."""
  spec = importlib.util.find_spec("torch_fidelity")
  if spec is None:
    pytest.skip("torch-fidelity is not installed (pip install --no-deps torch-fidelity==0.4.0)")
  try:
    import torch_fidelity  # pylint: disable=import-outside-toplevel,unused-import
  except (ImportError, RuntimeError):
    for name in [n for n in sys.modules if n.startswith(("torch_fidelity", "torchvision"))]:
      del sys.modules[name]
    package = types.ModuleType("torch_fidelity")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["torch_fidelity"] = package
    utils = types.ModuleType("torch_fidelity.utils")
    utils.__getattr__ = lambda name: None
    sys.modules["torch_fidelity.utils"] = utils
  names = ("feature_extractor_inceptionv3", "interpolate_compat_tensorflow", "metric_fid",
           "metric_isc", "metric_kid")
  return types.SimpleNamespace(**{n: importlib.import_module(f"torch_fidelity.{n}")
                                  for n in names})


def _random_state_dict(seed=0) -> dict:
  """Random weights under the reference's names: He-scaled convolutions and
  batch-norm statistics near (0, 1), so activations keep their scale."""
  rng = np.random.default_rng(seed)
  params = jax.eval_shape(inception.InceptionV3().init, jax.random.PRNGKey(0),
                          np.zeros((1, 299, 299, 3), np.float32))["params"]
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    names = [p.key for p in path]
    if names == ["fc"]:
      out["fc.weight"] = rng.normal(0, 0.05, leaf.shape[::-1])
      out["fc.bias"] = rng.normal(0, 0.1, leaf.shape[1])
    elif names[-1] == "kernel":
      kh, kw, cin, cout = leaf.shape
      prefix = ".".join(names[:-2])
      out[f"{prefix}.conv.weight"] = rng.normal(0, np.sqrt(2.0 / (kh * kw * cin)),
                                                (cout, cin, kh, kw))
      out[f"{prefix}.bn.weight"] = rng.uniform(0.8, 1.2, cout)
      out[f"{prefix}.bn.bias"] = rng.normal(0, 0.1, cout)
      out[f"{prefix}.bn.running_mean"] = rng.normal(0, 0.1, cout)
      out[f"{prefix}.bn.running_var"] = rng.uniform(0.5, 1.5, cout)
  sd = {k: torch.tensor(v, dtype=torch.float32) for k, v in out.items()}
  for k in [k for k in sd if k.endswith(".bn.weight")]:
    sd[k[:-len("weight")] + "num_batches_tracked"] = torch.tensor(0)
  return sd


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
  path = tmp_path_factory.mktemp("inception") / inception.WEIGHTS_NAME
  torch.save(_random_state_dict(), path)
  return path


def _eval_config(path):
  return ml_collections.ConfigDict({"inception_weights": str(path), "feature_space": "inception"})


def _uint8_images(n, side=28, channels=1, seed=1):
  return np.random.default_rng(seed).integers(0, 256, (n, side, side, channels), dtype=np.uint8)


@needs_torch
@pytest.mark.parametrize("legacy", [False, True])
def test_reads_both_torch_file_formats_without_torch(tmp_path, legacy):
  sd = _random_state_dict(seed=3)
  path = tmp_path / "w.pth"
  torch.save(sd, path, _use_new_zipfile_serialization=not legacy)
  read = inception.read_torch_state_dict(path)
  assert set(read) == set(sd)
  for k, v in sd.items():
    np.testing.assert_array_equal(read[k], v.numpy())


def test_bytes_that_are_no_weights_file_are_one_config_error(tmp_path):
  """Random bytes (200 files, some with the legacy format's pickle header)
  are a ConfigError naming the file, never another exception."""
  rng = np.random.default_rng(0)
  config = ml_collections.ConfigDict({"inception_weights": str(tmp_path / "w.pth")})
  header = bytes([0x80, 0x02])  # pickle protocol 2, as torch's legacy files start
  for i in range(200):
    body = rng.integers(0, 256, int(rng.integers(1, 4096)), np.uint8).tobytes()
    (tmp_path / "w.pth").write_bytes(header + body if i % 2 else body)
    with pytest.raises(errors.ConfigError, match="not a readable FID Inception weights file"):
      inception.check(config)


@needs_torch
def test_reader_refuses_what_is_not_a_state_dict(tmp_path):
  path = tmp_path / "bad.pth"
  torch.save({"x": torch.zeros(2), "f": pathlib.Path("/")}, path)
  with pytest.raises(ValueError, match="refusing to unpickle"):
    inception.read_torch_state_dict(path)


@needs_torch
def test_resize_and_quantisation_match_the_reference(mnist_test_uint8):
  tf = _torch_fidelity()
  for images in (mnist_test_uint8[:64], _uint8_images(16, 32, 3)):
    ref = tf.interpolate_compat_tensorflow.interpolate_bilinear_2d_like_tensorflow1x(
        torch.tensor(images).permute(0, 3, 1, 2).float(), size=(299, 299), align_corners=False)
    ours = np.asarray(inception.resize_tf1(images.astype(np.float32)))
    np.testing.assert_allclose(ours, ref.permute(0, 2, 3, 1).numpy(), rtol=0, atol=1e-5 * 255)
    # fgan's [-1, 1] scale quantises back to exactly the stored uint8 values
    floats = images.astype(np.float32) / 127.5 - 1.0
    np.testing.assert_array_equal(np.asarray(inception.quantise(floats)), images)


@needs_torch
def test_features_equal_torch_fidelity_with_the_same_weights(weights, mnist_test_uint8):
  tf = _torch_fidelity()
  ref_model = tf.feature_extractor_inceptionv3.FeatureExtractorInceptionV3(
      "inception-v3-compat", ["2048", "logits_unbiased"],
      feature_extractor_weights_path=str(weights))  # strict load: names and shapes are theirs
  images = np.concatenate([np.repeat(mnist_test_uint8[:3], 3, -1), _uint8_images(3, 40, 3)[:, :28, :28]])
  with torch.no_grad():
    ref = ref_model(torch.tensor(images).permute(0, 3, 1, 2).contiguous())
  ours = inception.load(_eval_config(weights)).features_of_uint8(images, batch_size=4)
  for a, b in zip(ours, ref):
    b = b.numpy()
    assert np.max(np.abs(a - b)) <= 1e-4 * np.max(np.abs(b)), np.max(np.abs(a - b))
  # grey images give the features of their 3-channel copies
  grey = inception.load(_eval_config(weights)).features_of_uint8(mnist_test_uint8[:3], 4)
  np.testing.assert_allclose(grey[0], ours[0][:3], rtol=1e-6, atol=1e-6)


@needs_torch
def test_fid_is_kid_equal_torch_fidelity_on_the_same_features():
  tf = _torch_fidelity()
  rng = np.random.default_rng(0)
  real = rng.normal(0, 1, (1200, 64)).astype(np.float32)
  fake = (0.3 + 1.2 * rng.normal(0, 1, (1100, 64))).astype(np.float32)
  logits = rng.normal(0, 3, (1000, 1008)).astype(np.float32)
  stats = [tf.metric_fid.fid_features_to_statistics(torch.tensor(f)) for f in (real, fake)]
  fid_ref = tf.metric_fid.fid_statistics_to_metric(*stats, verbose=False)
  isc_ref = tf.metric_isc.isc_features_to_metric(torch.tensor(logits), splits=10,
                                                 shuffle=True, rng_seed=2020)
  kid_kwargs = dict(kid_subsets=20, kid_subset_size=500, kid_kernel="poly",
                    kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,
                    kid_kernel_poly_coef0=1, rng_seed=2020, verbose=False)
  kid_ref = tf.metric_kid.kid_features_to_metric(torch.tensor(real), torch.tensor(fake),
                                                 **kid_kwargs)
  fid = metrics.frechet_distance_of(real, fake)
  isc = metrics.inception_score(logits)
  kid = metrics.kernel_inception_distance(real, fake, subsets=20, subset_size=500)
  pairs = [(fid, fid_ref["frechet_inception_distance"]),
           (isc[0], isc_ref["inception_score_mean"]), (isc[1], isc_ref["inception_score_std"]),
           (kid[0], kid_ref["kernel_inception_distance_mean"]),
           (kid[1], kid_ref["kernel_inception_distance_std"])]
  for ours, ref in pairs:
    assert abs(ours - ref) <= 1e-3 * abs(ref), (ours, ref)


def test_missing_weights_fail_with_the_file_its_checksum_and_where_to_put_it(tmp_path):
  with pytest.raises(errors.ConfigError) as e:
    inception.check(_eval_config(tmp_path / "absent.pth"))
  message = str(e.value)
  for part in (inception.WEIGHTS_NAME, inception.WEIGHTS_SHA256, inception.WEIGHTS_URL,
               str(tmp_path / "absent.pth"), "--config.eval.inception_weights"):
    assert part in message


def test_a_run_selecting_inception_metrics_without_weights_fails_before_anything(tmp_path):
  from fgan import validation  # pylint: disable=import-outside-toplevel
  from configs import base  # pylint: disable=import-outside-toplevel
  c = base.get_base_config()
  c.eval.feature_space = "inception"
  c.eval.inception_weights = str(tmp_path / "nowhere.pth")
  with pytest.raises(errors.ConfigError, match=inception.WEIGHTS_SHA256):
    validation.validate(c)
  c.eval.feature_space = "inceptio"
  with pytest.raises(errors.ConfigError, match="eval.feature_space"):
    validation.validate(c)


@pytest.mark.slow
@needs_torch
def test_evaluator_reports_inception_metrics_with_their_protocol(weights, monkeypatch):
  """A generator's samples evaluated in both feature spaces; the reference
  features are cached and reused. The test split is cut to 48 digits to
  keep the Inception passes short."""
  from configs import base  # pylint: disable=import-outside-toplevel
  from fgan import data, models, train  # pylint: disable=import-outside-toplevel
  from fgan.data import files  # pylint: disable=import-outside-toplevel
  load = data.load

  def short_test_split(config, split="train", *args, **kwargs):
    ds = load(config, split, *args, **kwargs)
    if split == "test":
      ds.arrays["images"] = ds.arrays["images"][:48]
    return ds

  monkeypatch.setattr(data, "load", short_test_split)
  c = base.get_base_config()
  c.eval.num_samples = 48
  c.eval.feature_space = "inception"
  c.eval.inception_weights = str(weights)
  dataset = data.load(c.data)
  generator, critic = models.build(c.model, dataset.shape)
  state = train.create_state(c, generator, critic, dataset.shape)
  evaluator = evaluation.Evaluator(c, dataset, generator)
  metrics = evaluator(state.g_ema_params)
  for k in ("inception_fid", "inception_fid_stderr", "inception_score", "inception_score_std",
            "inception_kid", "inception_kid_std", "inception_precision", "frechet_distance",
            "confident_share"):
    assert np.isfinite(metrics[k]), k
  assert metrics["inception_fid"] > 0 and metrics["inception_kid"] > 0
  assert 1.0 <= metrics["inception_score"] <= 1008
  protocol = evaluator.info["inception"]
  assert protocol["extractor_sha256"] == files.sha256_file(weights)
  assert protocol["official_weights"] is False and evaluator.info["n_real"] == 48
  cached = list((files.data_dir() / "references").glob("inception-*.npz"))
  assert len(cached) == 1
  again = evaluation.Evaluator(c, dataset, generator)
  np.testing.assert_array_equal(again._spaces[-1].real, evaluator._spaces[-1].real)
  assert again(state.g_ema_params)["inception_fid"] == metrics["inception_fid"]


def test_sweep_tables_stamp_the_protocol_and_flag_a_mix(tmp_path):
  from fgan.studies import report  # pylint: disable=import-outside-toplevel
  base = {"feature_space": "classifier", "classifier_sha256": "a" * 64,
          "reference": "mnist test split", "reference_sha256": "b" * 64, "n_real": 10000,
          "n_fake": 10000}
  with_inception = dict(base, feature_space="inception", inception={
      "extractor_sha256": inception.WEIGHTS_SHA256, "official_weights": True,
      "resizer": inception.RESIZER, "quantisation": inception.QUANTISATION})
  one, two = evaluation.protocol_line(base), evaluation.protocol_line(with_inception)
  assert "classifier aaaaaaaaaaaa" in one and "n_fake 10000" in one and "Inception" not in one
  assert inception.WEIGHTS_SHA256[:12] in two and inception.RESIZER in two
  rows = [{"variant": "js", "n": 1, "failed": 0, "m_mean": 1.0, "m_std": 0.0}]
  provenance = {"seeds": [0], "data_sha256": ["c"], "num_steps": [1], "versions": [],
                "machines": [], "commits": [], "protocols": [one]}
  report.write_tables(tmp_path, ["m"], rows, provenance)
  md = (tmp_path / "results.md").read_text()
  assert f"Protocol: {one}." in md and "WARNING" not in md
  report.write_tables(tmp_path, ["m"], rows, dict(provenance, protocols=[one, two]))
  md = (tmp_path / "results.md").read_text()
  assert "not comparable" in md and f"Protocol: {two}." in md


def test_evaluate_cli_in_inception_space_without_weights_says_where_to_get_them(tmp_path):
  """experiments.evaluate --feature_space=inception on a finished run's work
  directory, with no weights file: one message naming the file and its
  SHA-256, exit 2, before any data, model or checkpoint is loaded and
  without writing into the run's directory."""
  from configs import js_mnist  # pylint: disable=import-outside-toplevel
  from fgan.rundir import workdir  # pylint: disable=import-outside-toplevel
  workdir.write_json(tmp_path / "config.json", js_mnist.get_config().to_dict())
  before = sorted(p.name for p in tmp_path.iterdir())
  out = subprocess.run([sys.executable, "-m", "experiments.evaluate", f"--workdir={tmp_path}",
                        "--feature_space=inception",
                        f"--inception_weights={tmp_path / 'absent.pth'}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert out.returncode == 2, out.stderr
  assert inception.WEIGHTS_SHA256 in out.stderr and "absent.pth" in out.stderr
  assert "Traceback" not in out.stderr
  assert sorted(p.name for p in tmp_path.iterdir()) == before


@needs_torch
def test_a_label_free_folder_gets_the_inception_metrics_only(weights, tmp_path):
  """A folder without labels in Inception space: FID, IS, KID and
  precision/recall/density/coverage, and none of the classifier's."""
  from fgan import data, models, train  # pylint: disable=import-outside-toplevel
  from tests.conftest import image_config  # pylint: disable=import-outside-toplevel
  from tests.test_evaluation import _class_folder  # pylint: disable=import-outside-toplevel
  root = _class_folder(tmp_path / "free", 4, per_class=6)
  c = image_config(name=f"folder:{root}", **{"data.resize": 28, "eval.num_samples": 24,
                                             "eval.feature_space": "inception",
                                             "eval.inception_weights": str(weights)})
  dataset = data.load(c.data)
  generator, critic = models.build(c.model, dataset.shape)
  state = train.create_state(c, generator, critic, dataset.shape)
  evaluator = evaluation.Evaluator(c, dataset, generator)
  got = evaluator(state.g_ema_params)
  assert {k for k in got if not k.endswith(("_stderr", "_std"))} == {
      m.name for m in evaluation.metrics.of_space("inception")}
  assert all(np.isfinite(v) for v in got.values())
  assert "no labels" in evaluator.info["classifier"]
