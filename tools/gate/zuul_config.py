"""Load a project's Zuul config (.zuul.yaml) with Zuul's own loader, as a Zuul scheduler loads a project's
in-repo config, and print what it parsed as JSON: the errors Zuul reports, each job and each project stanza.

Runs in the gate's tool venv (make gate-tools), where the `zuul` package is:

    .lab-cache/gate-tools/bin/python tools/gate/zuul_config.py [.zuul.yaml] [--project CANONICAL_NAME]

Exit 0 when Zuul reports no error, 1 otherwise. No scheduler, ZooKeeper or connection is needed: the project's
config (jobs, project stanzas) is parsed by TenantParser.loadProjectYAML with a connection registry that has no
connections (an untrusted project may not define pipelines, which are the only items that need one).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_PROJECT = "opendev.org/openstack/mistral-lab"


def parse(text: str, project: str, path: str = ".zuul.yaml") -> tuple[Any, list[Any]]:
    """Zuul's parsed config of `text` and every configuration error Zuul recorded while parsing it."""
    from zuul import configloader, model
    from zuul.lib.connections import ConnectionRegistry

    # The registry's constructor probes every driver's host tools (bubblewrap): an empty one is what is needed.
    registry = ConnectionRegistry.__new__(ConnectionRegistry)
    registry.connections, registry.drivers = {}, {}
    hostname, _, name = project.partition("/")
    source = model.SourceContext(project, name, hostname, "master", path)
    context = configloader.ParseContext(registry, None, None, None)
    loader = configloader.ConfigLoader(registry, None, None, None, None)
    parsed = loader.tenant_parser.loadProjectYAML(text, source, context)
    errors = list(context.error_list)
    for attr in sorted(vars(parsed)):
        if attr.endswith("_errors"):
            errors += [e for e in getattr(parsed, attr) if e not in errors]
    return parsed, errors


def describe_job(job: Any) -> dict[str, Any]:
    return {
        "name": job.name,
        "parent": job.parent,
        "description": job.description or "",
        "voting": job.voting,
        "timeout": job.timeout,
        "nodeset": getattr(job.nodeset, "name", job.nodeset) if not isinstance(job.nodeset, str) else job.nodeset,
        "pre_run": [p.path for p in job.pre_run],
        "run": [p.path for p in job.run],
        "post_run": [p.path for p in job.post_run],
        "required_projects": sorted(job.required_projects),
        "vars": job.variables,
    }


def describe(parsed: Any, errors: list[Any]) -> dict[str, Any]:
    projects = []
    for project in parsed.projects:
        pipelines = {name: sorted(config.job_list.jobs) for name, config in project.pipelines.items()}
        projects.append({"name": project.name, "pipelines": pipelines})
    return {
        "errors": [getattr(e, "error", str(e)) for e in errors],
        "jobs": [describe_job(job) for job in parsed.jobs],
        "projects": projects,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Parse a .zuul.yaml with Zuul's own config loader.")
    parser.add_argument("config", nargs="?", type=Path, default=Path(".zuul.yaml"))
    parser.add_argument("--project", default=DEFAULT_PROJECT, help="the project's canonical name")
    args = parser.parse_args(argv)
    parsed, errors = parse(args.config.read_text(), args.project, args.config.name)
    print(json.dumps(describe(parsed, errors), indent=2, default=str))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
