"""Attribute stage: parse the reply, map citations to exact sentences, check grounding."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.prompt import Passage

REFUSAL_MARKER = "NOT IN DOCUMENT"  # what prompts/*.txt tell the model to reply
_CITATION = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
# The marker, or the bot's own refusal sentence (prompts/refusal.txt), which the model echoes
# from the conversation after a refused turn ("Who did she thank?" after a refusal).
_REFUSAL = re.compile(
    r"\bnot\s+in\s+(?:the\s+)?document\b|^\W*the\s+article\s+does\s+not\s+say\W*$", re.I
)
_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_STOPWORDS = frozenset(
    "a an the of to in on at for and or but nor is are was were be been being am do does did "
    "what who whom whose which when where why how that this these those it its he she they "
    "them his her their there here with by from as about into over than then so if not no yes "
    "any all some i you we our your my me us has have had will would can could should may "
    "might must say said says tell told according article document text".split()
)
_PRONOUN = re.compile(r"\b(?:he|she|they|his|her|their|him|them)\b", re.I)
_NAME_RUN = re.compile(r"\b[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)+")
_NAME = re.compile(r"\b[A-Z][A-Za-z]+(?:[-'][A-Za-z]+)*")
# Words that start a question or a request but name nothing.
_NOT_NAMES = frozenset("give list name please explain describe".split())


CITED_BONUS = 0.25
MIN_SUPPORT = 0.3
RELATIVE_SUPPORT = 0.75  # share of the best source's score another source needs
PART_SUPPORT = 0.6  # share of one answer sentence's new words its own source must hold
_ANSWER_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_CLAUSE = re.compile(r"\s*;\s+|,\s+(?=(?:including|which|while|whereas|but|and)\s)")


@dataclass(frozen=True)
class Reply:
    text: str  # the answer without citation marks
    cited: list[int]
    refused: bool


@dataclass(frozen=True)
class Source:
    doc_id: str
    sentence_id: int
    text: str
    start: int
    end: int
    score: float

    @classmethod
    def of(cls, passage: Passage, score: float) -> Source:
        """The passage's sentence as a source."""
        s = passage.sentence
        return cls(passage.doc_id, s.id, s.text, s.start, s.end, score)

    def to_dict(self) -> dict:
        return {
            "doc_id": self.doc_id,
            "sentence_id": self.sentence_id,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
        }


def could_be_refusal(text: str) -> bool:
    """True while a reply being streamed is, or may still become, the refusal marker."""
    start = " ".join(text.lower().split())
    return bool(_REFUSAL.search(text)) or any(
        form.startswith(start)
        for form in (REFUSAL_MARKER.lower(), "not in the document", "the article does not say.")
    )


def parse_reply(raw: str) -> Reply:
    cited: list[int] = []
    for group in _CITATION.findall(raw):
        for number in re.split(r"\s*[,;]\s*", group):
            if int(number) not in cited:
                cited.append(int(number))
    text = " ".join(_CITATION.sub(" ", raw).split())
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    refused = bool(_REFUSAL.search(raw)) or not re.search(r"\w", text)
    return Reply(text=text, cited=cited, refused=refused)


def quote_citations(raw: str, passages: Sequence[Passage], max_sources: int = 3) -> Reply | None:
    """A reply that is nothing but citations ("[14]", "[3][5]") points at its answer without
    stating it: the cited sentences, quoted, are the answer. None for any other reply."""
    reply = parse_reply(raw)
    if not reply.refused or not reply.cited or _REFUSAL.search(raw):
        return None
    by_label = {p.label: p for p in passages}
    cited = [n for n in reply.cited if n in by_label][:max_sources]
    if not cited:
        return None
    text = " ".join(" ".join(by_label[n].sentence.text.split()) for n in cited)
    return Reply(text=text, cited=cited, refused=False)


