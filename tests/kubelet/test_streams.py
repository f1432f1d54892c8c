"""Log lines as the runtimes keep them: the CRI format, since/tail selection, the process runtime's log writer."""
from __future__ import annotations

import datetime as dt
import os

from labserver.kubelet.container_log import copy_lines
from labserver.kubelet.process_streams import follow_log, read_log
from labserver.kubelet.remotecommand import exit_status
from labserver.kubelet.streams import LogOptions, cri_line, parse_cri_line, parse_timestamp, select_lines


def test_cri_lines_round_trip():
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.timezone.utc)
    full = cri_line("stdout", b"hello world\n", when)
    assert full == b"2026-01-02T03:04:05.123456000Z stdout F hello world\n"
    assert parse_cri_line(full) == ("2026-01-02T03:04:05.123456000Z", b"hello world\n")
    assert parse_cri_line(cri_line("stdout", b"no newline", when))[1] == b"no newline"
    assert parse_timestamp("2026-01-02T03:04:05.123456789Z") == when
    assert parse_timestamp("2026-01-02T03:04:05Z") == when.replace(microsecond=0)
    assert parse_timestamp("yesterday") is None


def test_since_then_tail():
    base = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    lines = [(f"2026-01-01T00:00:0{i}.000000000Z", f"l{i}\n".encode()) for i in range(5)]
    assert select_lines(lines, LogOptions(tail=2)) == lines[3:]
    assert select_lines(lines, LogOptions(since=base + dt.timedelta(seconds=2))) == lines[2:]
    assert select_lines(lines, LogOptions(since=base + dt.timedelta(seconds=2), tail=1)) == lines[4:]
    assert select_lines(lines, LogOptions(tail=0)) == []


def test_log_writer_stamps_each_line(tmp_path):
    r, w = os.pipe()
    os.write(w, b"one\ntwo\nthr")
    os.write(w, b"ee\nlast without newline")
    os.close(w)
    out = os.open(tmp_path / "c.log", os.O_WRONLY | os.O_CREAT)
    copy_lines(r, out)
    os.close(out)
    os.close(r)
    raw = (tmp_path / "c.log").read_bytes()
    assert [parse_cri_line(line)[1] for line in raw.splitlines(keepends=True)] == \
        [b"one\n", b"two\n", b"three\n", b"last without newline"]
    lines, _ = read_log(tmp_path / "c.log")
    assert [text for _, text in lines] == [b"one\n", b"two\n", b"three\n", b"last without newline"]


def test_follow_reads_appended_lines_until_the_end(tmp_path):
    path = tmp_path / "c.log"
    path.write_bytes(cri_line("stdout", b"before\n"))
    ended = []
    follower = follow_log(path, LogOptions(), lambda: bool(ended))
    assert next(follower)[1] == b"before\n"
    with open(path, "ab") as f:
        f.write(cri_line("stdout", b"after\n"))
    assert next(follower)[1] == b"after\n"
    ended.append(True)
    assert list(follower) == []


def test_exit_status_as_kubectl_reads_it():
    assert exit_status(0, ["true"]) == {"metadata": {}, "status": "Success"}
    failed = exit_status(3, ["sh", "-c", "exit 3"])
    assert failed["reason"] == "NonZeroExitCode"
    assert failed["details"] == {"causes": [{"reason": "ExitCode", "message": "3"}]}
