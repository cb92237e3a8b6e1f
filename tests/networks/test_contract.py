"""Every network passes the kit's contract: fault modes, secrets, lookups, its error table.

A network is found by its folder: ``tests/networks/<net>/harness.py`` defines ``HARNESS``
(a ``publisher.testing.HarnessNetwork``), and a contract class for it is made here, the same
``AdapterContract`` a third-party adapter's own tests subclass. No list to edit.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from publisher.adapters.registry import available
from publisher.testing import HarnessNetwork
from publisher.testing.contract import AdapterContract

HERE = Path(__file__).parent


def _networks() -> list[HarnessNetwork]:
    nets = []
    for path in sorted(HERE.glob("*/harness.py")):
        module = importlib.import_module(f"tests.networks.{path.parent.name}.harness")
        nets.append(module.HARNESS)
    return nets


NETWORKS = _networks()

for _net in NETWORKS:
    _name = f"TestContract_{_net.network}"
    globals()[_name] = type(_name, (AdapterContract,), {"harness": _net, "__module__": __name__})


def test_every_http_network_is_in_the_harness() -> None:
    """Every network publisher itself ships, but the log; a third-party one installed
    beside it brings its own harness and tests."""
    covered = {n.network for n in NETWORKS}
    ours = {
        name for name, ep in available().items() if ep.dist is None or ep.dist.name == "publisher"
    }
    missing = ours - covered - {"log"}
    assert not missing, f"adapters without a fault-harness entry: {sorted(missing)}"
    assert covered, "no harness found"
