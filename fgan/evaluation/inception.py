"""The FID Inception-v3 network, its preprocessing and its weights.

The network behind TF-GAN's, pytorch-fid's and torch-fidelity's Inception
metrics (Szegedy et al. 2016, "Rethinking the Inception architecture";
the TensorFlow graph of 2015-12-05 used by Heusel et al. 2017 for FID and
Salimans et al. 2016 for the Inception score), with that graph's quirks as
torch-fidelity's FeatureExtractorInceptionV3 reproduces them: average pools
that do not count padding, a max pool in the last block, 1008 logits.

Preprocessing, as torch-fidelity does it:

  q = clip(round((x + 1) * 127.5), 0, 255)   uint8 quantisation (clean-fid,
      Parmar et al. 2022): the inverse of fgan.data.as_float, so real images
      come back exactly as stored and generated ones as if saved as 8-bit PNG;
  grey images replicated to 3 channels;
  TF1 bilinear resize to 299 x 299 (align_corners=False: source coordinate
      = i * in/out in float32, no half-pixel centres);
  (q - 128) / 128.

Outputs: pool3 (2048 features, for FID, KID, precision/recall) and the
logits without the final bias ("logits_unbiased", for the Inception score).

Weights: torch-fidelity's file weights-inception-2015-12-05-6726825d.pth
(the same network as pytorch-fid's pt_inception-2015-12-05-6726825d.pth), a
PyTorch state dict, read here without PyTorch (both of PyTorch's file
formats) and converted once into a cached .npz with batch norm folded into
the convolutions: w' = w gamma / sqrt(var + 1e-3), b' = beta - mean gamma /
sqrt(var + 1e-3).
"""

from __future__ import annotations

import dataclasses
import io
import os
import pathlib
import pickle
import tarfile
import zipfile

from flax import traverse_util
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from fgan import compute
from fgan import errors
from fgan.data import files

WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
WEIGHTS_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
               + WEIGHTS_NAME)
SIZE = 299
BN_EPS = 1e-3
RESIZER = "tf1-bilinear-299 (align_corners=False, float32)"
QUANTISATION = "uint8: clip(round((x + 1) * 127.5), 0, 255)"


# --- the network -------------------------------------------------------------


class _Conv(nn.Module):
  """BasicConv2d (convolution, batch norm, ReLU) with the norm folded in."""
  features: int
  kernel: tuple[int, int]
  stride: int = 1
  padding: tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x):
    pad = [(p, p) for p in self.padding]
    return nn.relu(nn.Conv(self.features, self.kernel, self.stride, pad, name="conv")(x))


def _pair(v):
  return (v, v) if isinstance(v, int) else tuple(v)


def _conv(name, features, kernel, stride=1, padding=0):
  return _Conv(features, _pair(kernel), stride, _pair(padding), name=name)


def _max_pool(x, stride, padding=0):
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, stride, stride, 1),
                               [(0, 0), (padding, padding), (padding, padding), (0, 0)])


def _avg_pool_excluding_padding(x):
  """3x3 average, stride 1, padding 1, the padded zeros not counted."""
  h, w = x.shape[1:3]
  ones = np.pad(np.ones((h, w), np.float32), 1)
  counts = sum(ones[a:a + h, b:b + w] for a in range(3) for b in range(3))
  total = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 3, 3, 1), (1, 1, 1, 1),
                                [(0, 0), (1, 1), (1, 1), (0, 0)])
  return total / counts[None, :, :, None]


def _chain(x, *convs):
  for c in convs:
    x = c(x)
  return x


class _BlockA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    return jnp.concatenate([
        _conv("branch1x1", 64, 1)(x),
        _chain(x, _conv("branch5x5_1", 48, 1), _conv("branch5x5_2", 64, 5, padding=2)),
        _chain(x, _conv("branch3x3dbl_1", 64, 1), _conv("branch3x3dbl_2", 96, 3, padding=1),
               _conv("branch3x3dbl_3", 96, 3, padding=1)),
        _conv("branch_pool", self.pool_features, 1)(_avg_pool_excluding_padding(x))], -1)


