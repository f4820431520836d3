"""For operators of any Mistral deployment: `mistral-lab inspect` (what HA faults left behind that cannot
finish by itself) and `mistral-lab recover` (the calls that bring it to an end without running an action again
unless allowed). The rules are checker.stuck's; API access is lab.operators.api; docs/operators.md."""
