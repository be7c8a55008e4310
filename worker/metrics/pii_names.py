"""Person names for PII: candidate spans, their features, and the trained linear scorer over them.

The NER alone (spaCy's small English model) misses most names outside running English prose
("Cardholder: Ebony Marsh", "Claimant: Thabo Molefe", a signature line, a CSV row) and finds many
that are not private people (a company, a famous person discussed as a topic, "Expiry" at the
start of a transcript turn). So every span that could be a name becomes a *candidate*, described
by features that carry over to text we have not seen:

- the span itself: how many words, whether they are given names or surnames in a gazetteer of
  ~30,000 given names and ~28,000 surnames of 100+ locales (Faker's person providers, MIT; built
  at training time and stored in the model file), English dictionary words (WordNet's lemma
  lists, as shipped with the NER model), stop words, company suffixes or street types;
- what the NER said about it (PERSON, another entity type, nothing, or not run there);
- where it stands: sentence or line start, alone on its line (signatures, address blocks), after
  a form key ("Cardholder:"), before a colon at a line start (a transcript's speaker);
- the words around it: a few general cue groups (honorifics, greetings, kinship and work
  relations, verbs of contact, topic words such as "wrote", "theory", "biography") and the
  identity of the neighbouring words where they were frequent in training;
- the text: all lower case, share of capitalised words, code-like.

A logistic regression over these (`pii_names.json.gz`, trained by `protect train pii_names`,
card beside it) gives each candidate a probability of being a private person's name; the text
gets the `name` label when its best candidate reaches `NAME_DECISION`. Scoring is a sparse dot
product in pure Python (~20 µs per candidate): the NER is still the cost.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

from spacy.lang.en.stop_words import STOP_WORDS

MODEL_PATH: Final = Path(__file__).parent / "models" / "pii_names.json.gz"
MODEL_FORMAT: Final = 1
# A candidate with at least this probability is a name. The training folds its chosen threshold
# into the bias, so this is the operating point picked on the validation data.
NAME_DECISION: Final = 0.5

# Word tokens: letters with inner apostrophes or hyphens ("O'Neill", "Al-Sayegh"), digit runs, or
# single other non-space characters.
NAME_TOKEN = re.compile(r"[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*|\d+|[^\w\s]")

# A candidate reaches at most this many words ("Maria del Carmen Ortega" is four plus a particle).
MAX_CANDIDATE_WORDS = 4
# How many words on each side the context features read.
CONTEXT_WORDS = 3
# How far before a candidate a topic word counts ("a summary of Marie Curie's work": 3 words).
TOPIC_REACH = 6


def _words(text: str) -> frozenset[str]:
    """A word list written as running text."""
    return frozenset(text.split())


# Lower-case words that join the parts of a name.
_PARTICLES = _words(
    """van von de da del della di du le la bin binti ibn ben al el dos das do der den ter ten y e
    st st."""
)
# Capitalised words that are rarely names and break a run of capitalised words.
_NOT_CANDIDATES = _words(
    """january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday hi hello hey dear thanks thank yes
    no ok okay sure please sorry great good i"""
)
_HONORIFICS = _words(
    """mr mrs ms miss mx dr prof sir madam mister mme mlle madame monsieur herr frau señor señora
    sr sra srta dona dom don signor signora sig pani pan bey hanim han\u0131m san sama sensei aunt
    auntie uncle cousin grandma grandpa nana abuela abuelo tía tia tío tio nurse officer
    captain coach"""
)
_GREETINGS = _words(
    """hi hello hey dear thanks thank cheers regards sincerely bye love xoxo morning evening
    afternoon yo ciao hola bonjour hallo olá ola merhaba salut hej congrats congratulations
    welcome best warmly"""
)
# Relations that introduce a private person: "my cousin Adaeze", "our landlord Mr Pérez".
_RELATIONS = _words(
    """cousin friend friends colleague colleagues coworker co-worker boss manager neighbour
    neighbor landlord landlady tenant son daughter wife husband partner girlfriend boyfriend
    fiancé fiancée fiance fiancee brother sister mum mom mother dad father aunt uncle niece
    nephew grandson granddaughter grandmother grandfather kid child baby teacher student
    roommate flatmate housemate doctor nurse patient client customer employee intern assistant
    lawyer accountant therapist dentist tutor coach tenant caller agent rep representative
    cardholder holder owner applicant claimant beneficiary recipient sender signatory contact
    guest user member candidate supervisor director engineer technician driver courier
    babysitter nanny cleaner plumber electrician mechanic vet stepson stepdaughter stepmom
    stepdad mate buddy bestie ex"""
)
_POSSESSIVES = frozenset(["my", "his", "her", "their", "our", "your"])
# Words right before a person in prose: "with Dana", "ask Tomás", "cc Priya".
_PERSON_VERBS = _words(
    """with by from to for ask asked tell told call called text texted email emailed met meet
    meeting named cc attn via and or per signed contact ping invite invited thank thanked
    remind reminded pay paid sent send visit visited saw see hired fired"""
)
# Words that make a nearby name a topic rather than a person in the text: "who wrote", "a
# biography of", "Keynes's theory".
_TOPIC_WORDS = _words(
    """who wrote written writer author novel novels book books biography theory theories theorem
    paper papers quote quotes quoted painting paintings song songs album albums film films
    movie movies character characters president presidents king queen emperor pope philosopher
    scientist composer artist painter poet player players team championship titles career
    legacy history historical famous summarize summarise summary essay poem poems lyrics
    invented discovered discovery inventor founder founded era reign dynasty speech speeches
    works work law principle equation effect syndrome disease prize award trophy season episode
    series show actor actress singer band fans fan mythology myth legend fictional story
    stories play plays opera symphony novelist economist physicist chemist mathematician
    general war battle duel"""
)
# Words after a capitalised run that make it an organisation, a place or a thing.
_ORG_WORDS = _words(
    """ltd limited inc inc. llc llp plc gmbh ag sa sas sarl bv nv co co. corp corporation company
    group bank holdings partners associates foundation university college school academy
    hospital clinic institute restaurant cafe café hotel pharmacy store stores shop bakery
    motors airlines airways insurance capital labs studio studios media press publishing
    technologies systems solutions services consulting center centre museum library church
    stadium arena park hall house street road avenue lane drive way square bridge station
    airport river lake mountain island county city town village valley brothers sons & and"""
)
_STREET_WORDS = _words(
    """street st road rd avenue ave lane ln drive dr boulevard blvd way court ct place pl close
    row square sq circle cir walk trail path mews plaza gateway pass park grove gardens hill
    heights green view loop alley crescent terrace parkway highway"""
)
_SENTENCE_END = frozenset(".!?\n")


@dataclass(frozen=True)
class Lexicon:
    """The word lists the features read."""

    first_names: frozenset[str]
    last_names: frozenset[str]
    dictionary: frozenset[str]  # English lemmas, any part of speech (lower case)
    common: frozenset[str]  # English verbs, adjectives and adverbs (lower case)


class Token(NamedTuple):
    start: int
    end: int
    text: str


@dataclass
class Candidate:
    """A span that may be a person's name, and its features (name -> value)."""

    start: int
    end: int
    text: str
    features: dict[str, float] = field(default_factory=dict)


