"""The lab side of smetslab: everything that drives the DSP and the devices as a lab
engineer or a supplier would. One room per concern:

- `hil.lab`: environments, the running lab, its processes and supervisor;
- `hil.campaign`: the firmware campaign, a service user upgrading a fleet;
- `hil.scenarios`: MP105 cases as files, their interpreter, runner and transcripts;
- `hil.conformance`: the firmware-activation checks for one device and their reports.

`hil.demo` is `smetslab demo`; `hil.pytest_plugin` the pytest plugin. In each room the
sans-IO state machine is a `*Model` and what feeds it from the bus a `*Runner`.
"""
