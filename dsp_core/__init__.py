"""The DSP: sans-IO core (authorisation, SMI/CPL rules, request tracking), store, runner (§4)."""
