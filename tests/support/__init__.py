"""What the tests share: servers, fakes, waits and ports (docs/testing.md, "Test support").

Test modules import from here and never from one another (tests/unit/test_test_layout.py).
"""