def tokens_of(text: str) -> list[Token]:
    return [Token(m.start(), m.end(), m.group()) for m in NAME_TOKEN.finditer(text)]


def _is_titlecase(word: str) -> bool:
    return word[0].isupper() and any(c.islower() for c in word[1:])


def _is_word(token: Token) -> bool:
    return token.text[0].isalpha()


def _lower_candidate(word: str, lexicon: Lexicon) -> bool:
    """A lower-case word that may be a first name in chat ("send it to kai")."""
    return (
        word in lexicon.first_names
        and word not in STOP_WORDS
        and word not in lexicon.common
        and word not in _NOT_CANDIDATES
        and len(word) >= 3
    )


def _name_like(token: Token, lexicon: Lexicon) -> bool:
    word = token.text
    if not word[0].isalpha() or len(word) < 2:
        return False
    lower = word.lower()
    if lower in _NOT_CANDIDATES or lower in STOP_WORDS:
        return False
    if _is_titlecase(word):
        return True
    # Names with a capital inside ("McAllister", "DeShawn") or in scripts without case.
    if word[0].isupper() and not word.isupper():
        return True
    return word.islower() and _lower_candidate(lower, lexicon)


def _chunk_at(text: str, start: int, end: int) -> str:
    """The whitespace-delimited chunk around a span."""
    left = start
    while left > 0 and not text[left - 1].isspace():
        left -= 1
    right = end
    while right < len(text) and not text[right].isspace():
        right += 1
    return text[left:right]


