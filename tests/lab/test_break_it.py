"""Notebook 06's etcd experiment through Lab: stopped, the API server answers a Status; started, nothing is lost."""
import pytest
import requests

from labserver.lab.supervise import records
from labserver.lab.supervise.procs import LabError

pytestmark = pytest.mark.integration


def test_etcd_stopped_then_started_again_keeps_the_cluster(lab, capsys):
    """lab.stop('etcd') leaves a 503 Status; lab.start('etcd') comes back on the same data, readable at once."""
    lab.catch_up(upto=2)
    url = f"{lab.api_url}/api/v1/namespaces/default/configmaps"
    created = requests.post(url, json={"metadata": {"name": "kept"}, "data": {"k": "v"}}, timeout=5)
    assert created.status_code == 201, created.text
    lab.stop("etcd")
    assert not lab.etcd_running()
    down = requests.get(url, timeout=10)
    assert down.status_code == 503, down.text
    assert down.json()["kind"] == "Status" and down.json()["reason"] == "ServiceUnavailable"
    capsys.readouterr()
    lab.start("etcd")
    out = capsys.readouterr().out
    assert "kept, so etcd starts with everything it stored" in out and "reads from etcd again" in out
    for _ in range(20):  # every read is good once start() returned, whichever etcd connection serves it
        back = requests.get(f"{url}/kept", timeout=5)
        assert back.status_code == 200, back.text
    assert back.json()["data"] == {"k": "v"}
    assert back.json()["metadata"]["resourceVersion"] == created.json()["metadata"]["resourceVersion"]


def test_start_on_a_running_piece_reuses_it(lab, capsys):
    """lab.start of something already running says so and starts nothing."""
    lab.catch_up(upto=1)
    pid = records.read_pid("etcd")
    capsys.readouterr()
    lab.start("etcd")
    assert "already running" in capsys.readouterr().out and records.read_pid("etcd") == pid


@pytest.mark.parametrize("verb", ["start", "stop"])
def test_an_unknown_piece_is_one_clear_error(lab, verb):
    """lab.start/stop of something the lab does not run names what it can start or stop."""
    with pytest.raises(LabError, match=rf"lab.{verb}\('coredns'\): choose one of .*'etcd'"):
        getattr(lab, verb)("coredns")
