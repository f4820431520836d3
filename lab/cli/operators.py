"""`mistral-lab inspect` and `mistral-lab recover`: for operators of any Mistral (docs/operators.md).

Exit codes: inspect 0 nothing listed, 1 something listed; recover's dry run the same, recover --apply 0 when
every call it attempted went through (or was skipped because Mistral moved first), 1 when Mistral refused one;
3 on bad input or an unreachable API (one line on stderr; midway through --apply, after writing the record).
The work lives in lab.operators, imported by the commands only: building the CLI loads no Mistral client.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from cluster.errors import LabError
from history.verdict import EXIT_BAD_INPUT, EXIT_INVALID, EXIT_VALID

out = Console()
err = Console(stderr=True)

URL = typer.Option(None, "--url", help="Mistral API, http(s)://HOST:PORT (with or without /v2). With keystone "
                   "and no --url: the catalog's workflow endpoint.")
OS_CLOUD = typer.Option(None, "--os-cloud", help="keystone: a clouds.yaml cloud (or OS_CLOUD).")
INSECURE = typer.Option(False, "--insecure", help="keystone: do not verify TLS certificates.")
NO_AUTH = typer.Option(False, "--no-auth", help="Mistral runs with auth disabled (the lab's): no keystone.")
AS_JSON = typer.Option(False, "--json", help="One JSON document on stdout.")
WINDOW = typer.Option("300", "--heartbeat-window", help="Seconds: \\[action_heartbeat] check_interval x "
                      "max_missed_heartbeats of the deployment (Mistral's defaults: 20 x 15).")
FIRST = typer.Option("3600", "--first-heartbeat-timeout", help="Seconds: \\[action_heartbeat] "
                     "first_heartbeat_timeout of the deployment (Mistral's default 3600).")
OLDER = typer.Option(None, "--older-than", help="Seconds an execution with nothing live must have been quiet "
                     "(default: the heartbeat window).")
PAUSED = typer.Option(False, "--include-paused", help="List PAUSED executions too (someone paused them).")
TIMEOUT = typer.Option("30", "--timeout", help="Seconds per API request.")
# keystoneauth1 through openstack.config, named as every OpenStack client names them; unset ones come from
# --os-cloud's clouds.yaml entry or the OS_* environment.
OS_OPTIONS = ("auth_type", "auth_url", "username", "password", "project_name", "project_id", "user_domain_name",
              "project_domain_name", "token", "region_name", "interface", "cacert")


def _os(name: str) -> Any:
    return typer.Option(None, f"--os-{name.replace('_', '-')}", help=f"keystone: {name} (or OS_{name.upper()}).")


def _seconds(text: str, option: str, allow_zero: bool = True) -> float:
    try:
        value = float(text)
    except ValueError:
        raise LabError(f"{option} must be a number of seconds, got {text!r}") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise LabError(f"{option} must be {'>= 0' if allow_zero else '> 0'}, got {text!r}")
    return value


def _thresholds(window: str, first: str, older: Optional[str], paused: bool) -> Any:
    from checker.stuck import Thresholds

    heartbeat_window = _seconds(window, "--heartbeat-window", allow_zero=False)
    quiet = heartbeat_window if older is None else _seconds(older, "--older-than")
    return Thresholds(heartbeat_window, _seconds(first, "--first-heartbeat-timeout"), quiet, paused)


def _auth(no_auth: bool, cloud: Optional[str], insecure: bool, os_values: dict[str, Optional[str]]) -> Any:
    from lab.operators.api import Auth

    options: dict[str, Any] = {k: v for k, v in os_values.items() if v}
    if insecure:
        options["verify"] = False
    if no_auth and (cloud or options):
        raise LabError("--no-auth cannot go with --os-* options: choose one way to authenticate")
    return Auth(no_auth=no_auth, cloud=cloud, options=options)


def _fail(exc: LabError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


def inspect_command(
    url: Optional[str] = URL,
    snapshot: Optional[str] = typer.Option(None, "--snapshot", help="Judge a lab run's mistral-snapshot.json "
                                           "(or its run directory) instead of a live API, as of its taken_at."),
    no_auth: bool = NO_AUTH, as_json: bool = AS_JSON, window: str = WINDOW, first: str = FIRST,
    older: Optional[str] = OLDER, paused: bool = PAUSED, timeout: str = TIMEOUT,
    os_cloud: Optional[str] = OS_CLOUD, insecure: bool = INSECURE,
    os_auth_type: Optional[str] = _os("auth_type"), os_auth_url: Optional[str] = _os("auth_url"),
    os_username: Optional[str] = _os("username"), os_password: Optional[str] = _os("password"),
    os_project_name: Optional[str] = _os("project_name"), os_project_id: Optional[str] = _os("project_id"),
    os_user_domain_name: Optional[str] = _os("user_domain_name"),
    os_project_domain_name: Optional[str] = _os("project_domain_name"), os_token: Optional[str] = _os("token"),
    os_region_name: Optional[str] = _os("region_name"), os_interface: Optional[str] = _os("interface"),
    os_cacert: Optional[str] = _os("cacert"),
) -> None:
    """List what cannot finish by itself in a Mistral deployment: stuck executions and abandoned actions.
    Read-only. Exit 0 nothing listed, 1 something listed, 3 bad input or unreachable API."""
    given = locals()  # the --os-* values, by name (a comprehension has its own locals)
    os_values = {name: given[f"os_{name}"] for name in OS_OPTIONS}
    try:
        from lab.operators import service
        from lab.operators.render import print_table

        thresholds = _thresholds(window, first, older, paused)
        auth = _auth(no_auth, os_cloud, insecure, os_values)
        document, _ = service.inspect(url, snapshot, auth, thresholds, _seconds(timeout, "--timeout", False))
    except LabError as exc:
        raise _fail(exc) from None
    if as_json:
        print(json.dumps(document, indent=1, sort_keys=True))
    else:
        print_table(out, document)
    raise typer.Exit(EXIT_INVALID if document["items"] else EXIT_VALID)


def recover_command(
    url: Optional[str] = URL,
    executions: Optional[list[str]] = typer.Option(None, "--execution", help="Only these executions (or their "
                                                   "sub-workflows); repeat for more. Default: every listed one."),
    apply: bool = typer.Option(False, "--apply", help="Make the calls (asks first unless --yes)."),
    yes: bool = typer.Option(False, "--yes", help="With --apply: do not ask (needed when stdin is no terminal)."),
    allow_rerun: Optional[list[str]] = typer.Option(None, "--allow-rerun", help="ACTION_EXECUTION_ID that is "
                                                    "safe to run again: fail it and rerun its task; repeat."),
    complete: Optional[list[str]] = typer.Option(None, "--complete", help="ACTION_EXECUTION_ID[=JSON]: you know "
                                                 "it finished; set it SUCCESS with that output; repeat."),
    record: Optional[str] = typer.Option(None, "--record", help="Where --apply writes its JSON record "
                                         "(default ./mistral-recover-<UTC time>.json)."),
    wait: str = typer.Option("60", "--wait", help="Seconds to wait for Mistral between dependent calls."),
    no_auth: bool = NO_AUTH, as_json: bool = AS_JSON, window: str = WINDOW, first: str = FIRST,
    older: Optional[str] = OLDER, paused: bool = PAUSED, timeout: str = TIMEOUT,
    os_cloud: Optional[str] = OS_CLOUD, insecure: bool = INSECURE,
    os_auth_type: Optional[str] = _os("auth_type"), os_auth_url: Optional[str] = _os("auth_url"),
    os_username: Optional[str] = _os("username"), os_password: Optional[str] = _os("password"),
    os_project_name: Optional[str] = _os("project_name"), os_project_id: Optional[str] = _os("project_id"),
    os_user_domain_name: Optional[str] = _os("user_domain_name"),
    os_project_domain_name: Optional[str] = _os("project_domain_name"), os_token: Optional[str] = _os("token"),
    os_region_name: Optional[str] = _os("region_name"), os_interface: Optional[str] = _os("interface"),
    os_cacert: Optional[str] = _os("cacert"),
) -> None:
    """Bring what inspect lists to an end with the calls Mistral's API allows; no action runs again unless
    --allow-rerun names it. Dry run unless --apply."""
    given = locals()  # the --os-* values, by name (a comprehension has its own locals)
    os_values = {name: given[f"os_{name}"] for name in OS_OPTIONS}
    started = time.time()
    try:
        from lab.operators import service
        from lab.operators.plan import parse_completions, plan_recovery

        thresholds = _thresholds(window, first, older, paused)
        auth = _auth(no_auth, os_cloud, insecure, os_values)
        try:
            completions = parse_completions(complete or [])
        except ValueError as exc:
            raise LabError(str(exc)) from None
        wait_s = _seconds(wait, "--wait")
        document, mistral = service.inspect(url, None, auth, thresholds, _seconds(timeout, "--timeout", False))
        plan = plan_recovery(document["items"], allow_rerun or [], completions, executions or [])
        options = {"executions": executions or [], "allow_rerun": allow_rerun or [], "complete": sorted(completions),
                   "wait_s": wait_s}
        if not apply:
            _dry_run(document, plan, as_json)
        assert mistral is not None
        _confirm(yes, len(plan.calls), mistral.url)
        outcomes = _apply(mistral, plan, wait_s, document, options, started, record, as_json)
    except LabError as exc:
        raise _fail(exc) from None
    lost = [o for o in outcomes if o["outcome"] == "error"]
    if lost:  # the API went away midway: the record says how far recover got
        raise _fail(LabError(lost[0]["error"]))
    raise typer.Exit(EXIT_INVALID if any(o["outcome"] == "refused" for o in outcomes) else EXIT_VALID)


def _dry_run(document: dict[str, Any], plan: Any, as_json: bool) -> None:
    from lab.operators.render import print_plan, print_table

    if as_json:
        print(json.dumps({"inspect": document, "plan": plan.as_json(), "applied": False}, indent=1, sort_keys=True))
    else:
        print_table(out, document)
        print_plan(out, plan, document["source"], applying=False)
    raise typer.Exit(EXIT_INVALID if document["items"] else EXIT_VALID)


def _confirm(yes: bool, calls: int, url: str) -> None:
    if yes or calls == 0:
        return
    if not sys.stdin.isatty():
        raise LabError("--apply changes Mistral: confirm at a terminal or pass --yes (stdin is not a terminal); "
                       "nothing was changed")
    if not typer.confirm(f"Make these {calls} call(s) against {url}?", default=False):
        raise LabError("not confirmed; nothing was changed")


def _apply(mistral: Any, plan: Any, wait_s: float, document: dict[str, Any], options: dict[str, Any],
           started: float, record: Optional[str], as_json: bool) -> list[dict[str, Any]]:
    from lab.operators.apply import Applier
    from lab.operators.render import default_record_path, print_outcomes, print_plan, write_record
    from lab.operators.service import record_document

    if not as_json:
        print_plan(out, plan, mistral.url, applying=True)
    outcomes = Applier(mistral, wait_s=wait_s).run(plan)
    path = Path(record) if record else default_record_path(started)
    written = write_record(path, record_document(document, plan.as_json(), outcomes, options, started))
    if as_json:
        print(json.dumps({"inspect": document, "plan": plan.as_json(), "applied": True, "outcomes": outcomes,
                          "record": str(written)}, indent=1, sort_keys=True))
    else:
        print_outcomes(out, outcomes, written)
    return outcomes


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect_command)
    app.command("recover")(recover_command)
