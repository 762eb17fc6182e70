"""The real dependencies layer, built without Docker, is importable on Lambda (arm64, CPython 3.12)
and ships exactly the versions the tests ran against; so does the lake layer (pyarrow), which only
the lake loader gets, and the loader with its layers fits in Lambda's size limit.

Slow (pip, ~5-30 s) and needs the package index.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

from infra.bundling import LAMBDA_PYTHON_VERSION, PackageLayerBundler, PipLayerBundler
from infra.domain_layer import LOCAL_ONLY_SUBPACKAGES
from infra.paths import DEPENDENCIES_DIR, DOMAIN_PACKAGE_DIR, FUNCTIONS_DIR, LAKE_LAYER_DIR, ROOT

pytestmark = pytest.mark.infra

ABI = f"cpython-{LAMBDA_PYTHON_VERSION.replace('.', '')}-aarch64-linux-gnu"
# Lambda's limit on a function's code and all its layers, unzipped.
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
# The functions that get the lake layer (infra/lake.py), and what only they may import from it.
LAKE_LAYER_FUNCTIONS = {"lake_loader"}


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("dependencies-layer")
    assert PipLayerBundler(DEPENDENCIES_DIR / "requirements.txt").try_bundle(str(output), image=None)
    return output / "python"


@pytest.fixture(scope="module")
def lake_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("lake-layer")
    assert PipLayerBundler(LAKE_LAYER_DIR / "requirements.txt").try_bundle(str(output), image=None)
    return output / "python"


@pytest.fixture(scope="module")
def domain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("domain-layer")
    assert PackageLayerBundler(DOMAIN_PACKAGE_DIR, LOCAL_ONLY_SUBPACKAGES).try_bundle(str(output), image=None)
    return output / "python"


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if match := re.fullmatch(r"([A-Za-z0-9_.\[\]-]+)==([^\s;]+)", line):
            pins[normalized(re.sub(r"\[.*\]", "", match[1]))] = match[2]
    return pins


def distributions(site: Path) -> dict[str, tuple[str, str]]:
    """Top-level importable names in `site` -> (distribution, version), from each dist-info's RECORD."""
    owners = {}
    for dist_info in site.glob("*.dist-info"):
        metadata = (dist_info / "METADATA").read_text(errors="replace")
        name = re.search(r"^Name: (.+)$", metadata, re.MULTILINE)[1].strip()
        version = re.search(r"^Version: (.+)$", metadata, re.MULTILINE)[1].strip()
        for line in (dist_info / "RECORD").read_text().splitlines():
            top = line.split(",", 1)[0].split("/", 1)[0]
            if top and not top.endswith(".dist-info") and top not in ("..", "__pycache__"):
                owners[top.removesuffix(".py")] = (normalized(name), version)
    return owners


@pytest.mark.parametrize("compiled", ["pydantic_core/_pydantic_core", "orjson/orjson"])
def test_compiled_packages_are_arm64_wheels_for_the_runtime(layer: Path, compiled: str) -> None:
    assert (layer / f"{compiled}.{ABI}.so").is_file()
    assert not list(layer.rglob("*x86_64*.so"))


@pytest.mark.parametrize(
    "package", ["aws_lambda_powertools", "aws_xray_sdk", "pydantic", "orjson", "wrapt", "boto3", "botocore", "urllib3"]
)
def test_the_packages_are_there(layer: Path, package: str) -> None:
    assert (layer / package / "__init__.py").is_file()


def test_no_console_scripts(layer: Path) -> None:
    assert not (layer / "bin").exists()


def test_no_bytecode_for_the_wrong_interpreter(layer: Path) -> None:
    assert not list(layer.rglob("*.pyc"))


