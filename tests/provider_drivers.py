"""One driver per provider: a real SDK client over the existing mock bodies, for the reliability tests.

Each driver makes a plain call, a streamed call read to its end, and a call that fails with the SDK's
real exception (HTTP 503 from the mock), and gives back a *comparable* value of what the app saw (the
result's type and text, the stream's type and pieces, the exception's type, status code and message),
so a test can assert "identical to uninstrumented". The mock is reseeded before every call, so the same
call gives the same answer whether or not it is instrumented, and whatever ran before.

`driver.script` makes the mock answer something else than its house style: a given text, a tool call
with given arguments, or a given error message in the provider's error body (privacy and hostile-output
tests). `driver.system`, `driver.user` and `driver.headers` go into every request; `api_key` into the
client.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of LiteLLM's price map at import

SYSTEM = "You are the support assistant. Answer with one JSON card: title, summary, actions, confidence."
USER = "Where is my order?"
FAIL_STATUS = 503


@dataclass
class Script:
    """What the mock answers instead of its house style. None: the house style / the mock's own error."""

    text: str | None = None
    tool: tuple[str, dict] | None = None  # (name, arguments): answer with one tool call
    error_message: str | None = None  # the message in the failing call's error body
    error_status: int = FAIL_STATUS  # and its HTTP status (4xx or 5xx)
    # rewrites the (non-streamed) JSON body of a scripted answer: content blocks an app rarely sees
    body_hook: Callable[[Any], Any] | None = None

    def body(self, body: Any) -> Any:
        return self.body_hook(body) if self.body_hook is not None else body


def json_response(httpx_module: Any, status: int, body: Any, headers: dict | None = None) -> Any:
    """A JSON response written as APIs write it: ASCII with escapes (`\\ud800` stays a valid escape; the
    `json=` shortcut writes raw UTF-8 and cannot encode a lone surrogate)."""
    return httpx_module.Response(status, headers={"content-type": "application/json", **(headers or {})},
                                 content=json.dumps(body).encode())


