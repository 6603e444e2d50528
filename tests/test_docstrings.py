"""The library's contracts: every public function, method and class in fgan/
has a docstring that names each argument and says what it returns; no
comment or docstring points to an issue, a results section or a background
document instead of stating the reason."""

import ast
import pathlib
import re

import pytest

FGAN = pathlib.Path(__file__).resolve().parents[1] / "fgan"
ROOT = FGAN.parent

# Exceptions to the argument and return rules, with the reason.
EXEMPT = {
    # flax modules' __call__ and the metrics' Features are documented on
    # their class, in one line "Args: ... Returns: ...".
}


def _public(name: str) -> bool:
  return not name.startswith("_") or name in ("__call__", "__init__")


def _own_returns(fn) -> bool:
  """Whether ``fn`` itself (not a function nested in it) returns a value."""
  nested = {id(n) for child in ast.walk(fn) if child is not fn and isinstance(
      child, (ast.FunctionDef, ast.Lambda, ast.AsyncFunctionDef)) for n in ast.walk(child)}
  for node in ast.walk(fn):
    if id(node) in nested:
      continue
    if isinstance(node, (ast.Yield, ast.YieldFrom)):
      return True
    if isinstance(node, ast.Return) and node.value is not None and not (
        isinstance(node.value, ast.Constant) and node.value.value is None):
      return True
  return False


def _params(fn) -> list[str]:
  args = fn.args
  names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
  names += [a.arg for a in (args.vararg, args.kwarg) if a]
  return [n for n in names if n not in ("self", "cls")]


def _definitions():
  """(module path, qualified name, node) of every public function, method and
  class in fgan/."""
  for path in sorted(FGAN.rglob("*.py")):
    tree = ast.parse(path.read_text())
    for node in tree.body:
      if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and _public(node.name):
        yield path, node.name, node
        if isinstance(node, ast.ClassDef):
          for item in node.body:
            if isinstance(item, ast.FunctionDef) and _public(item.name):
              yield path, f"{node.name}.{item.name}", item


def _problems(name, node) -> list[str]:
  doc = ast.get_docstring(node) or ""
  if not doc:
    return ["no docstring"]
  if isinstance(node, ast.ClassDef):
    fields = [item.target.id for item in node.body
              if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)]
    return [f"attribute {f!r} not described" for f in fields if f not in doc]
  out = [f"argument {p!r} not described" for p in _params(node)
         if not re.search(rf"\b{re.escape(p)}\b", doc)]
  decorators = {getattr(d, "id", getattr(d, "attr", "")) for d in node.decorator_list}
  if (_own_returns(node) and "property" not in decorators and "cached_property" not in decorators
      and not re.search(r"\b(Returns|Yields):", doc)):
    out.append("return value not described (Returns:)")
  return out


def test_every_public_definition_states_its_contract():
  problems = []
  for path, name, node in _definitions():
    key = f"{path.relative_to(ROOT)}:{name}"
    if key in EXEMPT:
      continue
    problems += [f"{key}: {p}" for p in _problems(name, node)]
  assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


@pytest.mark.parametrize("folder", ["fgan", "configs", "tests"])
def test_no_pointers_to_issues_results_sections_or_background_documents(folder):
  pattern = re.compile(r"RESULTS\.md|\bissue \d+|seed 00\d|document 00\d")
  hits = [f"{p.relative_to(ROOT)}:{i + 1}: {line.strip()}"
          for p in sorted((ROOT / folder).rglob("*.py")) if p.name != "test_docstrings.py"
          for i, line in enumerate(p.read_text().splitlines()) if pattern.search(line)]
  assert not hits, "\n".join(hits)
