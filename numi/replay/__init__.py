"""Trainer replay: stories replayed step by step (forwards and backwards), anonymised
recorded conversations, and quizzes.

    from numi.replay import list_stories, load_story, list_quizzes, load_quiz, quiz_from_story, score

Nothing here does I/O at import time.
"""
from numi.replay.anonymise import Anonymiser, anonymise_text, anonymise_value, customer_names
from numi.replay.quiz import QuizError, QuizNotFound, list_quizzes, load_quiz, quiz_from_story, score
from numi.replay.stories import SOURCES, StoryNotFound, list_stories, load_story, recorded_id

__all__ = [
    "Anonymiser", "anonymise_text", "anonymise_value", "customer_names",
    "QuizError", "QuizNotFound", "list_quizzes", "load_quiz", "quiz_from_story", "score",
    "SOURCES", "StoryNotFound", "list_stories", "load_story", "recorded_id",
]