def _tokens(text: str) -> list[str]:
    """Lower-cased words, with curly apostrophes made straight ("didn’t" -> "didn't")."""
    return _WORD.findall(text.lower().replace("’", "'"))


def _content_tokens(text: str) -> list[str]:
    """The text's lower-cased words minus stop words, in order, unstemmed."""
    return [w for w in _tokens(text) if w not in _STOPWORDS and len(w) > 1]


def content_words(text: str) -> set[str]:
    """Lower-cased words minus stop words, crudely stemmed so 'offers' meets 'offer'."""
    return {_stem(w) for w in _content_tokens(text)}


def _stem(word: str) -> str:
    word = re.sub(r"'s$", "", word)
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def attribute(
    reply: Reply,
    question: str,
    passages: Sequence[Passage],
    max_sources: int = 3,
    by_part: bool = True,
) -> list[Source]:
    """Rank the sentences the answer rests on: the cited ones, else the ones it overlaps most.

    Citations from a small model are often missing or padded, so each candidate is scored by
    how much of the answer (and, less, of the question) its words cover, and weak ones are dropped.
    With `by_part`, the source of each sentence of a longer answer is kept too.
    """
    if reply.refused or not passages:
        return []
    by_label = {p.label: p for p in passages}
    question_words = content_words(question)
    # What the answer adds to the question is what a source must hold: "held in Herzliya" is
    # supported by the sentence naming Herzliya, not by every sentence about the conference.
    answer_words = (content_words(reply.text) - question_words) or content_words(reply.text)

    def score(p: Passage) -> float:
        words = content_words(p.sentence.text)
        answer_cover = len(answer_words & words) / max(1, len(answer_words))
        question_cover = len(question_words & words) / max(1, len(question_words))
        return 0.7 * answer_cover + 0.3 * question_cover

    cited = {n for n in reply.cited if n in by_label}
    # A citation is evidence, but not proof: an uncited sentence that covers the answer better
    # (the model often cites one sentence of two) can still outrank it.
    scored = sorted(
        ((score(p) + (CITED_BONUS if p.label in cited else 0.0), p) for p in passages),
        key=lambda sp: (-sp[0], sp[1].label),
    )
    best = scored[0][0]
    keep = [(s, p) for s, p in scored if s >= max(MIN_SUPPORT, RELATIVE_SUPPORT * best)]
    # Beside a sentence holding some of what the answer adds, one holding none of it is no
    # source ("spoke on 9 February": the sentence with the date, not every one about the speech).
    holding = [(s, p) for s, p in keep if answer_words & content_words(p.sentence.text)]
    keep = (holding or keep)[:max_sources]
    # An answer of several sentences draws each from its own source ("... a function of the
    # size of the instance. This is usually taken to be the size of the input in bits."): the
    # sentence that best holds each part is kept, not only the ones that hold most of the whole.
    for part in _answer_parts(reply.text) if by_part else []:
        part_words = (content_words(part) - question_words) or content_words(part)
        if len(part_words) < 2:
            continue
        cover, p = max(
            (
                (len(part_words & content_words(p.sentence.text)) / len(part_words), p)
                for p in passages
            ),
            key=lambda cp: (cp[0], cp[1].label in cited, -cp[1].label),
        )
        if cover >= PART_SUPPORT and all(p is not q for _, q in keep):
            keep.append((score(p) + (CITED_BONUS if p.label in cited else 0.0), p))
    keep = sorted(keep, key=lambda sp: (-sp[0], sp[1].label))[:max_sources]
    return [Source.of(p, s) for s, p in keep]


def _answer_sentences(text: str) -> list[str]:
    """The sentences of an answer of several; [] for an answer of one."""
    parts = [p for p in _ANSWER_SENTENCE.split(text) if p.strip()]
    return parts if len(parts) > 1 else []


