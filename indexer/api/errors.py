"""The read API's errors: one JSON shape, `{"error": {"code", "message"}}`, with a documented code
per cause (docs/read-api.md), so a client branches on the code and never on the message."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

# code -> HTTP status; the table of docs/read-api.md ("Errors") lists the same.
STATUS_BY_CODE: dict[str, int] = {
    "invalid_parameter": 400,
    "invalid_cursor": 400,
    "not_found": 404,
    "unknown_market": 404,
    "method_not_allowed": 405,
    "node_error": 502,
    "node_unavailable": 503,
}


class ApiError(Exception):
    """An answer other than 200: `code` is one of STATUS_BY_CODE."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        if code not in STATUS_BY_CODE:
            raise ValueError(f"undocumented error code {code!r}")
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return STATUS_BY_CODE[self.code]


def error_response(code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=STATUS_BY_CODE[code])


def _validation_message(error: RequestValidationError) -> str:
    """`limit: Input should be less than or equal to 1000`: the parameter and what is wrong with it."""
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ())[1:]) or "request"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as the one shape: ours, a parameter that does not validate (400 instead of
    FastAPI's 422), and Starlette's own 404 and 405."""

    async def on_api_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiError)
        return error_response(error.code, error.message)

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return error_response("invalid_parameter", _validation_message(error))

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code == 405:
            return error_response("method_not_allowed", f"{request.method} is not served on {request.url.path}")
        return error_response("not_found", f"no route {request.url.path}")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
