"""The pipeline: retrieve, prompt, generate, attribute; the one core that CLI, UI and API share."""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable, Collection, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache

from bot.attribute import (
    Reply,
    Source,
    asks_for_quantity,
    attribute,
    content_words,
    could_be_refusal,
    describes_again,
    document_names,
    drops_negation,
    grounding_problem,
    mentions,
    name_aliases,
    names_in,
    parse_reply,
    quote_citations,
    refers_back,
    states_asked_quantity,
    tells_it_was_withheld,
    unmentioned_name,
    unsupported_number,
    withholds_answer,
    without_unsupported_numbers,
    without_yes_no_lead,
)
from bot.documents import Document
from bot.errors import BotError
from bot.followup import echoes_resolution, repeats_earlier_answer, resolve
from bot.index import Index
from bot.prompt import (
    Passage,
    Turn,
    build_messages,
    focus_question,
    load_template,
    number_passages,
)
from bot.retrieve import Hit, Retriever
from bot.settings import Settings

FOCUSED_CHUNKS = 3  # a refusal gets a second look at the best sentences of the top chunks
FOCUSED_SENTENCES = 3
CHARS_PER_TOKEN = 4  # rough English average; decides whether a document fits the prompt whole
STRONG_COVERAGE = 0.5  # without a judge: share of the question's words in one focused sentence
# A sentence holding this share of the question's words, and judged to state its answer, is
# quoted when the model still refuses on the second look ("Is NATO involved in ...?" refused,
# though "NATO was neither involved in ..." says so).
QUOTE_COVERAGE = 0.75
# The judge (LLM.judge) gives the model's yes/no logit margin for "does sentence [n] state the
# answer to exactly this question", asked after the answering prompt. Its two thresholds are
# measured per model (bot/models.py): a refused question whose best focused sentence scores
# above the first is asked again without the refusal option; an answer whose every source
# scores below the second is withdrawn. A model without measured thresholds is not judged.


def _drain(generation: Generator[str, None, Reply]) -> Reply:
    """Run a generation to its end without showing it; return its reply."""
    while True:
        try:
            next(generation)
        except StopIteration as done:
            return done.value


def question_coverage(question: str, passages: Sequence[Passage]) -> float:
    """The largest share of the question's content words that one passage contains."""
    asked = content_words(question)
    if not asked:
        return 0.0
    return max(
        (len(asked & content_words(p.sentence.text)) / len(asked) for p in passages), default=0.0
    )


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@cache
def _aliases(text: str) -> dict[str, set[str]]:
    return name_aliases(text)


@cache
def _document_names(text: str) -> frozenset[str]:
    return frozenset(document_names(text))


@dataclass
class Answer:
    question: str
    text: str
    answerable: bool
    sources: list[Source]
    latency_s: float = 0.0
    ttft_s: float | None = None
    note: str = ""  # why an answer was withdrawn; reported with the results

    def to_result(self, conv_id: str | None = None, turn: int | None = None) -> dict:
        """One results line as in EVAL.md."""
        result = {
            "question": self.question,
            "answer": self.text,
            "answerable": self.answerable,
            "sources": [s.to_dict() for s in self.sources],
            "latency_s": round(self.latency_s, 3),
            "ttft_s": None if self.ttft_s is None else round(self.ttft_s, 3),
        }
        if self.note:
            result["note"] = self.note
        if conv_id is not None:
            result = {"id": conv_id, "turn": turn, **result}
        return result


def clean_question(question: str, max_chars: int) -> str:
    if not isinstance(question, str):
        raise BotError("the question must be text")
    question = " ".join(_CONTROL.sub(" ", question).split())
    if not question:
        raise BotError("the question is empty")
    if len(question) > max_chars:
        raise BotError(
            f"the question is too long ({len(question)} characters; the limit is {max_chars})"
        )
    return question


class DisplayFilter:
    """Turns the raw token stream into what the user sees: no citation marks, no refusal marker."""

    def __init__(self) -> None:
        self.raw = ""
        self.shown = ""

    def feed(self, piece: str) -> str:
        self.raw += piece
        visible = self.raw
        if could_be_refusal(visible):
            return ""  # hold it back: the user sees the plain refusal sentence instead
        open_bracket = visible.rfind("[")
        if open_bracket > visible.rfind("]"):
            visible = visible[:open_bracket]
        visible = re.sub(r"\s*\[[\d,;\s]*\]", "", visible).rstrip()
        if not visible.startswith(self.shown):
            return ""
        delta, self.shown = visible[len(self.shown) :], visible
        return delta


