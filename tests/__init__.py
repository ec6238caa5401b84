"""The tests. What they share lives in tests.support, whose assertions pytest rewrites as
it does a test module's (a failing helper shows the values it compared)."""

import pytest

pytest.register_assert_rewrite("tests.support")
