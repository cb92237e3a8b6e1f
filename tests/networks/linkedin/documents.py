"""LinkedIn's error documents, as the LinkedIn server answers them."""

from __future__ import annotations

from typing import Any

UNRECOGNIZED = "unrecognized field found but not allowed"


def error_body(status: int, message: str, code: str | None = None, **extra: Any) -> dict[str, Any]:
    """LinkedIn's error document."""
    body: dict[str, Any] = {"status": status, "message": message}
    if code is not None:
        body["code"] = code
    body.update(extra)
    return body


def input_error(path: str, message: str, code: str = "INVALID_VALUE") -> dict[str, Any]:
    """Rest.li's 422 for a body that does not validate."""
    return {
        "errorDetailType": "com.linkedin.common.error.BadRequest",
        "message": f"ERROR :: {path} :: {message}\n",
        "errorDetails": {
            "inputErrors": [
                {
                    "description": message,
                    "input": {"inputPath": {"fieldPath": path}},
                    "code": code,
                }
            ]
        },
        "status": 422,
    }
