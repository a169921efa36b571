"""Refusal detection across providers' refusal grammars.

Pure (stdlib only): it runs on every LLM call, inside the host application.

A refusal is recognised by what the answer *does* in its opening sentences, not by topic words:

* an explicit first-person refusal ("I can't help with that", "Sorry, but I cannot...",
  "I must decline", "I don't feel comfortable...", "As an AI, I cannot...");
* an objection to the request itself ("I don't think it's appropriate to...", "I must point out
  that ... harmful", "It is not ethical to...", "I'm sorry, but X is not safe"), when the answer
  then gives no content of its own, or offers another task instead ("Instead, ...": a partial
  refusal is a refusal);
* a redirect ("Instead, I suggest...", "please reach out to...") in a short answer that opens by
  judging the request (harmful, illegal, not appropriate...) and delivers nothing else.

Cost: one lower-casing of at most ``max_scan_chars`` characters and a set test on the opening's
words decide most answers; a regex only runs when one of its trigger words is there.

A capability limit ("I can't browse the web. However, here is an outline: ...") is not a refusal
when the answer then delivers content; ethics mentioned in passing inside a helpful answer is not
one either. Nothing here is keyed to a model or vendor name.
"""

from __future__ import annotations

import re

__all__ = ["is_refusal"]

# Only the opening (first sentences) decides whether a refusal *starts* the answer.
_OPENING_CHARS = 420
_OPENING_SENTENCES = 3
# Past this length an answer that did not refuse in its opening is answering.
_SHORT_ANSWER_CHARS = 1800

# Everything is matched on lower-cased text with compiled patterns that use no IGNORECASE
# (which makes Python's regex engine several times slower); typographic apostrophes are
# normalised so every pattern can use "'".
_APOSTROPHE_LIKE = ("\u2019", "\u2018", "\u02bc")

_NEG = (
    r"(?: (?:cannot|can ?not|can't|won't|will not|shall not|am unable to|am not able to|"
    r"am not going to|must (?:respectfully )?(?:decline|refuse)(?: to)?|"
    r"(?:have|need) to (?:respectfully )?decline(?: to)?|would rather not|"
    r"am not (?:allowed|permitted|programmed|comfortable)(?: to)?)"
    r"|'m (?:unable to|not able to|not going to|not (?:allowed|permitted|programmed|comfortable)"
    r"(?: to)?)|'d rather not)"
)
# What the model declines to do for the user: an action on the request, not a statement of fact.
_ACTION = (
    r"(?:help|assist|provide|fulfil+|comply|create|write|generate|give|share|support|answer|"
    r"respond|engage|participate|offer|recommend|suggest|encourage|condone|promote|endorse|"
    r"disclose|discuss|reveal|tell you|continue|produce|facilitate|describe|explain|list|justify|"
    r"plan|do (?:that|this|so)|comment|speculate|draft|compose|complete|perform|contribute|"
    r"aid|advise|guide|teach|show you|role-?play|pretend|act as|go along|agree|argue|"
    r"access|obtain|look up|retrieve|determine|conduct|in good)"
)


class _Cue:
    """A pattern that only runs when one of its trigger words (or phrases) is in the opening.

    Most answers contain none of them, so the regexes, each a scan of the opening, mostly
    do not run at all; the triggers are what every match of the pattern must contain.
    """

    __slots__ = ("pattern", "words", "phrases")

    def __init__(self, pattern: str, words: str = "", phrases: tuple = ()) -> None:
        self.pattern = re.compile(pattern)
        self.words = frozenset(words.split())
        self.phrases = phrases

    def armed(self, words: frozenset, head: str) -> bool:
        return not self.words.isdisjoint(words) or any(p in head for p in self.phrases)

    def search(self, text: str, words: frozenset, head: str) -> "re.Match | None":
        return self.pattern.search(text) if self.armed(words, head) else None


_NEG_WORDS = ("cannot can't won't shall unable able going decline refuse rather allowed permitted "
              "programmed comfortable")
_NEG_PHRASES = ("can not", "will not")
_AI_PHRASES = ("an ai", "a language model", "an artificial intelligence", "an assistant",
               "a privacy-respecting")