def _answer_parts(text: str) -> list[str]:
    """The sentences of an answer, and the clauses of each: a small model joins two sentences
    of the document into one of its own ("Researchers laid out numerous foundations …,
    including the definition of Turing machines …"), and each clause rests on its own source."""
    sentences = _answer_sentences(text)
    clauses = [c for part in sentences or [text] for c in _CLAUSE.split(part) if c.strip()]
    return list(dict.fromkeys(sentences + [c for c in clauses if c != text]))


def _starts_sentence(text: str, position: int) -> bool:
    before = text[:position].rstrip(" \t\"'“‘(")
    return not before or before[-1] in ".?!:;\n"


def document_names(text: str) -> set[str]:
    """Words the document capitalizes inside a sentence, where only names are capitalized."""
    return {
        m.group().lower() for m in _NAME.finditer(text) if not _starts_sentence(text, m.start())
    }


def _names(text: str, known: set[str] | None = None) -> set[str]:
    """Capitalized words that may name someone or something: "Abbas", "Egypt", "NP".

    Function words capitalized at a sentence start ("This", "By") are not names, nor is any
    sentence-initial word ("Classification of ...", "Wie viel ...") the document (`known`)
    never capitalizes inside a sentence; a hyphenated name counts by its parts, as the
    support's words are split the same way.
    """
    names = set()
    for match in _NAME.finditer(text):
        word = re.sub(r"['’]s$", "", match.group())
        if word.lower() in _STOPWORDS or word.lower() in _NOT_NAMES:
            continue
        initial = _starts_sentence(text, match.start())
        if known is not None and initial and word.lower() not in known:
            continue
        names.update(
            part.lower()
            for part in re.split(r"[-']", word)
            if part[:1].isupper() and part.lower() not in _STOPWORDS
        )
    return names


def names_in(text: str, known: set[str] | frozenset[str] | None = None) -> set[str]:
    """The names a text mentions (lower case), as the grounding check reads them."""
    return _names(text, None if known is None else set(known))


def _mentions(name: str, words: set[str]) -> bool:
    """A name is present when a word equals it or one extends the other ('Egypt', 'Egyptian')."""
    return any(
        w == name or (min(len(w), len(name)) >= 4 and (w.startswith(name) or name.startswith(w)))
        for w in words
    )


_DEFINITE = re.compile(r"^\W*(?:The|This|That|These|Those|Such(?:\s+an?)?)\s+([A-Za-z][\w-]*)")
_DEFINITE_NOUN = re.compile(r"\b(?:the|this|that|these|those)\s+([a-z][\w-]*)")


def refers_back(text: str, previous: str = "") -> bool:
    """A sentence that names its subject in the sentence before: "However, he said ...", or
    "The spokesman would not say ..." after "A spokesman for Netanyahu said ..." (a definite
    description repeating a noun of the sentence before; "Such problems are called ..." too),
    or "... a prize for resolving the problem" after "The P versus NP problem is ..." (the noun
    of a name, met again)."""
    if _PRONOUN.search(text):
        return True
    return describes_again(text, previous)


def describes_again(text: str, previous: str) -> bool:
    """A sentence that names its subject by a description of the sentence before ("Such
    problems are called ...", "... a prize for resolving the problem"): it reads on from it."""
    if not previous:
        return False
    opening = _DEFINITE.match(text)
    if opening and _stem(opening.group(1).lower()) in {_stem(w) for w in _tokens(previous)}:
        return True
    return any(
        named.group(1).lower() not in _STOPWORDS
        for noun in _DEFINITE_NOUN.finditer(text)
        for named in re.finditer(rf"\b([A-Z][\w'-]*)\s+(?i:{re.escape(noun.group(1))})\b", previous)
    )


def name_aliases(text: str) -> dict[str, set[str]]:
    """Other words a document uses for a name: "NATO Secretary-General Anders Fogh Rasmussen"
    lets "the secretary-general" stand for Rasmussen later on."""
    aliases: dict[str, set[str]] = {}
    for run in _NAME_RUN.finditer(text):
        words = _WORD.findall(run.group().lower())
        if len(words) > 1:
            aliases.setdefault(words[-1], set()).update(words[:-1])
    return aliases


