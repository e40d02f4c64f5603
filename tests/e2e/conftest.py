"""Fixtures for end-to-end tests: one private control plane per session with
the CRD installed, and a Google stand-in per test."""

from __future__ import annotations

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/ -> `standins` package
sys.path.insert(0, HERE)

from cluster import ControlPlane  # noqa: E402
from standins.harness import GoogleStandin  # noqa: E402


@pytest.fixture(scope="session")
def cp():
    name = os.environ.get("PYTEST_XDIST_WORKER", "e2e") + "-" + os.path.basename(
        os.environ.get("GTOKEN_E2E_NAME", "session"))
    with ControlPlane(name) as plane:
        plane.install_crds()
        # Deny by default: suites not about tenancy run under one open policy
        # (test_tenancy.py replaces it).
        from arbutil import ALLOW_ALL
        plane.apply(ALLOW_ALL)
        yield plane


@pytest.fixture
def google():
    g = GoogleStandin(project="my-project")
    g.start()
    g.create_sa("gtoken-operator")
    g.config(instance_sa="gtoken-operator@my-project.iam.gserviceaccount.com")
    yield g
    g.stop()
