"""The API's errors, worded and numbered as Toxiproxy's `api.go` words and numbers them."""

from __future__ import annotations


class ApiError(Exception):
    """An error the REST API reports as `{"error": message, "status": status}`."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def detail(self, what: object) -> ApiError:
        """This error with a detail appended, as Toxiproxy's `joinError` does."""
        return ApiError(f"{self.message}: {what}", self.status)

    def to_json(self) -> dict[str, object]:
        return {"error": self.message, "status": self.status}


BAD_REQUEST_BODY = ApiError("bad request body", 400)
MISSING_FIELD = ApiError("missing required field", 400)
PROXY_NOT_FOUND = ApiError("proxy not found", 404)
PROXY_ALREADY_EXISTS = ApiError("proxy already exists", 409)
INVALID_STREAM = ApiError("stream was invalid, can be either upstream or downstream", 400)
INVALID_TOXIC_TYPE = ApiError("invalid toxic type", 400)
TOXIC_ALREADY_EXISTS = ApiError("toxic already exists", 409)
TOXIC_NOT_FOUND = ApiError("toxic not found", 404)
NOT_FOUND = ApiError("404 page not found", 404)
METHOD_NOT_ALLOWED = ApiError("method not allowed", 405)