_STRONG = (
    # "i can't help", "i'm not able to provide", "i really cannot in good conscience write"
    _Cue(r"\bi(?: really| truly| simply| unfortunately| therefore| still| also)?" + _NEG
         + r" (?:\w+ly |be able to |)(?:\w+ly )?" + _ACTION, _NEG_WORDS, _NEG_PHRASES),
    # "sorry, but i can't", "i'm sorry, i cannot", "i apologize, but i won't"
    _Cue(r"\b(?:sorry|apologi[sz]e|apologies|afraid|regret)\b[^.!?\n]{0,60}?\bi\b[^.!?\n]{0,16}?"
         r"(?:cannot|can ?not|can't|won't|will not|unable|not able|must decline|don't|do not)\b",
         "sorry apologize apologise apologies afraid regret"),
    _Cue(r"\bi (?:do not|don't|would not|wouldn't) feel (?:comfortable|it(?:'s| is) appropriate)",
         "comfortable appropriate"),
    _Cue(r"\bi (?:must|have to|need to|will|'ll|would|'d)? ?(?:respectfully |politely )?(?:decline|refuse)\b",
         "decline refuse"),
    _Cue(r"(?:\bis|'s|\bisn't|\bis not) (?:not )?something i (?:can|could|will|am able to|'m able to) "
         r"(?:help|assist|provide|do|support|engage)", phrases=("something i",)),
    _Cue(r"\b(?:not|isn't|is not) (?:within|in line with|aligned with) my "
         r"(?:programming|guidelines|ethical|capabilities to|purpose|policies|principles)",
         phrases=("within my", "with my")),
    _Cue(r"\b(?:against|violates?) my (?:programming|guidelines|ethical|principles|policies|"
         r"content polic|values|rules)", "against violate violates"),
    _Cue(r"\b(?:can't|cannot|won't|will not|unable to) (?:fulfil+|comply with|help with|"
         r"assist with|honou?r) (?:your|this|that|the) request", "cannot can't won't unable", _NEG_PHRASES),
    _Cue(r"\bi (?:do not|don't|will not|won't|can't|cannot) (?:condone|endorse|support|promote|"
         r"encourage|facilitate)\b", "condone endorse cannot can't won't", _NEG_PHRASES),
    # "as an ai (developed by x), i cannot / i'm not able / i do not have access"
    _Cue(r"\bas an? (?:ai|artificial intelligence|language model|assistant|privacy-respecting ai)"
         r"[^.!?\n]{0,60}?,? i(?: cannot| can't| can not| am unable| am not able| won't| will not|"
         r" must (?:decline|refuse)|"
         r" am not (?:programmed|designed|permitted|allowed)| do not have access| don't have access|"
         r" am committed to|'m unable|'m not able)", phrases=_AI_PHRASES),
    _Cue(r"\bi(?:'m| am)(?: just)? an? (?:ai|language model|artificial intelligence)(?: language model)?"
         r"[^.!?\n]{0,40}?(?:and|,|so|therefore) (?:i )?(?:(?:do not|don't) (?:condone|promote|support|"
         r"endorse|have the (?:ability|capability|capacity) to)|it(?:'s| is) not within)",
         phrases=_AI_PHRASES),
)

# The speaker objects to the request: refuses unless the answer then delivers content.
_PERSONAL_OBJECTION = _Cue(
    r"\bi (?:do not|don't) think (?:it(?:'s| is)|that(?:'s| is)|this is|it would be) "
    r"(?:\w+ )?(?:appropriate|accurate|fair|respectful|ethical|okay|ok|acceptable)|"
    r"\bi (?:must |have to |need to |would |will |strongly |firmly )*(?:condemn|advise against|"
    r"discourage|urge you not to|caution against)",
    "appropriate accurate fair respectful ethical okay ok acceptable condemn advise discourage urge caution",
)
# The speaker prefaces a correction; it objects when the opening also judges the request.
_PERSONAL_PREFACE = re.compile(
    r"\bi (?:must|have to|need to|want to|would like to|should|feel (?:obligated|compelled) to)"
    r" (?:respectfully |kindly |gently |politely |strongly |first )?(?:clarify|emphasi[sz]e|stress|"
    r"point out|note|remind you|caution|address|inform you|highlight|challenge|mention)"
)
# Impersonal verdicts on the request ("it is not appropriate to...", "x is never acceptable").
_VERDICT_WORDS = ("appropriate ethical acceptable okay ok legal safe respectful responsible advisable "
                  "permissible justifiable justified moral accurate fair harmful inappropriate unethical "
                  "offensive problematic")
