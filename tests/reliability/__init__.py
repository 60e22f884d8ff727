"""The fault-injection suite (see :mod:`tests.reliability.faults`)."""