_VOLATILE = re.compile(r"chatcmpl-[\w-]+|\b\d{6,}\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def raised(exc: BaseException, status: Any) -> tuple:
    """An exception as the app sees it: type, status code, message (ids and timestamps in it masked)."""
    return ("raised", f"{type(exc).__module__}.{type(exc).__qualname__}", status, _VOLATILE.sub("#", str(exc)))


# The class the app sees: `obj.__class__`, which a wrapt proxy forwards (`isinstance` holds), not `type(obj)`.


class Driver:
    """Base: subclasses set `name`, `provider` (the expected gen_ai.provider.name) and the calls."""

    name = ""
    provider = ""
    has_async = True

    def __init__(self, seed: int = 7, api_key: str | None = None) -> None:
        self.seed = seed
        self.api_key = api_key
        self.script = Script()
        self.system = SYSTEM
        self.user = USER
        self.headers: dict[str, str] = {}

    # --- what a test calls ---

    def plain(self) -> tuple:
        self.reseed()
        return ("plain",) + self._plain()

    def stream(self) -> tuple:
        self.reseed()
        stream = self.open_stream()
        return ("stream", stream.__class__.__qualname__, tuple(self.pieces(stream)))

    def failing(self) -> tuple:
        self.reseed()
        try:
            self._failing()
        except Exception as exc:  # the SDK's own exception: compared by type, status and message
            return raised(exc, self.status_of(exc))
        raise AssertionError(f"{self.name}: the failing call did not raise")

    async def aplain(self) -> tuple:
        self.reseed()
        return ("aplain",) + await self._aplain()

    async def astream(self) -> tuple:
        self.reseed()
        stream = await self.aopen_stream()
        return ("astream", stream.__class__.__qualname__, tuple([p async for p in self.apieces(stream)]))

    def close(self) -> None:
        pass

    # --- per provider ---

    def reseed(self) -> None:
        raise NotImplementedError

    def _plain(self) -> tuple:
        raise NotImplementedError

    def open_stream(self) -> Any:
        """The object the app iterates (for Bedrock: `result["stream"]`)."""
        raise NotImplementedError

    def pieces(self, stream: Iterable) -> Iterable:
        raise NotImplementedError

    def _failing(self) -> Any:
        raise NotImplementedError

    async def _aplain(self) -> tuple:
        raise NotImplementedError

    async def aopen_stream(self) -> Any:
        raise NotImplementedError

    async def apieces(self, stream: Any) -> Any:
        raise NotImplementedError
        yield

    def status_of(self, exc: BaseException) -> Any:
        return getattr(exc, "status_code", None)


# ---- OpenAI ----

class OpenAIDriver(Driver):
    name = provider = "openai"
    MODEL, FAILING = "gpt-4o", "gpt-4o-down"

    def __init__(self, seed: int = 7, api_key: str | None = None) -> None:
        super().__init__(seed, api_key)
        import httpx2
        import openai

        from llm_drift_otel._mock_provider import MockProvider

        self._httpx = httpx2
        self.mock = MockProvider(styles={self.MODEL: "json_card"}, seed=seed, failing={self.FAILING},
                                 fail_status=FAIL_STATUS)
        key = api_key or "sk-test-not-a-key"
        self.client = openai.OpenAI(api_key=key, base_url="http://127.0.0.1:9/v1", max_retries=0,
                                    http_client=httpx2.Client(transport=httpx2.MockTransport(self.handle)))
        self.aclient = openai.AsyncOpenAI(api_key=key, base_url="http://127.0.0.1:9/v1", max_retries=0,
                                          http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(self.handle)))

    def reseed(self) -> None:
        self.mock._rng = random.Random(self.seed)

    def handle(self, request: Any) -> Any:
        from llm_drift_otel._mock_provider import MockProvider, chat_body, chat_stream_body, openai_tool_call

        raw = request.read()
        body = json.loads(raw or b"{}")
        script = self.script
        if body.get("model") == self.FAILING and script.error_message is not None:
            status, headers, content = MockProvider._error(script.error_status, "service_unavailable",
                                                           script.error_message)
        elif body.get("model") != self.FAILING and (script.text is not None or script.tool is not None):
            calls = [openai_tool_call(script.tool[0], script.tool[1], "call_1")] if script.tool else None
            text = script.text or ""
            if body.get("stream"):
                status, headers, content = 200, {"content-type": "text/event-stream"}, chat_stream_body(
                    self.MODEL, text, tool_calls=calls)
            else:
                status, headers, content = 200, {"content-type": "application/json"}, json.dumps(script.body(
                    chat_body(self.MODEL, text, tool_calls=calls, content_with_tools=bool(text)))).encode()
        else:
            status, headers, content = self.mock.handle(request.method, request.url.path, raw)
        return self._httpx.Response(status, headers=headers, content=content)

    def _kwargs(self, model: str | None = None, **extra: Any) -> dict:
        kwargs = {"model": model or self.MODEL,
                  "messages": [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]}
        if self.headers:
            kwargs["extra_headers"] = dict(self.headers)
        return {**kwargs, **extra}

    @staticmethod
    def _message(result: Any) -> tuple:
        message = result.choices[0].message
        calls = tuple((c.function.name, c.function.arguments) for c in message.tool_calls or ())
        return type(result).__qualname__, message.content, calls, result.model

    def _plain(self) -> tuple:
        return self._message(self.client.chat.completions.create(**self._kwargs()))

    def open_stream(self) -> Any:
        return self.client.chat.completions.create(**self._kwargs(stream=True))

    def pieces(self, stream: Iterable) -> Iterable:
        for chunk in stream:
            for choice in chunk.choices:
                yield choice.delta.content, choice.finish_reason

    def _failing(self) -> Any:
        return self.client.chat.completions.create(**self._kwargs(self.FAILING))

    async def _aplain(self) -> tuple:
        return self._message(await self.aclient.chat.completions.create(**self._kwargs()))

    async def aopen_stream(self) -> Any:
        return await self.aclient.chat.completions.create(**self._kwargs(stream=True))

    async def apieces(self, stream: Any) -> Any:
        async for chunk in stream:
            for choice in chunk.choices:
                yield choice.delta.content, choice.finish_reason


