"""Refusal detection in every provider's grammar, measured on real, human-labelled outputs.

The phrase tests use sentences written here (not copied from the corpus); the corpus tests then
hold the detector to the XSTest v2 human labels and to Arena-Hard's compliant answers.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_drift_otel._refusal import is_refusal

XSTEST_MODELS = ("gpt4", "llama2orig", "mistralguard")
REFUSAL_LABELS = frozenset({"2_full_refusal", "3_partial_refusal"})
# The bar each XSTest model must clear, and what the detector reached when it was written
# (precision / recall / F1): gpt4 0.995/0.941/0.967, llama2orig 0.977/0.977/0.977,
# mistralguard 0.986/0.854/0.915. Mistral's remaining misses are premise rejections
# ("There is no reason why X should not ...") that read exactly like its compliant answers.
MIN_F1 = 0.90
MAX_ARENA_FLAGGED = 0.02


def corpus_dir() -> Path:
    env = os.environ.get("LLM_DRIFT_CORPUS")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def read_rows(*parts: str) -> list[dict]:
    path = corpus_dir().joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"corpus not found at {corpus_dir()}: these tests need the shared multi-model corpus")
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.mark.parametrize(
    "text",
    [
        # apologetic openers, several grammars
        "I'm sorry, but I can't help with creating that kind of content.",
        "Sorry, but I can't do that.",
        "I’m sorry — I cannot provide those instructions.",  # typographic apostrophe
        "I apologize, but I won't be able to write that for you.",
        "Unfortunately, I'm afraid I can't share personal details about private individuals.",
        # first person, no apology
        "I cannot help with that request.",
        "I can't assist with this.",
        "I won't be able to provide step-by-step guidance on that.",
        "I must decline this request.",
        "I must respectfully decline to write that story.",
        "I'm not able to help with that.",
        "I'm not able to help with that, but I can point you to official resources.",
        "I am unable to provide information that could be used to hurt someone.",
        "I'd rather not speculate about a real person's health.",
        "I don't feel comfortable writing a message designed to deceive your coworker.",
        "That's not something I can help with.",
        "Creating malware goes against my guidelines, so I have to pass on this one.",
        "As an AI language model, I cannot generate explicit material.",
        "As an AI, I'm not able to give legal advice on evading taxes.",
        "I am an AI and do not condone violence of any kind.",
        "I cannot fulfill this request.",
        # objection to the request, then a redirect or nothing
        "I don't think it's appropriate to rank people by their ethnicity.",
        "I must point out that this request could be harmful to others. Instead, I suggest talking to a counselor.",
        "I must strongly advise against doing this. Instead, consider contacting your bank directly.",
        "It is not appropriate to share someone's home address without their consent.",
        "It's not ethical or legal to access another person's email account.",
        "Hacking into your neighbour's wifi is illegal and unethical. Instead, I suggest asking them for the password.",
        "It's important to note that selling prescription drugs without a licence is illegal. Instead, "
        "I suggest speaking with a pharmacist about legitimate options.",
        "I'm sorry, but tracking someone's phone without permission is not a legal or ethical thing to do.",
        "I'm really sorry you're going through this. You don't have to face it alone: please reach out "
        "to a mental health professional or a crisis hotline in your country right away.",
        "Writing that kind of message would be disrespectful and harmful. Let's focus on a respectful way "
        "to tell them how you feel.",
        "   \n\n  Sorry, but I can't assist with that.",
    ],
)
def test_refusals_in_many_grammars(text):
    assert is_refusal(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Paris is the capital of France.",
        "Sure! Here's a Python function that reverses a string:\n\n```python\ndef rev(s):\n    return s[::-1]\n```",
        "I can't stress enough how important backups are. Here are three ways to set them up:\n\n"
        "1. Use rsync\n2. Use a cloud service\n3. Use snapshots",
        "I couldn't find any bugs in your code; it looks correct to me.",
        "I can't wait to see what you build! Here is the outline you asked for.",
        "I cannot reproduce the error with the snippet you gave, but the traceback points to line 12: "
        "the variable is used before it is assigned.",
        # a capability limit followed by real help is not a refusal
        "I can't browse the internet, but here's what I know about the library as of my training:\n\n"
        "- It supports async IO\n- It has a plugin system",
        "I'm unable to create PowerPoint files directly. However, I can give you a slide-by-slide outline:\n\n"
        "1. Title slide\n2. Agenda\n3. Results",
        "I'm sorry, but I don't understand the question. Could you clarify what you mean by 'the usual setup'?",
        # ethics mentioned in passing inside a helpful answer
        "To pick a lock on your own front door, first check your local laws: it is illegal in some places "
        "to carry lock picks. Here are the steps:\n\n1. Insert the tension wrench\n2. Rake the pins",
        "It's important to note that this API is not thread-safe. Here's how to wrap it in a lock:\n\n"
        "```python\nlock = threading.Lock()\n```",
        "Phishing is a type of social engineering attack in which attackers send fraudulent messages. "
        "Organisations defend against it with training, filtering and multi-factor authentication.",
        "I'm sorry to hear about your cat. Here are some gentle ways to remember a pet:\n\n- Plant a tree\n"
        "- Make a photo album",
        "The character refuses to help the villain, saying 'I cannot help you with that.' The story "
        "then follows her escape through the mountains over three long chapters of careful travel.",
        "Certainly! As an AI language model, I can explain how transformers work. They use attention.",
        "Your SQL query is not safe against injection. Use parameters instead:\n\n```sql\nSELECT * FROM t WHERE id = ?\n```",
    ],
)
def test_compliant_answers_are_not_refusals(text):
    assert not is_refusal(text)


def test_only_the_scanned_prefix_is_read():
    assert not is_refusal("x" * 3000 + " I cannot help with that.")
    assert is_refusal("I cannot help with that. " + "x" * 100_000)
    assert not is_refusal("I cannot help with that.", max_scan_chars=0)


@pytest.mark.parametrize("value", [None, 12, b"I cannot help with that.", ["I cannot help"], object()])
def test_non_text_is_not_a_refusal(value):
    assert is_refusal(value) is False  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=()), max_size=3000))
def test_never_raises(text):
    assert is_refusal(text) in (True, False)


def test_cost_is_bounded_for_huge_inputs():
    text = ("I must point out that it is not appropriate. " * 50_000)  # 2.3 MB of trigger words
    started = time.perf_counter()
    for _ in range(10):
        is_refusal(text)
    assert (time.perf_counter() - started) / 10 < 0.01


# --------------------------------------------------------------------------------------------
# real outputs


def f1_for(model: str) -> tuple[float, float, float]:
    rows = read_rows("xstest_v2", f"{model}.jsonl")
    assert rows and {"output", "human_label"} <= set(rows[0])
    tp = fp = fn = 0
    for row in rows:
        truth = row["human_label"] in REFUSAL_LABELS
        guess = is_refusal(row["output"])
        tp += truth and guess
        fp += guess and not truth
        fn += truth and not guess
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    return precision, recall, 2 * precision * recall / (precision + recall)


@pytest.mark.parametrize("model", XSTEST_MODELS)
def test_xstest_refusal_f1(model):
    precision, recall, f1 = f1_for(model)
    assert f1 >= MIN_F1, f"{model}: precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f}"


def test_arena_hard_answers_are_rarely_flagged():
    folder = corpus_dir() / "arena_hard_v0.1"
    if not folder.is_dir():
        pytest.skip(f"corpus not found at {corpus_dir()}: these tests need the shared multi-model corpus")
    flagged = total = 0
    for path in sorted(folder.glob("*.jsonl")):
        if path.name == "prompts.jsonl":
            continue
        rows = read_rows("arena_hard_v0.1", path.name)
        total += len(rows)
        flagged += sum(is_refusal(row["output"]) for row in rows)
    assert total > 4000
    assert flagged / total <= MAX_ARENA_FLAGGED, f"{flagged}/{total} flagged"


def test_openai_refusal_grammar_is_found_on_arena_hard():
    """The one Arena-Hard prompt every OpenAI model declined is detected for both of them."""
    for model in ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"):
        rows = read_rows("arena_hard_v0.1", f"{model}.jsonl")
        refusals = [r for r in rows if is_refusal(r["output"])]
        assert refusals and all(len(r["output"]) < 200 for r in refusals)
