"""The terminal: questions at login (the password not echoed), then an input line that stays
intact at the bottom while messages are printed above it (prompt_toolkit)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TextIO, cast

from prompt_toolkit import PromptSession
from prompt_toolkit.application.current import get_app_or_none
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.layout.processors import Processor, Transformation, TransformationInput
from prompt_toolkit.patch_stdout import StdoutProxy

from lanchat.client.render import sanitize

#: Seconds the output proxy gathers lines before redrawing the screen once (prompt_toolkit's
#: default of 0.2 s makes every message visibly late).
OUTPUT_PACING = 0.02


class HiddenInput(Processor):
    """Shows nothing of what is typed, not even its length (for the password)."""

    def apply_transformation(self, transformation_input: TransformationInput) -> Transformation:
        """Replace the typed text with nothing and keep the cursor at the start."""
        return Transformation([], source_to_display=lambda _: 0, display_to_source=lambda _: 0)


class TerminalUI:
    """Everything the client shows and asks."""

    def __init__(self) -> None:
        self._chat: PromptSession[str] | None = None

    def show(self, line: str) -> None:
        """Print a line (above the input line while chatting), made safe for the terminal:
        control characters (escape sequences, CR, BS, C1 controls) are replaced."""
        print(sanitize(line), flush=True)

    def error(self, line: str) -> None:
        """Print a line on standard error, made safe like :meth:`show`."""
        print(sanitize(line), file=sys.stderr, flush=True)

    async def ask(self, message: str, *, hidden: bool = False) -> str:
        """Ask one question; ``hidden`` does not echo the answer. Ctrl-C raises
        KeyboardInterrupt and Ctrl-D EOFError."""
        session: PromptSession[str] = PromptSession()
        processors: list[Processor] | None = [HiddenInput()] if hidden else None
        return await session.prompt_async(message, input_processors=processors)

    @contextlib.contextmanager
    def chat_screen(
        self,
        prompt: Callable[[], str],
        on_next: Callable[[], None],
        on_previous: Callable[[], None],
    ) -> Iterator[None]:
        """While inside, :meth:`show` prints above the input line; Ctrl-N and Ctrl-P call
        ``on_next`` and ``on_previous`` (to change conversation)."""
        keys = KeyBindings()

        @keys.add("c-n")
        def _next(event: KeyPressEvent) -> None:
            on_next()

        @keys.add("c-p")
        def _previous(event: KeyPressEvent) -> None:
            on_previous()

        self._chat = PromptSession(prompt, key_bindings=keys, history=InMemoryHistory(), erase_when_done=True)
        stdout, stderr = sys.stdout, sys.stderr
        try:
            with StdoutProxy(sleep_between_writes=OUTPUT_PACING) as proxy:
                sys.stdout = sys.stderr = cast(TextIO, proxy)
                yield
        finally:
            sys.stdout, sys.stderr = stdout, stderr
            self._chat = None

    async def read_line(self) -> str:
        """The next line typed in the chat. Ctrl-C raises KeyboardInterrupt and Ctrl-D EOFError."""
        if self._chat is None:
            raise RuntimeError("read_line() outside chat_screen()")
        return await self._chat.prompt_async()

    def refresh(self) -> None:
        """Redraw the input line (its prompt may have changed)."""
        app = get_app_or_none()
        if app is not None and app.is_running:
            app.invalidate()
