"""Which configuration options a Mistral release has, read from its own `mistral/config.py` on the host.

The lab sets Mistral options (heartbeat windows, the integrity check, the scheduler, the RPC driver) by name;
oslo.config ignores a name nobody registered, so an option a release lacks would be a silent no-op and a
run would test a configuration it never had. `up` checks every override against the release's registrations:
the groups Mistral registers are checked whole; in [DEFAULT], which Mistral shares with oslo.messaging,
oslo.log and others, only the options Mistral itself registers there in some release (MISTRAL_DEFAULT_OPTIONS,
read from 20.2.0 and 23.0.0) are checked, the rest belong to a library the lab does not read.
"""
from __future__ import annotations

import ast
import zipfile
from pathlib import Path

from cluster.errors import LabError
from cluster.wheels import wheelhouse_dir

CONFIG_MODULE = "mistral/config.py"
# Options Mistral's config.py registers in [DEFAULT] (CONF.register_opt without a group) in 20.2.0 or 23.0.0;
# rpc_implementation and oslo_rpc_executor went with the kombu driver in 21.0.0.
MISTRAL_DEFAULT_OPTIONS = frozenset({
    "workflow_trace_log_name", "auth_type", "scheduler_type", "js_implementation", "rpc_implementation",
    "oslo_rpc_executor", "expiration_token_duration"})


def registered_options(source: str) -> dict[str, set[str]]:
    """{group: option names} from a config.py: `X = cfg.*Opt('name', ...)` or a list of them, registered by
    `CONF.register_opt(s)(X, group=G)` where G is a string or a module-level string constant. A group computed
    at run time (the profiler's) is left out: the lab cannot read it and sets nothing there."""
    tree = ast.parse(source)
    constants: dict[str, str] = {}
    option_lists: dict[str, set[str]] = {}
    groups: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                constants[name] = node.value.value
            names = _option_names(node.value, option_lists)
            if names is not None:
                option_lists[name] = names
        call = node.value if isinstance(node, ast.Expr) else None
        if isinstance(call, ast.Call) and _is_register(call) and call.args:
            group = _group(call, constants)
            names = _option_names(call.args[0], option_lists)
            if group is not None and names is not None:
                groups.setdefault(group, set()).update(names)
    return groups


def _option_names(value: ast.expr, known: dict[str, set[str]]) -> set[str] | None:
    """The option names an expression holds: one Opt call, a list of them, a name bound to either, or a sum."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr.endswith("Opt"):
        first = value.args[0] if value.args else None
        return {first.value} if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
    if isinstance(value, ast.List):
        found = [_option_names(item, known) for item in value.elts]
        return set().union(*[f for f in found if f]) if any(found) else None
    if isinstance(value, ast.Name):
        return known.get(value.id)
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add):
        left, right = _option_names(value.left, known), _option_names(value.right, known)
        return (left or set()) | (right or set()) if (left or right) else None
    return None


def _is_register(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Attribute) and call.func.attr in ("register_opt", "register_opts")


def _group(call: ast.Call, constants: dict[str, str]) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == "group":
            if isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
                return keyword.value.value
            return constants.get(keyword.value.id) if isinstance(keyword.value, ast.Name) else None
    return "DEFAULT"


def release_config_source(version: str, src: Path | None) -> str:
    """mistral/config.py of a source tree, or of the release's wheel in the lab's wheelhouse."""
    if src is not None:
        path = Path(src) / CONFIG_MODULE
        if not path.exists():
            raise LabError(f"{src} has no {CONFIG_MODULE}: is it a Mistral source tree?")
        return path.read_text(encoding="utf-8")
    wheels = sorted(wheelhouse_dir(version).glob(f"mistral-{version}-*.whl"))
    if not wheels:
        raise LabError(f"no wheel of mistral {version} in the lab's wheelhouse; `mistral-lab images` fetches it")
    with zipfile.ZipFile(wheels[0]) as wheel:
        return wheel.read(CONFIG_MODULE).decode("utf-8")


def unknown_overrides(overrides: dict[str, dict[str, str]], registered: dict[str, set[str]]) -> list[str]:
    """`section.option` of every override this release does not register (see the module docstring)."""
    unknown = []
    for section, options in sorted(overrides.items()):
        if section == "DEFAULT":
            have, checked = registered.get("DEFAULT", set()), MISTRAL_DEFAULT_OPTIONS
        else:
            have, checked = registered.get(section, set()), None
            if section not in registered:
                continue  # a library's group (database, oslo_messaging_rabbit, ...): not Mistral's to say
        unknown += [f"{section}.{option}" for option in sorted(options)
                    if option not in have and (checked is None or option in checked)]
    return unknown


def check_overrides(overrides: dict[str, dict[str, str]], version: str, src: Path | None) -> None:
    """One clear line, before anything starts, when the release lacks an option the lab would set."""
    if not overrides:
        return
    unknown = unknown_overrides(overrides, registered_options(release_config_source(version, src)))
    if unknown:
        which = f"the Mistral tree {src}" if src is not None else f"Mistral {version}"
        raise LabError(f"{which} has no option {', '.join(unknown)} (its {CONFIG_MODULE} does not register it); "
                       "a run with it would test a configuration the release never had")