def _name_words(text: str) -> set[str]:
    """The text's words as names are matched against them: "Israel's" names Israel."""
    return {re.sub(r"'s$", "", w) for w in _tokens(text)}


def mentions(name: str, text: str) -> bool:
    """The text names `name` (as `names_in` gives it), itself or in another form."""
    return _mentions(name, _name_words(text))


def unmentioned_name(
    text: str,
    support: str,
    aliases: dict[str, set[str]] | None = None,
    known_names: set[str] | frozenset[str] | None = None,
) -> str | None:
    """A name in the text that the support never mentions, itself or by a title, or None."""
    # "Israel's" in the source names Israel, and so supports "Israeli" in the answer.
    support_words = _name_words(support)
    alone = _names_alone(support)
    aliases = aliases or {}
    names = _names(text, known_names)
    for name in sorted(names):
        if _mentions(name, support_words) or aliases.get(name, set()) & support_words:
            continue
        # "Steve Bruce" asked or answered, "Bruce" alone in the source: the document writes
        # "Steve" before "Bruce", so the source names the same person by the surname.
        if any(_mentions(name, aliases.get(o, set())) and o in alone for o in names):
            continue
        return name
    return None


def grounding_problem(
    question: str,
    reply: Reply,
    support: str,
    aliases: dict[str, set[str]] | None = None,
    known_names: set[str] | None = None,
) -> str | None:
    """Why the answer is not grounded in its support text, or None when it is.

    Catches the small model's typical slip: answering with a nearby fact about someone or
    something else ("What did Abbas say about Egypt?" answered from a sentence about
    Rasmussen), or pinning a fact on the person the conversation was about. Every name in the
    question and in the answer must occur in the support (the source sentences, and the sentence
    before one that refers back with a pronoun), itself or as a title the document gives it.
    And an answer to "when" must name a time: "Abbas said this in." is a model with no date.
    """
    if not support.strip():
        return "no source sentence supports the answer"
    if repeats_itself(reply.text):
        return "the reply says the same thing over and over"
    for origin, text in (("question", question), ("answer", reply.text)):
        name = unmentioned_name(text, support, aliases, known_names)
        if name:
            return f"the sources do not mention {name!r} from the {origin}"
    if _ASKS_WHEN.match(question) and not _TIME.search(reply.text):
        return "the question asks when, and the answer names no time"
    topic = missing_topic(question, support)
    if topic:
        return f"the question asks what was said about {topic!r}; the sources do not speak of it"
    swapped = swapped_qualifier(question, support)
    if swapped:
        asked, found = swapped
        return f"the question asks about {asked!r}; the sources speak of {found!r}"
    return None


# "What did X say about Y?": the words after "about" name the topic asked about.
_SAID_ABOUT = re.compile(
    r"\b(?:say|says|said|saying|tell|tells|told|think|thinks|thought|speak|speaks|spoke|talk|"
    r"talks|talked|write|writes|wrote|comment|comments|commented|warn|warns|warned)\b"
    r".*?\babout\s+(.+?)\W*$",
    re.I,
)


def _related(word: str, other: str) -> bool:
    """The same word, or two forms of one ('democracy', 'democratic')."""
    if _mentions(word, {other}):
        return True
    shared = next((i for i, (a, b) in enumerate(zip(word, other, strict=False)) if a != b), None)
    shared = min(len(word), len(other)) if shared is None else shared
    return shared >= 5 and shared >= 0.7 * min(len(word), len(other))


# Words that end the head of a topic ("the uprisings | in Egypt", "the conditions | attached").
_AFTER_HEAD = frozenset(
    "in of on for between to with from about at by over under during after before among against "
    "within across".split()
)


