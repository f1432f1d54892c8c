"""Pods: v1 defaulting, validation and graceful deletion (pkg/registry/core/pod/strategy.go).

A pod POSTed by the post's curl step comes back with the defaults the real
API server adds (restartPolicy Always, dnsPolicy ClusterFirst, ...) and a
status reset to Pending. Only the kubelet writes status, through `/status`;
the main endpoint keeps the old status and most of the spec is immutable.
A pod bound to a node is deleted gracefully: it gets a deletionTimestamp and
stays until its kubelet has stopped the containers and deletes it with grace 0.
"""
from __future__ import annotations


from ..limits import copy_json
from . import Strategy
from . import validation as v

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
PROTOCOLS = ("SCTP", "TCP", "UDP")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
# Volume sources we know; a volume with none of them becomes an emptyDir.
_VOLUME_SOURCES = ("emptyDir", "hostPath", "configMap", "secret", "persistentVolumeClaim", "projected",
                   "downwardAPI", "nfs", "ephemeral", "csi", "image")
_MUTABLE_SPEC_NOTE = ("pod updates may not change fields other than `spec.containers[*].image`,"
                      "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
                      "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
                      "(allow it to be set to 1 if it was previously negative)")


def _image_pull_policy(image) -> str:
    if not isinstance(image, str):
        return "IfNotPresent"
    name = image.split("@", 1)[0]
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
    return "Always" if "@" not in image and tag in ("", "latest") else "IfNotPresent"


def _containers(spec: dict) -> list[tuple[str, int, dict]]:
    out = []
    for field in ("initContainers", "containers"):
        for i, c in enumerate(v.expect(spec.get(field), list, "Pod", f"PodSpec.spec.{field}") or []):
            v.expect(c, dict, "Pod", f"PodSpec.spec.{field}")
            out.append((field, i, c))
    return out


