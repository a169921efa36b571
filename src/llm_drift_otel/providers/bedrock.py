"""AWS Bedrock through boto3/botocore (`bedrock-runtime`): Converse, ConverseStream, InvokeModel and
InvokeModelWithResponseStream.

boto3 clients are classes generated at run time, so the one method every call goes through,
`botocore.client.BaseClient._make_api_call(operation_name, api_params)`, is wrapped; `Endpoint.accepts`
lets every other service and operation pass straight through with no span (one set lookup, one
attribute read). InvokeModel bodies are model-family JSON: Anthropic Messages, Amazon Nova, Meta
Llama, Mistral, Amazon Titan, Cohere Command and OpenAI-style chat bodies are read. The response body
(a `StreamingBody`) is read once and put back as a new `StreamingBody` over the same bytes. Streaming
operations return `{"stream"|"body": EventStream}`: `Endpoint.stream_holder` puts a proxy of the
`EventStream` (same type for isinstance) in that slot, and the span ends when the app's iteration does.
aiobotocore's async client is not covered.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any, Callable, Mapping

import wrapt

from .._fingerprint import ModelOutput, ToolCall
from . import Endpoint, RequestInfo, ResponseInfo
from ._common import TextBuffer, as_int, field, server_of, str_or_none, system_text, text_of_content

PROVIDER = "aws.bedrock"
SERVICE = "bedrock-runtime"
_CONVERSE, _CONVERSE_STREAM = "Converse", "ConverseStream"
_INVOKE, _INVOKE_STREAM = "InvokeModel", "InvokeModelWithResponseStream"
OPERATIONS = frozenset({_CONVERSE, _CONVERSE_STREAM, _INVOKE, _INVOKE_STREAM})
_STREAMING = frozenset({_CONVERSE_STREAM, _INVOKE_STREAM})
# Stop reasons by which Bedrock (or the model behind it) says the answer was withheld.
_REFUSALS = frozenset({"guardrail_intervened", "content_filtered", "refusal", "content_filter", "error_toxic"})
_MAX_BODY = 8 * 1024 * 1024  # larger request/response JSON bodies are not parsed (images, documents)
_PROMPT_SCAN = 65536  # how much of a raw `prompt` is searched for a Llama system section
_LLAMA_SYSTEM = re.compile(
    r"<\|start_header_id\|>system<\|end_header_id\|>(.*?)<\|eot_id\|>|<<SYS>>(.*?)<</SYS>>", re.DOTALL)


def _operation(args: tuple, kwargs: Mapping[str, Any]) -> Any:
    return args[0] if args else kwargs.get("operation_name")


def _params(args: tuple, kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    params = args[1] if len(args) > 1 else kwargs.get("api_params")
    return params if isinstance(params, Mapping) else {}


def is_bedrock_inference(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> bool:
    """Only bedrock-runtime inference calls get a span; S3, DynamoDB, ... pass straight through."""
    try:
        if _operation(args, kwargs) not in OPERATIONS:
            return False
        return instance.meta.service_model.service_name == SERVICE
    except Exception:
        return False


# ---- request ----

def _json_of(body: Any) -> Any:
    """The parsed JSON of a request/response body given as bytes or text; None for streams and big bodies."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        if len(body) > _MAX_BODY:
            return None
        body = bytes(body).decode("utf-8", "replace")
    if not isinstance(body, str) or len(body) > _MAX_BODY:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _blocks_text(system: Any) -> str | None:
    """`system` as a string or a list of text blocks (Converse `[{"text"}]`, Anthropic `[{"type":"text"}]`)."""
    if isinstance(system, str):
        return system or None
    return text_of_content(system) or None


def invoke_system_prompt(body: Any) -> str | None:
    """The system prompt of an InvokeModel JSON body, in whichever model family's format it is."""
    if not isinstance(body, Mapping):
        return None
    text = _blocks_text(body.get("system"))  # Anthropic Messages, Amazon Nova
    if text:
        return text
    text = system_text(body.get("messages"))  # OpenAI-style chat: Mistral Large, AI21 Jamba, DeepSeek, gpt-oss
    if text:
        return text
    preamble = body.get("preamble")  # Cohere Command R
    if isinstance(preamble, str) and preamble:
        return preamble
    prompt = body.get("prompt")  # Meta Llama chat template, Llama 2 <<SYS>>
    if isinstance(prompt, str):
        match = _LLAMA_SYSTEM.search(prompt[:_PROMPT_SCAN])
        if match:
            return (match.group(1) or match.group(2) or "").strip() or None
    return None


