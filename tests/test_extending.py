"""README's "Extending fgan" examples, run as written, then a run that uses
all four additions."""

import pathlib
import re

import numpy as np

from fgan import divergences
from fgan import loop
from fgan import models
from fgan.data import toy
from fgan.evaluation import metrics
from fgan.rundir import writers
from tests.conftest import toy_config

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _examples() -> list[str]:
  text = README.read_text()
  section = text[text.index("## Extending fgan"):]
  section = section[:section.index("\n## ", 3)] if "\n## " in section[3:] else section
  return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_extension_examples_register_and_train(tmp_path, monkeypatch):
  # The registries are restored after the test.
  # pylint: disable=protected-access
  monkeypatch.setattr(divergences, "_REGISTRY", dict(divergences._REGISTRY))
  monkeypatch.setattr(models, "_FAMILIES", dict(models._FAMILIES))
  monkeypatch.setattr(metrics, "_METRICS", dict(metrics._METRICS))
  monkeypatch.setattr(toy, "MIXTURES", dict(toy.MIXTURES))
  blocks = _examples()
  assert len(blocks) == 4
  for block in blocks:
    exec(compile(block, str(README), "exec"), {})  # pylint: disable=exec-used
  assert "alpha_half" in divergences.names()
  assert divergences.get("alpha_half").conjugate_domain[1] == 2.0
  c = toy_config(steps=20, divergence="alpha_half", **{"data.name": "ring4"})
  c.model = models.config("shallow", width=32)
  summary = loop.run(c, tmp_path, progress=False)
  assert summary["step"] == 20 and 0 <= summary["eval"]["modes_captured"] <= 4
  assert summary["eval"]["mode_distance"] > 0 and summary["eval"]["mode_distance_stderr"] >= 0
  assert all(np.isfinite(r["critic_loss"]) for r in writers.read_metrics(tmp_path))