def qos_class(spec: dict) -> str:
    """BestEffort without any requests/limits, Guaranteed when limits == requests for cpu and memory."""
    containers = [c for _, _, c in _containers(spec)]
    any_set, guaranteed = False, True
    for c in containers:
        res = c.get("resources") or {}
        limits, requests = res.get("limits") or {}, res.get("requests") or {}
        if any(k in limits or k in requests for k in ("cpu", "memory")):
            any_set = True
        for k in ("cpu", "memory"):
            if k not in limits or str(requests.get(k, limits[k])) != str(limits[k]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class PodStrategy(Strategy):
    has_status = True
    graceful_delete = True
    return_deleted_object = True

    def default(self, pod: dict) -> None:
        spec = v.expect(pod.get("spec"), dict, "Pod", "Pod.spec")
        if spec is None:
            spec = pod["spec"] = {}
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("securityContext", {})
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("enableServiceLinks", True)
        for _, _, c in _containers(spec):
            c.setdefault("resources", {})
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("imagePullPolicy", _image_pull_policy(c.get("image")))
            _default_probes(c)
            for port in v.expect(c.get("ports"), list, "Pod", "Container.spec.containers.ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
        for vol in v.expect(spec.get("volumes"), list, "Pod", "PodSpec.spec.volumes") or []:
            v.expect(vol, dict, "Pod", "PodSpec.spec.volumes")
            if not any(src in vol for src in _VOLUME_SOURCES):
                vol["emptyDir"] = {}

    def prepare_for_create(self, pod: dict) -> None:
        add_default_tolerations(pod["spec"])
        pod["metadata"]["generation"] = 1
        pod["status"] = {"phase": "Pending", "qosClass": qos_class(pod["spec"])}

    def prepare_for_update(self, new: dict, old: dict) -> None:
        super().prepare_for_update(new, old)
        if new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1

    def validate(self, pod: dict) -> list[dict]:
        spec = pod.get("spec") or {}
        causes: list[dict] = []
        volumes = set()
        for i, vol in enumerate(spec.get("volumes") or []):
            field = f"spec.volumes[{i}].name"
            name = vol.get("name")
            if not name:
                causes.append(v.required(field))
            elif not v.is_dns1123_label(name):
                causes += v.name_causes(name, field, label=True)
            elif name in volumes:
                causes.append(v.duplicate(field, name))
            volumes.add(name)
        if not spec.get("containers"):
            causes.append(v.required("spec.containers"))
        names = set()
        for field, i, c in _containers(spec):
            path = f"spec.{field}[{i}]"
            name = c.get("name")
            if not name:
                causes.append(v.required(f"{path}.name"))
            elif not v.is_dns1123_label(name):
                causes += v.name_causes(name, f"{path}.name", label=True)
            elif name in names:
                causes.append(v.duplicate(f"{path}.name", name))
            names.add(name)
            if not c.get("image") or not isinstance(c.get("image"), str) or not c["image"].strip():
                causes.append(v.required(f"{path}.image"))
            if c.get("imagePullPolicy") not in PULL_POLICIES:
                causes.append(v.not_supported(f"{path}.imagePullPolicy", c.get("imagePullPolicy"), PULL_POLICIES))
            causes += _port_causes(c, path)
            causes += _probe_causes(field, c, path)
            for j, mount in enumerate(v.expect(c.get("volumeMounts"), list, "Pod",
                                               "Container.spec.containers.volumeMounts") or []):
                v.expect(mount, dict, "Pod", "Container.spec.containers.volumeMounts")
                mpath = f"{path}.volumeMounts[{j}]"
                if not mount.get("name"):
                    causes.append(v.required(f"{mpath}.name"))
                elif mount["name"] not in volumes:
                    causes.append(v.not_found(f"{mpath}.name", mount["name"]))
                if not mount.get("mountPath"):
                    causes.append(v.required(f"{mpath}.mountPath"))
        if spec.get("restartPolicy") not in RESTART_POLICIES:
            causes.append(v.not_supported("spec.restartPolicy", spec.get("restartPolicy"), RESTART_POLICIES))
        if spec.get("dnsPolicy") not in DNS_POLICIES:
            causes.append(v.not_supported("spec.dnsPolicy", spec.get("dnsPolicy"), DNS_POLICIES))
        if spec.get("nodeName"):
            causes += v.name_causes(spec["nodeName"], "spec.nodeName")
        grace = spec.get("terminationGracePeriodSeconds")
        if not isinstance(grace, int) or isinstance(grace, bool):
            causes.append(v.invalid("spec.terminationGracePeriodSeconds", grace, "must be an integer"))
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and (not isinstance(deadline, int) or deadline <= 0):
            causes.append(v.invalid("spec.activeDeadlineSeconds", deadline, "must be between 1 and 2147483647, "
                                    "inclusive"))
        return causes

    def validate_update(self, new: dict, old: dict) -> list[dict]:
        causes = self.validate(new)
        if _comparable_spec(new.get("spec"), old.get("spec")) != _comparable_spec(old.get("spec"), old.get("spec")):
            causes.append(v.forbidden("spec", _MUTABLE_SPEC_NOTE))
        return causes

    def deletion_grace(self, pod: dict, requested: int | None) -> int:
        """CheckGracefulDelete: the requested grace, else the spec's; 0 unbound or finished; negative is 1."""
        spec, status = pod.get("spec"), pod.get("status")
        spec, status = (spec if isinstance(spec, dict) else {}), (status if isinstance(status, dict) else {})
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        grace = requested if requested is not None else spec.get("terminationGracePeriodSeconds", 30)
        return (1 if grace < 0 else grace) if isinstance(grace, int) and not isinstance(grace, bool) else 0


def add_default_tolerations(spec: dict) -> None:
    """DefaultTolerationSeconds admission: tolerate not-ready and unreachable nodes for a while (300s).

    The node lifecycle controller taints such nodes NoExecute and evicts a pod
    once its toleration runs out; a pod that already tolerates a taint keeps its own.
    """
    from flask import current_app, has_app_context
    config = current_app.config if has_app_context() else {}
    tolerations = v.expect(spec.get("tolerations"), list, "Pod", "PodSpec.spec.tolerations") or []
    for key, setting in (("node.kubernetes.io/not-ready", "DEFAULT_NOT_READY_TOLERATION_SECONDS"),
                         ("node.kubernetes.io/unreachable", "DEFAULT_UNREACHABLE_TOLERATION_SECONDS")):
        if any(isinstance(t, dict) and t.get("effect") in (None, "", "NoExecute")
               and (t.get("key") == key or (not t.get("key") and t.get("operator") == "Exists"))
               for t in tolerations):
            continue
        tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                            "tolerationSeconds": int(config.get(setting, 300))})
    spec["tolerations"] = tolerations