class _BlockB(nn.Module):

  @nn.compact
  def __call__(self, x):
    return jnp.concatenate([
        _conv("branch3x3", 384, 3, stride=2)(x),
        _chain(x, _conv("branch3x3dbl_1", 64, 1), _conv("branch3x3dbl_2", 96, 3, padding=1),
               _conv("branch3x3dbl_3", 96, 3, stride=2)),
        _max_pool(x, 2)], -1)


class _BlockC(nn.Module):
  c7: int

  @nn.compact
  def __call__(self, x):
    c7, row, col = self.c7, ((1, 7), (0, 3)), ((7, 1), (3, 0))
    return jnp.concatenate([
        _conv("branch1x1", 192, 1)(x),
        _chain(x, _conv("branch7x7_1", c7, 1), _conv("branch7x7_2", c7, row[0], padding=row[1]),
               _conv("branch7x7_3", 192, col[0], padding=col[1])),
        _chain(x, _conv("branch7x7dbl_1", c7, 1),
               _conv("branch7x7dbl_2", c7, col[0], padding=col[1]),
               _conv("branch7x7dbl_3", c7, row[0], padding=row[1]),
               _conv("branch7x7dbl_4", c7, col[0], padding=col[1]),
               _conv("branch7x7dbl_5", 192, row[0], padding=row[1])),
        _conv("branch_pool", 192, 1)(_avg_pool_excluding_padding(x))], -1)


class _BlockD(nn.Module):

  @nn.compact
  def __call__(self, x):
    return jnp.concatenate([
        _chain(x, _conv("branch3x3_1", 192, 1), _conv("branch3x3_2", 320, 3, stride=2)),
        _chain(x, _conv("branch7x7x3_1", 192, 1),
               _conv("branch7x7x3_2", 192, (1, 7), padding=(0, 3)),
               _conv("branch7x7x3_3", 192, (7, 1), padding=(3, 0)),
               _conv("branch7x7x3_4", 192, 3, stride=2)),
        _max_pool(x, 2)], -1)


class _BlockE(nn.Module):
  """pool: "avg" (Mixed_7b) or "max" (Mixed_7c, the TF graph's quirk)."""
  pool: str

  @nn.compact
  def __call__(self, x):
    def split(y, name):
      return jnp.concatenate([_conv(f"{name}a", 384, (1, 3), padding=(0, 1))(y),
                              _conv(f"{name}b", 384, (3, 1), padding=(1, 0))(y)], -1)
    pooled = _avg_pool_excluding_padding(x) if self.pool == "avg" else _max_pool(x, 1, 1)
    return jnp.concatenate([
        _conv("branch1x1", 320, 1)(x),
        split(_conv("branch3x3_1", 384, 1)(x), "branch3x3_2"),
        split(_chain(x, _conv("branch3x3dbl_1", 448, 1),
                     _conv("branch3x3dbl_2", 384, 3, padding=1)), "branch3x3dbl_3"),
        _conv("branch_pool", 192, 1)(pooled)], -1)


class InceptionV3(nn.Module):
  """The FID Inception-v3 (Szegedy et al. 2016; the 2015-12-05 graph),
  layer names torch-fidelity's."""

  @nn.compact
  def __call__(self, x):
    """Args: x, (N, 299, 299, 3) inputs scaled to [-1, 1). Returns: (pool3
    (N, 2048), logits without bias (N, 1008))."""
    x = _chain(x, _conv("Conv2d_1a_3x3", 32, 3, stride=2), _conv("Conv2d_2a_3x3", 32, 3),
               _conv("Conv2d_2b_3x3", 64, 3, padding=1))
    x = _chain(_max_pool(x, 2), _conv("Conv2d_3b_1x1", 80, 1), _conv("Conv2d_4a_3x3", 192, 3))
    x = _chain(_max_pool(x, 2), _BlockA(32, name="Mixed_5b"), _BlockA(64, name="Mixed_5c"),
               _BlockA(64, name="Mixed_5d"), _BlockB(name="Mixed_6a"),
               _BlockC(128, name="Mixed_6b"), _BlockC(160, name="Mixed_6c"),
               _BlockC(160, name="Mixed_6d"), _BlockC(192, name="Mixed_6e"),
               _BlockD(name="Mixed_7a"), _BlockE("avg", name="Mixed_7b"),
               _BlockE("max", name="Mixed_7c"))
    pool3 = x.mean((1, 2))
    fc = self.param("fc", nn.initializers.zeros, (2048, 1008))
    return pool3, pool3 @ fc


