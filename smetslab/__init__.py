"""The smetslab command line: wiring only, no protocol logic."""
