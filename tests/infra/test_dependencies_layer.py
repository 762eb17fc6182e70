"""The real dependencies layer, built without Docker, is importable on Lambda (arm64, CPython 3.12).

Slow (pip, ~5-30 s) and needs the package index.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

from infra.bundling import LAMBDA_PYTHON_VERSION, RUNTIME_PROVIDED, PackageLayerBundler, PipLayerBundler
from infra.domain_layer import LOCAL_ONLY_SUBPACKAGES
from infra.paths import DEPENDENCIES_DIR, DOMAIN_PACKAGE_DIR, FUNCTIONS_DIR, ROOT

pytestmark = pytest.mark.infra

ABI = f"cpython-{LAMBDA_PYTHON_VERSION.replace('.', '')}-aarch64-linux-gnu"
# What the Lambda Python runtime itself provides besides the standard library.
LAMBDA_RUNTIME_MODULES = {
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "urllib3",
    "six",
    "awslambdaric",
    "rapid_client",
}


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("dependencies-layer")
    assert PipLayerBundler(DEPENDENCIES_DIR / "requirements.txt").try_bundle(str(output), image=None)
    return output / "python"


def requirement_pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if match := re.fullmatch(r"([A-Za-z0-9_.\[\]-]+)==([^\s;]+)", line):
            pins[re.sub(r"\[.*\]", "", match[1]).lower()] = match[2]
    return pins


@pytest.mark.parametrize("compiled", ["pydantic_core/_pydantic_core", "orjson/orjson"])
def test_compiled_packages_are_arm64_wheels_for_the_runtime(layer: Path, compiled: str) -> None:
    assert (layer / f"{compiled}.{ABI}.so").is_file()
    assert not list(layer.rglob("*x86_64*.so"))


@pytest.mark.parametrize("package", ["aws_lambda_powertools", "aws_xray_sdk", "pydantic", "orjson", "wrapt"])
def test_the_packages_are_there(layer: Path, package: str) -> None:
    assert (layer / package / "__init__.py").is_file()


def test_runtime_provided_packages_are_left_to_the_runtime(layer: Path) -> None:
    names = {p.name.lower() for p in layer.iterdir()}
    assert not {"boto3", "botocore", "s3transfer", "urllib3", "dateutil", "bin"} & names
    assert not [n for n in names if n.endswith(".dist-info") and n.split("-")[0].replace("_", "-") in RUNTIME_PROVIDED]


def test_no_bytecode_for_the_wrong_interpreter(layer: Path) -> None:
    assert not list(layer.rglob("*.pyc"))


def test_layer_pins_equal_the_project_pins() -> None:
    layer_pins = requirement_pins((DEPENDENCIES_DIR / "requirements.txt").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    project_pins = requirement_pins("\n".join(project))
    assert layer_pins
    assert {name: project_pins.get(name) for name in layer_pins} == layer_pins


def imports(path: Path) -> set[str]:
    """Dotted modules a file imports at run time (not under `if TYPE_CHECKING:`), `from a import b` as
    both `a` and `a.b` (b may be a submodule)."""
    tree = ast.parse(path.read_text())
    type_checking = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


def module_files(site: Path, dotted: str) -> list[Path]:
    """The files Python runs to import `dotted` from `site`: each package's __init__, then the module."""
    parts, files = dotted.split("."), []
    for depth in range(1, len(parts) + 1):
        base = site.joinpath(*parts[:depth])
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                files.append(candidate)
    return files


def test_everything_the_handlers_import_is_on_lambda(layer: Path, tmp_path: Path) -> None:
    """Follows each handler's imports through the domain layer; what leaves it must be on Lambda."""
    PackageLayerBundler(DOMAIN_PACKAGE_DIR, LOCAL_ONLY_SUBPACKAGES).try_bundle(str(tmp_path), image=None)
    domain = tmp_path / "python"
    available = (
        {p.name.removesuffix(".py") for p in layer.iterdir()} | LAMBDA_RUNTIME_MODULES | set(sys.stdlib_module_names)
    )
    handlers = sorted(FUNCTIONS_DIR.glob("*/handler.py"))
    assert handlers
    missing: dict[str, set[str]] = {}
    for handler in handlers:
        seen: set[Path] = set()
        queue = [handler]
        while queue:
            path = queue.pop()
            if path in seen:
                continue
            seen.add(path)
            for dotted in imports(path):
                top = dotted.split(".")[0]
                if top == "switchyard":
                    found = module_files(domain, dotted)
                    if not found and dotted.count(".") and not module_files(domain, dotted.rsplit(".", 1)[0]):
                        missing.setdefault(handler.parent.name, set()).add(dotted)
                    queue.extend(found)
                elif top not in available:
                    missing.setdefault(handler.parent.name, set()).add(f"{dotted} (from {path.name})")
    assert not missing, f"would fail at import on Lambda: {missing}"