# --- preprocessing -----------------------------------------------------------


def quantise(images) -> jax.Array:
  """The uint8 values generated images would be saved as.

  Args:
    images: images in [-1, 1].

  Returns:
    round((x + 1) * 127.5) clipped to [0, 255], as float32.
  """
  return jnp.clip(jnp.round((jnp.asarray(images, jnp.float32) + 1.0) * 127.5), 0.0, 255.0)


def _resize_axis(n_in: int, n_out: int):
  """TF1's bilinear source indices and weights along one axis, in float32
  as torch-fidelity computes them."""
  grid = np.arange(n_out, dtype=np.float32) * np.float32(n_in / n_out)
  lo = grid.astype(np.int64)
  return lo, np.minimum(lo + 1, n_in - 1), grid - lo.astype(np.float32)


def resize_tf1(x, size: int = SIZE) -> jax.Array:
  """TF 1.x bilinear resize (align_corners=False), as the FID graph's.

  Args:
    x: (N, H, W, C) float images.
    size: the output side.

  Returns:
    (N, size, size, C).
  """
  ylo, yhi, dy = _resize_axis(x.shape[1], size)
  xlo, xhi, dx = _resize_axis(x.shape[2], size)
  rows_lo, rows_hi = x[:, ylo], x[:, yhi]
  dx = dx[None, None, :, None]
  top = rows_lo[:, :, xlo] + (rows_lo[:, :, xhi] - rows_lo[:, :, xlo]) * dx
  bottom = rows_hi[:, :, xlo] + (rows_hi[:, :, xhi] - rows_hi[:, :, xlo]) * dx
  return top + (bottom - top) * dy[None, :, None, None]


def preprocess(uint8_values) -> jax.Array:
  """The network's input from image values.

  Args:
    uint8_values: (N, H, W, 1 or 3) uint8 values (any dtype); one channel
      is repeated to three.

  Returns:
    (N, 299, 299, 3): resized by ``resize_tf1``, (v - 128) / 128.
  """
  x = jnp.asarray(uint8_values, jnp.float32)
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)
  return (resize_tf1(x) - 128.0) / 128.0


# --- weights -----------------------------------------------------------------


class _Storage:
  def __init__(self, dtype, key, numel):
    self.dtype, self.key, self.numel, self.data = dtype, key, numel, None


class _LazyTensor:
  def __init__(self, storage, offset, size, stride):
    self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

  def array(self) -> np.ndarray:
    flat = self.storage.data
    if not self.size:
      return flat[self.offset].copy()
    item = flat.itemsize
    return np.lib.stride_tricks.as_strided(
        flat[self.offset:], tuple(self.size), tuple(s * item for s in self.stride)).copy()


_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64,
           "HalfStorage": np.float16, "LongStorage": np.int64, "IntStorage": np.int32,
           "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
           "BoolStorage": np.bool_}


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization's, first in a legacy file


class _StateDictUnpickler(pickle.Unpickler):
  """Reads a PyTorch state dict's pickle: tensors become _LazyTensors on
  _Storages; anything but tensors and ordered dicts is refused."""

  def __init__(self, f, storages: dict):
    super().__init__(f)
    self.storages = storages

  def find_class(self, module, name):
    if (module, name) == ("collections", "OrderedDict"):
      import collections  # pylint: disable=import-outside-toplevel
      return collections.OrderedDict
    if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
      return lambda storage, offset, size, stride, *_: _LazyTensor(storage, offset, size, stride)
    if (module, name) == ("torch._utils", "_rebuild_parameter"):
      return lambda data, *_: data
    if module == "torch" and name in _DTYPES:
      return _DTYPES[name]
    raise ValueError(f"refusing to unpickle {module}.{name} (not part of a state dict)")

  def persistent_load(self, pid):
    if len(pid) > 5 and pid[5] is not None:
      raise ValueError("storage views (legacy format) are not supported; re-save with torch.save")
    dtype, key, numel = pid[1], str(pid[2]), pid[4]
    if key not in self.storages:
      self.storages[key] = _Storage(np.dtype(dtype), key, numel)
    return self.storages[key]


