"""The process runtime's busybox /bin is made once, whole, even when the first pods start at the same time."""
from __future__ import annotations

import threading

import pytest

from labserver.kubelet.process_images import Images, find_program
from labserver.lab.machine import sysdeps

pytestmark = [
    pytest.mark.integration,
    pytest.mark.process,
    pytest.mark.skipif(bool(sysdeps.missing("process")), reason=sysdeps.install_hint("process")),
]


def test_parallel_first_use_gives_one_complete_bin_dir(tmp_path):
    images, busybox = Images(tmp_path), find_program("busybox")
    results, errors = [], []
    go = threading.Barrier(8)

    def make():
        go.wait()
        try:
            results.append(images.busybox_bin(busybox))
        except Exception as e:  # noqa: BLE001 - the test reports any
            errors.append(e)
    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(set(results)) == 1 and len(results) == 8
    bin_dir = results[0]
    assert (bin_dir / "busybox").is_file() and (bin_dir / "sh").is_symlink()
    assert [p.name for p in tmp_path.glob("images/busybox/*")] == ["bin"], "no temp dir left behind"
