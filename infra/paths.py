"""Where the CDK app finds the code it packages, independent of the working directory."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
LAYERS_DIR = ROOT / "layers"
DEPENDENCIES_DIR = LAYERS_DIR / "dependencies"
LAKE_LAYER_DIR = LAYERS_DIR / "lake"
DOMAIN_PACKAGE_DIR = LAYERS_DIR / "switchyard"
CDK_JSON = ROOT / "cdk.json"
