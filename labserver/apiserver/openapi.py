"""OpenAPI v3 documents, and the unknown-field check they make possible (work in progress)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from labserver.apiserver.discovery import render_error
from labserver.apiserver.errors import APIError

bp = Blueprint("openapi", __name__)
bp.register_error_handler(APIError, render_error)


def check_fields(kind: str, obj: dict, mode: str | None) -> list[str]:
    """Unknown fields of obj: Strict -> 422, Warn -> warning strings, Ignore/None -> []."""
    return []


@bp.get("/openapi/v3")
def root():
    return jsonify({"paths": {}})
