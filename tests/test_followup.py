from bot.followup import is_follow_up, repeats_earlier_answer, resolve
from bot.prompt import Turn

HISTORY = [Turn("What did Abbas say about peacekeepers?", "For a limited time.")]


def test_a_question_that_leans_back_carries_the_one_before():
    assert resolve("For how long?", HISTORY) == (
        "For how long? (about: What did Abbas say about peacekeepers?)"
    )
    assert resolve("What did he say next?", HISTORY).endswith(
        "(about: What did Abbas say about peacekeepers?)"
    )


def test_a_standalone_question_is_left_alone():
    question = "What did Netanyahu insist on in any peace deal?"
    assert not is_follow_up(question)
    assert resolve(question, HISTORY) == question
    assert resolve("For how long?", []) == "For how long?"


def test_a_chain_of_follow_ups_keeps_its_subject():
    history = [*HISTORY, Turn("For how long?", "For a limited time.")]
    resolved = resolve("Where?", history)
    assert resolved == (
        "Where? (about: For how long? (about: What did Abbas say about peacekeepers?))"
    )
    long_chain = [Turn("Who?", "x")] * 10
    assert resolved.count("(about:") == 2
    assert resolve("Why?", long_chain).count("(about:") == 3


def test_a_reply_copied_from_an_earlier_answer_to_another_question_is_caught():
    history = [Turn("Who did he say that to?", "He said it to the conference [3].")]
    assert repeats_earlier_answer("He said it to the conference.", "What was his job?", history)
    # the same question asked again may get the same answer; a new answer is no copy
    assert not repeats_earlier_answer(
        "He said it to the conference.", "Who did he say that to?", history
    )
    assert not repeats_earlier_answer("He is the secretary-general.", "What was his job?", history)
    assert not repeats_earlier_answer("", "What was his job?", [Turn("Who?", "")])
