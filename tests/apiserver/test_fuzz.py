"""Fuzzing a running API server with requests drawn from its own OpenAPI (issue #13).

It runs for FUZZ_SECONDS: 10 by default, in `make test` (the fuzzing is most of a
core for as long as it runs, and `make test` is short on CPU); CI runs `make fuzz`
for 60 s as well, and `make fuzz` alone for half an hour. See fuzzing.py for what
is drawn and what every answer must satisfy.
"""
from __future__ import annotations

import os

from fuzzing import Fuzzer


def test_fuzzed_requests_never_break_the_server(apiserver, etcd_client, capsys):
    """No 5xx but 503/504, every error a Status, no rejected request writes, and afterwards every
    stored object lists (JSON and Table) and deletes."""
    fuzzer = Fuzzer(apiserver.url, lambda: etcd_client.get_response("/").header.revision)
    try:
        fuzzer.run(float(os.environ.get("FUZZ_SECONDS", "10")))
    finally:
        with capsys.disabled():
            print("\nfuzzed requests per kind:\n" + fuzzer.report())
    assert fuzzer.failures == []
    assert fuzzer.everything_listed_and_deleted() == []