def read_torch_state_dict(path) -> dict[str, np.ndarray]:
  """The tensors of a PyTorch state-dict file, without PyTorch.

  Args:
    path: a torch.save file, zip format or the legacy one of before 1.6.

  Returns:
    {name: numpy array}.

  Raises:
    ValueError, pickle.UnpicklingError: not a state dict of tensors (the
      unpickler builds nothing else).
  """
  path = pathlib.Path(path)
  storages: dict = {}
  if zipfile.is_zipfile(path):
    with zipfile.ZipFile(path) as z:
      pkl = next(n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl")
      root = pkl[:-len("data.pkl")]
      tree = _StateDictUnpickler(io.BytesIO(z.read(pkl)), storages).load()
      for s in storages.values():
        s.data = np.frombuffer(z.read(f"{root}data/{s.key}"), s.dtype.newbyteorder("<"))
  elif tarfile.is_tarfile(path):
    raise ValueError(f"{path} is in PyTorch's tar format (before 0.4); re-save it with torch.save")
  else:
    with open(path, "rb") as f:
      # magic number, protocol version, system info: plain values, read by
      # the same refusing unpickler (a plain pickle.load runs any callable)
      if _StateDictUnpickler(f, storages).load() != _LEGACY_MAGIC:
        raise ValueError(f"{path} is not a torch.save file (no PyTorch magic number)")
      for _ in range(2):
        _StateDictUnpickler(f, storages).load()
      tree = _StateDictUnpickler(f, storages).load()
      for key in _StateDictUnpickler(f, storages).load():
        s = storages[str(key)]
        n = int(np.frombuffer(f.read(8), "<i8")[0])
        s.data = np.frombuffer(f.read(n * s.dtype.itemsize), s.dtype.newbyteorder("<"))
  return {k: v.array() for k, v in tree.items()}


def convert(state_dict: dict[str, np.ndarray]) -> dict:
  """InceptionV3's flax parameters from torch-fidelity's weights.

  Args:
    state_dict: torch-fidelity's FeatureExtractorInceptionV3 state dict.

  Returns:
    The parameters, each batch norm folded into its convolution.
  """
  params: dict = {}
  for name in state_dict:
    if not name.endswith(".conv.weight"):
      continue
    prefix = name[:-len(".conv.weight")]
    bn = {k: state_dict[f"{prefix}.bn.{k}"].astype(np.float64)
          for k in ("weight", "bias", "running_mean", "running_var")}
    scale = bn["weight"] / np.sqrt(bn["running_var"] + BN_EPS)
    kernel = state_dict[name].astype(np.float64).transpose(2, 3, 1, 0) * scale
    node = params
    for part in prefix.split("."):
      node = node.setdefault(part, {})
    node["conv"] = {"kernel": kernel.astype(np.float32),
                    "bias": (bn["bias"] - bn["running_mean"] * scale).astype(np.float32)}
  params["fc"] = state_dict["fc.weight"].T.astype(np.float32)
  return params


def default_weights_path() -> pathlib.Path:
  """Returns: where the weights file is looked for by default."""
  return files.data_dir() / "inception" / WEIGHTS_NAME


def weights_path(eval_config) -> pathlib.Path:
  """The weights file a run uses.

  Args:
    eval_config: config.eval.

  Returns:
    eval.inception_weights, or $FGAN_DATA_DIR/inception/<the file's name>.
  """
  given = eval_config.get("inception_weights", "")
  return pathlib.Path(given).expanduser() if given else default_weights_path()


def missing_weights_message(path) -> str:
  """Args: path, where the file was looked for. Returns: the message saying
  where to get it and where to put it."""
  return (f"The Inception metrics need the FID Inception weights file {WEIGHTS_NAME} "
          f"(SHA-256 {WEIGHTS_SHA256}), not found at {path}. Download it from "
          f"{WEIGHTS_URL} (pytorch-fid's pt_inception-2015-12-05-6726825d.pth is the same "
          f"network) and put it at {default_weights_path()}, or pass its path as "
          "--config.eval.inception_weights=PATH (experiments.evaluate: "
          "--inception_weights=PATH); or set --config.eval.feature_space=classifier.")


def check(eval_config) -> None:
  """That the weights file is there and is Inception weights: the published
  file (by its SHA-256), or one whose conversion is cached or that reads
  and converts now (before any compilation or file is written).

  Args:
    eval_config: config.eval.

  Raises:
    errors.ConfigError: the file is missing or is not a readable state dict
      of the network.
  """
  path = weights_path(eval_config)
  if not path.is_file():
    raise errors.ConfigError(missing_weights_message(path))
  sha = files.sha256_file(path)
  if sha == WEIGHTS_SHA256 or _converted_path(sha).is_file():
    return
  try:
    _converted(path, sha)
  except (ValueError, KeyError, EOFError, OSError, pickle.UnpicklingError, IndexError,
          StopIteration, zipfile.BadZipFile, TypeError, AttributeError, OverflowError,
          MemoryError) as e:  # what pickle's opcodes raise on bytes that are not a pickle
    raise errors.ConfigError(
        f"{path} (SHA-256 {sha}) is not a readable FID Inception weights file "
        f"({type(e).__name__}: {str(e)[:200]}). Use torch-fidelity's {WEIGHTS_NAME} "
        f"(SHA-256 {WEIGHTS_SHA256}) from {WEIGHTS_URL}, or set "
        "--config.eval.feature_space=classifier.") from e


def _converted_path(sha: str) -> pathlib.Path:
  return default_weights_path().parent / f"converted-{sha}.npz"


def _converted(path, sha: str) -> dict:
  """The weights file converted (cached as converted-<sha256>.npz)."""
  cache = _converted_path(sha)
  if cache.is_file():
    return dict(np.load(cache, allow_pickle=False))
  flat = traverse_util.flatten_dict(convert(read_torch_state_dict(path)), sep="/")
  cache.parent.mkdir(parents=True, exist_ok=True)
  tmp = cache.with_suffix(f".tmp{os.getpid()}.npz")
  np.savez(tmp, **flat)
  os.replace(tmp, cache)
  return flat


@dataclasses.dataclass
class Extractor:
  """The network with loaded weights.

  Attributes:
    params: InceptionV3's parameters.
    sha256: the weights file's SHA-256.
  """
  params: dict
  sha256: str

  @property
  def official(self) -> bool:
    """Whether these are the published weights."""
    return self.sha256 == WEIGHTS_SHA256

  def __post_init__(self):
    model = InceptionV3()
    self._apply = jax.jit(lambda p, q: model.apply({"params": p}, preprocess(q)),
                          compiler_options=compute.compiler_options())

  def features(self, images, batch_size: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Features of generated images, quantised to uint8 first.

    Args:
      images: (N, H, W, C) in [-1, 1].
      batch_size: images per call.

    Returns:
      (pool3 (N, 2048), logits without bias (N, 1008)).
    """
    return self.features_of_uint8(np.asarray(quantise(images)), batch_size)

  def features_of_uint8(self, values, batch_size: int = 25):
    """Features of image values.

    Args:
      values: (N, H, W, C) uint8 values.
      batch_size: images per call.

    Returns:
      (pool3 (N, 2048), logits without bias (N, 1008)).
    """
    values = np.asarray(values, np.float32)
    n = len(values)
    pad = (-n) % batch_size
    padded = np.concatenate([values, np.zeros((pad,) + values.shape[1:], np.float32)])
    outs = [jax.device_get(self._apply(self.params, padded[i:i + batch_size]))
            for i in range(0, len(padded), batch_size)]
    return tuple(np.concatenate([o[k] for o in outs])[:n] for k in range(2))


def load(eval_config) -> Extractor:
  """The extractor for eval.inception_weights, from its cached conversion
  ($FGAN_DATA_DIR/inception/converted-<sha256>.npz) or the file read,
  converted and cached. Weights whose SHA-256 is not the published file's
  are used, but said (their numbers are not comparable with the
  literature).

  Args:
    eval_config: config.eval.

  Returns:
    The Extractor.

  Raises:
    errors.ConfigError: as ``check``.
  """
  path = weights_path(eval_config)
  check(eval_config)
  sha = files.sha256_file(path)
  flat = _converted(path, sha)
  if sha != WEIGHTS_SHA256:
    print(f"fgan: warning: {path} (SHA-256 {sha}) is not the published FID Inception "
          f"weights file (SHA-256 {WEIGHTS_SHA256}); its Inception metrics are not "
          "comparable with the literature.")
  return Extractor(traverse_util.unflatten_dict(
      {k: jnp.asarray(v) for k, v in flat.items()}, sep="/"), sha)
