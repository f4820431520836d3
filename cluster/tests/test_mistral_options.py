"""The release's own option registrations decide whether an override can take effect."""
from __future__ import annotations

from pathlib import Path

import pytest

from cluster.errors import LabError
from cluster.mistral_options import check_overrides, registered_options, unknown_overrides

# The shapes Mistral's config.py uses (20.2.0 and 23.0.0): single options, lists, group constants.
CONFIG = '''
from oslo_config import cfg
from osprofiler import opts as profiler
rpc_impl_opt = cfg.StrOpt('rpc_implementation', default='oslo')
auth_type_opt = cfg.StrOpt('auth_type', default='keystone')
engine_opts = [
    cfg.StrOpt('engine', default='default'),
    cfg.IntOpt('execution_integrity_check_delay', default=20),
]
extra_engine_opts = [cfg.BoolOpt('start_subworkflows_via_rpc', default=False)]
action_heartbeat_opts = [
    cfg.IntOpt('max_missed_heartbeats', default=15),
    cfg.IntOpt('check_interval', default=20),
]
profiler_opts = [cfg.BoolOpt('enabled')]
CONF = cfg.CONF
ENGINE_GROUP = 'engine'
ACTION_HEARTBEAT_GROUP = 'action_heartbeat'
PROFILER_GROUP = profiler.list_opts()[0][0]
CONF.register_opt(rpc_impl_opt)
CONF.register_opt(auth_type_opt)
CONF.register_opts(engine_opts + extra_engine_opts, group=ENGINE_GROUP)
CONF.register_opts(
    action_heartbeat_opts,
    group=ACTION_HEARTBEAT_GROUP
)
CONF.register_opts(profiler_opts, group=PROFILER_GROUP)
'''
WITHOUT_KOMBU = CONFIG.replace("CONF.register_opt(rpc_impl_opt)\n", "")


def test_groups_and_options_are_read_as_the_release_registers_them() -> None:
    assert registered_options(CONFIG) == {
        "DEFAULT": {"rpc_implementation", "auth_type"},
        "engine": {"engine", "execution_integrity_check_delay", "start_subworkflows_via_rpc"},
        "action_heartbeat": {"max_missed_heartbeats", "check_interval"},
    }  # the profiler's group is computed at run time: left out


def test_an_option_the_release_lacks_is_named_and_a_library_option_is_not_judged() -> None:
    overrides = {"DEFAULT": {"rpc_implementation": "kombu", "rpc_response_timeout": "20"},
                 "action_heartbeat": {"check_interval": "2", "check_intervall": "2"},
                 "engine": {"execution_integrity_check_delay": "5"},
                 "oslo_messaging_rabbit": {"heartbeat_timeout_threshold": "10"}}
    assert unknown_overrides(overrides, registered_options(CONFIG)) == ["action_heartbeat.check_intervall"]
    assert unknown_overrides(overrides, registered_options(WITHOUT_KOMBU)) == [
        "DEFAULT.rpc_implementation", "action_heartbeat.check_intervall"]


def test_up_refuses_an_option_of_another_release_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "mistral").mkdir()
    (tmp_path / "mistral" / "config.py").write_text(WITHOUT_KOMBU)
    check_overrides({"action_heartbeat": {"check_interval": "2"}}, "23.0.0", tmp_path)  # all known: no error
    with pytest.raises(LabError) as refused:
        check_overrides({"DEFAULT": {"rpc_implementation": "kombu"}}, "23.0.0", tmp_path)
    message = str(refused.value)
    assert "\n" not in message and "DEFAULT.rpc_implementation" in message and str(tmp_path) in message
    with pytest.raises(LabError, match="Mistral source tree"):
        check_overrides({"engine": {"engine": "x"}}, "23.0.0", tmp_path / "nowhere")