def _topic_head(topic: str) -> str | None:
    """The word a topic is about: the last content word before its first preposition, past
    any trailing participle ("NATO's role in …" -> role; "the peace talks" -> talks)."""
    tokens = _tokens(topic)
    before = next((i for i, w in enumerate(tokens) if w in _AFTER_HEAD), len(tokens))
    words = _content_tokens(" ".join(tokens[:before]))
    while len(words) > 1 and re.search(r"(?:ed|ing)$", words[-1]):
        words.pop()
    return _stem(words[-1]) if words else None


def missing_topic(question: str, support: str) -> str | None:
    """The topic of "What did X say about Y?" when the sources say nothing of it: "What did
    Okafor say about the pay of ticket office staff?" answered with what she said about the
    strike's cost. The sources must speak of the topic's head ("What did the UN say about
    the peace talks?" is not answered by a sentence on peace alone). Returns the topic as
    asked, or None."""
    asked = _SAID_ABOUT.search(question)
    if not asked:
        return None
    topic = content_words(asked.group(1))
    said = content_words(support)
    head = _topic_head(asked.group(1))
    if not topic or (
        any(_related(t, w) for t in topic for w in said)
        and (head is None or any(_related(head, w) for w in said))
    ):
        return None
    return asked.group(1)


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?(?:\s*(thousand|million|billion|trillion)\b)?", re.I)
_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_NUMBER_WORDS = (
    {
        word: value
        for value, word in enumerate(
            "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
            "fifteen sixteen seventeen eighteen nineteen twenty".split()
        )
    }
    | {
        word: 10 * tens
        for tens, word in enumerate(
            "thirty forty fifty sixty seventy eighty ninety".split(), start=3
        )
    }
    | {"hundred": 100, "dozen": 12}
)


def _numbers(text: str) -> list[tuple[float, float, str]]:
    """The numbers written in digits in a text: (value, value without its scale word, as
    written). "1,600" and "1600" are one value; "$1 million" is the value of "US$1,000,000"."""
    found = []
    for match in _NUMBER.finditer(text):
        digits = match.group().split()[0].rstrip(",.").replace(",", "")
        try:
            bare = float(digits)
        except ValueError:
            continue
        value = bare * _SCALE.get((match.group(1) or "").lower(), 1)
        found.append((value, bare, match.group().strip(" ,.")))
    return found


def _values(text: str) -> set[float]:
    """The values of the numbers a text states, in digits (also without their scale word) or
    in words."""
    return {v for value, bare, _ in _numbers(text) for v in (value, bare)} | {
        float(_NUMBER_WORDS[w]) for w in _tokens(text) if w in _NUMBER_WORDS
    }


def unsupported_number(answer: str, support: str) -> str | None:
    """A number the answer states that its sources do not hold, in digits or in words: the
    small model fills in what the document never says ("Mahmoud Abbas is 73 years old.").
    A number matches by its value or by its digits alone, so "$1.5bn" is held by "$1.5
    billion"."""
    held = _values(support)
    return next(
        (n for value, bare, n in _numbers(answer) if value not in held and bare not in held),
        None,
    )


# "How many …?", "How old …?", "What is the population …?": the number is the answer.
_ASKS_QUANTITY = re.compile(
    r"\bhow\s+(?:many|much|old|long|far|big|large|small|often|tall|high|deep|fast)\b|"
    r"\b(?:when|year|date|age|population|cost|price|size|number|amount|percentage|share|rate|"
    r"total|distance|score|salary|pay|figure|budget|sum)\b",
    re.I,
)


def asks_for_quantity(question: str) -> bool:
    return bool(_ASKS_QUANTITY.search(question))


_ASKS_UNIT = re.compile(r"\bhow\s+(?:many|much)\s+([a-z]+)", re.I)
# A number and the word after it, at every word: "three conditions", "2000 kilometres",
# "4 million euros".
_COUNTED = re.compile(
    r"\b(?=(\d[\d,]*(?:\.\d+)?(?:\s+(?:thousand|million|billion|trillion))?|[a-z]+)"
    r"[\s-]+([a-z]+))",
    re.I,
)


