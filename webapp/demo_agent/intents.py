"""What the agent answers: a few intents recognised by their words, else what it understood.

Pure functions (no audio, no room), so every reply can be tested directly. `PHRASES` is
also the recogniser's domain corpus: the ways callers are expected to say each intent,
so the recogniser favours them over similar-sounding words.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Literal

from .recognizer import Recognition

Intent = Literal["greeting", "capabilities", "time", "thanks", "goodbye", "unclear", "other"]

GREETING_REPLY = "Hello! Nice to hear you. Ask me what I can do, or what time it is."
CAPABILITIES_REPLY = (
    "I am a small demo agent that runs on this machine. I can tell you the time, "
    "and I repeat back what I understood. Say goodbye to end the call."
)
THANKS_REPLY = "You're welcome!"
GOODBYE_REPLY = "Goodbye! Thanks for calling."
UNCLEAR_REPLY = "Sorry, I didn't catch that. Could you say it again?"
HEARD_PREFIX = "I heard:"  # what the agent could not place, spoken or typed
MAX_HEARD_WORDS = 40  # read back out loud: keep a reply to a long turn short
# A short goodbye scores low with the domain search even when its words are right (measured
# on espeak-ng speech through Opus: "goodbye" 0.52-0.56, "okay goodbye" 0.42-0.53, where the
# general model hears "got ya you", "don't buy it"). Above this, such words are trusted.
GOODBYE_CONFIDENCE = 0.3
# The words a short goodbye is made of. "goodbye" must be one of them: a lone "bye" is what
# the domain search makes of "hi", "why" or "I'll buy it", so it keeps the strict gate.
_GOODBYE_WORDS = {"goodbye", "bye", "okay", "thanks", "thank", "you"}
MAX_GOODBYE_WORDS = 3
# A lone "bye" is also what a sentence chopped up by a busy machine can leave of a word
# ("browser", in CI: "bye" at 0.76, and the call ended mid-sentence). Alone, it must be clear:
# espeak-ng's "Bye." scores 0.98 at 150 words a minute ("goodbye" and "bye bye" are not alone).
LONE_BYE_CONFIDENCE = 0.9
# The words of a goodbye and nothing more ("bye", "okay, see you later", "thanks, that's all"):
# a turn or a typed message with any other word only mentions one ("how do I say goodbye in
# French?", "is that's all you can do?"), and is answered, not hung up on.
_FAREWELL_WORDS = _GOODBYE_WORDS | set(
    "ok see later soon that's all hang up very much so then for now and please".split()
)
SEAM = "preconnect+live"  # turns heard across the pre-connect buffer and the live track

_GOODBYE = re.compile(r"\b(good ?bye|bye|see you|that's all|hang up)\b")
# The order matters: "thanks, goodbye" is a goodbye, "hi, what can you do" a question.
_RULES: list[tuple[Intent, re.Pattern[str]]] = [
    ("goodbye", _GOODBYE),
    ("time", re.compile(r"\bwhat('s| is)? (the )?time\b|\btime is it\b|\bthe time\b")),
    (
        "capabilities",
        re.compile(
            r"\bwhat (can|do) you do\b|\bhelp me\b|\bhow can you help\b|\bwho are you\b|\bwhat are you\b"
        ),
    ),
    ("thanks", re.compile(r"\bthanks?\b|\bthank you\b")),
    # A greeting and nothing else ("hello there", "hi, how are you"): "hello from my keyboard" is read back.
    (
        "greeting",
        re.compile(
            r"^(hello|hi|hey|good (morning|afternoon|evening))( (there|agent))?"
            r"( (how are you( doing)?( today)?|how's it going|good (morning|afternoon|evening)))?$"
        ),
    ),
]

# Sentences the recogniser should expect: each intent's phrasings, the demo's small talk
# and the sentences our tests and benchmarks speak. One per line, lower case.
PHRASES = """
hello
hello there
hi
hey
hi how are you
hi there
hey there
hello agent
good morning
good afternoon
good evening
what can you do
what do you do
what can you help me with
can you help me
how can you help me
who are you
what time is it
what is the time
what's the time
tell me the time
can you tell me the time
do you know what time it is
thank you
thanks
thank you very much
thanks a lot
goodbye
bye
bye bye
good bye
see you later
that's all
i would like to hear about your product
tell me about your product
tell me more
i have a question
can you hear me
can you hear me clearly
this is a test call from the browser
testing one two three
yes
no
okay
please
i am fine
how are you
wait
stop
hold on
""".split("\n")


@dataclass(frozen=True)
class Reply:
    """What the agent says back, and whether the call ends after it."""

    intent: Intent
    text: str
    ends_call: bool = False


def normalise(text: str) -> str:
    """Lower case, letters, digits and apostrophes only (a typographic one, as phones type it,
    is one), single spaces."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("\u2019", "'")).split())


