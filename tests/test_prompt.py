from bot.prompt import Turn, build_messages, focus_question, load_template, number_passages
from bot.sentences import split_sentences
from bot.settings import Settings


def test_messages_put_numbered_passages_first_then_history_then_question():
    sentences = split_sentences("Alpha is first. Beta is second.\nGamma is third.")
    passages = number_passages([("d", s) for s in sentences])
    messages = build_messages(
        "Rules.\n{passages}\nEnd.", passages, "Who is third?", [Turn("Who is first?", "Alpha.")]
    )
    assert messages[0] == {
        "role": "system",
        "content": "Rules.\n[1] Alpha is first.\n[2] Beta is second.\n[3] Gamma is third.\nEnd.",
    }
    assert messages[1:] == [
        {"role": "user", "content": "Who is first?"},
        {"role": "assistant", "content": "Alpha."},
        {"role": "user", "content": "Who is third?"},
    ]


def test_only_recent_history_is_kept_and_titles_head_each_document():
    a, b = split_sentences("One."), split_sentences("Two.")
    passages = number_passages([("a", a[0]), ("b", b[0])])
    history = [Turn(f"q{i}", f"a{i}") for i in range(10)]
    messages = build_messages("{passages}", passages, "q", history, titles={"a": "A", "b": "B"})
    assert messages[0]["content"] == "Document: A\n[1] One.\nDocument: B\n[2] Two."
    assert [m["content"] for m in messages[1:3]] == ["q7", "a7"]


def test_shipped_templates_have_their_placeholders():
    prompts = Settings().prompts_dir
    assert "{passages}" in load_template(prompts, "system")
    focused = load_template(prompts, "focused_strong")
    assert "{passages}" in focused and "{question}" in focused
    verify = load_template(prompts, "verify")
    assert all(f"{{{name}}}" in verify for name in ("label", "sentence", "question"))
    passages = number_passages([("d", s) for s in split_sentences("X is 5.")])
    assert "[1] X is 5." in focus_question(focused, passages, "What is X?")
    assert "What is X?" in focus_question(focused, passages, "What is X?")
