"""Test-suite order: the tests marked ``long`` run first.

Under pytest-xdist (``make test``: ``-n 2``) tests are handed out in collection order, so a
six-minute test collected last (``test_reproduce.py``) kept one worker busy for minutes after
the other had finished; started first, it overlaps with everything else.  The sort is stable:
the order among the other tests is pytest's own.
"""

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: 0 if item.get_closest_marker("long") else 1)
