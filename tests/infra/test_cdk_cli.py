"""`npx cdk synth` on this checkout: no credentials, no Docker, real layer bundling; cfn-lint clean.

Slow (~15-40 s): runs the CDK CLI and pip once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.paths import ROOT
from switchyard import constants

from .conftest import Synthesized

pytestmark = pytest.mark.infra

CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def no_credentials_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_DEFAULT_"))}
    env.update(
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        CDK_DISABLE_CLI_TELEMETRY="true",
        JSII_RUNTIME_PACKAGE_CACHE_ROOT=str(ROOT / ".jsii-cache"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/nonexistent/aws-config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials",
    )
    return env


@pytest.fixture(scope="module")
def cloud_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("cdk.out")
    result = subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "--output", str(output), "--quiet", "--no-notices"],
        cwd=ROOT,
        env=no_credentials_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"cdk synth failed:\n{result.stdout}\n{result.stderr}"
    return output


def template(cloud_assembly: Path, stack_name: str) -> dict:
    return json.loads((cloud_assembly / f"{stack_name}.template.json").read_text())


def staged_layer(cloud_assembly: Path, stack_name: str, description_start: str) -> Path:
    resources = template(cloud_assembly, stack_name)["Resources"].values()
    layer = next(
        r
        for r in resources
        if r["Type"] == "AWS::Lambda::LayerVersion" and r["Properties"]["Description"].startswith(description_start)
    )
    asset_hash = layer["Properties"]["Content"]["S3Key"].removesuffix(".zip")
    return cloud_assembly / f"asset.{asset_hash}"


def test_cdk_synth_produces_both_stacks(cloud_assembly: Path) -> None:
    for stack_name in constants.REGIONS.values():
        assert (cloud_assembly / f"{stack_name}.template.json").is_file()


def test_synth_bundles_the_domain_layer_without_local_tooling(cloud_assembly: Path) -> None:
    layer = staged_layer(cloud_assembly, "Switchyard-Dublin", "Switchyard domain")
    assert (layer / "python" / "switchyard" / "constants.py").is_file()
    assert not (layer / "python" / "switchyard" / "cli").exists()
    assert not (layer / "python" / "switchyard" / "devstack").exists()


def test_synth_bundles_the_dependencies_layer_for_arm64(cloud_assembly: Path) -> None:
    layer = staged_layer(cloud_assembly, "Switchyard-Oregon", "Switchyard third-party")
    assert list((layer / "python" / "pydantic_core").glob("*aarch64-linux-gnu.so"))


def test_synth_bundles_the_lake_layer_for_arm64(cloud_assembly: Path) -> None:
    layer = staged_layer(cloud_assembly, "Switchyard-Dublin", "Switchyard lake")
    assert list((layer / "python" / "pyarrow").glob("lib.*aarch64-linux-gnu.so"))
    assert (layer / "python" / "pyarrow" / "parquet" / "__init__.py").is_file()


def test_cfn_lint_finds_no_errors(
    cloud_assembly: Path, custom_app: Synthesized, http_api_app: Synthesized, tmp_path: Path
) -> None:
    templates = [cloud_assembly / f"{name}.template.json" for name in constants.REGIONS.values()]
    # Every optional feature turned on, and the HTTP API (`waf=false`) with and without a custom domain.
    for name, app in (("custom", custom_app), ("http-api", http_api_app)):
        for region, template_json in app.json.items():
            path = tmp_path / f"{name}-{region}.template.json"
            path.write_text(json.dumps(template_json))
            templates.append(path)
    result = subprocess.run(
        [str(CFN_LINT), "--ignore-checks", "W3005", "--", *map(str, templates)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
