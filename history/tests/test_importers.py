import os

import pytest

from history import HistoryError, load, pair_operations

VALIDATION = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "validation")


def test_jepsen_log_reads_tabs_spaces_vectors_and_timeouts(tmp_path):
    path = tmp_path / "etcd.log"
    path.write_text(
        "2015-01-01 INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\n"
        "INFO  jepsen.util - 1   :invoke :read   nil\n"
        "some other log line\n"
        "INFO  jepsen.util - 0\t:fail\t:cas\t[1 2]\n"
        "INFO  jepsen.util - 1   :fail   :read   :timed-out\n"
        "INFO  jepsen.util - 1   :invoke :write  4\n"
        "INFO  jepsen.util - 1   :info   :write  :timed-out\n"
    )
    events = load(path, "jepsen-log")
    assert [e.line for e in events] == [1, 2, 4, 5, 6, 7]
    assert events[0].value == [1, 2] and events[1].value is None
    assert events[3].type == "info"  # a timed-out read may or may not have happened
    cas, read, write = pair_operations(events)
    assert (cas.status, read.status, write.status) == ("fail", "info", "info")
    assert write.value == 4 and write.process != read.process  # the retired worker got a new id


def test_porcupine_kv():
    events = load(os.path.join(VALIDATION, "porcupine-kv", "c01-ok.txt"), "porcupine-kv")
    assert events[0].process == 0 and events[0].f == "append" and events[0].key == "0"
    assert events[0].value == "x 0 0 y"


def test_jepsen_edn_with_comments_nemesis_and_lines(tmp_path):
    path = tmp_path / "history.edn"
    path.write_text(
        "; a comment with { brackets\n"
        "[{:process 0, :type :invoke, :f :write, :value 1, :time 5}\n"
        " {:process :nemesis, :type :info, :f :start, :value nil}\n"
        " {:process 0, :type :ok, :f :write, :value 1, :time 3}\n"
        " {:process 1, :type :invoke, :f :txn, :value [[:read :x nil]]}]\n"
    )
    events = load(path, "jepsen-edn")
    assert [e.line for e in events] == [2, 3, 4, 5]
    assert events[1].process == "nemesis"
    assert events[2].time == 5  # clamped to stay monotonic
    assert events[3].value == [["read", "x", None]]


def test_importer_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.edn"
    path.write_text("[{:process 0, :type :invoke, :f :read}\n {:process 0, :type :invoke, :f :read}]\n")
    with pytest.raises(HistoryError, match=r"bad.edn:2: process 0 invokes"):
        load(path, "jepsen-edn")
    log = tmp_path / "bad.log"
    log.write_text("INFO  jepsen.util - 0 :started :read nil\n")
    with pytest.raises(HistoryError, match=r"bad.log:1: unknown op type"):
        load(log, "jepsen-log")


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(HistoryError, match="unknown format"):
        load(tmp_path / "x", "csv")
    with pytest.raises(HistoryError, match="no such file"):
        load(tmp_path / "x.edn", "jepsen-edn")


def test_fast_edn_matches_edn_format_and_falls_back(tmp_path):
    import edn_format

    from history.importers import fast_edn
    from history.importers.edn_values import plain

    text = '; c\n[{:a 1, :b -2.5, :c "x\\"y", :d nil, :e [true false (:k/w 3)]} {}]'
    assert fast_edn.loads(text) == plain(edn_format.loads(text))
    with pytest.raises(fast_edn.Unsupported):
        fast_edn.loads("[#{1 2}]")
    path = tmp_path / "set.edn"
    path.write_text("[{:process 0, :type :invoke, :f :add, :value #{1 2}}]")
    assert sorted(load(path, "jepsen-edn", validate=False)[0].value) == [1, 2]


@pytest.mark.parametrize("fmt, text", [
    ("jepsen-edn", "[{:process 0, :type [:ok], :f :read}]"),
    ("porcupine-kv", "{:process 0, :type [:ok], :f :get, :key 1, :value nil}"),
])
def test_a_type_that_is_not_a_keyword_is_bad_input_not_a_crash(tmp_path, fmt, text):
    path = tmp_path / "bad.txt"
    path.write_text(text + "\n")
    with pytest.raises(HistoryError, match=r"bad.txt:1: .*type must be"):
        load(path, fmt)


def test_jepsen_log_values_are_parsed_once_but_never_shared(tmp_path):
    path = tmp_path / "etcd.log"
    path.write_text("INFO  jepsen.util - 0 :invoke :cas [1 2]\nINFO  jepsen.util - 0 :ok :cas [1 2]\n")
    invoke, ok = load(path, "jepsen-log")
    assert invoke.value == ok.value == [1, 2] and invoke.value is not ok.value


def test_jepsen_log_timed_out_fail_and_info_keep_the_op_open(tmp_path):
    path = tmp_path / "etcd.log"
    path.write_text("INFO  jepsen.util - 0 :invoke :write 3\nINFO  jepsen.util - 0 :info :write :timed-out\n"
                    "INFO  jepsen.util - 0 :invoke :read nil\nINFO  jepsen.util - 0 :fail :read :timed-out\n")
    events = load(path, "jepsen-log")
    assert [(e.process, e.type, e.value, e.error) for e in events] == [
        (0, "invoke", 3, None), (0, "info", None, "timed-out"), (1, "invoke", None, None), (1, "info", None, "timed-out")]