def _port_causes(c: dict, path: str) -> list[dict]:
    causes = []
    for k, port in enumerate(c.get("ports") or []):
        ppath = f"{path}.ports[{k}]"
        if not isinstance(port, dict):
            continue
        cp = port.get("containerPort")
        if cp is None:
            causes.append(v.required(f"{ppath}.containerPort"))
        elif not isinstance(cp, int) or isinstance(cp, bool) or not 1 <= cp <= 65535:
            causes.append(v.invalid(f"{ppath}.containerPort", cp, "must be between 1 and 65535, inclusive"))
        hp = port.get("hostPort")
        if hp is not None and (not isinstance(hp, int) or isinstance(hp, bool) or not 0 <= hp <= 65535):
            causes.append(v.invalid(f"{ppath}.hostPort", hp, "must be between 1 and 65535, inclusive"))
        if port.get("protocol") not in PROTOCOLS:
            causes.append(v.not_supported(f"{ppath}.protocol", port.get("protocol"), PROTOCOLS))
    return causes


def _comparable_spec(spec, old_spec) -> dict:
    """The spec minus what an update may change (images, deadlines, tolerations; nodeName once)."""
    spec = copy_json(spec or {})
    for field in ("containers", "initContainers"):
        for c in spec.get(field) or []:
            if isinstance(c, dict):
                c.pop("image", None)
    for field in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
        spec.pop(field, None)
    if not (old_spec or {}).get("nodeName"):
        spec.pop("nodeName", None)  # no scheduler here: binding by update is allowed once
    return spec


PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")


def _default_probes(c: dict) -> None:
    """SetDefaults_Probe and SetDefaults_HTTPGetAction: timeout 1, period 10, thresholds 1 and 3; path /, HTTP."""
    for name in PROBES:
        probe = c.get(name)
        if not isinstance(probe, dict):
            continue
        for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                           ("failureThreshold", 3)):
            if not probe.get(key):
                probe[key] = value
        get = probe.get("httpGet")
        if isinstance(get, dict):
            get.setdefault("path", "/")
            get.setdefault("scheme", "HTTP")


def _probe_causes(field: str, c: dict, path: str) -> list[dict]:
    """validateProbe / validateInitContainers: one handler, successThreshold 1 where required, none on plain inits."""
    causes = []
    sidecar = c.get("restartPolicy") == "Always"
    if field == "initContainers" and c.get("restartPolicy") not in (None, "Always"):
        causes.append(v.not_supported(f"{path}.restartPolicy", c.get("restartPolicy"), ("Always",)))
    for name in PROBES:
        probe = c.get(name)
        if probe is None:
            continue
        ppath = f"{path}.{name}"
        if field == "initContainers" and not sidecar:
            causes.append(v.forbidden(ppath, "may not be set for init containers without restartPolicy=Always"))
            continue
        if not isinstance(probe, dict):
            continue
        handlers = [h for h in PROBE_HANDLERS if probe.get(h) is not None]
        if not handlers:
            causes.append(v.required(ppath, "must specify a handler type"))
        for extra in handlers[1:]:
            causes.append(v.forbidden(f"{ppath}.{extra}", "may not specify more than 1 handler type"))
        if name != "readinessProbe" and probe.get("successThreshold", 1) != 1:
            causes.append(v.invalid(f"{ppath}.successThreshold", probe.get("successThreshold"), "must be 1"))
        for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                    "failureThreshold"):
            value = probe.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                causes.append(v.invalid(f"{ppath}.{key}", value, "must be greater than or equal to 0"))
    return causes
