"""The built-in specs set only options the default Mistral release registers (cluster.mistral_options)."""
from __future__ import annotations

import pytest

from cluster.mistral_options import registered_options, release_config_source, unknown_overrides


@pytest.mark.network
def test_every_built_in_spec_sets_only_options_the_default_release_has() -> None:
    from cluster.topology import DEFAULT_MISTRAL_VERSION
    from cluster.wheels import mistral_wheelhouse
    from lab.spec import builtin_names, load_spec

    mistral_wheelhouse(DEFAULT_MISTRAL_VERSION, None)  # cached after the first image build
    registered = registered_options(release_config_source(DEFAULT_MISTRAL_VERSION, None))
    assert {"engine", "action_heartbeat", "scheduler"} <= set(registered)
    for name in builtin_names():
        overrides = load_spec(name).topology("x").overrides
        assert unknown_overrides(overrides, registered) == [], name
