"""Chat templates without a Jinja engine on the phone: recognise the template's shape, emit typed code.

A model's ``chat_template`` is Jinja source. The SDKs do not embed Jinja; instead, at generate time
``recognise_template`` renders the template with Jinja itself (through transformers' sandboxed
renderer, exactly what ``apply_chat_template`` runs) on probe conversations and keeps the first
known shape whose own rendering (``render`` here, ChatPrompt.kt / ChatPrompt.swift on the phone)
equals Jinja's output on every probe. Matching outputs, not template source, means reformatted or
re-indented copies of a template are recognised and a template that only looks familiar is not.

Shapes (``ChatTemplateShape.kind``):

- ``chatml``: ``<|im_start|>{role}\\n{content}<|im_end|>\\n`` per message, ``<|im_start|>assistant\\n``
  as the generation prompt (SmolLM2, Qwen2, Qwen2.5). ``default_system`` is the system prompt the
  template injects when the first message is not a system message (SmolLM2 and Qwen2.5 do; ``None``
  when it injects nothing). ``qwen3_thinking`` adds Qwen3's ``<think>`` rules (see ``_qwen3_assistant``).
- ``gemma``: ``<start_of_turn>{user|model}\\n{content stripped}<end_of_turn>\\n``, a leading system
  message folded into the first turn as ``system + "\\n\\n"``, roles must alternate user/model, the
  ``bos`` token in front (Gemma 2/3 instruction-tuned models).

Messages have the roles system, user and assistant only (tool calls are not part of the SDK
chat API), and an empty conversation is an error in every shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Mapping, Sequence

from mobilekit.errors import ModelInputError

ROLES = ("system", "user", "assistant")

CHATML_START, CHATML_END = "<|im_start|>", "<|im_end|>"
GEMMA_START, GEMMA_END = "<start_of_turn>", "<end_of_turn>"

SUPPORTED_SHAPES = {
    "chatml": "ChatML (<|im_start|>role ... <|im_end|>) as SmolLM2, Qwen2 and Qwen2.5 use, with or without "
              "a default system prompt; Qwen3's <think> handling included",
    "gemma": "Gemma (<start_of_turn>user ... <end_of_turn>, system prompt folded into the first user turn, "
             "role \"model\", bos in front) as Gemma 2 and Gemma 3 use",
}


class ChatRenderError(ValueError):
    """A conversation the shape cannot render (empty, an unknown role, roles out of order)."""


@dataclass(frozen=True)
class ChatTemplateShape:
    """What the SDK code needs to render prompts exactly as the model's template does."""

    kind: str  # "chatml" | "gemma"
    bos: str = ""  # text in front of the first turn
    default_system: str | None = None  # chatml: injected when the first message is not a system one
    qwen3_thinking: bool = False  # chatml: Qwen3's <think> rules

    @property
    def end_of_turn(self) -> str:
        """The text that closes a turn: what generation should stop at (besides eos)."""
        return CHATML_END if self.kind == "chatml" else GEMMA_END

    def describe(self) -> str:
        parts = [self.kind]
        if self.default_system is not None:
            parts.append(f"default system prompt {self.default_system!r}")
        if self.qwen3_thinking:
            parts.append("Qwen3 <think> handling")
        if self.bos:
            parts.append(f"bos {self.bos!r}")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return {**asdict(self), "end_of_turn": self.end_of_turn}

    @classmethod
    def from_dict(cls, data: Mapping) -> "ChatTemplateShape":
        return cls(kind=data["kind"], bos=data.get("bos", ""), default_system=data.get("default_system"),
                   qwen3_thinking=bool(data.get("qwen3_thinking", False)))


# -- rendering -------------------------------------------------------------------------------------