def _unit(word: str) -> str:
    """A unit as either side of the Atlantic spells it, in the singular: "kilometres" and
    "kilometers" are both "kilometer"."""
    word = re.sub(r"(?<=\w{3})s$", "", word.lower())
    return re.sub(r"(?<=[^aeiou])re$", "er", word)


def states_asked_quantity(question: str, answer: str, source: str, coverage: float) -> bool:
    """The source states one of the answer's numbers in the unit the question counts, and holds
    `coverage` of the question's other words: "By how many kilometers …?" answered "2000",
    from "a route of at most 2000 kilometres passing through all of Germany's 15 largest
    cities"."""
    asked = _ASKS_UNIT.search(question)
    if not asked:
        return False
    others = content_words(question[: asked.start()] + question[asked.end() :])
    if len(others & content_words(source)) < coverage * len(others):
        return False
    unit = _unit(asked.group(1))
    values = _values(answer)
    return any(
        _values(match.group(1)) & values and _unit(match.group(2)) == unit
        for match in _COUNTED.finditer(source)
    )


def without_unsupported_numbers(answer: str, support: str) -> str | None:
    """An answer of several sentences without those stating a number its sources lack ("The
    input must remain constant … This is because … the second integer is 1."); None when no
    sentence, or every one, would go."""
    parts = _answer_sentences(answer)
    kept = [part for part in parts if not unsupported_number(part, support)]
    return " ".join(kept) if kept and len(kept) < len(parts) else None


_ASKS_WHEN = re.compile(r"\W*(?:when|(?:in |on |at )?what (?:year|date|day|month|time))\b", re.I)
# What an answer to "when" holds: a number, a named day or month, or a word for a time.
_TIME = re.compile(
    r"\d|\b(?:january|february|march|april|may|june|july|august|september|october|november|"
    r"december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|years?|months?|weeks?|"
    r"days?|dates?|hours?|minutes?|ago|yesterday|today|tonight|tomorrow|morning|afternoon|"
    r"evening|night|times?|during|after|before|since|until|till|when|while|centur(?:y|ies)|"
    r"decades?|recent(?:ly)?|later|earlier|soon|now|then|once|spring|summer|autumn|fall|"
    r"winter|season|era|period|age|first|last|next|previous|early|late|mid|beginning|end)\b",
    re.I,
)

# Endings of English adjectives: "mathematical", "infinite", "limited", "formal", "possible".
_ADJECTIVE = re.compile(r"(?:ic|al|ed|ite|ous|ive|ful|less|able|ible|ary|ent|ant)$")


def _qualifier(word: str) -> bool:
    return word not in _STOPWORDS and len(word) > 2 and bool(_ADJECTIVE.search(word))


def swapped_qualifier(question: str, support: str) -> tuple[str, str] | None:
    """A thing the question qualifies one way and the sources another: "a limited collection of
    instances" asked, "an infinite collection of instances" found. The sources then state a
    nearby fact, not the answer. Returns the two phrases, or None.

    Only an adjective-like word the sources never use, before a word they do use, counts; and
    only against a different adjective-like word there ("solved" and "solvable" are one word).
    """
    asked_words, found_words = _tokens(question), _tokens(support)
    asked_stems = {_stem(w) for w in asked_words}
    found_stems = {_stem(w) for w in found_words}
    for qualifier, head in itertools.pairwise(asked_words):
        if not _qualifier(qualifier) or _stem(qualifier) in found_stems:
            continue
        if head in _STOPWORDS or len(head) <= 2 or _stem(head) not in found_stems:
            continue
        for other, found_head in itertools.pairwise(found_words):
            if (
                _stem(found_head) == _stem(head)
                and _qualifier(other)
                and _stem(other) not in asked_stems
                and other[:4] != qualifier[:4]
            ):
                return f"{qualifier} {head}", f"{other} {found_head}"
    return None


