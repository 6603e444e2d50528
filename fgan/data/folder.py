"""A folder of the user's own images: ``data.name = "folder:<path>"``.

Every PNG and JPEG file under the folder (recursively, sorted by relative
path) is one example; with ``data.folder_labels`` the first-level subfolder
a file is in is its class (classes sorted by name, as torchvision's
ImageFolder does). Images are greyscale (PIL mode L, one channel) or RGB
(three), all alike. The folder is read as it is: the SHA-256 of its file
list and, when its cache is built, of the decoded pixels of every file in
order (content_sha256) are the dataset's identity (data.json); the cache is
keyed by the files' names, sizes and modification times, so a changed file
builds a new one.

Each problem is one message naming the file and the fix, raised while the
dataset is prepared (before anything is compiled or a run's file is
written): an empty folder, a file that is not a readable image, images of
mixed channel counts or modes other than L and RGB, images smaller than
data.crop or (without a crop) of different sizes.
"""

from __future__ import annotations

import hashlib
import json
import pathlib

import numpy as np
from PIL import Image

from fgan.errors import DataIntegrityError, DataUnavailableError

SUFFIXES = (".png", ".jpg", ".jpeg")
CHANNELS = {"L": 1, "RGB": 3}


def image_files(path: pathlib.Path) -> list[pathlib.Path]:
  """The folder's image files, sorted by their path relative to it.

  Args:
    path: the folder.

  Returns:
    The files.

  Raises:
    DataUnavailableError: not a folder, or no image in it.
  """
  if not path.is_dir():
    raise DataUnavailableError(
        f"config.data.name = 'folder:{path}': {path} is not a folder. Give the folder "
        "that holds the images (PNG or JPEG, in subfolders or not).")
  found = sorted((p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES),
                 key=lambda p: p.relative_to(path).as_posix())
  if not found:
    raise DataUnavailableError(
        f"The folder {path} holds no PNG or JPEG image ({', '.join(SUFFIXES)}). Put the "
        "images there, or name another folder in config.data.name = 'folder:<path>'.")
  return found


def read_image(file: pathlib.Path) -> np.ndarray:
  """One image file as (H, W, C) uint8.

  Args:
    file: a PNG or JPEG file.

  Returns:
    The pixels; C = 1 for greyscale, 3 for RGB.

  Raises:
    DataIntegrityError: unreadable, or of another mode than L or RGB.
  """
  try:
    with Image.open(file) as image:
      image.load()
      mode = image.mode
      pixels = np.asarray(image)
  except (OSError, ValueError, SyntaxError) as e:
    raise DataIntegrityError(
        f"{file} is not a readable image ({type(e).__name__}: {e}). Remove or replace it; "
        "the folder must hold only PNG and JPEG images.") from e
  if mode not in CHANNELS:
    raise DataIntegrityError(
        f"{file} is a {mode} image; fgan reads greyscale (L) or RGB images. Convert it "
        "(for example with PIL: Image.open(f).convert('RGB').save(f)).")
  return pixels.reshape(pixels.shape[:2] + (CHANNELS[mode],)).astype(np.uint8)


def raw_split(path: str, labels_from_folders: bool):
  """The folder as a fgan.data.sources.RawSplit (its train and test split
  alike: the evaluation's reference is the folder itself).

  Args:
    path: the folder.
    labels_from_folders: label each file by its first-level subfolder.

  Returns:
    The RawSplit, its info holding the file count, the SHA-256 of the file
    list and the class names.

  Raises:
    DataUnavailableError, DataIntegrityError: as ``image_files`` and
      ``read_image``, and a file in the top folder when labels come from
      subfolders.
  """
  from fgan.data.sources import RawSplit  # pylint: disable=import-outside-toplevel
  root = pathlib.Path(path).expanduser()
  found = image_files(root)
  names = [p.relative_to(root).as_posix() for p in found]
  labels, classes = None, []
  if labels_from_folders:
    top = [n for n in names if "/" not in n]
    if top:
      raise DataIntegrityError(
          f"{root / top[0]} is not in a subfolder, but config.data.folder_labels = True "
          "takes each image's class from its subfolder. Move it into one, or set "
          "folder_labels to False.")
    classes = sorted({n.split("/", 1)[0] for n in names})
    labels = np.asarray([classes.index(n.split("/", 1)[0]) for n in names], np.int64)
  listing = hashlib.sha256("\n".join(names).encode()).hexdigest()
  stats = [(n, p.stat().st_size, p.stat().st_mtime_ns) for n, p in zip(names, found)]
  info = {"source": f"folder:{root}", "file_count": len(found), "file_list_sha256": listing,
          "classes": classes}

  def read(a, b):
    return ([read_image(p) for p in found[a:b]],
            None if labels is None else labels[a:b])
  origin = json.dumps(["folder", str(root.resolve()), labels_from_folders,
                       hashlib.sha256(json.dumps(stats).encode()).hexdigest()])
  return RawSplit(len(found), len(classes), read, info, origin, lambda i: str(found[i]))
