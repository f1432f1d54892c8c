"""Kubernetes errors as exceptions that turn into metav1 Status JSON.

Every failure the API server reports, from a malformed body to etcd being
down, is an APIError: the handlers raise, one error handler renders
`{"kind":"Status",...}` with the right code and reason (see
k8s.io/apimachinery/pkg/api/errors). Never an HTML page, never a traceback.
"""
from __future__ import annotations


class APIError(Exception):
    """An error answered as a Status object."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict:
        """The metav1 Status body; `details` is always there (kubectl reads details.name unguarded)."""
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "details": self.details or {},
                "code": self.code}


def not_found(resource: str, name: str, group: str = "") -> APIError:
    return APIError(404, "NotFound", f'{_qual(resource, group)} "{name}" not found',
                    _details(resource, name, group))


def already_exists(resource: str, name: str, group: str = "") -> APIError:
    return APIError(409, "AlreadyExists", f'{_qual(resource, group)} "{name}" already exists',
                    _details(resource, name, group))


def conflict(resource: str, name: str, group: str = "", why: str | None = None) -> APIError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return APIError(409, "Conflict", f'Operation cannot be fulfilled on {_qual(resource, group)} "{name}": {why}',
                    _details(resource, name, group))


def invalid(kind: str, name: str, causes: list[dict], group: str = "") -> APIError:
    """422 Invalid; causes are {"reason","message","field"} (FieldValueRequired, ...)."""
    summary = ", ".join(f'{c["field"]}: {c["message"]}' for c in causes)
    if len(causes) > 1:
        summary = f"[{summary}]"
    details = {"name": name, "kind": kind, "causes": causes}
    if group:
        details["group"] = group
    return APIError(422, "Invalid", f'{kind} "{name}" is invalid: {summary}', details)


def forbidden(resource: str, name: str, why: str, group: str = "", causes: list[dict] | None = None) -> APIError:
    """403 Forbidden as apierrors.NewForbidden words it (`pods "x" is forbidden: ...`)."""
    who = f'{_qual(resource, group)} "{name}"' if name else _qual(resource, group)
    details = _details(resource, name, group)
    if causes:
        details["causes"] = causes
    return APIError(403, "Forbidden", f"{who} is forbidden: {why}", details)


def invalid_options(kind: str, causes: list[dict]) -> APIError:
    """422 for bad DeleteOptions / CreateOptions (upstream: NewInvalid on the meta.k8s.io GroupKind, name "")."""
    summary = ", ".join(f'{c["field"]}: {c["message"]}' for c in causes)
    if len(causes) > 1:
        summary = f"[{summary}]"
    return APIError(422, "Invalid", f'{kind}.meta.k8s.io "" is invalid: {summary}',
                    {"kind": kind, "group": "meta.k8s.io", "causes": causes})


def success(resource: str, name: str, uid: str | None, group: str = "") -> dict:
    """The Status a DELETE answers with when the store does not return the deleted object."""
    details = _details(resource, name, group)
    if uid:
        details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def method_not_allowed() -> APIError:
    return APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def unsupported_media_type(content_type: str, accepted=("application/json", "application/yaml")) -> APIError:
    return APIError(415, "UnsupportedMediaType",
                    f'the body of the request was in an unknown format ("{content_type}") - '
                    f'accepted media types include: {", ".join(accepted)}')


def too_large() -> APIError:
    """413 as upstream words it, for a body over 3 MiB and for etcd's own request size limit."""
    return APIError(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")


def expired(message: str) -> APIError:
    return APIError(410, "Expired", message)


def unavailable(message: str) -> APIError:
    return APIError(503, "ServiceUnavailable", message)


def internal(message: str) -> APIError:
    return APIError(500, "InternalError", f"Internal error occurred: {message}")


def _qual(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def _details(resource: str, name: str, group: str) -> dict:
    d = {"name": name, "kind": resource} if name else {"kind": resource}
    if group:
        d["group"] = group
    return d


def warning_header(text: str) -> str | None:
    """`299 - "text"` as apimachinery's NewWarningHeader writes it (only \\ and " escaped; None, and so no
    header, for text with control characters). The text's UTF-8 bytes go on the wire as they are, as
    from Go: WSGI carries header values as latin-1 strings, so the bytes are passed through that way."""
    if any(ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0 for c in text):
        return None
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{quoted}"'.encode("utf-8").decode("latin-1")