def render(shape: ChatTemplateShape, messages: Sequence, add_generation_prompt: bool = True,
           enable_thinking: bool | None = None) -> str:
    """The prompt text, equal byte for byte to ``apply_chat_template(..., tokenize=False)``.

    ``messages``: dicts with "role" and "content" (or objects with those attributes).
    ``enable_thinking``: only Qwen3 reads it (False adds an empty think block to the generation prompt).
    """
    msgs = _checked(messages)
    if shape.kind == "chatml":
        body = _render_chatml(shape, msgs, add_generation_prompt, enable_thinking)
    elif shape.kind == "gemma":
        body = _render_gemma(msgs, add_generation_prompt)
    else:
        raise ChatRenderError(f"unknown chat template shape {shape.kind!r}")
    return shape.bos + body


def _checked(messages: Sequence) -> list[tuple[str, str]]:
    out = []
    for message in messages:
        role = message["role"] if isinstance(message, Mapping) else message.role
        content = message["content"] if isinstance(message, Mapping) else message.content
        if role not in ROLES:
            raise ChatRenderError(f"unknown role {role!r}: messages are {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise ChatRenderError(f"message content must be text, got {type(content).__name__}")
        out.append((role, content))
    if not out:
        raise ChatRenderError("a conversation needs at least one message")
    return out


def _chatml_turn(role: str, content: str) -> str:
    return f"{CHATML_START}{role}\n{content}{CHATML_END}\n"


def _render_chatml(shape, msgs, add_generation_prompt, enable_thinking) -> str:
    out = []
    if msgs[0][0] != "system" and shape.default_system is not None:
        out.append(_chatml_turn("system", shape.default_system))
    last_query = _qwen3_last_query(msgs)
    for index, (role, content) in enumerate(msgs):
        if role == "assistant" and shape.qwen3_thinking:
            out.append(_qwen3_assistant(content, after_query=index > last_query, last=index == len(msgs) - 1))
        else:
            out.append(_chatml_turn(role, content))
    if add_generation_prompt:
        out.append(f"{CHATML_START}assistant\n")
        if shape.qwen3_thinking and enable_thinking is False:
            out.append("<think>\n\n</think>\n\n")
    return "".join(out)


def _qwen3_last_query(msgs) -> int:
    """Index of the last user message that is not a tool response (Qwen3 keeps reasoning after it)."""
    for index in range(len(msgs) - 1, -1, -1):
        role, content = msgs[index]
        if role == "user" and not (content.startswith("<tool_response>") and content.endswith("</tool_response>")):
            return index
    return len(msgs) - 1


def _qwen3_assistant(content: str, *, after_query: bool, last: bool) -> str:
    """Qwen3 drops the reasoning of earlier turns; after the last query it writes it in a think block."""
    reasoning = ""
    if "</think>" in content:
        whole = content
        content = whole.split("</think>")[-1].lstrip("\n")
        reasoning = whole.split("</think>")[0].rstrip("\n").split("<think>")[-1].lstrip("\n")
    if after_query and (last or reasoning):
        body = "<think>\n" + reasoning.strip("\n") + "\n</think>\n\n" + content.lstrip("\n")
    else:
        body = content
    return f"{CHATML_START}assistant\n{body}{CHATML_END}\n"


def _render_gemma(msgs, add_generation_prompt) -> str:
    prefix, turns = "", msgs
    if msgs[0][0] == "system":
        prefix, turns = msgs[0][1] + "\n\n", msgs[1:]
    out = []
    for index, (role, content) in enumerate(turns):
        if (role == "user") != (index % 2 == 0):
            raise ChatRenderError("Conversation roles must alternate user/assistant/user/assistant/...")
        name = "model" if role == "assistant" else role
        # Jinja's trim filter is Python's str.strip(): Unicode whitespace (see PYTHON_WHITESPACE)
        out.append(f"{GEMMA_START}{name}\n{prefix if index == 0 else ''}{content.strip()}{GEMMA_END}\n")
    if add_generation_prompt:
        out.append(f"{GEMMA_START}model\n")
    return "".join(out)


# What str.strip() removes; ChatPrompt.kt/.swift hard-code this set (a test checks it stays equal).
PYTHON_WHITESPACE = tuple(c for c in range(0x110000) if chr(c).isspace())


# -- recognition -----------------------------------------------------------------------------------

_P = "mobilekit probe"
# Conversations that tell the shapes apart and catch templates that only look like one: default
# system injection, system not first, roles out of order, trimming, think blocks, tool-response-like
# user text, unicode, empty content, special-token text inside content.
PROBES: tuple[tuple[tuple[str, str], ...], ...] = (
    (("user", f"{_P} 1"),),
    (("system", f"{_P} sys"), ("user", f"{_P} 2")),
    (("user", "a"), ("assistant", "b"), ("user", "c")),
    (("system", "S"), ("user", "u1"), ("assistant", "a1"), ("user", "u2"), ("assistant", "a2")),
    (("user", "  padded \n\t"), ("assistant", "\u3000 wide \u00a0")),
    (("user", ""),),
    (("system", ""), ("user", "")),
    (("user", "caf\u00e9 \u4e2d\u6587 \U0001F600 \u05e9\u05dc\u05d5\u05dd e\u0301"),),
    (("system", "only system"),),
    (("assistant", "first"),),
    (("user", "x"), ("user", "y")),
    (("system", "s"), ("assistant", "a")),
    (("user", "q"), ("assistant", "a"), ("system", "late system"), ("user", "q2")),
    (("user", "q"), ("system", "odd system")),
    (("user", "q"), ("assistant", "<think>\nplan\n</think>\n\nanswer")),
    (("user", "q"), ("assistant", "<think>r</think>a"), ("user", "q2")),
    (("user", "q"), ("assistant", "no think here")),
    (("user", "q"), ("assistant", "a"), ("user", "<tool_response>t</tool_response>"), ("assistant", "x</think>y")),
    (("user", "<|im_start|>user\n{{ messages }}<|im_end|><end_of_turn>"),),
)


def _jinja_render(template_text: str, messages, add_generation_prompt: bool, special_tokens: Mapping, **kwargs) -> str:
    """What apply_chat_template(tokenize=False) returns, through transformers' own sandboxed renderer."""
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template(conversations=[[dict(role=r, content=c) for r, c in messages]],
                                        chat_template=template_text, add_generation_prompt=add_generation_prompt,
                                        **{**dict(special_tokens), **kwargs})
    return rendered[0]


def _outcome(fn) -> tuple[str, str]:
    try:
        return "ok", fn()
    except Exception as e:  # noqa: BLE001 - a template may raise anything; what matters is that both raise
        return "error", type(e).__name__


def _candidates(template_text: str, special_tokens: Mapping) -> list[ChatTemplateShape]:
    """Shapes suggested by the rendering of one user message; the probes then decide."""
    kind, text = _outcome(lambda: _jinja_render(template_text, [("user", f"{_P} 1")], False, special_tokens))
    if kind != "ok":
        return []
    found = []
    chatml_turn = _chatml_turn("user", f"{_P} 1")
    if chatml_turn in text:
        prefix = text[: text.index(chatml_turn)]
        bos, default = prefix, None
        system_open = _chatml_turn("system", "")[: -len(CHATML_END) - 1]
        if prefix.endswith(CHATML_END + "\n") and system_open in prefix:
            at = prefix.index(system_open)
            bos, default = prefix[:at], prefix[at + len(system_open): -len(CHATML_END) - 1]
        found += [ChatTemplateShape("chatml", bos, default, thinking) for thinking in (False, True)]
    gemma_turn = f"{GEMMA_START}user\n{_P} 1{GEMMA_END}\n"
    if gemma_turn in text:
        found.append(ChatTemplateShape("gemma", text[: text.index(gemma_turn)]))
    return found


def first_mismatch(shape: ChatTemplateShape, template_text: str, special_tokens: Mapping,
                   probes: Iterable = PROBES) -> str | None:
    """None when ``render(shape, ...)`` equals Jinja on every probe, else what differed first."""
    for messages in probes:
        for generation in (True, False):
            for thinking in (None, False):
                extra = {} if thinking is None else {"enable_thinking": thinking}
                want = _outcome(lambda: _jinja_render(template_text, messages, generation, special_tokens, **extra))
                got = _outcome(lambda: render(shape, [dict(role=r, content=c) for r, c in messages], generation, thinking))
                if want[0] != got[0] or (want[0] == "ok" and want[1] != got[1]):
                    return (f"messages {list(messages)!r}, add_generation_prompt={generation}, enable_thinking={thinking}: "
                            f"the template gives {want[1]!r} ({want[0]}), the {shape.kind} shape {got[1]!r} ({got[0]})")
    return None


def recognise_template(template_text: str | None, special_tokens: Mapping | None = None) -> ChatTemplateShape:
    """The shape of ``template_text`` (rendered with ``special_tokens``: bos_token, eos_token...).

    Raises ModelInputError naming the supported shapes when the template matches none of them.
    """
    supported = "; ".join(f"{name}: {text}" for name, text in SUPPORTED_SHAPES.items())
    if not template_text:
        raise ModelInputError("the model has no chat template", hint=f"supported chat template shapes: {supported}")
    special_tokens = {k: v for k, v in (special_tokens or {}).items() if isinstance(v, str)}
    problems = []
    for shape in _candidates(template_text, special_tokens):
        problem = first_mismatch(shape, template_text, special_tokens)
        if problem is None:
            return shape
        problems.append(problem)
    detail = f" (closest: {problems[0]})" if problems else ""
    raise ModelInputError(
        f"the model's chat template has no shape mobilekit can generate code for{detail}",
        hint=f"supported chat template shapes: {supported}. Use a model whose template has one of these shapes, "
             "or set the chat template of the model folder to one of them")


def recognise_tokenizer(tokenizer) -> ChatTemplateShape:
    """``recognise_template`` for a loaded transformers tokenizer (its template and special tokens)."""
    return recognise_template(tokenizer.chat_template, tokenizer.special_tokens_map)


# -- code generation -------------------------------------------------------------------------------


def kotlin_shape_object(shape: ChatTemplateShape, package: str, object_name: str = "GeneratedChatShape") -> str:
    """The generated Kotlin ``object`` that gives ChatPrompt.kt its shape (see ChatPrompt.kt)."""
    from mobilekit.sdk.android.filters import kotlin_string

    default = "null" if shape.default_system is None else kotlin_string(shape.default_system)
    return (
        f"// Generated by mobilekit from the model's chat template ({_comment(shape.describe())}).\n"
        f"package {package}\n\n"
        f"internal object {object_name} {{\n"
        f"    val SHAPE: ChatShape = ChatShape(\n"
        f"        kind = ChatShape.Kind.{shape.kind.upper()},\n"
        f"        bos = {kotlin_string(shape.bos)},\n"
        f"        defaultSystem = {default},\n"
        f"        qwen3Thinking = {'true' if shape.qwen3_thinking else 'false'},\n"
        f"    )\n"
        f"}}\n"
    )


def swift_shape_enum(shape: ChatTemplateShape, type_name: str = "GeneratedChatShape") -> str:
    """The generated Swift namespace that gives ChatPrompt.swift its shape (see ChatPrompt.swift)."""
    from mobilekit.sdk.ios.filters import swift_string

    default = "nil" if shape.default_system is None else swift_string(shape.default_system)
    return (
        f"// Generated by mobilekit from the model's chat template ({_comment(shape.describe())}).\n\n"
        f"enum {type_name} {{\n"
        f"    static let shape = ChatShape(\n"
        f"        kind: .{shape.kind},\n"
        f"        bos: {swift_string(shape.bos)},\n"
        f"        defaultSystem: {default},\n"
        f"        qwen3Thinking: {'true' if shape.qwen3_thinking else 'false'}\n"
        f"    )\n"
        f"}}\n"
    )


def _comment(text: str) -> str:
    return "".join(ch if 0x20 <= ord(ch) < 0x7F else "?" for ch in " ".join(text.split())).replace("*/", "* /")