# ---- Anthropic ----

class AnthropicDriver(Driver):
    name = provider = "anthropic"
    MODEL, FAILING = "claude-sonnet-4-6", "claude-down"

    def __init__(self, seed: int = 7, api_key: str | None = None) -> None:
        super().__init__(seed, api_key)
        import anthropic
        import httpx2

        from anthropic_bodies import AnthropicAPI

        self._httpx = httpx2
        self.api = AnthropicAPI(styles={self.MODEL: "json_card"}, served={self.MODEL: "claude-sonnet-4-6-20260217"},
                                failing={self.FAILING}, fail_status=FAIL_STATUS, seed=seed)
        key = api_key or "sk-ant-test-not-a-key"
        self.client = anthropic.Anthropic(api_key=key, base_url="http://127.0.0.1:9", max_retries=0,
                                          open_telemetry=False,
                                          http_client=httpx2.Client(transport=httpx2.MockTransport(self.handle)))
        self.aclient = anthropic.AsyncAnthropic(
            api_key=key, base_url="http://127.0.0.1:9", max_retries=0, open_telemetry=False,
            http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(self.handle)))

    def reseed(self) -> None:
        self.api.rng = random.Random(self.seed)

    def handle(self, request: Any) -> Any:
        from anthropic_bodies import message_body, sse, stream_events

        body = json.loads(request.read() or b"{}")
        script = self.script
        model = body.get("model")
        if model == self.FAILING and script.error_message is not None:
            return json_response(self._httpx, script.error_status, headers={"request-id": "req_err"}, body={
                "type": "error", "error": {"type": "api_error", "message": script.error_message}})
        if model != self.FAILING and (script.text is not None or script.tool is not None):
            content: list[dict] = [{"type": "text", "text": script.text}] if script.text is not None else []
            if script.tool:
                content.append({"type": "tool_use", "id": "toolu_1", "name": script.tool[0], "input": script.tool[1]})
            message = message_body(model, content, "tool_use" if script.tool else "end_turn")
            if body.get("stream"):
                return self._httpx.Response(200, headers={"content-type": "text/event-stream"},
                                            content=sse(stream_events(message)))
            return json_response(self._httpx, 200, body=script.body(message))
        self.api.requests.clear()  # the mock keeps every request: not for thousands of calls
        return self.api.handle(request)

    def _kwargs(self, model: str | None = None, **extra: Any) -> dict:
        kwargs = {"model": model or self.MODEL, "max_tokens": 512, "system": self.system,
                  "messages": [{"role": "user", "content": self.user}]}
        if self.headers:
            kwargs["extra_headers"] = dict(self.headers)
        return {**kwargs, **extra}

    @staticmethod
    def _message(result: Any) -> tuple:
        blocks = tuple((b.type, getattr(b, "text", None), json.dumps(getattr(b, "input", None), sort_keys=True))
                       for b in result.content)
        return type(result).__qualname__, blocks, result.model, result.stop_reason

    def _plain(self) -> tuple:
        return self._message(self.client.messages.create(**self._kwargs()))

    def open_stream(self) -> Any:
        return self.client.messages.create(**self._kwargs(stream=True))

    @staticmethod
    def _piece(event: Any) -> tuple:
        delta = getattr(event, "delta", None)
        return (event.type, getattr(delta, "text", None), getattr(delta, "partial_json", None),
                getattr(delta, "stop_reason", None))

    def pieces(self, stream: Iterable) -> Iterable:
        for event in stream:
            yield self._piece(event)

    def _failing(self) -> Any:
        return self.client.messages.create(**self._kwargs(self.FAILING))

    async def _aplain(self) -> tuple:
        return self._message(await self.aclient.messages.create(**self._kwargs()))

    async def aopen_stream(self) -> Any:
        return await self.aclient.messages.create(**self._kwargs(stream=True))

    async def apieces(self, stream: Any) -> Any:
        async for event in stream:
            yield self._piece(event)