def test_layer_pins_equal_the_project_pins() -> None:
    layer_pins = requirement_pins((DEPENDENCIES_DIR / "requirements.txt").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    project_pins = requirement_pins("\n".join(project))
    assert layer_pins
    assert {name: project_pins.get(name) for name in layer_pins} == layer_pins


def test_lake_layer_pins_equal_the_project_pins() -> None:
    """pyarrow is a dev dependency of the project (the tests and the local stack), and the lake layer's one pin."""
    layer_pins = requirement_pins((LAKE_LAYER_DIR / "requirements.txt").read_text())
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    project_pins = requirement_pins("\n".join(dev))
    assert layer_pins == {"pyarrow": "20.0.0"}
    assert {name: project_pins.get(name) for name in layer_pins} == layer_pins
    assert importlib.metadata.version("pyarrow") == layer_pins["pyarrow"]


def test_lake_layer_is_arm64_pyarrow_for_the_runtime_and_nothing_else(lake_layer: Path) -> None:
    assert (lake_layer / "pyarrow" / "__init__.py").is_file()
    # What the loader uses (Arrow tables, Parquet), as the wheel ships it: the bundler drops only bin/.
    for compiled in ("lib", "_parquet", "_compute", "_fs"):
        assert (lake_layer / "pyarrow" / f"{compiled}.{ABI}.so").is_file(), compiled
    for library in ("libarrow.so.2000", "libparquet.so.2000", "libarrow_python.so"):
        assert (lake_layer / "pyarrow" / library).is_file(), library
    assert not list(lake_layer.rglob("*x86_64*.so"))
    assert not list(lake_layer.rglob("*.pyc"))
    assert not (lake_layer / "bin").exists()
    in_layer = dict(set(distributions(lake_layer).values()))
    assert in_layer == {"pyarrow": "20.0.0"}  # pyarrow pulls in nothing (numpy and pandas are optional)


def size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file() and not path.is_symlink())


def test_the_lake_loader_and_its_layers_fit_in_lambda(layer: Path, lake_layer: Path, domain: Path) -> None:
    total = size(layer) + size(lake_layer) + size(domain) + size(FUNCTIONS_DIR / "lake_loader")
    assert total < LAMBDA_UNZIPPED_LIMIT_BYTES * 0.9, f"{total / 2**20:.0f} MB unzipped"


def test_every_distribution_in_the_layer_is_pinned_at_the_tested_version(layer: Path) -> None:
    """What pip pulls in is pinned too: a new release of a dependency's dependency changes nothing."""
    in_layer = dict(set(distributions(layer).values()))
    pins = requirement_pins((DEPENDENCIES_DIR / "requirements.txt").read_text())
    assert {name: importlib.metadata.version(name) for name in in_layer} == in_layer
    assert {name: pins.get(name) for name in in_layer} == in_layer


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


def handler_imports(domain: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Follows each handler's imports through the domain layer as shipped.

    Returns the `switchyard` modules it would not find, and the top-level third-party modules it
    imports (with the files importing them), per function.
    """
    handlers = sorted(FUNCTIONS_DIR.glob("*/handler.py"))
    assert handlers
    missing: dict[str, set[str]] = {}
    third_party: dict[str, set[str]] = {}
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
                elif top not in sys.stdlib_module_names:
                    third_party.setdefault(top, set()).add(f"{handler.parent.name} ({path.name})")
    return missing, third_party


def test_everything_the_handlers_import_is_in_the_layers(domain: Path) -> None:
    missing, _ = handler_imports(domain)
    assert not missing, f"would fail at import on Lambda: {missing}"


def test_every_third_party_module_the_functions_import_ships_at_the_tested_version(
    layer: Path, lake_layer: Path, domain: Path
) -> None:
    """Nothing is left to the Lambda runtime's own packages (boto3, botocore, urllib3, ...): their
    versions are not the tested ones and change without a deploy, and the webhook needs urllib3 2.
    What the lake layer ships, only the functions that get it import."""
    _, third_party = handler_imports(domain)
    assert {"botocore", "orjson", "urllib3", "pyarrow"} <= set(third_party)  # the walk does reach the domain code
    lake_only = {
        module: owner for module, owner in distributions(lake_layer).items() if module not in distributions(layer)
    }
    shipped = {**distributions(layer), **lake_only}
    wrong = {}
    for module, importers in sorted(third_party.items()):
        functions = {importer.split(" ", 1)[0] for importer in importers}
        if module not in shipped:
            wrong[module] = f"not in the layers, imported by {sorted(importers)}"
        elif module in lake_only and not functions <= LAKE_LAYER_FUNCTIONS:
            wrong[module] = f"in the lake layer only, imported by {sorted(importers)}"
        elif (version := shipped[module][1]) != (tested := importlib.metadata.version(shipped[module][0])):
            wrong[module] = f"{shipped[module][0]} {version} in the layer, {tested} tested"
    assert not wrong, wrong
