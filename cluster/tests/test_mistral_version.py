"""An unreachable index is not an unknown version: pip says "No matching distribution" for both."""
from __future__ import annotations

from cluster.wheels import pip_failure

NO_SUCH = ("ERROR: Could not find a version that satisfies the requirement mistral==99.0.0 (from versions: 1.0.0, "
           "23.0.0)\nERROR: No matching distribution found for mistral==99.0.0\n")
OFFLINE = ("WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection "
           "broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object>: Failed to "
           "establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/mistral/\n"
           "ERROR: Could not find a version that satisfies the requirement mistral==23.0.0 (from versions: none)\n"
           "ERROR: No matching distribution found for mistral==23.0.0\n")


def test_a_version_the_index_lacks_is_unknown():
    assert pip_failure("99.0.0", NO_SUCH) == "unknown Mistral version 99.0.0: no mistral==99.0.0 on the package index"


def test_an_index_that_never_answered_is_unreachable_not_unknown():
    message = pip_failure("23.0.0", OFFLINE)
    assert message.startswith("cannot reach the package index to check mistral==23.0.0")
    assert "unknown Mistral version" not in message


def test_any_other_pip_failure_names_its_last_line():
    assert pip_failure("23.0.0", "ERROR: disk full\n") == "pip could not fetch mistral==23.0.0: ERROR: disk full"