@dataclass
class Bot:
    index: Index
    llm: object
    embedder: object
    settings: Settings
    retriever: Retriever = field(init=False)

    def __post_init__(self) -> None:
        self.retriever = Retriever(self.index, self.embedder)

    def add_documents(self, documents: Sequence[Document], progress: bool = True) -> list[str]:
        """Answer from these documents too, from now on; return the ids they were given.

        Questions already under way finish on the index they started with.
        """
        from bot.index import with_documents

        before = set(self.index.documents)
        index = with_documents(self.index, documents, self.embedder, self.settings, progress)
        self.index, self.retriever = index, Retriever(index, self.embedder)
        return [doc_id for doc_id in index.documents if doc_id not in before]

    # -- retrieval and context ------------------------------------------------------------
    def _queries(self, question: str, history: Sequence[Turn]) -> list[str]:
        """The question, and for a follow-up the question read together with the previous one."""
        queries = [question]
        if history:
            queries.append(f"{history[-1].question} {question}")
        return queries

    def _passages_from_hits(self, hits: Sequence[Hit]) -> list[Passage]:
        order = {doc_id: n for n, doc_id in enumerate(self.index.documents)}
        refs = sorted(
            {(h.chunk.doc_id, sid) for h in hits for sid in h.chunk.sentence_ids},
            key=lambda ref: (order[ref[0]], ref[1]),
        )
        return number_passages([(d, self.index.sentence(d, s)) for d, s in refs])

    def fits_whole(self, doc_id: str | None) -> str | None:
        """The one document that fits the prompt whole, if the question is about such a one."""
        docs = [doc_id] if doc_id else list(self.index.documents)
        if len(docs) != 1:
            return None
        text = self.index.documents[docs[0]].document.text
        return docs[0] if len(text) / CHARS_PER_TOKEN <= self.settings.context_tokens else None

    def passages(self, hits: Callable[[], list[Hit]], doc_id: str | None) -> list[Passage]:
        """What the model reads: the whole document in order when it fits, else the top chunks.

        A whole document never changes between questions, so it sits first in the prompt and
        llama.cpp reuses its cached state: the answer starts at once, with no retrieval at all.
        """
        whole = self.fits_whole(doc_id)
        if whole is not None:
            return number_passages([(whole, s) for s in self.index.documents[whole].sentences])
        return self._passages_from_hits(hits()[: self.settings.top_k])

    def focused(
        self, query: str, hits: list[Hit], passages: list[Passage], whole: bool = False
    ) -> list[Passage]:
        """The few sentences of the top chunks closest to the question, in document order.

        Over a whole document every sentence of the best chunk is one of them too: a short
        sentence that reads on from the one before ("No homes were flooded.") is far from the
        question on its own, though retrieval ranked its chunk first. (Over retrieved passages
        the choice stays as measured on the long document.)
        """
        wanted = {
            (h.chunk.doc_id, sid) for h in hits[:FOCUSED_CHUNKS] for sid in h.chunk.sentence_ids
        }
        candidates = [p for p in passages if (p.doc_id, p.sentence.id) in wanted]
        first: set[tuple[str, int]] = set()
        if whole and hits:
            first = {(hits[0].chunk.doc_id, sid) for sid in hits[0].chunk.sentence_ids}
        return self._closest(query, candidates, first)

    def naming(self, name: str, query: str, passages: list[Passage]) -> list[Passage]:
        """The sentences closest to the question among those that mention `name`, a name the
        question asks about and the answer's sources lack, with the ones reading on from them."""
        wanted = set()
        for n, p in enumerate(passages):
            if mentions(name, p.sentence.text):
                wanted.add(n)
                if n + 1 < len(passages) and self._reads_on(passages[n], passages[n + 1]):
                    wanted.add(n + 1)
        return self._closest(query, [passages[n] for n in sorted(wanted)])

    @staticmethod
    def _reads_on(passage: Passage, following: Passage) -> bool:
        return (
            following.doc_id == passage.doc_id
            and following.sentence.id == passage.sentence.id + 1
            and describes_again(following.sentence.text, passage.sentence.text)
        )

    def _closest(
        self, query: str, candidates: list[Passage], keep: Collection[tuple[str, int]] = ()
    ) -> list[Passage]:
        """The candidates closest to the query, with the sentences reading on from them and
        those in `keep`, in document order."""
        if len(candidates) <= FOCUSED_SENTENCES:
            return candidates
        vectors = self.embedder.encode([query] + [p.sentence.text for p in candidates])
        similarity = vectors[1:] @ vectors[0]
        best = set(sorted(range(len(candidates)), key=lambda i: -similarity[i])[:FOCUSED_SENTENCES])
        # A sentence that reads on from a chosen one ("There is a US$1,000,000 prize for
        # resolving the problem." after the P versus NP sentence) holds its half of the answer.
        best |= {
            i + 1
            for i in best
            if i + 1 < len(candidates) and self._reads_on(candidates[i], candidates[i + 1])
        }
        best |= {i for i, p in enumerate(candidates) if (p.doc_id, p.sentence.id) in keep}
        return [candidates[i] for i in sorted(best)]

    # -- answering ------------------------------------------------------------------------
    def _generate(
        self,
        passages: list[Passage],
        question: str,
        history: Sequence[Turn],
        focused: Sequence[Passage] = (),
        strong: bool = True,
    ) -> Generator[str, None, Reply]:
        """Yield what the user sees of the reply as it is generated; return the parsed reply."""
        if focused:
            # Same system prompt, so the cached prefix still serves; only the question grows.
            # When the answer is surely in these sentences, a small model's reflexive refusal
            # is not offered as a way out.
            name = "focused_strong" if strong else "focused"
            template = load_template(self.settings.prompts_dir, name)
            question = focus_question(template, focused, question)
        messages = self._messages(passages, question, history)
        shown = DisplayFilter()
        for piece in self.llm.stream(messages, max_tokens=self.settings.max_tokens):
            delta = shown.feed(piece)
            if delta:
                yield delta
        quoted = quote_citations(shown.raw, passages, self.settings.max_sources)
        if quoted is not None:
            yield quoted.text
            return quoted
        return parse_reply(shown.raw)

    def _messages(
        self, passages: list[Passage], question: str, history: Sequence[Turn] = ()
    ) -> list[dict[str, str]]:
        titles = {d: self.index.documents[d].document.title for d in {p.doc_id for p in passages}}
        system = load_template(self.settings.prompts_dir, "system")
        return build_messages(system, passages, question, history, titles)

    @property
    def judge_thresholds(self) -> tuple[float, ...] | None:
        """(supported, doubted[, doubted over retrieved passages]) when the model can judge and
        its thresholds were measured."""
        if not hasattr(self.llm, "judge"):
            return None
        return getattr(self.llm, "judge_thresholds", None)

    def doubted(self, passages: list[Passage], doc_id: str | None) -> float:
        """The margin below which an answer's sources are judged not to answer it. A whole
        document in the prompt and a few retrieved passages give margins of their own: with the
        whole document the judge says yes more readily, also to the right answers' sources."""
        thresholds = self.judge_thresholds
        if len(thresholds) > 2 and self.fits_whole(doc_id) is None:
            return thresholds[2]
        return thresholds[1]

    def judge(
        self, question: str, passages: list[Passage], candidates: Sequence[Passage]
    ) -> list[float] | None:
        """The model's yes/no margin, per candidate, that it states the answer to the question.

        Asked after the same system prompt as the answer, so llama.cpp reads only the short
        question each time. None when the model cannot judge (no logits to read).
        """
        if self.judge_thresholds is None:
            return None
        template = load_template(self.settings.prompts_dir, "verify")
        margins = []
        for p in candidates:
            ask = (
                template.replace("{label}", str(p.label))
                .replace("{sentence}", " ".join(p.sentence.text.split()))
                .replace("{question}", question)
            )
            margins.append(self.llm.judge(self._messages(passages, ask)))
        return margins

    def aliases(self, doc_id: str) -> dict[str, set[str]]:
        return _aliases(self.index.documents[doc_id].document.text)

    @staticmethod
    def _as_passages(sources: Sequence[Source], passages: Sequence[Passage]) -> list[Passage]:
        wanted = {(s.doc_id, s.sentence_id) for s in sources}
        return [p for p in passages if (p.doc_id, p.sentence.id) in wanted]

    def _antecedent(self, source: Source) -> Source | None:
        """The sentence before a source that names the source's subject ("he", "the spokesman")."""
        if source.sentence_id == 0:
            return None
        previous = self.index.sentence(source.doc_id, source.sentence_id - 1)
        if not refers_back(source.text, previous.text):
            return None
        return Source(
            source.doc_id, previous.id, previous.text, previous.start, previous.end, source.score
        )

    def _support(self, sources: list[Source]) -> str:
        texts = []
        for source in sources:
            texts.append(source.text)
            antecedent = self._antecedent(source)
            if antecedent is not None:
                texts.append(antecedent.text)
        return " ".join(texts)

    def _quote(self, source: Source, asked: str = "") -> tuple[Reply, list[Source]]:
        """The source itself as the answer, with the sentence before it when that one says who
        "he" or "the spokesman" is: a quoted sentence must make sense on its own. Not when the
        source names everyone the question `asked` names: the question says who it is about."""
        antecedent = self._antecedent(source)
        known = _document_names(self.index.documents[source.doc_id].document.text)
        named = names_in(source.text, known)
        if (
            antecedent is None
            or not names_in(antecedent.text, known) - named
            or (asked and names_in(asked, known) <= named)
        ):
            quoted = [source]  # nothing before it, or nobody named there that it leaves out
        else:
            quoted = [antecedent, source]
        text = " ".join(" ".join(q.text.split()) for q in quoted)
        return Reply(text, [], False), quoted

    def _names_of(self, sources: Sequence[Source]) -> tuple[dict[str, set[str]], set[str]]:
        """The aliases and the names of the sources' documents."""
        aliases = {k: v for s in sources for k, v in self.aliases(s.doc_id).items()}
        known = set().union(
            *(
                _document_names(self.index.documents[d].document.text)
                for d in {s.doc_id for s in sources}
            )
        )
        return aliases, known

    def _grounding(self, asked: str, reply: Reply, sources: list[Source]) -> str | None:
        """Why the reply is not grounded in these sources (grounding_problem), or None."""
        aliases, known = self._names_of(sources)
        return grounding_problem(asked, reply, self._support(sources), aliases, known)

    def _unanswered_name(self, asked: str, sources: list[Source]) -> str | None:
        """A name the question asks about that the answer's sources never mention."""
        aliases, known = self._names_of(sources)
        return unmentioned_name(asked, self._support(sources), aliases, known)

    def _quote_problem(self, asked: str, passage: Passage) -> str | None:
        """Why the sentence, quoted as the answer, would not be grounded, or None."""
        return self._grounding(
            asked, Reply(passage.sentence.text, [], False), [Source.of(passage, 1.0)]
        )

    def _closer(
        self, question: str, passages: list[Passage], sources: list[Source], judged: float
    ) -> Passage | None:
        """A passage that holds most of the question's words, more of them than the answer's
        sources, and that the judge rates above them: the model answered from a neighbour.

        The 1.5B answered "To what level would the hierarchy collapse if graph isomorphism is
        NP-complete?" from the sentence about another problem, and "What did Rasmussen say about
        NATO's role in providing security …?" from the next sentence of the same quotation.
        """
        cited = {(s.doc_id, s.sentence_id) for s in sources}
        own = question_coverage(question, self._as_passages(sources, passages))
        best = max(
            (p for p in passages if (p.doc_id, p.sentence.id) not in cited),
            key=lambda p: question_coverage(question, [p]),
            default=None,
        )
        if best is None:
            return None
        coverage = question_coverage(question, [best])
        if coverage < QUOTE_COVERAGE or coverage <= own:
            return None
        [margin] = self.judge(question, passages, [best]) or [float("-inf")]
        if margin <= max(judged, self.judge_thresholds[0]):
            return None
        return best if self._quote_problem(question, best) is None else None

    def _quote_closer(self, closer: Passage, question: str) -> tuple[Reply, list[Source], str]:
        """The sentence in the question's words, quoted in place of the answer (see `_closer`)."""
        reply, sources = self._quote(Source.of(closer, 1.0), question)
        return reply, sources, "another passage states the question in its words; quoting it"

    def _number_support(self, sources: Sequence[Source], question: str) -> str:
        """What may hold the answer's numbers: the sources, and when the number is what the
        question asks for, only those that speak of the question: "52" in "Buses stop by it
        every 52 minutes" is not the mayor's age."""
        if asks_for_quantity(question):
            asked = content_words(question)
            sources = [s for s in sources if asked & content_words(self._support([s]))]
        return self._support(list(sources))

    def _with_number_source(
        self, reply: Reply, question: str, passages: list[Passage], sources: list[Source]
    ) -> list[Source]:
        """The sources, with a passage that holds the answer's numbers when they do not.

        Attribution goes by words, and a number is one short word: "The output will be yes or
        no, or 1 or 0, depending on whether the input string is a member ..." was attributed to
        the sentence about input strings, not to the one that says "either 1 or 0"."""
        support = self._number_support(sources, question)
        if not unsupported_number(reply.text, support):
            return sources
        cited = {(s.doc_id, s.sentence_id) for s in sources}
        # Beyond its numbers, the sentence itself must speak of the question or of the answer
        # (two of their words): "1051" in "He invited Eustace … to his court in 1051, … the
        # exile of Earl Godwin" is no date for Ralph's earldom, though "He" is the one who made
        # Ralph earl.
        spoken = {w for w in content_words(f"{question} {reply.text}") if not w.isdigit()}
        holding = []
        for p in passages:
            shared = spoken & content_words(p.sentence.text)
            if (p.doc_id, p.sentence.id) in cited or len(shared) < 2:
                continue
            candidate = Source.of(p, 1.0)
            extra = self._number_support([candidate], question)
            if extra and not unsupported_number(reply.text, f"{support} {extra}"):
                holding.append(candidate)
        if not holding:
            return sources
        answer_words = content_words(reply.text)
        best = max(holding, key=lambda s: len(answer_words & content_words(s.text)))
        return [*sources[: self.settings.max_sources - 1], best]

    def _check(
        self, asked: str, reply: Reply, question: str, passages: list[Passage]
    ) -> tuple[list[Source], str]:
        """The reply's sources, and why it must be withdrawn ("" when it stands)."""
        sources = attribute(reply, question, passages, self.settings.max_sources)
        note = self._grounding(asked, reply, sources)
        if not note and echoes_resolution(reply.text):
            note = "the reply repeats the question instead of answering it"
        return sources, note or ""

    def stream(
        self, question: str, history: Sequence[Turn] = (), doc_id: str | None = None
    ) -> Iterator[str | Answer]:
        """Yield the answer's text as it is generated, then the finished Answer."""
        started = time.perf_counter()
        asked = clean_question(question, self.settings.max_question_chars)
        if doc_id is not None and doc_id not in self.index.documents:
            raise BotError(f"no document {doc_id!r} in the index")
        history = list(history)
        question = resolve(asked, history)
        queries = self._queries(question, history)
        found: list[list[Hit]] = []

        def hits() -> list[Hit]:  # retrieval runs once, and only if something needs it
            if not found:
                k = max(self.settings.top_k, FOCUSED_CHUNKS)
                found.append(self.retriever.search(queries, k, doc_id))
            return found[0]

        passages = self.passages(hits, doc_id)
        first_token: float | None = None
        reply, sources, note = Reply("", [], True), [], ""
        focus: list[Passage] = []
        covering: list[Passage] = []  # judged to answer, with most of the question's words
        strong = True
        ranked: list[tuple[float, Passage]] = []
        named: str | None = None  # a name of the question the first answer's sources lack
        for attempt in range(3):
            generation = self._generate(passages, question, history, focus, strong)
            while True:
                try:
                    delta = next(generation)
                except StopIteration as done:
                    reply = done.value
                    break
                if first_token is None:
                    first_token = time.perf_counter() - started
                yield delta
            if not reply.refused and repeats_earlier_answer(reply.text, asked, history):
                # The model copied its answer to another question. Asked again without the
                # conversation: the resolved question still says who "he" is. The copy stays
                # when the new reply does not hold: to a fragment ("With respect for what?")
                # the earlier answer may be the right one. What was shown is replaced by the
                # final answer, as after any check.
                retry = _drain(self._generate(passages, question, (), focus, strong))
                if not retry.refused and not self._check(asked, retry, question, passages)[1]:
                    reply = retry
            if not reply.refused:
                sources, note = self._check(asked, reply, question, passages)
                number, number_support = None, ""
                if not note:
                    sources = self._with_number_source(reply, question, passages, sources)
                    number_support = self._number_support(sources, question)
                    number = unsupported_number(reply.text, number_support)
                # A first answer to a question that is no follow-up, withdrawn: with a judge,
                # the bot may look again elsewhere.
                look_again = bool(
                    note and not attempt and asked == question and self.judge_thresholds
                )
                closer = None
                if look_again:
                    # Withdrawn, but a sentence holds the question in its own words: "What did
                    # Rasmussen say about NATO's role …?" answered from the next sentence of
                    # the same quotation, which never speaks of that role.
                    closer = self._closer(question, passages, [], float("-inf"))
                if closer is not None:
                    reply, sources, note = self._quote_closer(closer, question)
                elif note:
                    if look_again:
                        # "What is the name for a problem that meets Ladner's assertion?"
                        # answered from the P versus NP sentence: the answer, if anywhere, is
                        # where the document names Ladner. Looked at there, as a refusal is.
                        named = self._unanswered_name(asked, sources)
                    reply, sources = Reply(reply.text, [], True), []
                elif number and asks_for_quantity(question):
                    # "How old is he?" -> "Mahmoud Abbas is 73 years old.": the number asked
                    # for is nowhere in the sources; the small model made it up.
                    reply, sources = Reply(reply.text, [], True), []
                    note = f"the answer gives the number {number!r}, which its sources do not"
                elif drops_negation(reply.text, sources[0].text):
                    # The answer states the opposite of its source; the source itself is true.
                    reply, sources = self._quote(sources[0])
                    note = "the answer dropped a negation; quoting its source instead"
                elif (
                    withholding := [s for s in sources if withholds_answer(question, s.text)]
                ) and not tells_it_was_withheld(reply.text):
                    # "Yes, they will raise the offer" cited to "she would not discuss whether
                    # they would raise it": the source says the answer was not given.
                    reply, sources = self._quote(withholding[0])
                    note = "the source says the answer was withheld; quoting it instead"
                elif not attempt:
                    # The judge reads the sources of the answer as a whole, as it was measured:
                    # each further source it reads is one more chance of a yes (docs/QUALITY.md).
                    judged = attribute(
                        reply, question, passages, self.settings.max_sources, by_part=False
                    )
                    margins = self.judge(question, passages, self._as_passages(judged, passages))
                    # The judge doubted "2000" for "By how many kilometers …?", cited to "a
                    # route of at most 2000 kilometres …": a count in the unit asked, in a
                    # sentence holding most of the question, is as plain as an answer gets.
                    if (
                        margins is not None
                        and max(margins) < self.doubted(passages, doc_id)
                        and not any(
                            states_asked_quantity(question, reply.text, s.text, QUOTE_COVERAGE)
                            for s in judged
                        )
                    ):
                        reply, sources = Reply(reply.text, [], True), []
                        note = "the model judged that none of its sources answers the question"
                    elif margins is not None and asked == question:
                        closer = self._closer(question, passages, judged, max(margins))
                        if closer is not None:
                            reply, sources, note = self._quote_closer(closer, question)
                if number and not note:
                    # "Where was Ralph earl of?" -> "… appointed … in 1051": the answer holds,
                    # the added date does not. Its other sentences, or else its source, stand.
                    kept = without_unsupported_numbers(reply.text, number_support)
                    if kept:
                        reply = Reply(kept, reply.cited, False)
                        sources = attribute(reply, question, passages, self.settings.max_sources)
                        note = f"the answer's sentence with {number!r}, not in its sources, was cut"
                    else:
                        reply, sources = self._quote(sources[0])
                        note = f"the answer added {number!r}, which its sources lack; quoting one"
                if not named:
                    break
            if (note and not named) or attempt == 2:
                break
            if attempt == 1:
                # Refused again though shown several sentences judged to answer: one last look
                # at the best-judged one alone, unless a quotation below answers already.
                best = [p for m, p in ranked if m > self.judge_thresholds[0]][:1]
                if (
                    len(focus) < 2
                    or not best
                    or covering
                    or any(withholds_answer(question, p.sentence.text) for p in focus)
                ):
                    break
                focus = best
                continue
            # A refusal gets one more look at the sentences retrieval ranks highest: those the
            # model itself judges to state the answer or, with no judge, all of them.
            whole = self.fits_whole(doc_id) is not None
            if named:
                candidates, named = self.naming(named, question, passages), None
            else:
                candidates = self.focused(question, hits(), passages, whole)
            margins = self.judge(question, passages, candidates)
            if margins is None:
                focus = candidates
                strong = question_coverage(question, candidates) > STRONG_COVERAGE
            else:
                # A sentence saying someone would not tell what the question asks ("declined to
                # say which towns ...") answers it, though the judge, asked whether it states
                # the answer, says no.
                supported = self.judge_thresholds[0]
                focus = [
                    p
                    for p, m in zip(candidates, margins, strict=True)
                    if m > supported or withholds_answer(question, p.sentence.text)
                ]
                ranked = sorted(zip(margins, candidates, strict=True), key=lambda mp: -mp[0])
                covering = [
                    p
                    for m, p in ranked
                    if m > supported
                    and question_coverage(question, [p]) >= QUOTE_COVERAGE
                    and self._quote_problem(asked, p) is None
                ]
            if not focus:
                break
        withheld = [p for p in focus if withholds_answer(question, p.sentence.text)]
        if reply.refused and not note and (withheld or covering):
            # Still refused on the second look, though a sentence says someone would not tell
            # what is asked, or is judged to answer it in the question's own words: that
            # sentence is the answer, quoted.
            reply, sources = self._quote(Source.of((withheld or covering)[0], 1.0))
            note = (
                "the model refused; quoting the sentence saying the answer was not given"
                if withheld
                else "the model refused; quoting the sentence judged to answer in its words"
            )
            if first_token is None:
                first_token = time.perf_counter() - started
            yield reply.text
        if reply.refused:
            text = load_template(self.settings.prompts_dir, "refusal")
            if first_token is None:
                first_token = time.perf_counter() - started
                yield text
            answer = Answer(asked, text, False, [], note=note)
        else:
            answer = Answer(asked, without_yes_no_lead(reply.text), True, sources, note=note)
        answer.latency_s = time.perf_counter() - started
        answer.ttft_s = first_token if first_token is not None else answer.latency_s
        yield answer

    def warm_up(self) -> None:
        """Have the fixed prompt prefix (instructions and the whole document) evaluated before
        the first question, so that llama.cpp's prefix cache makes that question fast too.

        The evaluated state is saved under BOT_HOME, keyed by model, prompt and document, so a
        later start restores it in a fraction of a second instead of reading the article again.
        """
        if self.fits_whole(None) is None:
            return  # a long document's prompt changes with every question: nothing to reuse
        passages = self.passages(list, None)
        messages = build_messages(
            load_template(self.settings.prompts_dir, "system"), passages, "Hello", ()
        )
        saved = None
        if hasattr(self.llm, "save_state"):
            key = hashlib.sha256(f"{self.llm.fingerprint}\n{messages[0]['content']}".encode())
            saved = self.settings.home / "prefix" / f"{key.hexdigest()[:32]}.npz"
            if self.llm.load_state(saved):
                return
        for _ in self.llm.stream(messages, max_tokens=1):
            pass
        if saved is not None:
            # A full disk only costs the next start its head start.
            with contextlib.suppress(OSError):
                self.llm.save_state(saved)

    def ask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        doc_id: str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        for event in self.stream(question, history, doc_id):
            if isinstance(event, Answer):
                return event
            if on_token:
                on_token(event)
        raise AssertionError("stream ended without an answer")


