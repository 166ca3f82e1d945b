"""Candidate entity spans proposed from the text itself.

A 135M-parameter model cannot write "entity | LABEL" lines (measured F1 0.00),
but it can tell a person from a place once it is shown the name. So names are
proposed from surface cues (runs of capitalized words, acronyms) and the model
only labels them. Every candidate is a real slice of the input, so an entity
can never be ungrounded or carry wrong offsets. ``propose_names`` proposes on
normalised text (NFC, no zero-width characters: see ``normalize``), so that a
decomposed accent or a zero-width space never cuts a name, and maps each name
back to the caller's characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llamatasks.tasks.normalize import NormalizedText

# Word characters, except CJK scripts: those carry no case and no spaces, so a
# Latin name embedded in Chinese or Japanese text must end where they begin.
_CHAR = r"[^\W\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
# Combining marks of the cased scripts (Latin, Greek, Cyrillic) are not \w: one that NFC
# cannot compose with its letter ("Q̌") must stay in the word rather than end it.
_MARKS = r"[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
_LETTERS = rf"(?:{_CHAR}{_MARKS}*)+"
_WORD = re.compile(rf"{_LETTERS}(?:[-'’.&]{_LETTERS})*")

# Lower-case words allowed inside a name ("Bank of America", "Charles de Gaulle").
# "and" is left out: "Gary Carvolth and Rob Broadfield" is two names.
_CONNECTORS = frozenset({"of", "de", "du", "da", "di", "del", "della", "la", "le", "van", "von", "der", "den",
                         "y", "&", "al", "bin", "el"})
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "professor", "sir", "dame", "lord", "lady",
                     "president", "king", "queen", "prince", "princess", "pope", "general", "captain",
                     "senator", "governor", "minister", "chancellor", "judge", "rev", "father", "st",
                     "colonel", "col", "lieutenant", "lt", "major", "sergeant", "sgt", "admiral", "brigadier",
                     "commander", "engineer", "senior", "junior", "juniors", "seniors", "director", "producer",
                     "actor", "actress", "coach", "manager", "chairman", "founder", "ceo", "mayor", "bishop"})
_CALENDAR = frozenset({"january", "february", "march", "april", "may", "june", "july", "august", "september",
                       "october", "november", "december", "monday", "tuesday", "wednesday", "thursday",
                       "friday", "saturday", "sunday"})
# Capitalized only because they open a sentence.
_OPENERS = frozenset("""a an the this that these those it its he she they we i you his her their our my your
in on at by for from with to of as if or and but so yet after before when while during since although though
however there here what which who whom whose where why how all some many most several each every no not one
two three four five six seven eight nine ten first also then thus later today yesterday tomorrow both either
neither only even just still such other another following according despite unlike like because until unless
once upon over under between among into onto through throughout within without about above below across
along around behind beyond near""".split())  # noqa: SIM905 (a list of 130 quoted words reads worse)


@dataclass(frozen=True)
class Candidate:
    """A proposed entity: ``text[start:end]`` of the input; ``name`` is what the model is shown.

    From ``propose_spans`` ``name == text[start:end]``; from ``propose_names`` the offsets
    are the caller's and ``name`` is the normalised spelling the name was proposed in.
    """

    start: int
    end: int
    name: str


def _is_name_word(word: str) -> bool:
    if word.lower() in _CALENDAR or word.isdigit():
        return False
    return word[0].isupper() or (len(word) > 1 and word.isupper())


_ABBREVIATIONS = frozenset({"jr", "sr", "st", "dr", "mr", "mrs", "ms", "inc", "co", "corp", "ltd"})


def _joins(text: str, previous: re.Match[str], match: re.Match[str]) -> bool:
    """Whether two words are adjacent parts of one name: a space apart, or an initial ("Edward D. Smith")."""
    gap = text[previous.end():match.start()]
    if gap in (" ", "\u00a0"):
        return True
    word = previous.group()
    return gap == ". " and ((len(word) == 1 and word.isupper()) or word.lower() in _ABBREVIATIONS)


def _runs(text: str, start: int, end: int) -> list[list[re.Match[str]]]:
    """Runs of name words (with connectors inside) separated only by spaces."""
    runs: list[list[re.Match[str]]] = []
    current: list[re.Match[str]] = []
    for match in _WORD.finditer(text, start, end):
        word = match.group()
        joined = bool(current) and _joins(text, current[-1], match)
        if _is_name_word(word) or (joined and word.lower() in _CONNECTORS):
            if current and not joined:
                runs.append(current)
                current = []
            current.append(match)
        else:
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _trim(run: list[re.Match[str]], sentence_start: int) -> list[re.Match[str]]:
    while run and (run[0].group().lower() in _TITLES or run[0].group().lower() in _CONNECTORS
                   or (run[0].start() == sentence_start and run[0].group().lower() in _OPENERS)):
        run = run[1:]
    while run and (run[-1].group().lower() in _CONNECTORS or not _is_name_word(run[-1].group())):
        run = run[:-1]
    return run


def _strip_possessive(text: str, start: int, end: int) -> int:
    for suffix in ("'s", "’s"):
        if text.endswith(suffix, start, end) and end - start > len(suffix):
            return end - len(suffix)
    return end


def _keep_period(text: str, run: list[re.Match[str]], end: int) -> int:
    """A name ending in an initial or "Jr" keeps its period ("Clay Tice Jr.")."""
    last = run[-1].group()
    if len(run) > 1 and end < len(text) and text[end] == "." and ((len(last) == 1 and last.isupper())
                                                                  or last.lower() in ("jr", "sr")):
        return end + 1
    return end


def _is_common_word(run: list[re.Match[str]], sentence_start: int, lowercase: frozenset[str]) -> bool:
    """A lone capitalized function word, or a sentence-opening word that is inflected ("Founding",
    "Inactivated") or that the text also writes in lower case ("Additional" where "additional" occurs)."""
    if len(run) != 1:
        return False
    word = run[0].group().lower()
    if word in _OPENERS:
        return True
    if run[0].start() != sentence_start:
        return False
    return word in lowercase or (word.endswith(("ed", "ing", "ly")) and len(word) > 4)


def lowercase_words(text: str) -> frozenset[str]:
    """The words ``text`` writes in lower case, for ``propose_spans``."""
    return frozenset(m.group() for m in _WORD.finditer(text) if m.group().islower())


def propose_spans(text: str, start: int = 0, end: int | None = None,
                  lowercase: frozenset[str] | None = None) -> list[Candidate]:
    """Candidate name spans within ``text[start:end]`` (one sentence), in order.

    ``lowercase`` is ``lowercase_words(text)``, computed once per text when its
    sentences are proposed one by one (by default it is computed here).
    """
    end = len(text) if end is None else end
    lowercase = lowercase_words(text) if lowercase is None else lowercase
    opening = _WORD.search(text, start, end)
    sentence_start = opening.start() if opening else start
    candidates = []
    for run in _runs(text, start, end):
        run = _trim(run, sentence_start)
        if not run or _is_common_word(run, sentence_start, lowercase):
            continue
        s, e = run[0].start(), _strip_possessive(text, run[0].start(), run[-1].end())
        e = _keep_period(text, run, e)
        if e - s < 2 and not text[s:e].isupper():
            continue
        if text[s:e] == "I":
            continue
        candidates.append(Candidate(s, e, text[s:e]))
    return candidates


def propose_names(text: NormalizedText, start: int = 0, end: int | None = None,
                  lowercase: frozenset[str] | None = None) -> list[Candidate]:
    """``propose_spans`` on ``text.text[start:end]``, each name's offsets mapped to ``text.original``.

    Every candidate ``c`` is a real slice of the original: ``text.original[c.start:c.end]``
    holds exactly the characters ``c.name`` was normalised from (with any removed
    zero-width character inside it), and starts and ends on a visible character.
    """
    return [Candidate(*text.span(c.start, c.end), c.name)
            for c in propose_spans(text.text, start, end, lowercase)]
