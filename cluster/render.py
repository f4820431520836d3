"""Render a topology into the files compose needs: compose.yaml, mistral.conf and rabbitmq.conf."""
from __future__ import annotations

import configparser
import io
import json
import os
import secrets
from pathlib import Path

import yaml

from cluster.db_template import MOUNT_PATH as TEMPLATE_MOUNT
from cluster.images import Images
from cluster.paths import COMPOSE_DIR
from cluster.topology import Topology

API_PORT = 8989
WITNESS_PORT = 7777
DB_PORTS = {"mariadb": 3306, "postgres": 5432}
LABEL_ROLE = "mistral-lab.role"
LABEL_NODE = "mistral-lab.node"


def load_or_make_secrets(state: Path) -> dict[str, str]:
    """Per-cluster passwords (a bundle scrubs them), kept in the cluster's state dir."""
    path = state / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    made = {"db_password": secrets.token_hex(12), "broker_password": secrets.token_hex(12)}
    path.write_text(json.dumps(made))
    path.chmod(0o600)
    return made


def mistral_conf(topology: Topology, passwords: dict[str, str]) -> str:
    if topology.db == "mariadb":
        connection = f"mysql+pymysql://mistral:{passwords['db_password']}@db:3306/mistral?charset=utf8mb4"
    else:
        connection = f"postgresql+psycopg2://mistral:{passwords['db_password']}@db:5432/mistral"
    sections: dict[str, dict[str, str]] = {
        "DEFAULT": {
            "transport_url": f"rabbit://mistral:{passwords['broker_password']}@broker:5672/",
            "scheduler_type": "default",
            "use_stderr": "true",
        },
        "database": {"connection": connection, "max_pool_size": "20", "max_overflow": "20"},
        "pecan": {"auth_enable": "false"},
        "api": {"host": "0.0.0.0", "port": str(API_PORT), "api_workers": "1"},
        "executor": {"type": "remote"},
        "cron_trigger": {"enabled": "false"},
        "oslo_messaging_rabbit": {"heartbeat_timeout_threshold": "30"},
    }
    for section, options in topology.overrides.items():
        sections.setdefault(section, {}).update(options)
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep option names exactly as given
    for section, options in sections.items():
        if section != "DEFAULT":
            parser.add_section(section)
        for option, value in options.items():
            parser.set(section, option, value)
    out = io.StringIO()
    parser.write(out)
    return out.getvalue()


def rabbitmq_conf(passwords: dict[str, str]) -> str:
    return (
        "loopback_users.guest = false\n"
        "default_user = mistral\n"
        f"default_pass = {passwords['broker_password']}\n"
        "listeners.tcp.default = 5672\n"
    )


def _base_service(name: str, role: str, image: str, project: str) -> dict:
    return {
        "image": image,
        "container_name": f"{project}-{name}",
        "hostname": name,
        "labels": {LABEL_ROLE: role, LABEL_NODE: name},
        "restart": "no",
        "init": False,
    }


def _db_service(topology: Topology, images: Images, passwords: dict[str, str], template: Path | None) -> dict:
    service = _base_service("db", "db", images.infra, topology.name)
    if topology.db == "mariadb":
        service.update(command=["/usr/local/bin/mariadb.sh"], volumes=["dbdata:/var/lib/mysql"],
                       healthcheck=_health(["mariadb-admin", "--protocol=socket", "ping"]))
    else:
        service.update(command=["/usr/local/bin/postgres.sh"], volumes=["dbdata:/var/lib/postgresql/data"],
                       healthcheck=_health(["su", "postgres", "-c", "/usr/lib/postgresql/15/bin/pg_isready -q"]))
    service.update(environment={"DB_PASSWORD": passwords["db_password"]}, cap_add=["NET_ADMIN"],
                   stop_grace_period="30s")
    if template is not None:  # loaded on the first start of a fresh volume (compose/infra/*.sh)
        service["volumes"].append(f"{template}:{TEMPLATE_MOUNT}:ro")
        service["environment"]["DB_TEMPLATE"] = TEMPLATE_MOUNT
    return service


def _health(test: list[str]) -> dict:
    return {"test": ["CMD", *test], "interval": "2s", "timeout": "10s", "retries": 60, "start_period": "5s"}


def _mistral_service(name: str, role: str, topology: Topology, images: Images, warm_start: bool = True) -> dict:
    service = _base_service(name, role, images.mistral, topology.name)
    service.update(
        environment={"MISTRAL_ROLE": role, "MISTRAL_NODE": name,
                     "MISTRAL_LAB_WITNESS_URL": f"http://witness:{WITNESS_PORT}",
                     "MISTRAL_LAB_WAIT_FOR": "broker:5672",
                     "MISTRAL_LAB_WARM_START": "1" if warm_start else "0"},
        volumes=["./mistral.conf:/etc/mistral/mistral.conf:ro"],
        cap_add=["NET_ADMIN"],
        stop_grace_period="60s",
    )
    if role == "api":
        service["ports"] = [f"127.0.0.1::{API_PORT}"]
    if role != "db-init":
        service["depends_on"] = {
            "db-init": {"condition": "service_completed_successfully"},
            # Started, not healthy: the node imports Mistral while RabbitMQ boots (about 13 s on 2 cores) and
            # its launcher starts the server once the broker listens (MISTRAL_LAB_WAIT_FOR, first start only).
            "broker": {"condition": "service_started"},
        }
    return service


