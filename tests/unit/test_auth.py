"""Write keys from Basic auth (with or without the colon), from the body, or both."""

from __future__ import annotations

import base64

import pytest

from switchyard.errors import Unauthorized
from switchyard.ingest.auth import resolve_write_key, write_key_from_authorization


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("credential", ["wk_123:", "wk_123", "wk_123:ignored-password"])
def test_basic_auth_user_name_is_the_write_key(credential: str):
    assert write_key_from_authorization(basic(credential)) == "wk_123"


@pytest.mark.parametrize("header", [None, "", "Bearer abc", "Basic !!!notbase64", basic(":")])
def test_headers_without_a_basic_user_name_give_nothing(header: str | None):
    assert write_key_from_authorization(header) is None


def test_the_body_key_is_used_without_a_header():
    assert resolve_write_key(None, "wk_body") == "wk_body"


def test_the_header_wins_when_both_are_sent():
    assert resolve_write_key(basic("wk_header:"), "wk_body") == "wk_header"


@pytest.mark.parametrize("body_key", [None, "", 12])
def test_no_key_at_all_is_unauthorized(body_key: object):
    with pytest.raises(Unauthorized) as caught:
        resolve_write_key(None, body_key)
    assert caught.value.code == "missing_write_key"
