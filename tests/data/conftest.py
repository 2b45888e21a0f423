import socket

import pytest


@pytest.fixture
def no_network(monkeypatch):
    """Point openml at an unreachable server and make every outbound TCP connect fail."""
    import openml

    def refuse(*args, **kwargs):
        raise OSError("network blocked by test")

    monkeypatch.setattr(openml.config, "server", "http://127.0.0.1:9/api/v1/xml")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield
