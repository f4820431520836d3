"""The smoke run: up a 1 api / 2 engine / 2 executor cluster, run a workflow through every API node, down.

`make lab-test` runs this until the full run pipeline takes over. Exit 0 when every workflow succeeded.
"""
from __future__ import annotations

import sys
import time

from rich.console import Console

from cluster import mistral_api
from cluster.control import Cluster
from cluster.errors import LabError
from lab.progress import phase
from cluster.topology import Topology

SMOKE_WORKFLOW = """
version: '2.0'
lab_smoke:
  tasks:
    hello:
      action: std.echo output="hello"
      on-success: witnessed
    witnessed:
      action: lab.witness seconds=0.2 label="smoke"
"""


def run_through_every_api(cluster: Cluster, workflow: str = SMOKE_WORKFLOW, name: str = "lab_smoke",
                          timeout: float = 120.0) -> dict[str, str]:
    """Start one execution through each API node; returns {api node: final state}."""
    urls = cluster.api_urls()
    mistral_api.ensure_workflow(mistral_api.client(next(iter(urls.values()))), workflow)
    started = {node: mistral_api.client(url).executions.create(name).id for node, url in urls.items()}
    return {node: mistral_api.wait_terminal(mistral_api.client(urls[node]), ex_id, timeout)
            for node, ex_id in started.items()}


def main() -> int:
    console = Console(stderr=True)
    name = f"smoke-{int(time.time())}"
    cluster = Cluster(name)
    topology = Topology(name=name, apis=1, engines=2, executors=2)
    try:
        with phase(f"up {name} (1 api / 2 engines / 2 executors)") as report:
            cluster.up(topology, report)
        with phase("workflow through every API node") as report:
            report("running")
            states = run_through_every_api(cluster)
        for node, state in states.items():
            console.print(f"{node}: {state}")
        ok = all(state == "SUCCESS" for state in states.values())
    except LabError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        ok = False
    except KeyboardInterrupt:
        console.print("interrupted")
        ok = False
    finally:
        with phase(f"down {name}"):
            cluster.down()
    console.print("[green]smoke: valid[/]" if ok else "[red]smoke: FAILED[/]")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
