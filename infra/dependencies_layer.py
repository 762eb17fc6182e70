"""The dependencies layer: third-party packages of layers/dependencies/requirements.txt.

Built at synth by pip on the build machine (wheels for arm64 / CPython 3.12, see bundling.py), the
AWS SDK included: the functions run the boto3, botocore and urllib3 the tests ran, not the runtime's.
The same class builds the lake layer (pyarrow, layers/lake/requirements.txt) from another `source`
with its own `description`: only the lake loader gets that one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from aws_cdk import AssetHashType, BundlingOptions, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import bundling
from infra.paths import DEPENDENCIES_DIR

DESCRIPTION = "Switchyard third-party dependencies (powertools, pydantic, orjson, boto3, urllib3, ...)"


def asset_hash(requirements: Path) -> str:
    """Changes with the requirements and with how they are built (not only with the source)."""
    digest = hashlib.sha256(requirements.read_bytes())
    recipe = (bundling.LAMBDA_PYTHON_VERSION, bundling.LAMBDA_PIP_PLATFORM)
    digest.update(repr(recipe).encode())
    return digest.hexdigest()


class DependenciesLayer(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
        source: Path = DEPENDENCIES_DIR,
        description: str = DESCRIPTION,
    ) -> None:
        super().__init__(scope, construct_id)
        requirements = source / "requirements.txt"
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(
                str(source),
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=asset_hash(requirements),
                bundling=BundlingOptions(
                    image=runtime.bundling_image,  # required by the API, never pulled
                    local=bundling.PipLayerBundler(requirements),
                ),
            ),
            compatible_runtimes=[runtime],
            compatible_architectures=[architecture],
            description=description,
            removal_policy=RemovalPolicy.DESTROY,
        )