_VERDICT = _Cue(
    r"\b(?:it|this|that|doing so|such (?:a|an) \w+)(?: is|'s| would be| would not be| wouldn't be)"
    r"(?: not| never| neither| hardly)(?: \w+){0,2}? "
    r"(?:appropriate|ethical|acceptable|okay|ok|legal|safe|respectful|responsible|"
    r"advisable|permissible|justifiable|justified|moral)\b|"
    r"\b(?:it|this|that)(?: is|'s) not (?:accurate|fair) to (?:say|suggest|claim|assume)|"
    r"\b(?:is|are|would be) (?:never|not) (?:acceptable|appropriate|okay|ok|justified|justifiable|"
    r"ethical)\b|"
    r"\b(?:the|your|this) (?:question|request|premise|prompt)(?: itself)?(?: you(?:'ve| have) asked)?"
    r" (?:is|contains|seems|may be|might be|appears|promotes|implies|could be) (?:\w+ )?"
    r"(?:harmful|inappropriate|unethical|offensive|problematic|not appropriate|a harmful|"
    r"an? (?:inappropriate|unethical|offensive))",
    _VERDICT_WORDS,
)
# Same, about an act rather than the request: only counts in the first sentences.
_VERDICT_LEAD = _Cue(
    r"\bis not an? (?:safe|ethical|legal|appropriate|responsible|healthy|acceptable)\b",
    "safe ethical legal appropriate responsible healthy acceptable",
)
# An impersonal caveat that *starts* the answer ("it's important to note that x is illegal").
_CAVEAT_START = re.compile(
    r"(?:first(?:ly)?(?: and foremost)?,? )?it(?:'s| is) (?:important|crucial|essential|vital)"
    r"(?: to (?:note|remember|understand|recognize|emphasi[sz]e|clarify|stress|point out|"
    r"approach|treat|respect))?"
)
# Apology opener that is not condolence: "i'm sorry, but ...", "i apologize, but ...".
_APOLOGY_BUT = re.compile(
    r"(?:i(?:'m| am) )?(?:really |so |very |truly )?(?:sorry|apologi[sz]e|apologies)[,.!]?"
    r"(?: but| however)\b"
)
_AI_DISCLAIMER = re.compile(r"\bas an? (?:ai|language model)\b|\bi(?:'m| am)(?: just)? an? (?:ai|language model)\b")

