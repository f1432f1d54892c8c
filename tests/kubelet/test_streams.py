"""Log lines as the runtimes keep them: the CRI format, since/tail selection, the process runtime's log writer."""
from __future__ import annotations

import datetime as dt
import os

import pytest

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


def test_following_from_now_starts_when_asked_not_when_first_read(tmp_path):
    """An attach follows the log "from now": a line written after the follower was made but before its
    first line is taken (a container answering what the client just typed) is the first it gives."""
    path = tmp_path / "c.log"
    path.write_bytes(cri_line("stdout", b"before\n"))
    follower = follow_log(path, LogOptions(), lambda: True, from_now=True)
    with open(path, "ab") as f:
        f.write(cri_line("stdout", b"the answer\n"))
    assert [line for _, line in follower] == [b"the answer\n"]


def test_exit_status_as_kubectl_reads_it():
    assert exit_status(0, ["true"]) == {"metadata": {}, "status": "Success"}
    failed = exit_status(3, ["sh", "-c", "exit 3"])
    assert failed["reason"] == "NonZeroExitCode"
    assert failed["details"] == {"causes": [{"reason": "ExitCode", "message": "3"}]}


class _EngineThatAnswersAtOnce:
    """A stand-in Docker engine on a unix socket (the runtime is faked, nothing else): its exec start
    sends the `101 UPGRADED` headers and the command's whole output in one write, as a real engine
    does for a short command when the client reads late."""

    def __init__(self, path, output: bytes, tty: bool):
        import socket
        import threading
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen()
        self.output, self.tty = output, tty
        threading.Thread(target=self.serve, daemon=True).start()

    def frames(self) -> bytes:
        if self.tty:
            return self.output
        return b"".join(bytes([1, 0, 0, 0]) + len(line).to_bytes(4, "big") + line
                        for line in self.output.splitlines(keepends=True))

    def serve(self):
        import json
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096)
                head, _, body = request.partition(b"\r\n\r\n")
                length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), 0)
                while len(body) < length:
                    body += conn.recv(4096)
                line = head.split(b"\r\n")[0].decode()
                if "/exec/e1/start" in line:
                    conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                                 b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n" + self.frames())
                    continue
                answer = json.dumps({"Id": "e1"} if "/exec" in line and "containers" in line
                                    else {"Running": False, "ExitCode": 0}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(answer), answer))

    def close(self):
        self.server.close()


@pytest.mark.parametrize("tty", [False, True])
def test_docker_exec_keeps_output_that_came_with_the_upgrade(tmp_path, tty):
    """A short command's output arriving in the same read as the engine's upgrade headers is not lost
    (docker-py reads the headers through a buffer; reading its bare socket after that missed it)."""
    import docker
    from labserver.kubelet.docker_streams import DockerExec
    engine = _EngineThatAnswersAtOnce(tmp_path / "docker.sock", b"hello\nworld\n", tty)
    try:
        api = docker.APIClient(base_url=f"unix://{tmp_path / 'docker.sock'}", version="1.41")
        session = DockerExec(api, "c1", ["echo", "hello"], tty=tty, stdin=False)
        out = b""
        while (item := session.output(timeout=5)) is not None and item[1]:
            out += item[1]
        assert out == b"hello\nworld\n"
        assert session.wait(5) == 0
    finally:
        engine.close()
