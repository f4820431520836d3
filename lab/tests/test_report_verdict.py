"""The report shows why: each named anomaly with its class, both promise levels and its fault, linked to the
start op in the timeline; the gates and the promise of each fault window."""
from __future__ import annotations

from checker.tests.test_anomalies import _heartbeat_error_run
from checker.tests.test_rpc import _lost_result_run
from lab.report import render_report
from lab.judge import judge_run_dir


def test_a_degradation_beyond_the_promise_reads_as_such_in_the_report(tmp_path):
    run_dir = _heartbeat_error_run(tmp_path, outage=40.0)
    results = judge_run_dir(run_dir)
    page = render_report(run_dir).read_text()
    assert results["anomalies"][0]["class"] == "abandoned-action"
    assert ("<td>abandoned-action / heartbeat</td><td>no</td><td><b>outside</b></td><td>inside</td>"
            "<td>#0 broker broker (designed: False, spec: True; acted on the cluster)</td>") in page
    assert "<a href='#op-0'>start op #0</a>" in page
    assert 'id="op-0"' in page and 'class="anomaly"' in page  # the start op is outlined in the timeline
    assert "0 defect(s), 1 HA gap(s)" in page
    assert "Judged at the <b>designed</b> level; heartbeat window 10 s." in page


def test_a_defect_row_is_marked_and_the_why_list_leads_with_it(tmp_path):
    run_dir = _heartbeat_error_run(tmp_path, outage=2.0)
    judge_run_dir(run_dir)
    page = render_report(run_dir).read_text()
    assert "<tr class='defect'><td>abandoned-action / heartbeat</td><td>DEFECT</td>" in page
    assert "<ul class='reasons'><li>DEFECT abandoned-action/heartbeat: action execution a1" in page


def test_the_report_lists_the_message_an_anomaly_follows(tmp_path):
    run_dir = _lost_result_run(tmp_path)
    judge_run_dir(run_dir)
    page = render_report(run_dir).read_text()
    assert ("<br><span class='rpc'>follows rpc message #0: drop on_action_complete on engine-1 at 00:00:03.0 UTC"
            "</span>") in page
    assert "1 matched RPC message(s): 1 x drop on_action_complete: ERROR" in page
    assert "drop on_action_complete on engine-1 at 00:00:03.0 UTC: result lost: the witness saw the run" in page