# Vocabulary of judgment: the reasons given when declining on moral, legal or safety grounds.
_JUDGMENT_WORDS = """
    harmful harm unethical ethical illegal legal unlawful inappropriate appropriate offensive
    dangerous safe unsafe problematic disrespectful respectful immoral morally hurtful okay ok
    acceptable unacceptable law privacy private personal confidential consent permission
    authorization authorisation connotation discriminatory discrimination hateful hate accurate
    fair healthy recommended violence violent self-harm against attempted condoned glorified
    promoted tolerated celebrated moral
"""
_JUDGMENT = _Cue(
    r"\b(?:harmful|harm (?:to |or )|unethical|not ethical|illegal|not legal|unlawful|"
    r"inappropriate|not appropriate|offensive|dangerous|not safe|unsafe|problematic|"
    r"disrespectful|not respectful|immoral|morally (?:wrong|reprehensible|unacceptable)|hurtful|"
    r"never (?:okay|ok|acceptable|appropriate|justified)|not acceptable|unacceptable|"
    r"against the law|privacy|private (?:information|data)|personal information|confidential|"
    r"without (?:their |his |her |your |explicit |proper )*(?:consent|permission|authori[sz]ation)|"
    r"negative connotation|discriminatory|hateful|promot\w* discrimination|"
    r"not (?:accurate|fair)(?: or \w+)? to (?:say|generali[sz]e|suggest|claim|assume)|"
    r"not (?:a |an )?(?:safe|ethical|legal|appropriate|responsible|healthy|recommended)|"
    r"promot\w* (?:violence|harm|hate)|violent or|or violent|self-harm|"
    r"goes against (?:ethical|moral)|should (?:never|not) be (?:\w+ or )?(?:attempted|condoned|"
    r"glorified|promoted|tolerated|celebrated))\b",
    _JUDGMENT_WORDS,
)
# The narrower, moral part of that vocabulary: what a soft refusal says about a request
# (topic words such as "dangerous" also describe facts, so they do not count here).
_MORAL_JUDGMENT = re.compile(
    r"\b(?:harmful|unethical|not ethical|illegal|not legal|inappropriate|not appropriate|"
    r"offensive|disrespectful|not respectful|immoral|never (?:okay|ok|acceptable|appropriate)|"
    r"not acceptable|unacceptable|discriminatory|hateful|not (?:a |an )?(?:ethical|appropriate)|"
    r"goes against (?:ethical|moral))\b"
)
# Offering another task in the opening after judging the request: refusal by substitution.
_SUBSTITUTE = re.compile(
    r"\binstead(?:,|\s+of\b)|\blet(?:'s| us) (?:focus|talk about|instead)|"
    r"\bi (?:would )?(?:suggest|recommend|encourage)(?: that you| you)? (?:focus|consider|find|explore)"
)
# Steering the user elsewhere instead of answering.
_REDIRECT = re.compile(
    r"\binstead(?:,|\s+of\b)|\blet(?:'s| us) (?:focus|talk|discuss|instead|shift|redirect|explore)|"
    r"\b(?:please |i (?:would )?(?:strongly )?(?:encourage|urge|recommend|suggest)(?: that)? you )"
    r"(?:to )?(?:reach out|seek|contact|consult|talk to|speak (?:to|with))\b|"
    r"\b(?:reach out to|seek(?:ing)? (?:professional |immediate )?(?:help|support|assistance|"
    r"guidance)|speak with a (?:mental health|professional|trusted))|"
    r"\bif you (?:or someone you know )?(?:are|'re|have|feel) "
    r"(?:feeling|struggling|experiencing|in (?:crisis|danger)|having thoughts|concerns?|unsafe)|"
    r"\bis there (?:anything|something) else|\bfeel free to ask|"
    r"\bif you have (?:any )?other (?:questions|topics|requests)"
)
# Condolence opener followed by crisis resources instead of an answer.
_EMPATHY_START = re.compile(
    r"(?:i(?:'m| am) )?(?:really |so |very |truly |deeply )?sorry to hear|"
    r"it sounds like you(?:'re| are) (?:going through|feeling|struggling)|"
    r"i(?:'m| am) (?:really |so )?sorry (?:that )?you(?:'re| are) (?:feeling|going through)"
)
_CRISIS_RESOURCE = re.compile(
    r"\b(?:mental health|trusted (?:friend|adult|person|family member|individual)|crisis|hotline|"
    r"helpline|lifeline|therapist|counsel+or|professional help|emergency services|"
    r"people who care about you|you are not alone|you're not alone)\b"
)

# Words that limit what the model *can* do (tools, files, browsing), not what it *will* do.
_CAPABILITY = re.compile(
    r"\b(?:directly|real-?time|browse|browsing|navigate|internet|web ?(?:site|page)s?|external|"
    r"urls?|links?|attachments?|text-based|visual(?:ly)?|images?|draw|files?|pptx?|excel|"
    r"physically|run (?:code|it)|execute (?:code|it)|more (?:information|context|details)|"
    r"(?:additional|further|full|complete) (?:information|context|details)|provided dataset|"
    r"without (?:more|additional|further|knowing|seeing|using)|unclear|understand the question|"
    r"up-to-date|current (?:data|information|events)|memory|remember previous|optimum|optimal|"
    r"definitive|publicly (?:available|disclosed)|not available)\b"
)
_CLARIFY = re.compile(
    r"\b(?:understand (?:the|your) (?:question|request)|unclear|clarify|more (?:context|information|"
    r"details)|(?:additional|further) (?:context|information|details))\b"
)

