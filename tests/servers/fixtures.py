"""Session-scoped fixtures: each server starts once per test session and stops at its end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servers.faultproxy import FaultProxy
from servers.mlflow import Mlflow, start_mlflow
from servers.nginx import Nginx, start_nginx
from servers.olah import Olah, start_olah
from servers.seaweed import Seaweed, start_seaweed
from servers.tls import TestCA


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def nginx(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[Nginx]:
    server = start_nginx(tmp_path_factory.mktemp("nginx"), test_ca)
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def fault_proxy(nginx: Nginx, test_ca: TestCA) -> Iterator[FaultProxy]:
    proxy = FaultProxy(nginx, test_ca)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[Seaweed]:
    server = start_seaweed(tmp_path_factory.mktemp("seaweed"), test_ca)
    yield server
    server.process.stop(grace=2)


@pytest.fixture(scope="session")
def olah(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[Olah]:
    server = start_olah(tmp_path_factory.mktemp("olah"), test_ca)
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mlflow]:
    server = start_mlflow(tmp_path_factory.mktemp("mlflow"))
    yield server
    server.process.stop()