LOOP_REPEATS = 3  # a clause said three times is a model caught in a loop, not an answer


def repeats_itself(text: str) -> bool:
    """The reply says one clause of three or more words again and again: a small model that
    looped until its token limit ("[NATO offers peacekeeping ...] [Israel and ...]" x 10)."""
    clauses = [
        " ".join(_tokens(part))
        for part in re.split(r"[\n.;:!?()\[\]]+", text)
        if len(part.split()) >= 3
    ]
    counts = Counter(clauses)
    return bool(counts) and counts.most_common(1)[0][1] >= LOOP_REPEATS


def _names_alone(text: str) -> set[str]:
    """Capitalized words that stand alone, not inside a run of them: "Bruce" in "Bruce said",
    not "Athletic" in "Wigan Athletic" (which another run, "Dunfermline Athletic", may share)."""
    inside = {m.span() for m in _NAME_RUN.finditer(text)}
    return {
        m.group().lower()
        for m in _NAME.finditer(text)
        if not any(start <= m.start() < end for start, end in inside)
    }


_NEGATION = re.compile(r"^(?:not|no|never|neither|nor|none|nothing|without|cannot|\w+n't)$")
NEGATION_REACH = 4  # words after a negation that it governs ("would not say if Israel ...")


def drops_negation(answer: str, source: str) -> bool:
    """The source denies what the answer asserts: small models often drop the "not"
    ("would not say if Israel would accept" becomes "said Israel would accept").

    Only a negation governing words the answer repeats counts; a "not" elsewhere in the
    sentence (inside an unrelated quotation, say) does not.
    """
    if any(_NEGATION.match(t) for t in _tokens(answer)):
        return False
    repeated = content_words(answer)
    tokens = _tokens(source)
    for i, token in enumerate(tokens):
        if _NEGATION.match(token):
            governed = " ".join(tokens[i + 1 : i + 1 + NEGATION_REACH])
            if content_words(governed) & repeated:
                return True
    return False


_WITHHELD = re.compile(
    r"\b(?:declined|refused)\s+to\s+(?:say|comment\s+on|disclose|reveal|name|identify|specify|"
    r"confirm|discuss|tell)\b|\b(?:would|did|could|will)\s*(?:not|n't)\s+(?:say|disclose|reveal|"
    r"name|identify|specify|confirm|discuss|tell)\b",
    re.I,
)


def withholds_answer(question: str, sentence: str) -> bool:
    """The sentence says someone would not tell what the question asks: "An agency spokeswoman
    declined to say which towns were being considered" for "Which towns are being considered?".
    It must hold at least half of the question's content words, and one of them must be more
    than a name: "The spokesman would not say if Israel would accept …" withholds nothing about
    "What is the population of Israel?"."""
    if not tells_it_was_withheld(sentence):
        return False
    asked = content_words(question)
    shared = asked & content_words(sentence)
    return bool(asked) and len(shared) >= len(asked) / 2 and bool(shared - _names(question))


_YES_NO_LEAD = re.compile(r"^\W*(?:yes|no)\b[\s,.;:!-]*", re.I)


def without_yes_no_lead(answer: str) -> str:
    """The answer without a leading "Yes," or "No," when the rest says the thing was not told:
    "Yes, his spokesman would not say if Israel would accept" contradicts itself."""
    lead = _YES_NO_LEAD.match(answer)
    rest = answer[lead.end() :] if lead else ""
    if not rest or not tells_it_was_withheld(rest):
        return answer
    return rest[0].upper() + rest[1:]


def tells_it_was_withheld(answer: str) -> bool:
    """The answer itself says the thing was not told ("She would not discuss figures.")."""
    return bool(_WITHHELD.search(answer.replace("’", "'")))
