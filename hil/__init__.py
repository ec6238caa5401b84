"""Scenarios, the pytest plugin, conformance reports and the campaign runner."""