@dataclass
class Conversation:
    """A chat session: each question is read in the light of the turns before it."""

    bot: Bot
    doc_id: str | None = None
    turns: list[Turn] = field(default_factory=list)

    def stream(self, question: str) -> Iterator[str | Answer]:
        for event in self.bot.stream(question, self.turns, self.doc_id):
            if isinstance(event, Answer):
                self.turns.append(Turn(event.question, event.text))
            yield event

    def ask(self, question: str, on_token: Callable[[str], None] | None = None) -> Answer:
        answer = self.bot.ask(question, self.turns, self.doc_id, on_token)
        self.turns.append(Turn(answer.question, answer.text))
        return answer


def open_bot(
    settings: Settings,
    documents=None,
    llm=None,
    embedder=None,
    log: Callable[[str], None] | None = None,
) -> Bot:
    """Load (or build) the index of the documents, the embedder and the chat model.

    By default the documents are the collection of --docs (its index updated for what changed
    in its folders), or else the one document of --doc.
    """
    from bot.documents import resolve_documents
    from bot.embed import embedder_for
    from bot.index import open_index, sources_directory
    from bot.llm import load_llm

    directory = None
    if documents is None:
        documents = resolve_documents(settings)
        directory = sources_directory(settings, documents)
    embedder = embedder or embedder_for(settings)
    index = open_index(documents, embedder, settings, directory=directory, log=log)
    return Bot(index, llm or load_llm(settings), embedder, settings)
