"""The service account controller (pkg/controller/serviceaccount/serviceaccounts_controller.go).

Every namespace that is not being deleted has a ServiceAccount named
`default`: created when the namespace appears, created again when someone
deletes it.
"""
from __future__ import annotations

import logging

from ..client import APIStatusError
from .base import Controller

log = logging.getLogger("controllers.serviceaccount")

DEFAULT = "default"


class ServiceAccountController(Controller):
    name = "serviceaccount"

    def __init__(self, client, **_options):
        super().__init__(client)
        self.namespaces = self.informer("/api/v1/namespaces", self._namespace_event)
        self.accounts = self.informer("/api/v1/serviceaccounts", self._account_event,
                                      params={"fieldSelector": f"metadata.name={DEFAULT}"})

    def _namespace_event(self, kind: str, ns: dict) -> None:
        if kind != "DELETED":
            self.queue.add(ns["metadata"]["name"])

    def _account_event(self, kind: str, sa: dict) -> None:
        if kind == "DELETED":
            self.queue.add(sa["metadata"]["namespace"])

    def sync(self, namespace: str) -> None:
        ns = self.namespaces.store.get(namespace)
        if ns is None or ns["metadata"].get("deletionTimestamp") or f"{namespace}/{DEFAULT}" in self.accounts.store:
            return None
        try:
            self.client.post(f"/api/v1/namespaces/{namespace}/serviceaccounts",
                             {"apiVersion": "v1", "kind": "ServiceAccount",
                              "metadata": {"name": DEFAULT, "namespace": namespace}})
            log.info("created serviceaccount %s/%s", namespace, DEFAULT)
        except APIStatusError as e:
            if e.code not in (403, 404, 409):   # 409: exists; 403/404: the namespace is terminating or gone
                raise
        return None