def bedrock_request(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> RequestInfo:
    operation = _operation(args, kwargs)
    params = _params(args, kwargs)
    meta = getattr(instance, "meta", None)
    host, port = server_of(getattr(meta, "endpoint_url", None))
    info = RequestInfo(provider=PROVIDER, model=str_or_none(params.get("modelId")),
                       stream=operation in _STREAMING, server_address=host, server_port=port)
    if operation in (_CONVERSE, _CONVERSE_STREAM):
        info.system_prompt = _blocks_text(params.get("system"))
        if field(params.get("outputConfig"), "textFormat") is not None:
            info.output_type = "json"
        info.input_messages = params.get("messages")
    else:
        body = _json_of(params.get("body"))
        info.system_prompt = invoke_system_prompt(body)
        if isinstance(body, Mapping):
            info.input_messages = body.get("messages") or body.get("prompt") or body.get("inputText")
    return info


# ---- Converse ----

def _refusal(reason: str | None) -> bool:
    return reason is not None and reason.lower() in _REFUSALS


def converse_output(result: Any) -> ModelOutput:
    message = field(field(result, "output"), "message")
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in field(message, "content") or ():
        text = field(block, "text")
        if isinstance(text, str):
            texts.append(text)
            continue
        tool = field(block, "toolUse")
        if tool is not None:
            calls.append(ToolCall(str(field(tool, "name") or "tool"), field(tool, "input")))
    reason = str_or_none(field(result, "stopReason"))
    return ModelOutput(text="".join(texts), tool_calls=tuple(calls), refusal=_refusal(reason))


def _routed_model(trace: Any) -> str | None:
    """A prompt router's trace names the model it picked; that model served the call."""
    return str_or_none(field(field(trace, "promptRouter"), "invokedModelId"))


def converse_response(result: Any) -> ResponseInfo:
    usage = field(result, "usage")
    reason = str_or_none(field(result, "stopReason"))
    return ResponseInfo(
        model=_routed_model(field(result, "trace")),
        finish_reasons=(reason,) if reason else (),
        input_tokens=as_int(field(usage, "inputTokens")),
        output_tokens=as_int(field(usage, "outputTokens")),
        output=converse_output(result),
    )


# ---- InvokeModel: one reader per model family's response JSON ----

def _anthropic(payload: Mapping[str, Any]) -> ResponseInfo:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in payload.get("content") or ():
        kind = field(block, "type")
        if kind == "text":
            texts.append(field(block, "text") or "")
        elif kind == "tool_use":
            calls.append(ToolCall(str(field(block, "name") or "tool"), field(block, "input")))
    reason = str_or_none(payload.get("stop_reason"))
    usage = payload.get("usage")
    return ResponseInfo(
        model=str_or_none(payload.get("model")), id=str_or_none(payload.get("id")),
        finish_reasons=(reason,) if reason else (),
        input_tokens=as_int(field(usage, "input_tokens")), output_tokens=as_int(field(usage, "output_tokens")),
        output=ModelOutput(text="".join(texts), tool_calls=tuple(calls), refusal=_refusal(reason)),
    )


def _text_info(text: Any, reason: Any, input_tokens: Any = None, output_tokens: Any = None,
               model: Any = None, id_: Any = None) -> ResponseInfo:
    reason = str_or_none(reason)
    return ResponseInfo(
        model=str_or_none(model), id=str_or_none(id_), finish_reasons=(reason,) if reason else (),
        input_tokens=as_int(input_tokens), output_tokens=as_int(output_tokens),
        output=ModelOutput(text=text if isinstance(text, str) else "", refusal=_refusal(reason)),
    )


def _openai_style(payload: Mapping[str, Any]) -> ResponseInfo:
    choice = (payload.get("choices") or [{}])[0]
    message = field(choice, "message")
    text = text_of_content(field(message, "content")) if message is not None else field(choice, "text")
    calls = tuple(
        ToolCall(str(field(field(c, "function"), "name") or "tool"), field(field(c, "function"), "arguments"))
        for c in field(message, "tool_calls") or ())
    usage = payload.get("usage")
    info = _text_info(text, field(choice, "finish_reason") or field(choice, "stop_reason"),
                      field(usage, "prompt_tokens"), field(usage, "completion_tokens"),
                      payload.get("model"), payload.get("id"))
    if calls and info.output is not None:
        info.output = ModelOutput(text=info.output.text, tool_calls=calls, refusal=info.output.refusal)
    return info


def _cohere(payload: Mapping[str, Any]) -> ResponseInfo:
    if "generations" in payload:  # Command (legacy)
        first = (payload.get("generations") or [{}])[0]
        return _text_info(field(first, "text"), field(first, "finish_reason"), id_=payload.get("id"))
    calls = tuple(ToolCall(str(field(c, "name") or "tool"), field(c, "parameters"))
                  for c in payload.get("tool_calls") or ())
    info = _text_info(payload.get("text"), payload.get("finish_reason"), id_=payload.get("generation_id"))
    if calls and info.output is not None:
        info.output = ModelOutput(text=info.output.text, tool_calls=calls, refusal=info.output.refusal)
    return info


def invoke_payload_response(payload: Any) -> ResponseInfo:
    """ResponseInfo of an InvokeModel response JSON, recognised by its family's keys."""
    if not isinstance(payload, Mapping):
        return ResponseInfo(output=None)
    if payload.get("type") == "message" or ("content" in payload and "stop_reason" in payload):
        info = _anthropic(payload)
    elif isinstance(payload.get("output"), Mapping) and "message" in payload["output"]:
        info = converse_response(payload)  # Amazon Nova speaks Converse's JSON
    elif "generation" in payload:  # Meta Llama
        info = _text_info(payload.get("generation"), payload.get("stop_reason"),
                          payload.get("prompt_token_count"), payload.get("generation_token_count"))
    elif "outputs" in payload:  # Mistral
        first = (payload.get("outputs") or [{}])[0]
        info = _text_info(field(first, "text"), field(first, "stop_reason"))
    elif "results" in payload:  # Amazon Titan Text
        first = (payload.get("results") or [{}])[0]
        info = _text_info(field(first, "outputText"), field(first, "completionReason"),
                          payload.get("inputTextTokenCount"), field(first, "tokenCount"))
    elif "choices" in payload:
        info = _openai_style(payload)
    elif "generations" in payload or ("text" in payload and ("finish_reason" in payload or "generation_id" in payload)):
        info = _cohere(payload)
    else:
        return ResponseInfo(output=None)
    metrics = payload.get("amazon-bedrock-invocationMetrics")
    if metrics is not None:
        info.input_tokens = as_int(field(metrics, "inputTokenCount")) or info.input_tokens
        info.output_tokens = as_int(field(metrics, "outputTokenCount")) or info.output_tokens
    return info


class _FailedRead(io.RawIOBase):
    """Stands in for a body whose read failed under us: the app's own read raises the same error."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self._error = error

    def readable(self) -> bool:
        return True

    def read(self, *args: Any) -> bytes:
        raise self._error

    def readinto(self, buffer: Any) -> int:
        raise self._error


def _take_body(result: dict) -> bytes | None:
    """Read an InvokeModel `StreamingBody` and put a new one over the same bytes back for the app.

    None when the body is not JSON, too big, or its read failed (the app's read then fails the same way).
    """
    body = result.get("body")
    if not hasattr(body, "read") or "json" not in str(result.get("contentType") or "application/json"):
        return None
    length = getattr(body, "_content_length", None)
    if length is not None and str(length).isdigit() and int(length) > _MAX_BODY:
        return None
    from botocore.response import StreamingBody

    try:
        data = body.read()
    except Exception as exc:
        result["body"] = StreamingBody(_FailedRead(exc), None)
        return None
    result["body"] = StreamingBody(io.BytesIO(data), len(data))
    return data


def invoke_response(result: dict) -> ResponseInfo:
    data = _take_body(result)
    if data is None:
        return ResponseInfo(output=None)
    return invoke_payload_response(_json_of(data))


def bedrock_response(result: Any) -> ResponseInfo:
    """Converse and InvokeModel results, told apart by their keys (the operation is not passed here)."""
    if not isinstance(result, dict):
        return ResponseInfo(output=None)
    if "output" in result or "stopReason" in result:
        return converse_response(result)
    if "body" in result:
        return invoke_response(result)
    return ResponseInfo(output=None)


# ---- streams ----

class BedrockStreamAccumulator:
    """Reads ConverseStream events and InvokeModelWithResponseStream chunks (each chunk one model-family
    JSON event: Anthropic, Nova, Llama, Mistral, Titan, Cohere, OpenAI-style)."""

    __slots__ = ("_text", "_model", "_id", "_finish", "_input", "_output", "_tools", "_refusal")

    def __init__(self, limit: int) -> None:
        self._text = TextBuffer(limit)
        self._model: str | None = None
        self._id: str | None = None
        self._finish: str | None = None
        self._input: int | None = None
        self._output: int | None = None
        self._tools: dict[Any, list[Any]] = {}
        self._refusal = False

    def add(self, event: Any) -> None:
        if not isinstance(event, Mapping):
            return
        chunk = event.get("chunk")
        if chunk is not None:
            payload = _json_of(field(chunk, "bytes"))
            if isinstance(payload, Mapping):
                self._add_payload(payload)
            return
        self._add_converse(event)

    def _tool(self, index: Any, name: Any) -> None:
        self._tools[index] = [str(name or "tool"), TextBuffer(65536)]

    def _tool_input(self, index: Any, piece: Any) -> None:
        slot = self._tools.get(index)
        if slot is not None:
            slot[1].add(piece)

    def _stop(self, reason: Any) -> None:
        reason = str_or_none(reason)
        if reason:
            self._finish = reason
            self._refusal = self._refusal or _refusal(reason)

    def _add_converse(self, event: Mapping[str, Any]) -> None:
        delta_event = event.get("contentBlockDelta")
        if delta_event is not None:
            delta = field(delta_event, "delta")
            self._text.add(field(delta, "text"))
            tool = field(delta, "toolUse")
            if tool is not None:
                self._tool_input(field(delta_event, "contentBlockIndex"), field(tool, "input"))
            return
        start = event.get("contentBlockStart")
        if start is not None:
            tool = field(field(start, "start"), "toolUse")
            if tool is not None:
                self._tool(field(start, "contentBlockIndex"), field(tool, "name"))
            return
        stop = event.get("messageStop")
        if stop is not None:
            self._stop(field(stop, "stopReason"))
            return
        metadata = event.get("metadata")
        if metadata is not None:
            usage = field(metadata, "usage")
            self._input = as_int(field(usage, "inputTokens")) or self._input
            self._output = as_int(field(usage, "outputTokens")) or self._output
            self._model = _routed_model(field(metadata, "trace")) or self._model

    def _add_payload(self, payload: Mapping[str, Any]) -> None:
        kind = payload.get("type")
        if isinstance(kind, str):
            self._add_anthropic(kind, payload)
        elif any(k in payload for k in ("contentBlockDelta", "contentBlockStart", "messageStop", "metadata")):
            self._add_converse(payload)  # Amazon Nova
        elif "generation" in payload:  # Meta Llama
            self._text.add(payload.get("generation"))
            self._stop(payload.get("stop_reason"))
        elif "outputs" in payload:  # Mistral
            for output in (payload.get("outputs") or ())[:1]:
                self._text.add(field(output, "text"))
                self._stop(field(output, "stop_reason"))
        elif "outputText" in payload:  # Amazon Titan Text
            self._text.add(payload.get("outputText"))
            self._stop(payload.get("completionReason"))
        elif "choices" in payload:  # OpenAI-style chat chunks
            for choice in (payload.get("choices") or ())[:1]:
                delta = field(choice, "delta")
                self._text.add(field(delta, "content") if delta is not None else field(choice, "text"))
                self._stop(field(choice, "finish_reason") or field(choice, "stop_reason"))
            self._model = self._model or str_or_none(payload.get("model"))
        elif "event_type" in payload or "is_finished" in payload:  # Cohere Command R
            if payload.get("event_type") == "text-generation" or (
                    "event_type" not in payload and not payload.get("is_finished")):
                self._text.add(payload.get("text"))
            self._stop(payload.get("finish_reason"))
        metrics = payload.get("amazon-bedrock-invocationMetrics")
        if metrics is not None:
            self._input = as_int(field(metrics, "inputTokenCount")) or self._input
            self._output = as_int(field(metrics, "outputTokenCount")) or self._output

    def _add_anthropic(self, kind: str, payload: Mapping[str, Any]) -> None:
        if kind == "content_block_delta":
            delta = payload.get("delta")
            delta_kind = field(delta, "type")
            if delta_kind == "text_delta":
                self._text.add(field(delta, "text"))
            elif delta_kind == "input_json_delta":
                self._tool_input(payload.get("index"), field(delta, "partial_json"))
        elif kind == "content_block_start":
            block = payload.get("content_block")
            if field(block, "type") == "tool_use":
                self._tool(payload.get("index"), field(block, "name"))
            else:
                self._text.add(field(block, "text"))
        elif kind == "message_start":
            message = payload.get("message")
            self._model = self._model or str_or_none(field(message, "model"))
            self._id = self._id or str_or_none(field(message, "id"))
            self._input = as_int(field(field(message, "usage"), "input_tokens")) or self._input
        elif kind == "message_delta":
            self._stop(field(payload.get("delta"), "stop_reason"))
            self._output = as_int(field(payload.get("usage"), "output_tokens")) or self._output

    def result(self) -> ResponseInfo:
        tools = tuple(ToolCall(name, buf.text() or None) for _, (name, buf) in self._tools.items())
        return ResponseInfo(
            model=self._model,
            id=self._id,
            finish_reasons=(self._finish,) if self._finish else (),
            input_tokens=self._input,
            output_tokens=self._output,
            output=ModelOutput(text=self._text.text(), tool_calls=tools, refusal=self._refusal),
        )


_Proxy = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)


class EventStreamProxy(_Proxy):
    """Stands in for botocore's `EventStream` (isinstance still holds): iterating it iterates the core's
    stream proxy, so the span ends when the events do; `close()` ends it too."""

    def __init__(self, events: Any, iterator: Any) -> None:
        super().__init__(events)
        self._self_iterator = iterator

    def __iter__(self) -> Any:
        return self._self_iterator

    def __enter__(self) -> Any:
        # wrapt's proxy has `__enter__`; an EventStream has not: `with` must fail as it does bare
        if not hasattr(type(self.__wrapped__), "__enter__"):
            with self.__wrapped__:  # the interpreter's own error, raised before entering anything
                pass
        return self.__wrapped__.__enter__()

    def close(self) -> Any:
        # End our span (an abandoned stream) without closing the iterator: a bare EventStream still yields
        # the events it had buffered when it is read after close(), and so must this one.
        try:
            self._self_iterator._self_end()
        except Exception:  # ending our span must not stop the app's close
            pass
        return self.__wrapped__.close()


def _is_event_stream(value: Any) -> bool:
    try:
        from botocore.eventstream import EventStream
    except ImportError:
        return False
    return isinstance(value, EventStream)


def hold_event_stream(result: Any, wrap: Callable[[Any], Any]) -> Any:
    """Put a proxy of the `EventStream` in ConverseStream's `stream` / InvokeModelWithResponseStream's
    `body`, and give back the same dict."""
    if not isinstance(result, dict):
        return None
    for key in ("stream", "body"):
        events = result.get(key)
        if _is_event_stream(events):
            iterator = wrap(iter(events))
            if iterator is None:
                return None
            result[key] = EventStreamProxy(events, iterator)
            return result
    return None


def _endpoints() -> list[Endpoint]:
    return [Endpoint("botocore.client", "BaseClient._make_api_call", "chat", False, bedrock_request,
                     bedrock_response, BedrockStreamAccumulator, accepts=is_bedrock_inference,
                     stream_holder=hold_event_stream)]


class BedrockAdapter:
    name = PROVIDER
    root_module = "botocore"

    def endpoints(self) -> list[Endpoint]:
        return _endpoints()

    def output_of(self, response: Any) -> ModelOutput | None:
        # Bedrock results are plain dicts, which `fingerprint` reads as JSON before asking adapters.
        return None


ADAPTER = BedrockAdapter()
