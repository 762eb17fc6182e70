"""The CLI reaches the local emulator on a machine without AWS credentials (the emulator takes any),
and never invents credentials for AWS itself. Also the demo receiver's line for a deletion call."""

from __future__ import annotations

import pytest

from switchyard.cli.targets import EMULATOR_CREDENTIALS, Target
from switchyard.devstack.receiver import describe

NO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": ""}


@pytest.fixture
def without_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in NO_CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_an_emulator_target_gets_stand_in_credentials_when_none_are_configured(without_credentials: None) -> None:
    client = Target("us-west-2", "http://127.0.0.1:4566", {}).client("s3")
    credentials = client._request_signer._credentials  # noqa: SLF001 - what the client would sign with
    assert credentials.access_key == EMULATOR_CREDENTIALS["aws_access_key_id"]


def test_an_aws_target_never_gets_invented_credentials(without_credentials: None) -> None:
    client = Target("us-west-2", None, {}).client("s3")
    assert client._request_signer._credentials is None  # noqa: SLF001


def test_configured_credentials_win_over_the_stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALONE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    client = Target("us-west-2", "http://127.0.0.1:4566", {}).client("s3")
    assert client._request_signer._credentials.access_key == "AKIAREALONE"  # noqa: SLF001


def test_the_demo_receiver_names_the_ids_a_deletion_call_deletes() -> None:
    line = describe({"distinct_ids": ["user-1"], "delete_events": True}, None, "/api/projects/1/persons/bulk_delete/")
    assert line == "[receiver] /api/projects/1/persons/bulk_delete/ delete user-1"
