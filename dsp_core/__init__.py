"""The DSP: sans-IO core (authorisation, SMI/CPL rules, request tracking), store adapters, the service runner (DESIGN §4)."""
