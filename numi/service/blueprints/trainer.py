"""The trainer's API: stories to replay (data/, tests/, recorded conversations,
anonymised) and quizzes (answers checked on the server, never sent ahead)."""
from __future__ import annotations

import asyncio
from functools import partial
from typing import Any, Callable, Dict, TypeVar, Union
from urllib.parse import unquote

from sanic import Blueprint, response
from sanic.request import Request

from numi import replay
from numi.replay.anonymise import customer_names
from numi.service import schemas
from numi.service.http import bad, body_of, message, require
from numi.vocab import TRAINING

bp = Blueprint("trainer", url_prefix="/api/trainer")
STORY_QUIZ = "story:"
T = TypeVar("T")


async def _blocking(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn` in a worker thread. The request's transaction ends first: a SQLite write
    lock held across an await would make the next request wait on the event loop."""
    request.ctx.db.commit()
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args, **kwargs))


def _options(request: Request) -> Dict[str, Any]:
    services = request.app.ctx.services
    return {"library": services.library, "settings": services.settings, "secret": services.settings.secret}


@bp.get("/stories")
@require(TRAINING)
async def stories(request: Request) -> response.HTTPResponse:
    return response.json({"stories": await _blocking(request, replay.list_stories, **_options(request))})


@bp.get("/stories/<story_id:path>")
@require(TRAINING)
async def story(request: Request, story_id: str) -> response.HTTPResponse:
    names = customer_names(request.ctx.db)
    try:
        return response.json(await _blocking(request, replay.load_story, unquote(story_id), names=names,
                                             **_options(request)))
    except replay.StoryNotFound:
        return bad(message("unknown_story"), 404)


def _quiz(request: Request, quiz_id: str) -> Dict[str, Any]:
    options = _options(request)
    quiz_id = unquote(quiz_id)
    if quiz_id.startswith(STORY_QUIZ):  # story:<story id>[:<seed>]
        story_id, _, seed = quiz_id[len(STORY_QUIZ):].rpartition(":")
        if not seed.isdigit():
            story_id, seed = quiz_id[len(STORY_QUIZ):], "0"
        return replay.quiz_from_story(story_id, seed=int(seed), library=options["library"],
                                      settings=options["settings"], secret=options["secret"])
    return replay.load_quiz(quiz_id, library=options["library"])


def _public(quiz: Dict[str, Any]) -> Dict[str, Any]:
    return dict(quiz, questions=[{k: v for k, v in q.items() if k not in ("answer", "explanation")}
                                 for q in quiz["questions"]])


@bp.get("/quizzes")
@require(TRAINING)
async def quizzes(request: Request) -> response.HTTPResponse:
    return response.json({"quizzes": replay.list_quizzes(library=request.app.ctx.services.library)})


@bp.get("/quizzes/<quiz_id:path>")
@require(TRAINING)
async def quiz(request: Request, quiz_id: str) -> response.HTTPResponse:
    full = await _full_quiz(request, quiz_id)
    return full if isinstance(full, response.HTTPResponse) else response.json(_public(full))


async def _full_quiz(request: Request, quiz_id: str) -> Union[Dict[str, Any], response.HTTPResponse]:
    """The quiz with its answers (never sent as it is), or the refusal (404)."""
    try:
        return await _blocking(request, _quiz, request, quiz_id)
    except (replay.QuizNotFound, replay.StoryNotFound):
        return bad(message("unknown_quiz"), 404)


@bp.post("/quizzes/<quiz_id:path>/answer")
@require(TRAINING)
async def answer(request: Request, quiz_id: str) -> response.HTTPResponse:
    """One answer checked: right or wrong, the right letter and the explanation."""
    body = body_of(request, schemas.QuizAnswer)
    full = await _full_quiz(request, quiz_id)
    if isinstance(full, response.HTTPResponse):
        return full
    index = body.index
    if not 0 <= index < len(full["questions"]):
        return bad(message("quiz_index_required"), 422)
    result = replay.score({**full, "questions": [full["questions"][index]]}, [body.given])
    detail = result["details"][0]
    return response.json({"index": index, "correct": detail["correct"], "answer": detail["answer"],
                          "explanation": detail["explanation"]})


@bp.post("/quizzes/<quiz_id:path>/score")
@require(TRAINING)
async def score(request: Request, quiz_id: str) -> response.HTTPResponse:
    body = body_of(request, schemas.QuizAnswers)
    full = await _full_quiz(request, quiz_id)
    if isinstance(full, response.HTTPResponse):
        return full
    return response.json(replay.score(full, body.answers))
