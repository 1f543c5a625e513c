"""The architecture holds: imports go down the pipeline's layers, and the light entry points stay light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "vgen"

# What each part may import of vgen at module level (function-level imports are lazy on purpose).
BASE = {"vgen.errors", "vgen.files", "vgen.cache"}
ALLOWED = {
    "vgen.model": {"vgen.errors", "vgen.model"},
    "vgen.ffmpeg": BASE | {"vgen.model", "vgen.ffmpeg", "vgen.run.child"},
    # the raw source's IR, and which canvas engine (libvips, its version) a segment's name carries
    "vgen.ffmpeg.commands": BASE | {"vgen.model", "vgen.ffmpeg", "vgen.picture.source", "vgen.picture.canvas"},
    "vgen.picture": BASE
    | {"vgen.model", "vgen.ffmpeg.graph", "vgen.ffmpeg.binary", "vgen.machine", "vgen.run.child", "vgen.picture"},
    "vgen.pipeline": BASE | {"vgen.model", "vgen.ffmpeg", "vgen.picture.source"},
    "vgen.run": BASE | {"vgen.machine", "vgen.model", "vgen.ffmpeg", "vgen.picture", "vgen.pipeline", "vgen.run"},
    "vgen.remote.client": {"vgen.errors", "vgen.files", "vgen.remote.names"},
    "vgen.remote.names": set(),
    "vgen.errors": set(),
    "vgen.files": set(),
    "vgen.cache": {"vgen.files"},
    "vgen.machine": set(),
}
BELOW_THE_COMMANDS = BASE | {"vgen.machine", "vgen.model", "vgen.ffmpeg", "vgen.picture", "vgen.pipeline", "vgen.run"}
ALLOWED["vgen.tools"] = BELOW_THE_COMMANDS | {"vgen.tools"}
ALLOWED["vgen.remote.worker"] = BELOW_THE_COMMANDS | {"vgen.remote.worker", "vgen.remote.names"}


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def top_level_imports(source: str) -> set[str]:
    """vgen modules imported at module level, outside `if TYPE_CHECKING:` blocks."""
    found: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vgen"):
            if node.module in ("vgen",) or node.module.count(".") == 1 and (SRC / node.module.split(".")[1]).is_dir():
                found |= {f"{node.module}.{a.name}" for a in node.names}  # from vgen.ffmpeg import graph
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("vgen")}
    return found


def rule_for(name: str) -> set[str] | None:
    best = max((k for k in ALLOWED if name == k or name.startswith(k + ".")), key=len, default=None)
    return None if best is None else ALLOWED[best]


def within(target: str, allowed: set[str]) -> bool:
    return any(target == a or target.startswith(a + ".") for a in allowed)


LAYERED = [p for p in sorted(SRC.rglob("*.py")) if rule_for(module_name(p)) is not None]


def test_every_module_below_the_commands_has_a_rule() -> None:
    unruled = {module_name(p) for p in SRC.rglob("*.py")} - {module_name(p) for p in LAYERED}
    assert {m.split(".")[1] if "." in m else m for m in unruled} <= {"vgen", "cli", "client", "remote", "__main__"}


@pytest.mark.parametrize("path", LAYERED, ids=module_name)
def test_imports_go_down_the_layers(path: Path) -> None:
    name = module_name(path)
    allowed = rule_for(name) or set()
    wrong = sorted(t for t in top_level_imports(path.read_text(encoding="utf-8")) if not within(t, allowed | {name}))
    assert not wrong, f"{name} imports {wrong}, above its layer"


def test_an_import_up_the_layers_is_caught() -> None:
    found = top_level_imports(
        "from vgen.run.render import render\nfrom vgen.ffmpeg import graph\nimport vgen.cli\n"
        "if TYPE_CHECKING:\n    from vgen.pipeline import Prepared\n"
    )
    assert found == {"vgen.run.render", "vgen.ffmpeg.graph", "vgen.cli"}
    assert not any(within(m, ALLOWED["vgen.model"]) for m in found)


HEAVY = ("numpy", "numba", "pydantic", "yaml", "PIL", "typer", "rich", "vgen.run", "vgen.model")


def test_the_client_imports_the_standard_library_only() -> None:
    code = "import sys, vgen.client; print(' '.join(sorted(m for m in sys.modules)))"
    loaded = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    assert "vgen.remote.client" in loaded
    assert not [m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY)]


def test_the_public_api_resolves_lazily() -> None:
    code = (
        "import sys, vgen; assert 'numpy' not in sys.modules and 'pydantic' not in sys.modules;"
        "missing = [n for n in vgen.__all__ if not hasattr(vgen, n)]; print(missing)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
