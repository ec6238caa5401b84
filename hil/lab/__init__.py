"""A lab: the running parts of one environment (a broker, DSP workers, emulated
premises or bridged hubs, service users), started and stopped as one (docs/hil.md,
docs/scale-out.md).

- `LabEnv` (`env.py`): the environment file, in the manner of labgrid's.
- `Lab` (`lab.py`): a lab started from its environment file, with its service users
  (`LabClient`, `client.py`) and its bridged hubs (`hubs.py`).
- `Stack` (`stack.py`): the DSP and the fleet on one broker, in this process or each
  part in a process of its own (`processes.py`), watched by `supervise`.
- `LabUp` (`up.py`): `smetslab lab up`, a whole lab in processes on one machine.
"""

from .client import LabClient, ServiceUser
from .env import HubKind, LabEnv, default_env, load_lab_env
from .lab import Lab, LabDsp
from .observations import Observation, ObservationKind
from .processes import DspCommand, DspProcess, FleetCommand, FleetProcess, LabProcess
from .stack import Stack, StackConfig, seed_store
from .supervisor import RestartBudget, RestartPolicy, supervise
from .up import LabUp, LabUpInfo, LabUpOptions

__all__ = [
    "DspCommand",
    "DspProcess",
    "FleetCommand",
    "FleetProcess",
    "HubKind",
    "Lab",
    "LabClient",
    "LabDsp",
    "LabEnv",
    "LabProcess",
    "LabUp",
    "LabUpInfo",
    "LabUpOptions",
    "Observation",
    "ObservationKind",
    "RestartBudget",
    "RestartPolicy",
    "ServiceUser",
    "Stack",
    "StackConfig",
    "default_env",
    "load_lab_env",
    "seed_store",
    "supervise",
]