def candidates_of(text: str, tokens: Sequence[Token], lexicon: Lexicon) -> list[Candidate]:
    """Runs of name-like words (joined by single spaces, particles or initials), at most
    `MAX_CANDIDATE_WORDS` words, without leading dictionary words that are not names
    ("Customer Valentina Greco" gives "Valentina Greco")."""
    out: list[Candidate] = []
    i = 0
    n = len(tokens)
    while i < n:
        if not _name_like(tokens[i], lexicon):
            i += 1
            continue
        lower_run = tokens[i].text.islower()
        j = i
        words = 1
        while j + 1 < n and words < MAX_CANDIDATE_WORDS:
            gap = text[tokens[j].end : tokens[j + 1].start]
            nxt = tokens[j + 1]
            if gap != " ":
                # An initial with its dot: "Abby M. Laidlaw".
                if (
                    nxt.text == "."
                    and len(tokens[j].text) == 1
                    and j + 2 < n
                    and text[nxt.end : tokens[j + 2].start] == " "
                ):
                    j += 1
                    continue
                break
            if lower_run:
                if nxt.text.islower() and nxt.text in lexicon.last_names and _is_word(nxt):
                    j += 1
                    words += 1
                    continue
                break
            if _name_like(nxt, lexicon) and not nxt.text.islower():
                j += 1
                words += 1
                continue
            if (
                nxt.text.lower() in _PARTICLES
                and j + 2 < n
                and text[nxt.end : tokens[j + 2].start] == " "
                and _is_titlecase(tokens[j + 2].text)
            ):
                j += 2
                words += 2
                continue
            if len(nxt.text) == 1 and nxt.text.isupper():  # an initial without its dot
                j += 1
                continue
            break
        run = list(tokens[i : j + 1])
        # Leading dictionary words that are neither given names nor surnames ("Customer",
        # "Cardholder", "Corporate") describe the person; the name starts after them.
        while len([t for t in run if _is_word(t)]) > 1:
            head = run[0].text.lower()
            if head in lexicon.dictionary and not (
                head in lexicon.first_names or head in lexicon.last_names
            ):
                run = run[1:]
            else:
                break
        start, end = run[0].start, run[-1].end
        chunk = _chunk_at(text, start, end)
        # Inside an email, a URL, a path or a handle: not a name of its own.
        if not any(mark in chunk for mark in ("@", "://", "/", "\\", "#", "_")):
            out.append(Candidate(start, end, text[start:end]))
        i = j + 1
    return out


def _word_before(tokens: Sequence[Token], index: int, reach: int) -> list[str]:
    """Up to `reach` tokens before `index`, nearest first, lower-cased."""
    return [t.text.lower() for t in tokens[max(0, index - reach) : index]][::-1]


