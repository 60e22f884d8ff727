"""The shared provider suite, its fixtures and the fake provider servers."""

import pytest

# The suite and the fixtures assert; have pytest rewrite them like test modules.
pytest.register_assert_rewrite("tests.providers.contract", "tests.providers.fixtures")
