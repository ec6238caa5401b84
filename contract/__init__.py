"""The MQTT contract (DESIGN §3) in one place, and what every package shares.

- `topics`: the topic names, built and parsed.
- `requests`: the request JSON, written by service users and read by the DSP.
- `responses`: the response and alert JSON, written by the DSP and read by users.
- `hub_status`: a comms hub's retained status, written by bridges, read by the DSP.
- `cpl`: CPL changes on `{root}/dsp/cpl`.
- `codes`: response codes and the alert codes users receive.
- `vocabulary`: device types, SMI statuses, roles, SMI and CPL records.
- `ids`: EUI-64 IDs in their two forms, request IDs.
- `times`: date-times as the contract writes them.
- `errors`: `SmetslabError`, the root of every package's exception tree, and the
  contract's own errors; `transitions`: the state-table helper every machine uses;
  `records`: the `@record` decorator for cheap immutable records.

Everything here is sans-IO and imports nothing else of smetslab, so every package may
import it (docs/architecture.md has the table).
"""
