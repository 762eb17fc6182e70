"""The workspace file: validation with errors that name the line, and the stored form."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchyard.config.compiled import CompiledWorkspace
from switchyard.config.workspace import ConfigError, compile_workspace, load_workspace, parse_workspace

VALID = """\
workspace: acme
sources:
  - id: web
    name: Website
    write_key: wk_web_123
    enabled: true
    labels: {env: dev}
  - id: ios
    name: iOS app
    write_key: wk_ios_456
    enabled: false
"""


def test_a_valid_file_loads():
    spec = parse_workspace(VALID)
    assert [source.id for source in spec.sources] == ["web", "ios"]
    assert spec.sources[0].labels == {"env": "dev"}
    assert spec.sources[1].enabled is False


def test_the_stored_form_keeps_only_a_hash_of_each_write_key():
    compiled = compile_workspace(parse_workspace(VALID))
    document = compiled.to_document()
    assert "wk_web_123" not in str(document)
    restored = CompiledWorkspace.from_document(document)
    assert restored == compiled
    assert restored.source_for_write_key("wk_web_123").id == "web"
    assert restored.source_for_write_key("wk_nope_000") is None


def test_yaml_syntax_errors_name_the_line():
    with pytest.raises(ConfigError, match=r"ws.yaml:2:1: not valid YAML: found character '\\t'"):
        parse_workspace("workspace: acme\n\tsources: []\n", "ws.yaml")


def test_a_missing_key_names_its_line_and_path():
    text = VALID.replace("    name: Website\n", "")
    with pytest.raises(ConfigError, match=r"line 3, sources\.0\.name: Field required"):
        parse_workspace(text)


def test_an_unknown_key_is_refused_at_its_line():
    text = VALID.replace("    enabled: false\n", "    enabled: false\n    colour: blue\n")
    with pytest.raises(ConfigError, match=r"line 12, sources\.1\.colour: Extra inputs are not permitted"):
        parse_workspace(text)


def test_a_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match=r"line 6, sources\.0\.enabled"):
        parse_workspace(VALID.replace("enabled: true", "enabled: maybe"))


def test_duplicate_source_ids_are_refused():
    with pytest.raises(ConfigError, match="duplicate source id 'web'"):
        parse_workspace(VALID.replace("id: ios", "id: web"))


def test_a_shared_write_key_is_refused_without_printing_it():
    with pytest.raises(ConfigError) as caught:
        parse_workspace(VALID.replace("wk_ios_456", "wk_web_123"))
    assert "duplicate write key" in str(caught.value)
    assert "wk_web_123" not in str(caught.value)


def test_a_file_that_is_not_a_mapping_is_refused():
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_workspace("- just\n- a list\n")


def test_an_unreadable_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_workspace(tmp_path / "missing.yaml")


def test_the_example_workspace_is_valid():
    spec = load_workspace(Path(__file__).parents[2] / "examples" / "workspace.yaml")
    assert spec.sources


def test_a_yaml_boolean_where_a_string_belongs_gets_a_hint():
    with pytest.raises(ConfigError, match="quote the value"):
        parse_workspace(VALID.replace("id: ios", "id: off"))


WITH_CREDENTIALS = """\
workspace: acme
sources: [{id: web, name: Website, write_key: wk_web_123}]
destinations:
  - id: hook
    type: webhook
    sources: [web]
    settings:
      url: https://hooks.example.com/in
      secret: {env: SWITCHYARD_TEST_SIGNING_SECRET}
      previous_secret: old-signing-secret
      headers: {X-Api-Key: {env: SWITCHYARD_TEST_API_KEY}}
"""


def test_credentials_may_come_from_the_environment_and_stay_out_of_the_stored_form(monkeypatch):
    monkeypatch.setenv("SWITCHYARD_TEST_SIGNING_SECRET", "new-signing-secret")
    monkeypatch.setenv("SWITCHYARD_TEST_API_KEY", "key_123456")
    spec = parse_workspace(WITH_CREDENTIALS)
    settings = spec.destinations[0].settings
    assert settings is not None
    assert settings.credentials() == {
        "secret": "new-signing-secret",
        "previous_secret": "old-signing-secret",
        "headers": {"X-Api-Key": "key_123456"},
    }
    document = str(compile_workspace(spec).to_document())
    assert not {"new-signing-secret", "old-signing-secret", "key_123456"} & set(document.split("'"))
    assert compile_workspace(spec).destination("hook").credentials == ("headers", "previous_secret", "secret")


def test_an_unset_environment_variable_is_named_with_its_line(monkeypatch):
    monkeypatch.delenv("SWITCHYARD_TEST_SIGNING_SECRET", raising=False)
    monkeypatch.setenv("SWITCHYARD_TEST_API_KEY", "key_123456")
    with pytest.raises(ConfigError) as error:
        parse_workspace(WITH_CREDENTIALS)
    assert "line 9" in str(error.value) and "SWITCHYARD_TEST_SIGNING_SECRET" in str(error.value)


def test_a_previous_secret_alone_is_refused():
    text = WITH_CREDENTIALS.replace("      secret: {env: SWITCHYARD_TEST_SIGNING_SECRET}\n", "").replace(
        "{env: SWITCHYARD_TEST_API_KEY}", "key_123456"
    )
    with pytest.raises(ConfigError, match="previous_secret"):
        parse_workspace(text)
