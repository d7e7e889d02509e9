"""Present stage (browser): a Gradio chat with each answer's sources highlighted in the article."""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterator, Sequence
from pathlib import Path

from bot.answer import Answer, Bot
from bot.attribute import Source
from bot.documents import SUFFIXES
from bot.errors import BotError
from bot.prompt import Turn

CSS = """
#article { max-height: 72vh; overflow-y: auto; line-height: 1.6; padding: 0 .5rem; }
#article p { margin: 0 0 .8rem 0; }
#article mark { background: #fde68a; color: inherit; border-radius: 3px; padding: 0 2px; }
#article mark.first { background: #fbbf24; }
.bot-sources { margin-top: .5rem; font-size: .9em; border-top: 1px solid #e5e7eb;
               padding-top: .4rem; }
.bot-sources .source { display: block; cursor: pointer; color: #1d4ed8; margin: .2rem 0; }
.bot-refusal { font-style: italic; color: #6b7280; border-left: 3px solid #9ca3af;
               padding-left: .5rem; }
#model-line { font-size: .9em; color: #4b5563; }
#article .doc-title { font-weight: 600; margin: .2rem 0 .6rem 0; }
"""

# Clicking a source under an answer scrolls its sentence in the article into view.
HEAD = """
<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest("[data-sentence]");
  if (!link) return;
  event.preventDefault();
  const shown = document.querySelector("#article .article");
  // A source in another document than the one shown has no sentence to scroll to here.
  if (link.dataset.doc && shown && shown.dataset.doc !== link.dataset.doc) return;
  const target = document.getElementById("s-" + link.dataset.sentence);
  if (target) target.scrollIntoView({behavior: "smooth", block: "center"});
});
// When a new answer marks its sources, bring the first one into view in the article.
let lastMarked = null;
new MutationObserver(() => {
  const mark = document.querySelector("#article mark.first");
  const sentence = mark && mark.parentElement.id;
  if (sentence && sentence !== lastMarked) {
    lastMarked = sentence;
    mark.scrollIntoView({behavior: "smooth", block: "center"});
  }
  if (!mark) lastMarked = null;
}).observe(document.documentElement, {childList: true, subtree: true});
</script>
"""


def render_article(
    text: str, sentences: Sequence, sources: Sequence[Source] = (), doc_id: str = ""
) -> str:
    """The article as HTML, one span per sentence, the answer's sources marked."""
    ranks = {s.sentence_id: rank for rank, s in enumerate(sources)}
    parts, cursor = [f"<div class='article' data-doc='{html.escape(doc_id)}'><p>"], 0
    for sentence in sentences:
        gap = text[cursor : sentence.start]
        parts.append(html.escape(gap).replace("\n", "</p><p>"))
        body = html.escape(sentence.text)
        if sentence.id in ranks:
            css = "first" if ranks[sentence.id] == 0 else "more"
            body = f"<mark class='{css}'>{body}</mark>"
        parts.append(f"<span id='s-{sentence.id}' class='sentence'>{body}</span>")
        cursor = sentence.end
    parts.append(html.escape(text[cursor:]) + "</p></div>")
    return "".join(parts)


def render_answer(answer: Answer, name_documents: bool = False) -> str:
    """An answer for the chat: refusals look different; sources listed under answers, each
    with its document when answering over several."""
    if not answer.answerable:
        return f"<div class='bot-refusal'>{html.escape(answer.text)}</div>"
    items = "".join(
        f"<span class='source' data-sentence='{s.sentence_id}' data-doc='{html.escape(s.doc_id)}'>"
        f"[{rank}] {f'<i>{html.escape(s.doc_id)}</i>: ' if name_documents else ''}"
        f"{html.escape(s.text)}</span>"
        for rank, s in enumerate(answer.sources, start=1)
    )
    sources = f"<div class='bot-sources'><b>Sources</b>{items}</div>" if items else ""
    return f"<div class='bot-answer'>{html.escape(answer.text)}</div>{sources}"


def history_turns(history: object) -> list[Turn]:
    """The `history` argument of the /ask API, checked: a list of {"question", "answer"}."""
    if history is None:
        return []
    if not isinstance(history, list) or not all(
        isinstance(t, dict)
        and isinstance(t.get("question"), str)
        and isinstance(t.get("answer"), str)
        for t in history
    ):
        raise BotError('history must be a list of {"question": "...", "answer": "..."} turns')
    return [Turn(t["question"], t["answer"]) for t in history]


ALL_DOCUMENTS = ""  # the document picker's value for "answer over every document"


