"""Map the official SDKs' exceptions (openai, anthropic: same names) to aiex errors."""

from __future__ import annotations

import json

from ...errors import (
    BadProviderResponse,
    ProviderError,
    ProviderNotConfigured,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

__all__ = ["SDKErrors"]


def _detail(exc) -> str:
    """The server's own error message where the body has one, else the SDK's message."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        if isinstance(inner.get("message"), str):
            return inner["message"]
    return exc.message


class SDKErrors:
    """Context manager: re-raise an SDK exception as an aiex error that says what to do."""

    def __init__(self, provider, sdk, *, key_env: str | None, address_env: str | None) -> None:
        self.p = provider
        self.sdk = sdk
        self.key_env = key_env
        self.address_env = address_env

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, ProviderError):
            return False
        p, sdk = self.p, self.sdk
        name = p.display_name
        where = p.base_url or f"the {name} API"
        if isinstance(exc, sdk.APITimeoutError):
            raise ProviderTimeout(f"{name} at {where} did not answer within {p.timeout:g} s.") from None
        if isinstance(exc, sdk.APIConnectionError):
            hint = f" ({self.address_env} sets the address.)" if self.address_env else ""
            raise ProviderUnavailable(f"Cannot reach {name} at {where}; is the server running there?{hint}") from None
        if isinstance(exc, sdk.AuthenticationError):
            raise ProviderNotConfigured(f"{name} refused the API key (401); check {self.key_env or 'the key'}.") from None
        if isinstance(exc, sdk.RateLimitError):
            raise RateLimited(f"{name} is rate limiting (429) after {p.max_retries} retries; "
                              "wait, or lower the concurrency.") from None
        if isinstance(exc, sdk.NotFoundError):
            raise ProviderError(f"{name} does not know that model or endpoint (404): {_detail(exc)}") from None
        if isinstance(exc, sdk.APIStatusError):
            raise ProviderError(f"{name} answered {exc.status_code}: {_detail(exc)}") from None
        if isinstance(exc, (sdk.APIResponseValidationError, json.JSONDecodeError, ValueError, KeyError)):
            raise BadProviderResponse(f"{name} sent a reply aiex cannot read: {exc}") from None
        return False
