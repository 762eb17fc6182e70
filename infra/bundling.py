"""Local bundlers for the Lambda layers and the user functions' code: no Docker at synth.

CDK tries `local.try_bundle(...)` before Docker; these return True after building the asset
themselves, so the Docker image named in `BundlingOptions` is never pulled. They raise (rather
than return False) on failure, because falling back to Docker would only hide the real error on
machines without it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import jsii
from aws_cdk import ILocalBundling

# The functions run on arm64 (Graviton) with CPython 3.12: wheels must match both.
LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_PIP_PLATFORM = "manylinux2014_aarch64"


def pip_install_command(requirements: Path, target: Path, python: str = sys.executable) -> list[str]:
    return [
        python,
        "-m",
        "pip",
        "install",
        "-r",
        str(requirements),
        "-t",
        str(target),
        "--platform",
        LAMBDA_PIP_PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON_VERSION,
        "--only-binary=:all:",
        "--no-compile",  # .pyc for the build machine's interpreter would be wrong on Lambda
        "--upgrade",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
    ]


def install_dependencies(requirements: Path, output_dir: Path) -> Path:
    """pip-install `requirements` for Lambda into `<output_dir>/python`.

    All of it, the AWS SDK included: nothing is left to the packages of the Lambda runtime, whose
    versions are not the tested ones and change without a deploy (layer packages come first on
    `sys.path`, so a partial SDK would run the runtime's boto3 on our botocore or urllib3).
    """
    target = Path(output_dir) / "python"
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run(
        pip_install_command(requirements, target), capture_output=True, text=True, env=env, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip could not build the dependencies layer:\n{result.stdout}\n{result.stderr}")
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: useless in a layer
    return target


def copy_package(source: Path, destination: Path, exclude: Iterable[str] = ()) -> Path:
    """Copy a Python package tree without caches and without the excluded top-level subpackages."""
    skipped_top = set(exclude)

    def ignore(directory: str, names: list[str]) -> set[str]:
        ignored = {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo"))}
        if Path(directory).resolve() == Path(source).resolve():
            ignored |= skipped_top & set(names)
        return ignored

    shutil.copytree(source, destination, ignore=ignore, dirs_exist_ok=True)
    return destination


@jsii.implements(ILocalBundling)
class PipLayerBundler:
    """Bundles `requirements.txt` into a layer (`python/...`) with pip, for arm64 / CPython 3.12."""

    def __init__(self, requirements: Path) -> None:
        self.requirements = Path(requirements)

    def try_bundle(self, output_dir: str, *, image: object = None, **_: object) -> bool:
        install_dependencies(self.requirements, Path(output_dir))
        return True


@jsii.implements(ILocalBundling)
class PackageLayerBundler:
    """Bundles a pure-Python package into a layer at `python/<package>/`, minus local-only parts."""

    def __init__(self, source: Path, exclude: Iterable[str] = ()) -> None:
        self.source = Path(source)
        self.exclude = tuple(exclude)

    def try_bundle(self, output_dir: str, *, image: object = None, **_: object) -> bool:
        copy_package(self.source, Path(output_dir) / "python" / self.source.name, self.exclude)
        return True


# A user function's asset: the generic handler's directory plus the workspace's module under this name.
USER_FUNCTION_MODULE = "user_function.py"
_SKIPPED_CODE = ("__pycache__", "tests")


def _handler_files(handler_dir: Path) -> list[Path]:
    """The handler directory's files as bundled (no caches or tests; a stray user module is replaced)."""
    return sorted(
        path
        for path in Path(handler_dir).rglob("*")
        if path.is_file()
        and not path.name.endswith((".pyc", ".pyo"))
        and not set(path.relative_to(handler_dir).parts) & set(_SKIPPED_CODE)
        and path.relative_to(handler_dir) != Path(USER_FUNCTION_MODULE)
    )


def user_function_hash(handler_dir: Path, code_path: Path) -> str:
    """Hash of exactly what `bundle_user_function` ships: a changed function file is a new asset.

    CDK's own source hash would cover the handler directory only, so a deploy would miss an edit
    of the workspace's function file.
    """
    digest = hashlib.sha256()
    entries = [(path.relative_to(handler_dir).as_posix(), path) for path in _handler_files(Path(handler_dir))]
    for name, path in [*entries, (USER_FUNCTION_MODULE, Path(code_path))]:
        content = path.read_bytes()
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def bundle_user_function(handler_dir: Path, code_path: Path, output_dir: Path) -> Path:
    """The handler's files, and the workspace's module copied next to them as `user_function.py`."""
    output_dir = Path(output_dir)
    for path in _handler_files(Path(handler_dir)):
        target = output_dir / path.relative_to(handler_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    shutil.copyfile(code_path, output_dir / USER_FUNCTION_MODULE)
    return output_dir


@jsii.implements(ILocalBundling)
class UserFunctionBundler:
    """Bundles one user function: the generic handler plus the workspace's module (two file copies)."""

    def __init__(self, handler_dir: Path, code_path: Path) -> None:
        self.handler_dir = Path(handler_dir)
        self.code_path = Path(code_path)

    def try_bundle(self, output_dir: str, *, image: object = None, **_: object) -> bool:
        bundle_user_function(self.handler_dir, self.code_path, Path(output_dir))
        return True


def files_hash(files: Mapping[str, Path]) -> str:
    """Hash of an asset made of `files` (its path -> the file it copies): names and contents."""
    digest = hashlib.sha256()
    for name in sorted(files):
        content = Path(files[name]).read_bytes()
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def copy_files(files: Mapping[str, Path], output_dir: Path) -> Path:
    for name, source in files.items():
        target = Path(output_dir) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return Path(output_dir)


@jsii.implements(ILocalBundling)
class FilesBundler:
    """Bundles an asset from files gathered from anywhere (a handler and the files it serves)."""

    def __init__(self, files: Mapping[str, Path]) -> None:
        self.files = dict(files)

    def try_bundle(self, output_dir: str, *, image: object = None, **_: object) -> bool:
        copy_files(self.files, Path(output_dir))
        return True