# Evidence that the answer delivers content anyway: lists, code, "here are the steps".
_LIST_ITEM = re.compile(r"^[ \t]*(?:\d{1,2}[.)]|[-*\u2022])[ \t]+\S", re.MULTILINE)
_HERE_IS = re.compile(
    r"\bhere(?:'s| is| are)\b|\b(?:steps?|tips|ways|options|methods|strategies|suggestions)"
    r"(?: (?:you|to)| that)? (?:can|could|include|are|below|follow)\b"
)
# "however, i will provide a response": a disclaimer followed by compliance, not a refusal.
_COMPLY_PIVOT = re.compile(
    r"\b(?:however|that said|that being said|with that in mind|but)\b,? (?:i will|i'll|i can still|"
    r"let me) (?:still )?(?:provide|answer|give|respond|share|explain|help|offer|try)"
)
_PIVOT = re.compile(
    r"\b(?:however|that said|that being said|but)\b,?[^.!?\n]{0,60}?\b(?:i can|i'd be happy|"
    r"i would be happy|i'm happy|here(?:'s| is| are)|you can|you could|i will|i'll)\b"
)

_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+|\n\s*\n")


# Every rule needs one of the cues above (or an empathy opener) in the opening: their trigger
# words and phrases are the gate, so a typical answer costs a split and a set test.
_GATE_WORDS = frozenset().union(
    *(cue.words for cue in (*_STRONG, _PERSONAL_OBJECTION, _VERDICT, _VERDICT_LEAD, _JUDGMENT)),
    {"sorry"},
)
_GATE_PHRASES = tuple(sorted({p for cue in _STRONG for p in cue.phrases} | {"sounds like"}))
_PUNCTUATION_MARKS = (",", ".", ":", ";", "!", "?", "(", ")", '"', "*")


def _opening_words(head: str) -> "frozenset | None":
    """The opening's words when some rule could match there, else None (the common case).

    Hot path (every answer): the set of words is only built when the gate opens, and the
    phrases are a plain loop (a generator in ``any`` costs more than the searches).
    """
    text = head
    for mark in _PUNCTUATION_MARKS:
        if mark in text:
            text = text.replace(mark, " ")
    words = text.split()
    if _GATE_WORDS.isdisjoint(words):
        for phrase in _GATE_PHRASES:
            if phrase in head:
                break
        else:
            return None
    return frozenset(words)


def is_refusal(text: str, *, max_scan_chars: int = 2048) -> bool:
    """Return True when ``text`` declines the request, fully or partly, in any grammar.

    Reads at most ``max_scan_chars`` characters and never raises: a detector that broke the
    host's LLM call would be worse than a missed refusal.
    """
    try:
        return _refusal_rule(text, max_scan_chars) is not None
    except Exception:  # noqa: BLE001 - must never break the instrumented call
        return False


def _sentences(text: str, count: int) -> str:
    """The first ``count`` sentences of ``text`` (or all of it)."""
    ends = 0
    for match in _SENTENCE_END.finditer(text):
        ends += 1
        if ends == count:
            return text[: match.end()]
    return text


def _refusal_rule(text: str, max_scan_chars: int = 2048) -> "str | None":
    """Name of the rule that finds ``text`` a refusal, or None (the benchmark shows it)."""
    if not isinstance(text, str) or not text:
        return None
    scanned = text[: max(0, max_scan_chars)].strip()
    if not scanned:
        return None
    if scanned.isascii():
        # lower() keeps ASCII lengths: the gate needs the opening only, the rest is lowered if it opens.
        head = scanned[:_OPENING_CHARS].lower()
        words = _opening_words(head)
        if words is None:
            return None
        scanned = scanned.lower()
    else:
        scanned = scanned.lower()
        for typographic in _APOSTROPHE_LIKE:  # str.replace: translate() is slow on non-Latin-1 text
            if typographic in scanned:
                scanned = scanned.replace(typographic, "'")
        head = scanned[:_OPENING_CHARS]
        words = _opening_words(head)
        if words is None:
            return None
    opening = _sentences(head, _OPENING_SENTENCES)
    rule = _opening_rule(scanned, opening, words, head)
    if rule is not None:
        return rule or None  # "" means the opening settled it: not a refusal
    if len(scanned) <= _SHORT_ANSWER_CHARS:
        return _soft_refusal_rule(scanned, opening, words, head)
    return None