def build_ui(
    bot: Bot,
    model_name: str,
    examples: Sequence[str] = (),
    default_doc: str | None = None,
    uploads: bool = False,
):
    import gradio as gr

    # Read at each call, not once: an upload adds documents while the page is served.
    def documents() -> dict:
        return bot.index.documents

    def several() -> bool:
        return len(documents()) > 1

    first_doc = default_doc or next(iter(documents()))

    def show(doc_id: str, sources: Sequence[Source] = ()) -> str:
        """One document with the sources that are in it marked, under its title."""
        entry = documents()[doc_id]
        marked = [s for s in sources if s.doc_id == doc_id]
        article = render_article(entry.document.text, entry.sentences, marked, doc_id)
        if not several():
            return article
        return f"<div class='doc-title'>{html.escape(entry.document.title)}</div>{article}"

    def model_line() -> str:
        if several():
            about = f"**{len(documents())} documents**"
        else:
            entry = documents()[first_doc]
            about = f"**{html.escape(entry.document.title)}** ({len(entry.sentences)} sentences)"
        return f"Model: **{html.escape(model_name)}** · Document: {about}"

    def choices() -> list[tuple[str, str]]:
        return [("All documents", ALL_DOCUMENTS)] + [
            (f"{entry.document.title} ({doc_id})", doc_id) for doc_id, entry in documents().items()
        ]

    def add_document(path: str | None, progress=gr.Progress(track_tqdm=True)) -> tuple:  # noqa: B008
        """Index an uploaded file and answer from it too; say plainly what went wrong."""
        from bot.documents import load_document

        if not path:
            return gr.skip(), gr.skip(), gr.skip(), ""
        upload = Path(path)
        try:
            if upload.suffix.lower() not in SUFFIXES:
                kinds = ", ".join(sorted(SUFFIXES))
                raise BotError(f"{upload.name} is not a document the bot reads ({kinds})")
            document = dataclasses.replace(load_document(upload, doc_id=upload.name), path=None)
            [doc_id] = bot.add_documents([document])
        except BotError as error:
            return gr.skip(), gr.skip(), gr.skip(), f"Not added: {html.escape(str(error))}"
        entry = documents()[doc_id]
        return (
            gr.update(choices=choices(), value=doc_id, visible=True),
            model_line(),
            show(doc_id),
            f"Added {html.escape(doc_id)} ({len(entry.sentences)} sentences).",
        )

    def respond(question: str, messages: list, turns: list, chosen: str) -> Iterator[tuple]:
        messages = [
            *messages,
            {"role": "user", "content": question},
            {"role": "assistant", "content": ""},
        ]
        article = gr.skip()
        yield "", messages, messages, turns, article
        history = [Turn(t["question"], t["answer"]) for t in turns]
        doc_id = chosen or None
        try:
            for event in bot.stream(question, history, doc_id):
                if isinstance(event, Answer):
                    messages[-1]["content"] = render_answer(event, several() and not doc_id)
                    turns = [*turns, {"question": event.question, "answer": event.text}]
                    shown = event.sources[0].doc_id if event.sources else doc_id or first_doc
                    yield "", messages, messages, turns, show(shown, event.sources)
                else:
                    messages[-1]["content"] += html.escape(event)
                    yield "", messages, messages, turns, article
        except BotError as error:
            messages[-1]["content"] = f"<div class='bot-refusal'>{html.escape(str(error))}</div>"
            yield "", messages, messages, turns, article

    def new_conversation(chosen: str = ALL_DOCUMENTS) -> tuple:
        return [], [], [], show(chosen or first_doc)

    def ask(question: str, history: list[dict] | None = None) -> dict:
        """Answer one question; `history` is a list of {"question", "answer"} turns."""
        try:
            return bot.ask(question, history_turns(history), default_doc).to_result()
        except BotError as error:  # the caller's mistake: a message, no traceback in the log
            raise gr.Error(str(error), print_exception=False) from None

    with gr.Blocks(title="Ask the article", analytics_enabled=False) as blocks:
        line = gr.Markdown(model_line(), elem_id="model-line")
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    height=480,
                    elem_id="chat",
                    label="Chat",
                    feedback_options=None,
                    sanitize_html=False,
                    # No "share" button: it would post the conversation to a hosted service.
                    buttons=["copy", "copy_all"],
                )
                question = gr.Textbox(
                    placeholder="Ask about the article…",
                    show_label=False,
                    elem_id="question",
                    autofocus=True,
                )
                with gr.Row():
                    send = gr.Button("Ask", variant="primary", elem_id="ask")
                    clear = gr.Button("New conversation", elem_id="new")
                if examples:
                    gr.Examples(examples=[[e] for e in examples], inputs=question, label="Examples")
            with gr.Column(scale=2):
                chosen = gr.Dropdown(
                    choices=choices(),
                    value=default_doc or ALL_DOCUMENTS,
                    label="Answer from",
                    elem_id="documents",
                    visible=several(),
                    filterable=True,
                )
                if uploads:
                    with gr.Row():
                        upload = gr.UploadButton(
                            "Add a document",
                            file_types=sorted(SUFFIXES),
                            elem_id="upload",
                            size="sm",
                        )
                        added = gr.Markdown("", elem_id="upload-status")
                article = gr.HTML(show(first_doc), elem_id="article")
        turns = gr.State([])
        # The chat as shown, kept on the server: as an input, the Chatbot would send the whole
        # rendered conversation with every question, and a long chat would outgrow the
        # request limit (413).
        dialogue = gr.State([])
        outputs = [question, chatbot, dialogue, turns, article]
        inputs = [question, dialogue, turns, chosen]
        question.submit(respond, inputs, outputs, api_visibility="private")
        send.click(respond, inputs, outputs, api_visibility="private")
        cleared = [chatbot, dialogue, turns, article]
        clear.click(new_conversation, chosen, cleared, api_visibility="private")
        # The chat's own trash button must forget the conversation too, not just hide it.
        chatbot.clear(new_conversation, chosen, cleared, api_visibility="private")
        # Choosing a document shows it; the conversation goes on, now kept to that document.
        chosen.change(
            lambda doc_id: show(doc_id or first_doc), chosen, article, api_visibility="private"
        )
        if uploads:
            upload.upload(
                add_document, upload, [chosen, line, article, added], api_visibility="private"
            )
        gr.api(ask, api_name="ask")
    return blocks