def _line_of(text: str, start: int, end: int) -> tuple[str, str]:
    """The text before and after a span on its own line."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    if line_end < 0:
        line_end = len(text)
    return text[line_start:start], text[end:line_end]


def _ner_features(
    start: int, end: int, ner: Sequence[tuple[int, int, str]] | None
) -> dict[str, float]:
    if ner is None:
        return {"ner:not_run": 1.0}
    found: dict[str, float] = {}
    for s, e, label in ner:
        if s < end and start < e:
            if label == "PERSON":
                found["ner:person"] = 1.0
                if s == start and e == end:
                    found["ner:person_exact"] = 1.0
            else:
                found["ner:other"] = 1.0
                found[f"ner:{label.lower()}"] = 1.0
    return found or {"ner:none": 1.0}


def featurize(
    text: str,
    tokens: Sequence[Token],
    candidates: Sequence[Candidate],
    lexicon: Lexicon,
    ner: Sequence[tuple[int, int, str]] | None,
) -> None:
    """Fill each candidate's features (in place). `ner`: the NER's entities on the windows it
    ran on, as (start, end, label) in text offsets, or None when it did not run on the text;
    a candidate outside every window gets `ner:not_run`."""
    words = [t for t in tokens if _is_word(t)]
    text_is_lower = not any(c.isupper() for c in text)
    titled = sum(1 for t in words if t.text[0].isupper())
    title_share = titled / len(words) if words else 0.0
    code_like = any(mark in text for mark in ("{", "=", "</", "();"))
    index_of = {t.start: k for k, t in enumerate(tokens)}
    seen_words: dict[str, int] = {}
    for c in candidates:
        for w in c.text.split():
            seen_words[w] = seen_words.get(w, 0) + 1
    covered = _covered(ner)
    for c in candidates:
        f: dict[str, float] = {"bias_candidate": 1.0}
        parts = [w for w in NAME_TOKEN.findall(c.text) if w[0].isalpha()]
        lowers = [w.lower() for w in parts]
        core = [w for w in lowers if w not in _PARTICLES] or lowers or [c.text.lower()]
        n_words = len(core)
        f[f"words:{min(n_words, 3)}"] = 1.0
        first, last = core[0], core[-1]
        f["first_is_given"] = float(first in lexicon.first_names)
        f["last_is_surname"] = float(last in lexicon.last_names)
        f["first_is_surname"] = float(first in lexicon.last_names)
        gaz = sum(1 for w in core if w in lexicon.first_names or w in lexicon.last_names)
        f["share_in_gazetteer"] = gaz / n_words
        f["none_in_gazetteer"] = float(gaz == 0)
        dict_words = sum(1 for w in core if w in lexicon.dictionary)
        f["share_dictionary"] = dict_words / n_words
        f["share_common"] = sum(1 for w in core if w in lexicon.common) / n_words
        f["given_and_dictionary"] = float(
            first in lexicon.first_names and first in lexicon.dictionary
        )
        if n_words == 1:
            f["single:given"] = float(first in lexicon.first_names)
            f["single:surname_only"] = float(
                first in lexicon.last_names and first not in lexicon.first_names
            )
            f["single:dictionary"] = float(first in lexicon.dictionary)
        f["has_hyphen"] = float("-" in c.text)
        f["non_ascii"] = float(any(ord(ch) > 127 for ch in c.text))
        f["all_lower"] = float(c.text.islower())
        f["lower_in_cased_text"] = float(c.text.islower() and not text_is_lower)
        f["text_is_lower"] = float(text_is_lower)
        f["title_share"] = title_share
        f["code_like"] = float(code_like)
        f["last_is_street_word"] = float(last in _STREET_WORDS)
        f["org_word_inside"] = float(any(w in _ORG_WORDS for w in lowers[1:]))
        f["repeated"] = float(any(seen_words.get(w, 0) > 1 for w in c.text.split()))
        f.update(_ner_features(c.start, c.end, ner))
        if ner is not None and not any(s <= c.start and c.end <= e for s, e in covered):
            f.pop("ner:none", None)
            f["ner:not_run"] = 1.0
        # Position.
        k = index_of.get(c.start, 0)
        before = text[: c.start].rstrip(" \t")
        f["sentence_start"] = float(not before or before[-1] in _SENTENCE_END)
        line_before, line_after = _line_of(text, c.start, c.end)
        f["line_start"] = float(not line_before.strip())
        stripped_after = line_after.strip()
        f["line_alone"] = float(not line_before.strip() and stripped_after in ("", ",", "."))
        f["speaker_label"] = float(not line_before.strip() and stripped_after.startswith(":"))
        f["text_end"] = float(not text[c.end :].strip(" \t\n.!,"))
        key = line_before.rstrip()
        if key.endswith(":") and len(key) < 40:
            key_words = NAME_TOKEN.findall(key[:-1].lower())
            f["after_key"] = 1.0
            if key_words:
                f[f"key={key_words[-1]}"] = 1.0
                f["key_is_relation"] = float(key_words[-1] in _RELATIONS)
                f["key_says_name"] = float("name" in key_words[-1] or "nom" in key_words[-1])
        f["in_quotes"] = float(text[c.start - 1 : c.start] in "\"'" and c.start > 0)
        # Words around.
        prev = _word_before(tokens, k, CONTEXT_WORDS)
        end_index = k
        while end_index < len(tokens) and tokens[end_index].end <= c.end:
            end_index += 1
        nxt = [t.text.lower() for t in tokens[end_index : end_index + CONTEXT_WORDS]]
        if prev:
            f[f"prev1={prev[0]}"] = 1.0
        if len(prev) > 1:
            f[f"prev2={prev[1]}"] = 1.0
        if nxt:
            f[f"next1={nxt[0]}"] = 1.0
        if len(nxt) > 1 and nxt[0] in ("'", "\u2019"):
            f["possessive"] = float(nxt[1] == "s")
        prev_words = [w for w in prev if w[0].isalpha()]
        f["after_honorific"] = float(bool(prev_words) and prev_words[0] in _HONORIFICS)
        f["after_greeting"] = float(
            bool(prev)
            and (
                prev[0] in _GREETINGS
                or (prev[0] == "," and len(prev) > 1 and prev[1] in _GREETINGS)
            )
        )
        f["after_relation"] = float(any(w in _RELATIONS for w in prev_words[:2]))
        f["after_possessive_relation"] = float(
            len(prev_words) > 1 and prev_words[0] in _RELATIONS and prev_words[1] in _POSSESSIVES
        )
        f["after_person_verb"] = float(bool(prev_words) and prev_words[0] in _PERSON_VERBS)
        after_dash = bool(prev) and prev[0] in ("-", "\u2014", "\u2013", "~")
        f["after_dash"] = float(after_dash)
        if c.text.islower():
            # Lower-case chat: a given name is a name when it acts like one ("michael is",
            # "tell sienna", "mateo and leo").
            next_word = nxt[0] if nxt else ""
            f["lower:verb_follows"] = float(
                next_word in STOP_WORDS or next_word in lexicon.common or next_word == "'"
            )
            f["lower:after_cue"] = float(
                bool(prev_words)
                and (
                    prev_words[0] in _PERSON_VERBS
                    or prev_words[0] in _GREETINGS
                    or prev_words[0] in _RELATIONS
                    or prev_words[0] in _HONORIFICS
                )
            )
            f["lower:given_not_dictionary"] = float(
                first in lexicon.first_names and first not in lexicon.dictionary
            )
        topic = _word_before(tokens, k, TOPIC_REACH) + nxt
        f["topic_word_near"] = float(any(w in _TOPIC_WORDS for w in topic))
        f["org_word_after"] = float(bool(nxt) and nxt[0] in _ORG_WORDS)
        f["digit_after"] = float(bool(nxt) and nxt[0].isdigit())
        c.features = {name: value for name, value in f.items() if value}


def _covered(ner: Sequence[tuple[int, int, str]] | None) -> list[tuple[int, int]]:
    """The windows the NER ran on are passed as entities labelled `WINDOW`."""
    if ner is None:
        return []
    return [(s, e) for s, e, label in ner if label == "WINDOW"]


class NameModel:
    """The trained weights: feature name -> weight, a bias and a Platt map on the result."""

    def __init__(self, document: dict[str, Any]) -> None:
        if document.get("format") != MODEL_FORMAT:
            raise ValueError(f"{MODEL_PATH.name}: format {document.get('format')!r}")
        self.weights: dict[str, float] = dict(document["weights"])
        self.bias = float(document["bias"])
        self.lexicon = Lexicon(
            first_names=frozenset(document["first_names"]),
            last_names=frozenset(document["last_names"]),
            dictionary=frozenset(),
            common=frozenset(),
        )

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> NameModel:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return cls(json.load(handle))

    def logit(self, features: dict[str, float]) -> float:
        """The linear score: a candidate is a name when it is at least 0 (`NAME_DECISION`)."""
        return self.bias + sum(self.weights.get(k, 0.0) * v for k, v in features.items())

    def probability(self, features: dict[str, float]) -> float:
        z = self.logit(features)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# Pieces a candidate's text splits into at least: spaCy never splits a run of letters except by a
# tokenizer special case ("Gonna" is "Gon" "na"), so this bounds how many spaCy tokens, and so
# how many distinct entities, can overlap a candidate.
_PIECE = re.compile(r"\w+|[^\w\s]|\s{2,}")


class NerBounds:
    """How far the NER's entity labels can move a candidate's score, before the NER runs.

    A candidate inside a window gets the window's own features without the NER (`ner:window`,
    `ner:other`, or `ner:not_run` when it reaches outside every window); each entity overlapping
    it then adds only its label's feature (`ner:person`, maybe `ner:person_exact`, or
    `ner:<label>`). Distinct entities are disjoint runs of spaCy tokens, so at most as many as
    the candidate has tokens can overlap it: with k pieces, the entities add between the k most
    negative and the k most positive label contributions. A candidate whose score is on the same
    side of the decision at both ends needs no NER, and the decision is the one the NER would
    have given.
    """

    def __init__(self, model: NameModel, labels: Iterable[str], splits: dict[str, int]) -> None:
        weight = model.weights.get
        low: list[float] = []
        high: list[float] = []
        for label in labels:
            if label == "PERSON":
                person, exact = weight("ner:person", 0.0), weight("ner:person_exact", 0.0)
                options = [person, person + exact]
            else:
                options = [weight(f"ner:{label.lower()}", 0.0)]
            low.append(min(options))
            high.append(max(options))
        # Prefix sums of the most negative and the most positive contributions.
        self._low = [0.0]
        for value in sorted(v for v in low if v < 0):
            self._low.append(self._low[-1] + value)
        self._high = [0.0]
        for value in sorted((v for v in high if v > 0), reverse=True):
            self._high.append(self._high[-1] + value)
        self._splits = splits

    def pieces(self, text: str) -> int:
        return sum(self._splits.get(p, 1) for p in _PIECE.findall(text))

    def of(self, text: str) -> tuple[float, float]:
        """The lowest and highest sum the entities can add to the logit of candidate `text`."""
        k = self.pieces(text)
        return self._low[min(k, len(self._low) - 1)], self._high[min(k, len(self._high) - 1)]


def gazetteer_words(names: Iterable[str]) -> set[str]:
    """Lower-cased single words of a name list ("Mary Ann" gives "mary" and "ann")."""
    return {w.lower() for name in names for w in NAME_TOKEN.findall(name) if w[0].isalpha()}
