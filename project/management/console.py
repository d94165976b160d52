"""The pieces of `python -m project shell`: its namespace and how code runs in it.

Code runs with top-level `await`, like IPython's autoawait and
`python -m asyncio`. `run_source` executes a whole block (for `-c` and piped
stdin); `AsyncConsole` is the line-by-line fallback REPL when IPython is
missing. Both run on an event loop the caller owns.
"""

from __future__ import annotations

import ast
import asyncio
import code
import inspect
import traceback
import types
from typing import Any

from tortoise import Tortoise
from tortoise.context import TortoiseContext
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

import models
from core.clock import utcnow
from core.settings import Settings
from services import Services

FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
SERVICE_NAMES = ("users", "sessions", "contexts")


def build_namespace(
    settings: Settings, running: Services, context: TortoiseContext
) -> dict[str, Any]:
    """Every model, the managers and a few helpers, by the names the banner lists."""
    namespace: dict[str, Any] = {model.__name__: model for model in models.__models__}
    namespace.update({name: getattr(running, name) for name in SERVICE_NAMES})
    namespace.update(
        services=running,
        settings=settings,
        tortoise=context,
        Tortoise=Tortoise,
        in_transaction=in_transaction,
        F=F,
        Q=Q,
        utcnow=utcnow,
    )
    return namespace


def banner(settings: Settings, namespace: dict[str, Any]) -> str:
    """Describe the database and everything preloaded in the namespace."""
    where = settings.database_url.split("@")[-1]  # never print a password
    model_names = ", ".join(model.__name__ for model in models.__models__)
    return (
        f"Terrapin shell on {where} (top-level await works)\n"
        f"  models:   {model_names}\n"
        f"  services: services ({', '.join(SERVICE_NAMES)} are also bound by name)\n"
        "  helpers:  settings, tortoise, Tortoise, in_transaction, F, Q, utcnow\n"
    )


async def run_source(source: str, namespace: dict[str, Any]) -> Any:
    """Execute `source`; return the value of its final expression (awaited), else None."""
    tree = compile(source, "<shell>", "exec", ast.PyCF_ONLY_AST | FLAGS)
    assert isinstance(tree, ast.Module)
    last = tree.body[-1] if tree.body else None
    if not isinstance(last, ast.Expr):
        await _evaluate(tree, "exec", namespace)
        return None
    if tree.body[:-1]:
        await _evaluate(ast.Module(body=tree.body[:-1], type_ignores=[]), "exec", namespace)
    value = await _evaluate(ast.Expression(body=last.value), "eval", namespace)
    if inspect.isawaitable(value):  # e.g. a QuerySet written without `await`
        value = await value
    return value


async def _evaluate(node: ast.Module | ast.Expression, mode: str, namespace: dict[str, Any]) -> Any:
    compiled = compile(node, "<shell>", mode, FLAGS)
    result = eval(compiled, namespace)  # the operator's own code, by design
    if compiled.co_flags & inspect.CO_COROUTINE:
        result = await result
    return result


def print_user_traceback(exc: BaseException, within: str = "<shell>") -> None:
    """Print a traceback of `exc` starting at the operator's own code (file `within`)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != within:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb or exc.__traceback__)


class AsyncConsole(code.InteractiveConsole):
    """Python's REPL with top-level `await`, each input run on `loop` (like `python -m asyncio`)."""

    def __init__(self, namespace: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(namespace, filename="<shell>")
        self.compile.compiler.flags |= FLAGS
        self.loop = loop

    def runcode(self, code: types.CodeType) -> None:
        """Run one compiled input; await it on the loop when it awaits."""
        task: asyncio.Task[Any] | None = None
        try:
            result = types.FunctionType(code, self.locals)()
            if inspect.iscoroutine(result):
                task = self.loop.create_task(result)
                self.loop.run_until_complete(task)
        except SystemExit:
            raise
        except KeyboardInterrupt:
            if task is not None and not task.done():
                task.cancel()
                self.loop.run_until_complete(asyncio.wait([task]))
            self.write("KeyboardInterrupt\n")
        except BaseException:
            self.showtraceback()
