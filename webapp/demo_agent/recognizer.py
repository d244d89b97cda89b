"""Offline speech recognition with pocketsphinx, whose English model ships inside its wheel.

Two searches hear every utterance: a small *domain* language model built at start-up from
the sentences the demo expects (its intents, see `intents.PHRASES`), and pocketsphinx's
general English model. The domain model is far more accurate on what it knows (the
general model does poorly on synthetic speech); when its words are not confident, the
caller said something else and the general model's words are used instead.

pocketsphinx holds the GIL while it decodes, which would stall the agent's event loop
(and with it the audio), so the agent runs this module as a child process of its own:
`python recognizer.py` (no package imports, so it starts in a fraction of a second),
speaking a small protocol on stdin/stdout (see `serve`). `SpeechRecognizer` is usable
in-process too, which is how it is unit-tested.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import tempfile
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

SAMPLE_RATE = 16000  # what the acoustic model was trained on
FRAMES_PER_S = 100  # pocketsphinx's feature frame rate
PARTIAL_EVERY_S = 0.3  # interim results at most this often (of audio)
# mean word posterior above which the domain search is trusted (measured on espeak-ng and
# opus-coded speech: in-domain sentences score 0.68-0.96, others 0.15-0.63)
DOMAIN_CONFIDENCE = 0.65
# the domain model is small and trusted: weigh it above acoustics more than the default 6.5
DOMAIN_LANGUAGE_WEIGHT = 10.0
# the searches that run while the caller talks skip the passes pocketsphinx makes at the
# end of an utterance (a flat-lexicon search, then a lattice): those cost up to a second
# on a busy machine, right when the caller waits for an answer
FIRST_PASS_ONLY = {"fwdflat": False, "bestpath": False}
# What the decoder marks that is not a word: silence (<s>, </s>, <sil>) and the noise
# dictionary's entries ([NOISE], [SPEECH] in the en-us model; ++BREATH++ and the like in others).
FILLER_MARKS = ("<", "[", "+")

# protocol: 1 byte kind, 4 bytes big-endian length, payload
START, AUDIO, END, CANCEL = b"S", b"A", b"E", b"X"


@dataclass(frozen=True)
class Word:
    """One recognised word and where it lies in the utterance, in seconds."""

    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Recognition:
    """The words of one utterance and which search produced them."""

    text: str
    words: list[Word] = field(default_factory=list)
    search: str = ""  # "domain" or "general"
    confidence: float = 0.0  # mean word posterior of the domain search
    domain_text: str = ""  # the domain search's words, also when the general model's are used

    @property
    def sure(self) -> bool:
        """Whether the domain search heard these words with confidence."""
        return self.search == "domain" and self.confidence >= DOMAIN_CONFIDENCE


def build_domain_dictionary(vocabulary: set[str], directory: Path) -> Path:
    """Write the pronunciations of `vocabulary` (all of them, from the model's dictionary).

    A decoder given the whole 130,000-word dictionary with a text language model takes
    seconds to start; one given only the words it can hear starts at once.
    """
    from pocketsphinx import get_model_path

    lines = []
    with open(Path(get_model_path()) / "en-us" / "cmudict-en-us.dict", encoding="utf-8") as dictionary:
        for line in dictionary:
            if line.split(" ", 1)[0].split("(")[0] in vocabulary:
                lines.append(line)
    path = directory / "domain.dict"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def build_domain_lm(corpus: str, directory: Path) -> Path:
    """Write an ARPA trigram model of `corpus` (one sentence a line) and return its path."""
    from pocketsphinx.lm import ArpaBoLM

    model = ArpaBoLM(text=corpus, case="lower", add_start=True)
    model.compute()
    text = io.StringIO()
    model.write(text)
    path = directory / "domain.arpa"
    path.write_text(text.getvalue())
    return path


class SpeechRecognizer:
    """Streams one utterance at a time through both searches."""

    def __init__(self, corpus: str) -> None:
        """Load the acoustic model twice (once per search) and build the domain model."""
        from pocketsphinx import Decoder

        self.corpus = corpus
        vocabulary = {word for line in corpus.lower().splitlines() for word in line.split()}
        with tempfile.TemporaryDirectory(prefix="webcall-asr-") as directory:
            lm_path = build_domain_lm(corpus, Path(directory))
            dict_path = build_domain_dictionary(vocabulary, Path(directory))
            # live: interim results as audio arrives; final: the whole utterance at once,
            # which normalises the audio over all of it (far better on a first utterance)
            domain = {"lm": str(lm_path), "dict": str(dict_path), "loglevel": "FATAL"}
            self._live = Decoder(**domain, **FIRST_PASS_ONLY)
            self._domain = Decoder(**domain, lw=DOMAIN_LANGUAGE_WEIGHT)
        self._general = Decoder(loglevel="FATAL", **FIRST_PASS_ONLY)
        self._unknown = sorted(word for word in vocabulary if self._domain.lookup_word(word) is None)
        self._active = False
        self._audio = bytearray()
        self._fed_s = 0.0
        self._last_partial_s = 0.0
        self._last_partial = ""

    @property
    def unknown_words(self) -> list[str]:
        """Corpus words missing from the pronunciation dictionary (they can't be recognised)."""
        return self._unknown

    def start(self) -> None:
        """Begin an utterance (abandoning one in progress)."""
        for decoder in (self._live, self._general):
            if self._active:
                decoder.end_utt()
            decoder.start_utt()
        self._active = True
        self._audio.clear()
        self._fed_s = self._last_partial_s = 0.0
        self._last_partial = ""

    def feed(self, pcm: bytes) -> str | None:
        """Take 16 kHz mono int16 audio; return a new interim text when there is one."""
        if not self._active:
            self.start()
        self._live.process_raw(pcm, full_utt=False)
        self._general.process_raw(pcm, full_utt=False)
        self._audio += pcm
        self._fed_s += len(pcm) / 2 / SAMPLE_RATE
        if self._fed_s - self._last_partial_s < PARTIAL_EVERY_S:
            return None
        self._last_partial_s = self._fed_s
        hypothesis = self._live.hyp()
        text = hypothesis.hypstr if hypothesis is not None else ""
        if not text or text == self._last_partial:
            return None
        self._last_partial = text
        return text

    def finish(self) -> Recognition:
        """End the utterance and return the better of the two searches' words."""
        if not self._active:
            return Recognition("")
        self._active = False
        self._live.end_utt()
        self._domain.start_utt()
        self._domain.process_raw(bytes(self._audio), full_utt=True)
        self._domain.end_utt()
        domain_words, confidence = self._words(self._domain)
        text = join(domain_words)
        domain = Recognition(text, domain_words, "domain", round(confidence, 3), domain_text=text)
        self._general.end_utt()
        if domain_words and confidence >= DOMAIN_CONFIDENCE:
            return domain
        general_words, _ = self._words(self._general)
        if not general_words:  # the general model heard nothing either: keep what we have
            return domain
        return Recognition(join(general_words), general_words, "general", domain.confidence, domain.text)

    def cancel(self) -> None:
        """Abandon the utterance in progress."""
        if self._active:
            self._live.end_utt()
            self._general.end_utt()
            self._active = False

    @staticmethod
    def _words(decoder: object) -> tuple[list[Word], float]:
        """The decoder's words (alternate pronunciations folded) and their mean posterior."""
        words: list[Word] = []
        posteriors: list[float] = []
        for segment in decoder.seg() or ():  # type: ignore[attr-defined]  # (None for a blip of audio)
            if is_filler(segment.word):
                continue
            text = segment.word.split("(")[0]  # "what(2)" is the second way to say "what"
            start = segment.start_frame / FRAMES_PER_S
            words.append(Word(text, round(start, 2), round((segment.end_frame + 1) / FRAMES_PER_S, 2)))
            posteriors.append(float(segment.prob))
        return words, (sum(posteriors) / len(posteriors) if posteriors else 0.0)


def is_filler(word: str) -> bool:
    """Whether the decoder's ``word`` is silence or noise rather than something said."""
    return word.startswith(FILLER_MARKS)


def join(words: list[Word]) -> str:
    """The words as one line of text."""
    return " ".join(word.text for word in words)


def read_messages(stream: BinaryIO) -> Iterator[tuple[bytes, bytes]]:
    """Yield (kind, payload) messages until the stream ends."""
    while header := stream.read(5):
        if len(header) < 5:
            return
        kind, length = header[:1], struct.unpack(">I", header[1:])[0]
        payload = stream.read(length)
        if len(payload) < length:
            return
        yield kind, payload


def encode_message(kind: bytes, payload: bytes = b"") -> bytes:
    """One protocol message."""
    return kind + struct.pack(">I", len(payload)) + payload


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """The child process: the first message (START) carries the corpus; then utterances.

    In: START {"corpus"} once, then per utterance START {"id"}, AUDIO…, END (or CANCEL).
    Out, one JSON object per line: {"ready", "unknown_words"}, {"partial": text, "id"}
    while audio comes in, {"final": Recognition, "id"} after each END.
    """

    def send(message: dict[str, object]) -> None:
        """Write one line and flush, so the agent sees it at once."""
        stdout.write(json.dumps(message).encode() + b"\n")
        stdout.flush()

    messages = read_messages(stdin)
    first = next(messages, None)
    if first is None or first[0] != START:
        return
    recognizer = SpeechRecognizer(json.loads(first[1])["corpus"])
    send({"ready": True, "unknown_words": recognizer.unknown_words})
    utterance = 0
    for kind, payload in messages:
        try:
            if kind == START:
                utterance = int(json.loads(payload)["id"])
                recognizer.start()
            elif kind == AUDIO:
                if (partial := recognizer.feed(payload)) is not None:
                    send({"partial": partial, "id": utterance})
            elif kind == END:
                send({"final": asdict(recognizer.finish()), "id": utterance})
            elif kind == CANCEL:
                recognizer.cancel()
        except Exception:  # one utterance the decoders choked on: no words for it, the call goes on
            traceback.print_exc()
            try:
                recognizer = SpeechRecognizer(recognizer.corpus)  # fresh decoders
            except Exception:
                traceback.print_exc()  # keep the old ones: the next utterance starts them again
            if kind == END:
                send({"final": asdict(Recognition("")), "id": utterance})


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
