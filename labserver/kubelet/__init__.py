"""The kubelet: registers this machine as a node and runs the pods bound to it.

server.py (CLI and the kubelet's own HTTP server) -> kubelet.py (wiring) ->
node_status.py (registration, Lease heartbeat), config.py (pod source: list +
watch), pod_workers.py + sync.py (one worker per pod), status_manager.py
(pod status to the API server), events.py; runtime.py is the interface to the
container runtimes (runtime_docker.py, runtime_process.py).
"""
