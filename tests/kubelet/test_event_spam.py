"""The kubelet's event recorder drops a flood of one object's same-reason events, as client-go's spam filter."""
from __future__ import annotations

from labserver.kubelet import events
from labserver.kubelet.events import WARNING, EventRecorder

POD = {"metadata": {"name": "p", "namespace": "default", "uid": "u1"}}


class Client:
    def __init__(self):
        self.posted, self.patched = [], []

    def post(self, path, body):
        self.posted.append(body)
        return body

    def patch(self, path, body):
        self.patched.append(body)
        return body


def test_burst_then_dropped_then_refilled(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(events.time, "monotonic", lambda: clock[0])
    client = Client()
    recorder = EventRecorder(client, "node")
    for i in range(40):
        recorder.event(POD, WARNING, "Unhealthy", f"Readiness probe failed: attempt {i}", "app")
    recorder.event(POD, WARNING, "BackOff", "another reason has its own budget", "app")
    recorder.flush()
    messages = [b["message"] for b in client.posted]
    assert len([m for m in messages if m.startswith("Readiness")]) == events.SPAM_BURST
    assert "another reason has its own budget" in messages
    clock[0] += events.SPAM_REFILL
    recorder.event(POD, WARNING, "Unhealthy", "Readiness probe failed: later", "app")
    recorder.event(POD, WARNING, "Unhealthy", "Readiness probe failed: too soon", "app")
    recorder.flush()
    messages = [b["message"] for b in client.posted]
    assert "Readiness probe failed: later" in messages and "Readiness probe failed: too soon" not in messages