def classify(text: str) -> Intent:
    """The intent of a caller's words; "other" when none matches, "unclear" when empty."""
    words = normalise(text)
    if not words:
        return "unclear"
    for intent, pattern in _RULES:
        if pattern.search(words):
            return intent
    return "other"


def say_time(now: time.struct_time) -> str:
    """The time as espeak-ng reads it well: "It's 5:07 PM, UTC."."""
    hour = now.tm_hour % 12 or 12
    return (
        f"It's {hour}:{now.tm_min:02d} {'AM' if now.tm_hour < 12 else 'PM'}, {now.tm_zone or 'local time'}."
    )


def reply_to(text: str, now: time.struct_time | None = None, *, sure: bool = True) -> Reply:
    """The agent's answer to the caller's words, spoken or sent as a chat message alike.

    A goodbye ends the call when it is all the caller said (`is_farewell`), and words the
    recogniser was not `sure` of never do: a misheard goodbye (noise, or audio garbled where
    the pre-connect buffer meets the live track) is read back instead.
    """
    intent = classify(text)
    if intent == "goodbye" and sure and is_farewell(text):
        return Reply(intent, GOODBYE_REPLY, ends_call=True)
    if intent == "goodbye":
        intent = "other"
    if intent == "time":
        return Reply(intent, say_time(now or time.localtime()))
    if intent == "capabilities":
        return Reply(intent, CAPABILITIES_REPLY)
    if intent == "thanks":
        return Reply(intent, THANKS_REPLY)
    if intent == "greeting":
        return Reply(intent, GREETING_REPLY)
    if intent == "unclear":
        return Reply(intent, UNCLEAR_REPLY)
    words = " ".join(text.split()).split(" ")
    heard = " ".join(words[:MAX_HEARD_WORDS]) + (" …" if len(words) > MAX_HEARD_WORDS else "")
    return Reply(intent, f"{HEARD_PREFIX} {heard}")


def is_farewell(text: str) -> bool:
    """Whether `text` says goodbye and nothing else ("bye", "okay, see you later", "that's all")."""
    words = normalise(text).replace("good bye", "goodbye")
    return bool(_GOODBYE.search(words)) and set(words.split()) <= _FAREWELL_WORDS


def is_short_goodbye(text: str) -> bool:
    """Whether `text` is a goodbye and little else ("goodbye", "okay good bye", "thanks goodbye")."""
    words = normalise(text).replace("good bye", "goodbye").split()
    return "goodbye" in words and len(words) <= MAX_GOODBYE_WORDS and set(words) <= _GOODBYE_WORDS


def understand(recognition: Recognition, audio_source: str) -> tuple[str, bool]:
    """The caller's words to answer, and whether they are sure enough to end the call.

    The domain search's words are trusted when it is confident; below that, they are
    trusted when they are a short goodbye, except in a turn across the pre-connect seam,
    where garbled audio once made a "bye later" out of other words.
    """
    if recognition.sure:
        lone_bye = normalise(recognition.text).split() == ["bye"]
        return recognition.text, not lone_bye or recognition.confidence >= LONE_BYE_CONFIDENCE
    if (
        audio_source != SEAM
        and recognition.confidence >= GOODBYE_CONFIDENCE
        and is_short_goodbye(recognition.domain_text)
    ):
        return recognition.domain_text, True
    return recognition.text, False


def domain_corpus() -> str:
    """The recogniser's domain sentences, one per line."""
    return "\n".join(line.strip() for line in PHRASES if line.strip())
