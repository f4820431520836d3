"""mistral-lab: bring up real multi-node Mistral clusters, break them on purpose, check what they did.

The `lab` package, the top layer, is a package of rooms:

    lab/             the run pipeline: spec, run (its phases in order), judge (judge_run_dir), store, report
                     and report_verdict, bundle, soak, reset (a lab back to a fresh up), warm (one lab per
                     topology reset between runs), progress, smoke; charts (matplotlib for both reports)
    lab/cli/         the `mistral-lab` command line, one module per command group (lab.cli:main)
    lab/bench/       the scaling benchmark (`mistral-lab bench`) and `make bench-cluster`
    lab/findings/    the catalogue of confirmed defects (findings/ in the checkout) and what is built on it:
                     replays, not-a-defect notes, shrink, candidate patches
    lab/map/         the protocol map (`mistral-lab map`): every RPC method under every rpc fault, classified
"""
from cluster.errors import LabError

__all__ = ["LabError"]