# ---- Google GenAI ----

class GoogleDriver(Driver):
    name = "google_genai"
    provider = "gcp.gemini"
    MODEL, FAILING = "gemini-1.5-pro", "gemini-down"

    def __init__(self, seed: int = 7, api_key: str | None = None) -> None:
        super().__init__(seed, api_key)
        import httpx2
        from google import genai
        from google.genai import types

        from google_bodies import GeminiMock

        self._httpx, self._types = httpx2, types
        self.mock = GeminiMock(seed=seed)
        self.mock.provider.failing.add(self.FAILING)
        self.mock.provider.fail_status = FAIL_STATUS
        options = types.HttpOptions(base_url="http://127.0.0.1:9",
                                    client_args={"transport": httpx2.MockTransport(self.handle)},
                                    async_client_args={"transport": httpx2.MockTransport(self.handle)})
        self.client = genai.Client(api_key=api_key or "test-not-a-key", http_options=options)

    def reseed(self) -> None:
        self.mock.provider._rng = random.Random(self.seed)

    def handle(self, request: Any) -> Any:
        from google_bodies import SNAPSHOTS, sse, stream_chunks, text_body, tool_call_body

        model, _, method = request.url.path.rsplit("/models/", 1)[-1].partition(":")
        script = self.script
        if model == self.FAILING and script.error_message is not None:
            return json_response(self._httpx, script.error_status, body={"error": {
                "code": script.error_status, "message": script.error_message, "status": "UNAVAILABLE"}})
        if model != self.FAILING and (script.text is not None or script.tool is not None):
            served = SNAPSHOTS.get(model, model)
            if script.tool:
                body = tool_call_body(served, script.tool[0], script.tool[1])
                if script.text:
                    body["candidates"][0]["content"]["parts"].insert(0, {"text": script.text})
            else:
                body = text_body(served, script.text or "")
            if method == "streamGenerateContent":
                return self._httpx.Response(200, headers={"content-type": "text/event-stream"},
                                            content=sse(stream_chunks(body)))
            return json_response(self._httpx, 200, body=script.body(body))
        self.mock.paths.clear()
        return self.mock.handler(request)

    def _config(self) -> Any:
        types = self._types
        extra = {"http_options": types.HttpOptions(headers=dict(self.headers))} if self.headers else {}
        return types.GenerateContentConfig(system_instruction=self.system, **extra)

    @staticmethod
    def _parts(response: Any) -> tuple:
        out = []
        for candidate in response.candidates or ():
            for part in (candidate.content.parts if candidate.content else None) or ():
                call = part.function_call
                out.append((part.text, call.name if call else None,
                            json.dumps(call.args, sort_keys=True) if call else None))
            out.append(str(candidate.finish_reason))
        return tuple(out)

    def _plain(self) -> tuple:
        r = self.client.models.generate_content(model=self.MODEL, contents=self.user, config=self._config())
        return type(r).__qualname__, self._parts(r), r.model_version

    def open_stream(self) -> Any:
        return self.client.models.generate_content_stream(model=self.MODEL, contents=self.user, config=self._config())

    def pieces(self, stream: Iterable) -> Iterable:
        for chunk in stream:
            yield self._parts(chunk)

    def _failing(self) -> Any:
        return self.client.models.generate_content(model=self.FAILING, contents=self.user, config=self._config())

    def status_of(self, exc: BaseException) -> Any:
        return getattr(exc, "code", None)

    async def _aplain(self) -> tuple:
        r = await self.client.aio.models.generate_content(model=self.MODEL, contents=self.user, config=self._config())
        return type(r).__qualname__, self._parts(r), r.model_version

    async def aopen_stream(self) -> Any:
        return await self.client.aio.models.generate_content_stream(model=self.MODEL, contents=self.user,
                                                                    config=self._config())

    async def apieces(self, stream: Any) -> Any:
        async for chunk in stream:
            yield self._parts(chunk)


# ---- AWS Bedrock (real botocore against a local endpoint) ----

