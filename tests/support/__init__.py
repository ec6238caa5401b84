"""What tests share: paths, brokers, PostgreSQL databases dropped afterwards, waits, the
`smetslab` process, a service user on the bus, one in-memory lab loop, and the benches
of the unit tests (docs/development.md). Test modules import from here and from the
product only (tests/unit/test_test_layout.py)."""
