"""The folder tree is the data flow: imagery in (``ingest``) → science and domain (``geo``) → what people look at
(``maps``) and the doors they use (``api``). Imports only point down it; this test reads every module's imports
so the house stays that way."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("geo", "ingest", "maps", "api")
# What each stage may import from the others (``data`` is bundled data, importable by all).
ALLOWED = {"geo": {"geo"}, "ingest": {"ingest", "geo"}, "maps": {"maps", "geo"},
           "api": {"api", "geo", "ingest", "maps"}}
TOP_LEVEL = {".ci", ".git", ".gitignore", "README.md", "api", "data", "geo", "ingest", "maps", "pyproject.toml",
             "scripts", "tests"}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level module) of every import in a file, relative ones resolved to their package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = path.relative_to(ROOT).parts[0] if node.level else (node.module or "").split(".")[0]
            out.append((node.lineno, module))
    return out


def _modules(stage: str) -> list[Path]:
    return sorted((ROOT / stage).rglob("*.py"))


@pytest.mark.parametrize("stage", STAGES)
def test_imports_only_point_down_the_data_flow(stage):
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {module}"
             for path in _modules(stage) for line, module in _imports(path)
             if module in STAGES and module not in ALLOWED[stage]]
    assert wrong == [], f"{stage}/ may import only {sorted(ALLOWED[stage])}"


def test_only_the_api_imports_fastapi():
    found = [f"{path.relative_to(ROOT)}:{line}" for stage in ("geo", "ingest", "maps")
             for path in _modules(stage) for line, module in _imports(path) if module in ("fastapi", "starlette")]
    assert found == []


def test_the_top_level_holds_the_stages_and_nothing_else():
    """What the repository holds at its top: the client's folders, and what runs them."""
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert {line.split("/")[0] for line in listed.splitlines()} <= TOP_LEVEL


def test_the_rule_is_checked_on_a_file_that_breaks_it(tmp_path, monkeypatch):
    """The import reader sees a wrong import, absolute or relative (so an empty result above means something)."""
    bad = ROOT / "geo" / "_layout_probe.py"
    bad.write_text("from maps.styles import legend\nimport api.app\n", encoding="utf-8")
    try:
        assert [m for _, m in _imports(bad)] == ["maps", "api"]
        with pytest.raises(AssertionError, match="geo/_layout_probe.py:1 imports maps"):
            test_imports_only_point_down_the_data_flow("geo")
    finally:
        bad.unlink()