class BedrockDriver(Driver):
    name = "bedrock"
    provider = "aws.bedrock"
    has_async = False
    FAILING = "anthropic.claude-down-v1:0"

    def __init__(self, seed: int = 7, api_key: str | None = None) -> None:
        super().__init__(seed, api_key)
        import boto3
        from botocore.config import Config

        from bedrock_bodies import CLAUDE, BedrockMock, converse_body, converse_stream_events

        self.MODEL = CLAUDE
        driver = self

        class ScriptedBedrock(BedrockMock):
            def handle(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
                script = driver.script
                failing = driver.FAILING.replace(":", "%3A") in path or driver.FAILING in path
                if failing and script.error_message is not None:
                    kind = "ValidationException" if script.error_status < 500 else "ServiceUnavailableException"
                    return script.error_status, {"content-type": "application/json",
                                                 "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/"}, \
                        json.dumps({"message": script.error_message}).encode()
                if not failing and (script.text is not None or script.tool is not None):
                    tool = {"toolUseId": "tooluse_1", "name": script.tool[0], "input": script.tool[1]} \
                        if script.tool else None
                    if path.endswith("/converse-stream"):
                        return 200, {"content-type": "application/vnd.amazon.eventstream"}, \
                            converse_stream_events(script.text or "", tool=tool)
                    return 200, {"content-type": "application/json"}, json.dumps(
                        script.body(converse_body(script.text or "", tool=tool))).encode()
                self.requests.clear()
                return super().handle(path, body)

        self.mock = ScriptedBedrock(seed=seed)
        self.mock.provider.failing.add(self.FAILING)
        self.mock.provider.fail_status = FAIL_STATUS
        self.running = self.mock.serve()
        self.client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=self.running.url,
                                   aws_access_key_id=api_key or "AKIDTESTNOTAKEY",
                                   aws_secret_access_key=(api_key or "") + "test-not-a-secret",
                                   config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
        self.client.meta.events.register("before-sign.bedrock-runtime.*", self._add_headers)

    def _add_headers(self, request: Any, **_: Any) -> None:
        for key, value in self.headers.items():
            request.headers[key] = value

    def reseed(self) -> None:
        self.mock.provider._rng = random.Random(self.seed)

    def _kwargs(self, model: str | None = None) -> dict:
        return {"modelId": model or self.MODEL, "system": [{"text": self.system}],
                "messages": [{"role": "user", "content": [{"text": self.user}]}]}

    def _plain(self) -> tuple:
        r = self.client.converse(**self._kwargs())
        return (type(r).__qualname__, json.dumps(r["output"], sort_keys=True, default=repr), r["stopReason"],
                r["usage"]["outputTokens"])

    def open_stream(self) -> Any:
        return self.client.converse_stream(**self._kwargs())["stream"]

    def pieces(self, stream: Iterable) -> Iterable:
        for event in stream:
            yield json.dumps(event, sort_keys=True)

    def _failing(self) -> Any:
        return self.client.converse(**self._kwargs(self.FAILING))

    def status_of(self, exc: BaseException) -> Any:
        return getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")

    def close(self) -> None:
        self.running.stop()


# ---- Mistral ----

class MistralDriver(Driver):
    name = "mistral"
    provider = "mistral_ai"
    MODEL, FAILING = "mistral-large-latest", "mistral-down"

    def __init__(self, seed: int = 7, api_key: str | None = None) -> None:
        super().__init__(seed, api_key)
        import httpx2
        from mistralai.client import Mistral

        from mistral_bodies import MistralAPI

        self._httpx = httpx2
        self.api = MistralAPI(styles={self.MODEL: "json_card"}, failing={self.FAILING}, fail_status=FAIL_STATUS,
                              seed=seed)
        self.client = Mistral(api_key=api_key or "test-not-a-key", server_url="http://127.0.0.1:9",
                              client=httpx2.Client(transport=httpx2.MockTransport(self.handle)),
                              async_client=httpx2.AsyncClient(transport=httpx2.MockTransport(self.handle)))

    def reseed(self) -> None:
        self.api.rng = random.Random(self.seed)

    def handle(self, request: Any) -> Any:
        from mistral_bodies import chat_body, chat_chunks, sse_response, tool_call, tool_call_chunks

        body = json.loads(request.read() or b"{}")
        script = self.script
        model = body.get("model")
        if model == self.FAILING and script.error_message is not None:
            return json_response(self._httpx, script.error_status, body={
                "object": "error", "message": script.error_message,
                                                           "type": "service_unavailable", "param": None,
                                                           "code": "3505"})
        if model != self.FAILING and (script.text is not None or script.tool is not None):
            if script.tool:
                call = {**tool_call(script.tool[1]), "function": {"name": script.tool[0],
                                                                  "arguments": json.dumps(script.tool[1])}}
                if body.get("stream"):
                    return sse_response(tool_call_chunks(model, call))
                return json_response(self._httpx, 200,
                                     body=script.body(chat_body(model, script.text or "", tool_calls=[call])))
            if body.get("stream"):
                return sse_response(chat_chunks(model, script.text or ""))
            return json_response(self._httpx, 200, body=script.body(chat_body(model, script.text or "")))
        self.api.requests.clear()
        return self.api.handle(request)

    def _kwargs(self, model: str | None = None) -> dict:
        kwargs = {"model": model or self.MODEL,
                  "messages": [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]}
        if self.headers:
            kwargs["http_headers"] = dict(self.headers)
        return kwargs

    @staticmethod
    def _message(result: Any) -> tuple:
        message = result.choices[0].message
        calls = tuple((c.function.name, c.function.arguments) for c in message.tool_calls or ())
        return type(result).__qualname__, message.content, calls, result.model

    def _plain(self) -> tuple:
        return self._message(self.client.chat.complete(**self._kwargs()))

    def open_stream(self) -> Any:
        return self.client.chat.stream(**self._kwargs())

    @staticmethod
    def _piece(event: Any) -> tuple:
        choice = event.data.choices[0]
        return str(choice.delta.content), choice.finish_reason

    def pieces(self, stream: Iterable) -> Iterable:
        for event in stream:
            yield self._piece(event)

    def _failing(self) -> Any:
        return self.client.chat.complete(**self._kwargs(self.FAILING))

    async def _aplain(self) -> tuple:
        return self._message(await self.client.chat.complete_async(**self._kwargs()))

    async def aopen_stream(self) -> Any:
        return await self.client.chat.stream_async(**self._kwargs())

    async def apieces(self, stream: Any) -> Any:
        async for event in stream:
            yield self._piece(event)


# ---- Cohere ----

class CohereDriver(Driver):
    name = provider = "cohere"
    MODEL, FAILING = "command-a-03-2025", "command-down"

    def __init__(self, seed: int = 7, api_key: str | None = None) -> None:
        super().__init__(seed, api_key)
        import cohere
        import httpx

        from cohere_bodies import CohereAPI

        self._httpx = httpx
        self.api = CohereAPI(styles={self.MODEL: "json_card"}, failing={self.FAILING}, fail_status=FAIL_STATUS,
                             seed=seed)
        self._cohere = cohere
        self._sync_http = httpx.Client(transport=httpx.MockTransport(self.handle))
        self._async_http = httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    # A cohere client binds `chat` / `chat_stream` onto itself when it is made (its kwarg-checking
    # decorators), so one made before `instrument()` keeps the bare methods: make one per call, as
    # cheap as the SDK allows, so that instrumented and uninstrumented runs go through the same code.
    @property
    def client(self) -> Any:
        return self._cohere.ClientV2(api_key=self.api_key or "test-not-a-key", base_url="http://127.0.0.1:9",
                                     max_retries=0, httpx_client=self._sync_http)

    @property
    def aclient(self) -> Any:
        return self._cohere.AsyncClientV2(api_key=self.api_key or "test-not-a-key", base_url="http://127.0.0.1:9",
                                          max_retries=0, httpx_client=self._async_http)

    def reseed(self) -> None:
        self.api.rng = random.Random(self.seed)

    def handle(self, request: Any) -> Any:
        from cohere_bodies import chat_body, sse_response, text_events, tool_call_body, tool_call_events

        body = json.loads(request.read() or b"{}")
        script = self.script
        model = body.get("model")
        if model == self.FAILING and script.error_message is not None:
            return json_response(self._httpx, script.error_status,
                                 body={"id": "err-1", "message": script.error_message})
        if model != self.FAILING and (script.text is not None or script.tool is not None):
            if script.tool:
                arguments = json.dumps(script.tool[1])
                if body.get("stream"):
                    events = tool_call_events(arguments)
                    events[2]["delta"]["message"]["tool_calls"]["function"]["name"] = script.tool[0]
                    return sse_response(events)
                answer = tool_call_body(arguments)
                answer["message"]["tool_calls"][0]["function"]["name"] = script.tool[0]
                if script.text:
                    answer["message"]["tool_plan"] = script.text
                return json_response(self._httpx, 200, body=script.body(answer))
            if body.get("stream"):
                return sse_response(text_events(script.text or ""))
            return json_response(self._httpx, 200, body=script.body(chat_body(script.text or "")))
        self.api.requests.clear()
        return self.api.handle(request)

    def _kwargs(self, model: str | None = None) -> dict:
        kwargs: dict = {"model": model or self.MODEL,
                        "messages": [{"role": "system", "content": self.system},
                                     {"role": "user", "content": self.user}]}
        if self.headers:
            kwargs["request_options"] = {"additional_headers": dict(self.headers)}
        return kwargs

    @staticmethod
    def _message(result: Any) -> tuple:
        message = result.message
        texts = tuple(getattr(c, "text", None) for c in message.content or ())
        calls = tuple((c.function.name, c.function.arguments) for c in message.tool_calls or ())
        return type(result).__qualname__, texts, calls, result.finish_reason

    def _plain(self) -> tuple:
        return self._message(self.client.chat(**self._kwargs()))

    def open_stream(self) -> Any:
        return self.client.chat_stream(**self._kwargs())

    @staticmethod
    def _piece(event: Any) -> tuple:
        delta = getattr(event, "delta", None)
        return event.type, json.dumps(delta.dict() if delta is not None else None, sort_keys=True, default=str)

    def pieces(self, stream: Iterable) -> Iterable:
        for event in stream:
            yield self._piece(event)

    def _failing(self) -> Any:
        return self.client.chat(**self._kwargs(self.FAILING))

    async def _aplain(self) -> tuple:
        return self._message(await self.aclient.chat(**self._kwargs()))

    async def aopen_stream(self) -> Any:
        return self.aclient.chat_stream(**self._kwargs())

    async def apieces(self, stream: Any) -> Any:
        async for event in stream:
            yield self._piece(event)


# ---- LiteLLM (over the local MockProvider HTTP server) ----

class LiteLLMDriver(Driver):
    name = "litellm"
    provider = "openai"  # the provider LiteLLM resolves for `openai/...`
    MODEL, FAILING = "openai/gpt-4o", "openai/gpt-4o-down"

    def __init__(self, seed: int = 7, api_key: str | None = None) -> None:
        super().__init__(seed, api_key)
        import litellm

        from llm_drift_otel._mock_provider import MockProvider, chat_body, chat_stream_body, openai_tool_call

        litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banner on every error
        self._litellm = litellm
        driver = self

        class ScriptedProvider(MockProvider):
            def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
                script = driver.script
                request = json.loads(body or b"{}")
                model = request.get("model")
                if model == "gpt-4o-down" and script.error_message is not None:
                    return MockProvider._error(script.error_status, "service_unavailable", script.error_message)
                if model != "gpt-4o-down" and (script.text is not None or script.tool is not None):
                    calls = [openai_tool_call(script.tool[0], script.tool[1], "call_1")] if script.tool else None
                    if request.get("stream"):
                        return 200, {"content-type": "text/event-stream"}, chat_stream_body(
                            model, script.text or "", tool_calls=calls)
                    return 200, {"content-type": "application/json"}, json.dumps(script.body(chat_body(
                        model, script.text or "", tool_calls=calls, content_with_tools=bool(script.text)))).encode()
                return super().handle(method, path, body)

        self.mock = ScriptedProvider(styles={"gpt-4o": "json_card"}, seed=seed, failing={"gpt-4o-down"},
                                     fail_status=FAIL_STATUS)
        self.running = self.mock.serve()
        self.key = api_key or "sk-test-not-a-key"

    def reseed(self) -> None:
        self.mock._rng = random.Random(self.seed)

    def _kwargs(self, model: str | None = None, **extra: Any) -> dict:
        kwargs = {"model": model or self.MODEL, "api_base": self.running.base_url, "api_key": self.key,
                  "messages": [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}],
                  "num_retries": 0, "max_retries": 0}
        if self.headers:
            kwargs["extra_headers"] = dict(self.headers)
        return {**kwargs, **extra}

    @staticmethod
    def _message(result: Any) -> tuple:
        message = result.choices[0].message
        calls = tuple((c.function.name, c.function.arguments) for c in message.tool_calls or ())
        return type(result).__qualname__, message.content, calls, result.model

    def _plain(self) -> tuple:
        return self._message(self._litellm.completion(**self._kwargs()))

    def open_stream(self) -> Any:
        return self._litellm.completion(**self._kwargs(stream=True))

    @staticmethod
    def _piece(chunk: Any) -> tuple:
        choice = chunk.choices[0] if chunk.choices else None
        return (choice.delta.content, choice.finish_reason) if choice else (None, None)

    def pieces(self, stream: Iterable) -> Iterable:
        for chunk in stream:
            yield self._piece(chunk)

    def _failing(self) -> Any:
        return self._litellm.completion(**self._kwargs(self.FAILING))

    async def _aplain(self) -> tuple:
        return self._message(await self._litellm.acompletion(**self._kwargs()))

    async def aopen_stream(self) -> Any:
        return await self._litellm.acompletion(**self._kwargs(stream=True))

    async def apieces(self, stream: Any) -> Any:
        async for chunk in stream:
            yield self._piece(chunk)

    def close(self) -> None:
        self.running.stop()