def _strong_match(opening: str, words: frozenset, head: str) -> "re.Match | None":
    """The first explicit refusal phrase that is not inside a quotation."""
    for cue in _STRONG:
        if cue.armed(words, head):
            for match in cue.pattern.finditer(opening):
                if not _quoted(opening, match.start()):
                    return match
    return None


def _opening_rule(scanned: str, opening: str, words: frozenset, head: str) -> "str | None":
    """A rule name when the opening refuses, "" when it settles that it does not, else None."""
    strong = _strong_match(opening, words, head)
    objection = _PERSONAL_OBJECTION.search(opening, words, head)
    judged = _JUDGMENT.search(opening, words, head) is not None
    verdict = _VERDICT.search(opening, words, head) or _VERDICT_LEAD.search(
        _sentences(opening, 2), words, head)
    if not (strong or objection or judged or verdict):
        return None
    if _COMPLY_PIVOT.search(scanned, 0, _OPENING_CHARS * 2):
        return ""
    if strong is not None and not _is_capability_limit(scanned, opening, strong):
        return "explicit"
    delivers = _delivers_content(scanned)
    substitutes = _SUBSTITUTE.search(opening) is not None
    if objection is not None and (substitutes or not delivers):
        return "personal-objection"
    if judged and _PERSONAL_PREFACE.search(opening):
        return "preface+judgment"
    if judged and substitutes:
        return "judgment+substitute"
    if verdict and not delivers:
        return "verdict"
    if judged and not delivers:
        lead = _sentences(opening, 1)
        if _APOLOGY_BUT.match(lead) or _CAVEAT_START.match(lead) or _AI_DISCLAIMER.search(lead):
            return "opener+judgment"
    return None


_OPEN_SINGLE_QUOTE = re.compile(r"(?:^|[\s:,(\[])'[^']*$")


def _quoted(text: str, position: int) -> bool:
    """The match sits inside a quotation (a character's line, a quoted message), not the answer."""
    before = text[max(0, position - 120) : position]
    if before.count('"') % 2 or before.count("\u201c") > before.count("\u201d"):
        return True
    return _OPEN_SINGLE_QUOTE.search(before) is not None


def _is_capability_limit(scanned: str, opening: str, strong: re.Match) -> bool:
    """ "I can't browse the web, but here's..." limits a tool; it does not refuse the task.

    Asking for clarification ("I don't understand the question, could you...?") is not a
    refusal either.
    """
    start = max(opening.rfind(".", 0, strong.start()), opening.rfind("\n", 0, strong.start()))
    sentence = _sentences(opening[start + 1 :], 1)
    if not _CAPABILITY.search(sentence) or _JUDGMENT.pattern.search(sentence):
        return False
    if _CLARIFY.search(sentence) and "?" in scanned:
        return True
    return _delivers_content(scanned) or _PIVOT.search(scanned, 0, _OPENING_CHARS * 2) is not None


def _delivers_content(scanned: str) -> bool:
    """Lists, code or "here are the steps" after the opening: the model answered anyway."""
    if "```" in scanned or len(_LIST_ITEM.findall(scanned, 0, 4096)) >= 2:
        return True
    return len(scanned) > 200 and _HERE_IS.search(scanned) is not None


def _soft_refusal_rule(scanned: str, opening: str, words: frozenset, head: str) -> "str | None":
    """Short answers that steer elsewhere instead of answering, with no refusal phrase."""
    lead = _sentences(opening, 2)
    empathy = _EMPATHY_START.match(lead) is not None
    moral = not empathy and _JUDGMENT.armed(words, head) and _MORAL_JUDGMENT.search(lead) is not None
    if not (empathy or moral) or _delivers_content(scanned):
        return None
    if empathy and _CRISIS_RESOURCE.search(scanned, 0, _SHORT_ANSWER_CHARS):
        return "empathy+crisis-resources"
    if moral and _REDIRECT.search(scanned, 0, _SHORT_ANSWER_CHARS):
        return "judgment+redirect"
    return None
