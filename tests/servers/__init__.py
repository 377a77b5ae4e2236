"""Real servers for the mirror tests, each started once per test session on 127.0.0.1 and stopped after.

`fixtures.py` holds the session-scoped pytest fixtures (registered from tests/conftest.py); each server module
knows how to configure, start, wait for and stop one program. A missing program fails the test with a message
saying how to install it; it never skips.
"""
