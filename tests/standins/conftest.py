"""Fixtures: in-process stand-ins on port 0, stopped after each test."""

import os
import sys

import pytest

# make "import standins" work however pytest was started
_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from standins.harness import GoogleStandin, StsStandin  # noqa: E402

PROJECT = "gtoken-test"
ACCOUNT = "123456789012"


@pytest.fixture
def google():
    g = GoogleStandin(project=PROJECT).start()
    try:
        yield g
    finally:
        g.stop()


@pytest.fixture
def sts(google):
    s = StsStandin(jwks_url=google.jwks_url, account_id=ACCOUNT).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """An environment with no AWS configuration of the host leaking in."""
    for k in list(os.environ):
        if k.startswith("AWS_"):
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return tmp_path