def _start_beside_the_database(service: dict, db: str) -> None:
    """With a template the schema is in place once the database listens (the template loads before it takes
    TCP connections): the node starts beside the database too, and its launcher waits for both to listen."""
    service["depends_on"] = {"db": {"condition": "service_started"}, "broker": {"condition": "service_started"}}
    service["environment"]["MISTRAL_LAB_WAIT_FOR"] = f"db:{DB_PORTS[db]},broker:5672"


def warm_start_decision(state: Path) -> bool:
    """Whether the lab's Mistral nodes run the warm launcher: `MISTRAL_LAB_WARM_START=0` at the first render
    turns it off, and the lab keeps that decision (`warm-start` in its state dir), so a later scale or heal
    from another shell never mixes the two kinds of node."""
    path = state / "warm-start"
    if not path.exists():
        state.mkdir(parents=True, exist_ok=True)
        path.write_text("0" if os.environ.get("MISTRAL_LAB_WARM_START") == "0" else "1")
    return path.read_text().strip() != "0"


def compose_document(topology: Topology, images: Images, passwords: dict[str, str],
                     db_template: Path | None = None, warm_start: bool = True) -> dict:
    """The compose project; with `db_template` the database starts from that dump and db-init only checks."""
    project = topology.name
    services: dict[str, dict] = {
        "db": _db_service(topology, images, passwords, db_template),
        "broker": {
            **_base_service("broker", "broker", images.infra, project),
            "command": ["/usr/local/bin/rabbitmq.sh"],
            # No scheduler busy-waiting: Erlang spins idle schedulers by default, CPU the 2-core lab's
            # Mistral processes need (the broker's boot and every quiet moment of a run).
            "environment": {"RABBITMQ_NODENAME": "rabbit@localhost",
                            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "+sbwt none +sbwtdcpu none +sbwtdio none"},
            "volumes": ["./rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf:ro"],
            # A TCP connect, not `rabbitmq-diagnostics check_port_listener` (the same fact): that boots an Erlang
            # VM, about a second of CPU every 2 s for the lab's whole life on a 2-core machine.
            "healthcheck": _health(["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/5672"]),
            "cap_add": ["NET_ADMIN"],
            "stop_grace_period": "30s",
        },
        # Outside every fault's reach: no NET_ADMIN, never a nemesis target.
        "witness": {
            **_base_service("witness", "witness", images.mistral, project),
            # Under tini like every node: as PID 1 python ignores SIGTERM, so each stop waited out its grace.
            "entrypoint": ["/usr/bin/tini", "--", "python3", "/opt/witness/witness_server.py",
                           "--log", "/witness/witness.jsonl"],
            "command": [],
            "volumes": [f"{COMPOSE_DIR / 'witness'}:/opt/witness:ro", "witness:/witness"],
            "ports": [f"127.0.0.1::{WITNESS_PORT}"],
            "healthcheck": _health(["python3", "-c", "import urllib.request as u; "
                                    f"u.urlopen('http://127.0.0.1:{WITNESS_PORT}/health', timeout=2)"]),
        },
        "db-init": {
            **_mistral_service("db-init", "db-init", topology, images),
            "container_name": f"{project}-db-init",
            "depends_on": {"db": {"condition": "service_healthy"}},
        },
    }
    if db_template is not None:
        services["db-init"]["environment"]["MISTRAL_LAB_DB_TEMPLATE"] = "1"
    for name, role in topology.mistral_nodes():
        services[name] = _mistral_service(name, role, topology, images, warm_start)
        if db_template is not None:
            _start_beside_the_database(services[name], topology.db)
    return {"name": project, "services": services, "volumes": {"dbdata": {}, "witness": {}}}


def write_cluster_files(state: Path, topology: Topology, images: Images,
                        db_template: Path | None = None) -> Path:
    """Write compose.yaml and configs into the cluster's state dir; returns the compose file."""
    state.mkdir(parents=True, exist_ok=True)
    passwords = load_or_make_secrets(state)
    (state / "mistral.conf").write_text(mistral_conf(topology, passwords))
    (state / "rabbitmq.conf").write_text(rabbitmq_conf(passwords))
    compose_file = state / "compose.yaml"
    document = compose_document(topology, images, passwords, db_template, warm_start_decision(state))
    compose_file.write_text(yaml.safe_dump(document, sort_keys=False))
    topology.save(state / "topology.json")
    (state / "images.json").write_text(json.dumps({"mistral": images.mistral, "infra": images.infra}))
    return compose_file
