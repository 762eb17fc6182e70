"""The domain layer: the `switchyard` package, shared by every function, at python/switchyard/.

The local-only subpackages (the CLI, the embedded dev stack and the operator's console) are not shipped.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import BundlingOptions, IgnoreMode, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import bundling
from infra.paths import DOMAIN_PACKAGE_DIR

LOCAL_ONLY_SUBPACKAGES = ("cli", "devstack", "console")


class DomainLayer(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
        source: Path = DOMAIN_PACKAGE_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(
                str(source),
                # What the asset hash is computed from: the same files the bundler copies.
                exclude=[*(f"/{name}/" for name in LOCAL_ONLY_SUBPACKAGES), "__pycache__/", "*.pyc"],
                ignore_mode=IgnoreMode.GIT,
                bundling=BundlingOptions(
                    image=runtime.bundling_image,  # required by the API, never pulled
                    local=bundling.PackageLayerBundler(source, exclude=LOCAL_ONLY_SUBPACKAGES),
                ),
            ),
            compatible_runtimes=[runtime],
            compatible_architectures=[architecture],
            description="Switchyard domain package",
            removal_policy=RemovalPolicy.DESTROY,
        )
