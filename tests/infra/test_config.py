"""The deployment configuration: files, context overrides, validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, MailroomConfig, load_config

BASE: dict[str, Any] = {
    "environment": "dev",
    "domain": "acme.test",
    "mailboxes": ["support", "Sales@ACME.test"],
}


def config(**overrides: Any) -> MailroomConfig:
    return MailroomConfig.model_validate({**BASE, **overrides})


def test_shipped_files_are_valid() -> None:
    dev, prod = load_config({}), load_config({"mailroom:env": "prod"})
    assert (dev.environment, dev.stack_name, dev.prefix) == ("dev", "Mailroom-dev", "mailroom-dev")
    assert (prod.environment, prod.stack_name) == ("prod", "Mailroom-prod")
    assert prod.production
    assert not dev.production


def test_mailboxes_become_addresses_on_the_domain() -> None:
    assert config().mailbox_addresses == ["support@acme.test", "sales@acme.test"]


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"domain": "not a domain"}, "not a domain name"),
        ({"mailboxes": ["support@other.test"]}, "not on the domain"),
        ({"mailboxes": ["support+x"]}, "local part"),
        ({"mailboxes": ["support", "SUPPORT"]}, "each mailbox once"),
        ({"mailboxes": []}, "at least 1"),
        ({"log_retention_days": 31}, "CloudWatch Logs accepts only"),
        ({"raw_mail_transition_days": 10}, "greater than or equal to 30"),
        ({"raw_mail_transition_days": 90, "raw_mail_expiration_days": 60}, "later than"),
        ({"alarm_email": "nobody"}, "not an email address"),
        ({"hosted_zone": {"zone_id": "Z123", "zone_name": "other.test"}}, "does not contain"),
        ({"api_domain": {"name": "inbox.acme.test", "certificate_arn": "arn:nope"}}, "ACM certificate"),
        ({"cognito_domain_prefix": "my-cognito"}, "without aws, amazon or cognito"),
        ({"account": "123456789012"}, "both account and region"),
        ({"environment": "staging"}, "'dev' or 'prod'"),
        ({"unknown_key": 1}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_configuration_is_refused(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        config(**overrides)


def test_context_overrides_the_file(tmp_path: Path) -> None:
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "config.dev.json").write_text(json.dumps({**BASE, "//": "a comment"}))
    loaded = load_config(
        {
            "mailroom:mailboxes": '["billing"]',  # -c values arrive as strings: JSON is parsed
            "mailroom:monthly_budget_usd": "25",
            "mailroom:alarm_email": "ops@acme.test",
        },
        root=tmp_path,
    )
    assert loaded.mailbox_addresses == ["billing@acme.test"]
    assert loaded.monthly_budget_usd == 25
    assert loaded.alarm_email == "ops@acme.test"


def test_errors_list_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"domain": "x", "mailboxes": [], "log_retention_days": 2}))
    with pytest.raises(ConfigError) as raised:
        load_config({"mailroom:configFile": str(path)}, root=tmp_path)
    message = str(raised.value)
    assert "domain" in message
    assert "mailboxes" in message
    assert "log_retention_days" in message


def test_environment_must_match_the_file(tmp_path: Path) -> None:
    path = tmp_path / "prod.json"
    path.write_text(json.dumps({**BASE, "environment": "prod"}))
    with pytest.raises(ConfigError, match="is for 'prod'"):
        load_config({"mailroom:configFile": str(path)}, root=tmp_path)
    with pytest.raises(ConfigError, match="dev or prod"):
        load_config({"mailroom:env": "test"})
    with pytest.raises(ConfigError, match="not found"):
        load_config({"mailroom:configFile": str(tmp_path / "missing.json")})
