"""Present stage (browser): a Gradio chat with each answer's sources highlighted in the article."""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence

from bot.answer import Answer, Bot
from bot.attribute import Source
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
"""

# Clicking a source under an answer scrolls its sentence in the article into view.
HEAD = """
<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest("[data-sentence]");
  if (!link) return;
  event.preventDefault();
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


def render_article(text: str, sentences: Sequence, sources: Sequence[Source] = ()) -> str:
    """The article as HTML, one span per sentence, the answer's sources marked."""
    ranks = {s.sentence_id: rank for rank, s in enumerate(sources)}
    parts, cursor = ["<div class='article'><p>"], 0
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


def render_answer(answer: Answer) -> str:
    """An answer for the chat: refusals look different; sources listed under answers."""
    if not answer.answerable:
        return f"<div class='bot-refusal'>{html.escape(answer.text)}</div>"
    items = "".join(
        f"<span class='source' data-sentence='{s.sentence_id}'>"
        f"[{rank}] {html.escape(s.text)}</span>"
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


def build_ui(bot: Bot, model_name: str, examples: Sequence[str] = ()):
    import gradio as gr

    doc_id = next(iter(bot.index.documents))
    indexed = bot.index.documents[doc_id]
    text, sentences = indexed.document.text, indexed.sentences

    def respond(question: str, messages: list, turns: list) -> Iterator[tuple]:
        messages = [
            *messages,
            {"role": "user", "content": question},
            {"role": "assistant", "content": ""},
        ]
        article = gr.skip()
        yield "", messages, turns, article
        history = [Turn(t["question"], t["answer"]) for t in turns]
        try:
            for event in bot.stream(question, history):
                if isinstance(event, Answer):
                    messages[-1]["content"] = render_answer(event)
                    turns = [*turns, {"question": event.question, "answer": event.text}]
                    yield "", messages, turns, render_article(text, sentences, event.sources)
                else:
                    messages[-1]["content"] += html.escape(event)
                    yield "", messages, turns, article
        except BotError as error:
            messages[-1]["content"] = f"<div class='bot-refusal'>{html.escape(str(error))}</div>"
            yield "", messages, turns, article

    def new_conversation() -> tuple:
        return [], [], render_article(text, sentences)

    def ask(question: str, history: list[dict] | None = None) -> dict:
        """Answer one question; `history` is a list of {"question", "answer"} turns."""
        try:
            return bot.ask(question, history_turns(history)).to_result()
        except BotError as error:  # the caller's mistake: a message, no traceback in the log
            raise gr.Error(str(error), print_exception=False) from None

    with gr.Blocks(title="Ask the article", analytics_enabled=False) as blocks:
        title = html.escape(indexed.document.title)
        gr.Markdown(
            f"Model: **{html.escape(model_name)}** · Document: **{title}**"
            f" ({len(sentences)} sentences)",
            elem_id="model-line",
        )
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
                article = gr.HTML(render_article(text, sentences), elem_id="article")
        turns = gr.State([])
        outputs = [question, chatbot, turns, article]
        question.submit(respond, [question, chatbot, turns], outputs, api_visibility="private")
        send.click(respond, [question, chatbot, turns], outputs, api_visibility="private")
        clear.click(new_conversation, None, [chatbot, turns, article], api_visibility="private")
        # The chat's own trash button must forget the conversation too, not just hide it.
        chatbot.clear(new_conversation, None, [chatbot, turns, article], api_visibility="private")
        gr.api(ask, api_name="ask")
    return blocks
