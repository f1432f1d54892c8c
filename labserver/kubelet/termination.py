"""A stopped container's termination message, as upstream's kubelet reads it.

Each container attempt gets a host file that the runtime mounts at the
container's terminationMessagePath (default /dev/termination-log); the runtime
names it in ContainerState.extra["termination_log"]. Once the attempt has
exited, the kubelet reads at most 4096 bytes of it into the terminated state's
`message`. With terminationMessagePolicy FallbackToLogsOnError, an empty file
and a non-zero exit code take the last 80 lines (at most 2048 bytes) of the
container's log instead (kuberuntime_container.go, getTerminationMessage and
readLastStringFromContainerLogs).
"""
from __future__ import annotations

import logging

from .runtime import ContainerState, Runtime

log = logging.getLogger("kubelet.termination")

DEFAULT_PATH = "/dev/termination-log"
MAX_MESSAGE = 4096          # bytes read from the termination message file
MAX_LOG_LINES = 80          # kubecontainer.MaxContainerTerminationMessageLogLines
MAX_LOG_BYTES = 2048        # kubecontainer.MaxContainerTerminationMessageLogLength


def message_path(spec: dict) -> str:
    return spec.get("terminationMessagePath") or DEFAULT_PATH


def read_message(path: str | None) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            return f.read(MAX_MESSAGE).decode(errors="replace")
    except OSError:
        return ""


def fill_messages(runtime: Runtime, pod_spec: dict, states: list[ContainerState]) -> None:
    """Set `message` on each exited state that has none yet, from its file or (fallback) its log."""
    specs = {c["name"]: c for c in pod_spec.get("containers") or []}
    for st in states:
        if st.state != "exited" or st.message:
            continue  # (an empty one is looked for again: a log can lag the exit by a moment)
        spec = specs.get(st.name, {})
        message = read_message(st.extra.get("termination_log"))
        if not message and spec.get("terminationMessagePolicy") == "FallbackToLogsOnError" and st.exit_code:
            try:
                message = runtime.logs(st.id, tail=MAX_LOG_LINES)[-MAX_LOG_BYTES:].decode(errors="replace")
            except Exception as e:  # the log may be gone with the container
                log.debug("no log for the termination message of %s: %s", st.name, e)
        st.message = message or None
