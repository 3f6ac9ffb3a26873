"""A small client for the Telegram Bot API: the dozen methods Lifeline calls, over aiohttp.

Why not aiogram in the running processes: importing aiogram builds pydantic models for the
whole Bot API, 110 MB in every process that imports it (measured: Django with Lifeline's apps
is 57 MB, with ``aiogram.types`` 170 MB), which put a worker over its 200 MB budget; and the
worker needs a handful of calls, not a framework (ADR 0015). aiogram stays the reference the
tests hold this client to: the fake Bot API validates every call against aiogram's models.

Every answer Telegram can give maps to one exception below, and each says what the outbox does
with the message (:mod:`lifeline.channels.outbox`): wait as asked (429), try again later
(network, 5xx, a bot that is not authorised or not found, a conflict, anything unknown),
or give up (403: the person blocked the bot; 400: the request itself is wrong).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

DEFAULT_BASE = "https://api.telegram.org"
#: Telegram's limit on a message's text.
MAX_TEXT = 4096


class BotApiError(Exception):
    """Telegram refused a call, or could not be reached. ``code`` is its HTTP status (0 when
    there was no answer); ``description`` is Telegram's own words, which hold no personal data
    of ours (they name the method's problem, not the message)."""

    #: What the outbox does: "retry" (later, attempts counted) or "give_up".
    outcome = "retry"

    def __init__(self, description: str, code: int = 0) -> None:
        super().__init__(f"{code} {description}".strip())
        self.code = code
        self.description = description


class TooManyRequests(BotApiError):  # noqa: N818 - Telegram's own name for a 429
    """429: the whole bot must wait ``retry_after`` seconds."""

    def __init__(self, description: str, retry_after: float) -> None:
        super().__init__(description, 429)
        self.retry_after = retry_after


class NetworkError(BotApiError):
    """No answer: the connection failed or the call timed out."""


class ServerError(BotApiError):
    """5xx: Telegram's side failed."""


class Unauthorized(BotApiError):
    """401: the token was revoked or is wrong. Nothing goes out until an administrator fixes
    it; messages wait (their attempts counted) rather than being lost."""


class NotFound(BotApiError):
    """404: the method or the bot does not exist at this address (a wrong API base)."""


class Conflict(BotApiError):
    """409: another process polls, or a webhook is set while polling."""


class Forbidden(BotApiError):
    """403: the person blocked the bot, or the bot is not in the chat."""

    outcome = "give_up"


class BadRequest(BotApiError):
    """400: the call itself is wrong (an old message to edit, a chat that is gone, ...)."""

    outcome = "give_up"


class UnexpectedAnswer(BotApiError):
    """An answer that is not the Bot API's JSON (a proxy's error page, a truncated body)."""


_BY_CODE: dict[int, type[BotApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
}


def error_for(status: int, body: Any) -> BotApiError:
    """The exception for a refused call: Telegram's ``error_code`` if it sent one, else the HTTP
    status. Any code not named here is retried (and counted), never silently dropped."""
    description = ""
    code = status
    retry_after: float | None = None
    if isinstance(body, dict):
        if isinstance(body.get("description"), str):
            description = body["description"][:200]
        if isinstance(body.get("error_code"), int):
            code = body["error_code"]
        parameters = body.get("parameters")
        if isinstance(parameters, dict) and isinstance(parameters.get("retry_after"), int | float):
            retry_after = float(parameters["retry_after"])
    if code == 429:
        return TooManyRequests(description, retry_after if retry_after is not None else 5.0)
    if code >= 500:
        return ServerError(description, code)
    return _BY_CODE.get(code, UnexpectedAnswer)(description, code)


class BotApi:
    """One bot's connection to the Bot API. Use it inside one asyncio event loop; ``close()``
    it in the same loop."""

    def __init__(self, token: str, *, base: str = "", timeout: float = 20.0) -> None:
        self.base = (base or DEFAULT_BASE).rstrip("/")
        self._token = token
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # never print the token
        return f"BotApi(base={self.base!r})"

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                # Never through a proxy named in the environment: the deployment says where.
                trust_env=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        files: dict[str, tuple[str, bytes]] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call ``method`` and return its ``result``; raise a :class:`BotApiError` otherwise.
        Parameters that are None are left out; ``files`` are uploaded as multipart."""
        url = f"{self.base}/bot{self._token}/{method}"
        payload = {k: v for k, v in (params or {}).items() if v is not None}
        options: dict[str, Any] = {}
        if timeout is not None:  # else the session's (passing None would mean no limit at all)
            options["timeout"] = aiohttp.ClientTimeout(total=timeout)
        try:
            if files:
                form = aiohttp.FormData()
                for key, value in payload.items():
                    form.add_field(key, value if isinstance(value, str) else json.dumps(value))
                for key, (filename, content) in files.items():
                    form.add_field(key, content, filename=filename)
                response_cm = self._http().post(url, data=form, **options)
            else:
                response_cm = self._http().post(url, json=payload, **options)
            async with response_cm as response:
                raw = await response.read()
                status = response.status
        except TimeoutError as exc:
            raise NetworkError(f"timed out ({type(exc).__name__})") from None
        except aiohttp.ClientError as exc:
            raise NetworkError(type(exc).__name__) from None
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if status == 200 and isinstance(body, dict) and body.get("ok") is True:
            return body.get("result")
        if status == 200:
            raise UnexpectedAnswer("an answer that is not the Bot API's", status)
        raise error_for(status, body)

    async def download(self, file_path: str, *, limit: int) -> bytes:
        """The bytes of a file ``getFile`` named, at most ``limit`` of them (whatever size
        Telegram announced): a larger file raises :class:`FileTooLarge`."""
        url = f"{self.base}/file/bot{self._token}/{file_path}"
        try:
            async with self._http().get(url) as response:
                if response.status != 200:
                    raise error_for(response.status, None)
                data = bytearray()
                async for chunk in response.content.iter_chunked(65536):
                    data.extend(chunk)
                    if len(data) > limit:
                        raise FileTooLarge(f"more than {limit} bytes")
                return bytes(data)
        except TimeoutError as exc:
            raise NetworkError(f"timed out ({type(exc).__name__})") from None
        except aiohttp.ClientError as exc:
            raise NetworkError(type(exc).__name__) from None


class FileTooLarge(ValueError):
    """A download went past its limit."""


def keyboard(labels: list[str]) -> dict[str, Any]:
    """An inline keyboard of numbered answer buttons ("press a button or write its number"),
    one a row; a button's data is ``b:<index>``."""
    return {
        "inline_keyboard": [
            [{"text": f"{i + 1}. {label}"[:64], "callback_data": f"b:{i}"}]
            for i, label in enumerate(labels)
        ]
    }
