"""Information measures against closed forms and the background notes' numbers."""

import numpy as np
import pytest
from scipy.spatial import distance
from scipy import stats

from experiments.cross_entropy_vs_kl import NOTES_EXAMPLE  # the notes' Q and printed values
from experiments.cross_entropy_vs_kl import P  # the background notes' cross-entropy example
from fgan import information as info


@pytest.mark.parametrize("q,ce,kl", NOTES_EXAMPLE)
def test_the_notes_cross_entropy_example(q, ce, kl):
  assert round(float(info.cross_entropy(P, q)), 4) == ce
  assert round(float(info.kl_divergence(P, q)), 4) == kl


def test_the_notes_two_outcome_example():
  p, q = [0.4, 0.6], [0.3, 0.7]
  ce = -(0.4 * np.log(0.3) + 0.6 * np.log(0.7))
  kl = 0.4 * np.log(0.4 / 0.3) + 0.6 * np.log(0.6 / 0.7)
  h = -(0.4 * np.log(0.4) + 0.6 * np.log(0.6))
  assert float(info.cross_entropy(p, q)) == pytest.approx(ce, rel=1e-6)
  assert float(info.kl_divergence(p, q)) == pytest.approx(kl, rel=1e-5)
  assert float(info.entropy(p)) == pytest.approx(h, rel=1e-6)
  assert float(info.cross_entropy(p, q)) == pytest.approx(float(info.entropy(p) + info.kl_divergence(p, q)), rel=1e-6)
  # The values the notes print.
  assert round(ce, 4) == 0.6956 and round(kl, 4) == 0.0226 and round(h, 4) == 0.6730


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("base", ["nats", "bits"])
def test_against_scipy(axis, base):
  rng = np.random.default_rng(0)
  p, q = rng.random((5, 7)), rng.random((5, 7))
  p[0, 0] = 0.0  # 0 log 0 = 0
  p, q = p / p.sum(axis, keepdims=True), q / q.sum(axis, keepdims=True)
  b = 2 if base == "bits" else None
  np.testing.assert_allclose(info.entropy(p, axis, base), stats.entropy(p, base=b, axis=axis), rtol=1e-5)
  np.testing.assert_allclose(info.kl_divergence(p, q, axis, base), stats.entropy(p, q, base=b, axis=axis), rtol=1e-5)
  np.testing.assert_allclose(info.js_divergence(p, q, axis, base),
                             distance.jensenshannon(p, q, base=b, axis=axis)**2, rtol=1e-4)
  np.testing.assert_allclose(info.cross_entropy(p, q, axis, base),
                             info.entropy(p, axis, base) + info.kl_divergence(p, q, axis, base), rtol=1e-5)


def test_self_information_bits():
  assert float(info.self_information(1 / 8, base="bits")) == pytest.approx(3.0)


def test_kl_infinite_where_q_zero_and_js_bounded():
  p, q = [0.5, 0.5, 0.0], [0.0, 0.5, 0.5]
  assert float(info.kl_divergence(p, q)) == np.inf
  assert float(info.kl_divergence(q, q)) == 0.0
  assert float(info.js_divergence([1, 0], [0, 1], base="bits")) == pytest.approx(1.0)


@pytest.mark.parametrize("p,q,match", [
    ([0.5, -0.1, 0.6], [0.3, 0.3, 0.4], "negative"),
    ([0.5, 0.6], [0.3, 0.7], "sum to 1"),
    ([0.5, 0.5], [0.2, 0.3, 0.5], "same shape"),
])
def test_invalid_input_is_a_clear_error(p, q, match):
  with pytest.raises(ValueError, match=match):
    info.kl_divergence(p, q)


def test_unknown_base():
  with pytest.raises(ValueError, match="bits"):
    info.entropy([0.5, 0.5], base="dits")
