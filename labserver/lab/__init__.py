"""The lab: what runs the workbook's processes, in three parts by job.

- `notebook/`   what the notebooks touch: `Lab` (start each piece, look at it),
                the shell settings for their `!` commands (`.lab/env.sh`), the
                exercise checks, kubectl, pictures and diagrams, the post's
                manifests, and the headless runner (`walkthrough`).
- `supervise/`  process supervision: start, wait for and stop etcd, the API
                server and the kubelet (one `Server` handle each), the records in
                `.lab/` that let any kernel find them again, and teardown.
- `machine/`    machine setup: the Docker engine, the images, the Debian
                packages, and the preflight check of all of it.

The lab imports the components (`labserver.apiserver`, `labserver.kubelet`);
they never import the lab (pyproject.toml's import contracts).
"""
from .machine.preflight import check as check_machine
from .notebook.lab import Lab
from .notebook.svg import architecture

__all__ = ["Lab", "architecture", "check_machine"]