DRIVERS: dict[str, type[Driver]] = {d.name: d for d in (OpenAIDriver, AnthropicDriver, GoogleDriver, BedrockDriver,
                                                         MistralDriver, CohereDriver, LiteLLMDriver)}


def make(name: str, **kwargs: Any) -> Driver:
    return DRIVERS[name](**kwargs)


def run_all(driver: Driver, rounds: int = 1) -> list:
    """Every kind of call of `driver`, `rounds` times: the sync ones, then the async ones in one event loop."""
    import asyncio

    out = []
    for _ in range(rounds):
        out += [driver.plain(), driver.stream(), driver.failing()]
    if driver.has_async:
        async def go() -> list:
            results = []
            for _ in range(rounds):
                results += [await driver.aplain(), await driver.astream()]
            return results

        out += asyncio.run(go())
    return out


class SpanCounter:
    """A SpanProcessor counting spans started and ended (by instrumentation scope), and ends per span."""

    def __init__(self, scope: str = "llm_drift_otel") -> None:
        import threading
        from collections import Counter

        self.scope = scope
        self._lock = threading.Lock()
        self.started = 0
        self.ended = 0
        self.ends: Counter = Counter()  # span id -> times on_end was called

    def _ours(self, span: Any) -> bool:
        scope = getattr(span, "instrumentation_scope", None)
        return scope is not None and scope.name == self.scope

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self._ours(span):
            with self._lock:
                self.started += 1

    def on_end(self, span: Any) -> None:
        if self._ours(span):
            with self._lock:
                self.ended += 1
                self.ends[span.context.span_id] += 1

    def _on_ending(self, span: Any) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    @property
    def open(self) -> int:
        return self.started - self.ended

    def ended_more_than_once(self) -> list:
        return [span_id for span_id, n in self.ends.items() if n > 1]
