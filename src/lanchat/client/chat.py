"""The running chat: shows what arrives, sends what is typed, reconnects when the link drops."""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import UTC, datetime

from lanchat.client import commands as cmd
from lanchat.client.conversations import Conversations
from lanchat.client.link import ConnectionLost, Connector, Link, Unreachable
from lanchat.client.render import Renderer, sanitize
from lanchat.client.session import ChatMessage, Event
from lanchat.client.session import events as ev
from lanchat.client.trust import CertificateChanged
from lanchat.client.ui import TerminalUI
from lanchat.proto import caps as C

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CERTIFICATE = 3
#: Reconnect backoff: the first wait, its growth, its ceiling (seconds), and jitter.
FIRST_RETRY = 0.5
RETRY_FACTOR = 2.0
MAX_RETRY = 30.0
JITTER = 0.2
#: Seconds to wait for the server to close the connection after QUIT.
QUIT_WAIT = 2.0


class Chat:
    """A logged-in user's chat, across reconnects."""

    def __init__(
        self,
        ui: TerminalUI,
        connector: Connector,
        link: Link,
        account: str,
        password: str,
        *,
        history_lines: int = cmd.DEFAULT_HISTORY,
    ) -> None:
        self.ui = ui
        self.connector = connector
        self.link = link
        self.account = account
        self._password = password
        self.history_lines = history_lines
        self.conversations = Conversations(link.session.fold)
        self.render = Renderer(self.conversations)
        self.connected = True
        self._history_asked: set[str] = set()
        self._history_auto: set[str] = set()
        self._switch_to: str | None = None
        self._done: asyncio.Future[int] | None = None
        self._quitting = False
        self._closed = asyncio.Event()

    # -- running -----------------------------------------------------------------------------

    async def run(self) -> int:
        """Chat until /quit, Ctrl-D, or a failure; return the exit status."""
        self._done = asyncio.get_running_loop().create_future()
        with self.ui.chat_screen(self.prompt, lambda: self.cycle(1), lambda: self.cycle(-1)):
            self.info(f"Logged in as {self.link.session.nick}. Type /help for the commands.")
            self.handle(self.link.take_backlog())
            tasks = [asyncio.create_task(self._network()), asyncio.create_task(self._typing())]
            try:
                return await self._done
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await self.link.close()

    def finish(self, status: int) -> None:
        """End the chat with ``status``."""
        if self._done is not None and not self._done.done():
            self._done.set_result(status)

    def prompt(self) -> str:
        """The input line's prompt: the current conversation."""
        current = self.conversations.current
        name = sanitize(current.name) if current is not None else "no conversation"
        return f"[{name}] " if self.connected else f"[{name} · offline] "

    def info(self, text: str) -> None:
        """Show a line about what happened."""
        self.ui.show(self.render.info(text, datetime.now(UTC)))

    async def _typing(self) -> None:
        while True:
            try:
                line = await self.ui.read_line()
            except (EOFError, KeyboardInterrupt):
                await self.quit("")
                return
            await self.execute(cmd.parse_input(line, self.link.session.isupport.get("CHANTYPES", "#")))

    async def _network(self) -> None:
        while True:
            try:
                events = await self.link.receive()
            except ConnectionLost as exc:
                self.connected = False
                if self._quitting:
                    self._closed.set()
                    return
                self.ui.refresh()
                self.info(f"Lost the connection to {self.connector.endpoint.address} ({exc.reason}). Reconnecting…")
                await self.link.close()
                if not await self._reconnect():
                    return
                continue
            self.handle(events)

    async def _reconnect(self) -> bool:
        delay = FIRST_RETRY
        where = self.connector.endpoint.address
        while True:
            await asyncio.sleep(delay * random.uniform(1 - JITTER, 1 + JITTER))
            delay = min(delay * RETRY_FACTOR, MAX_RETRY)
            try:
                link, _ = await self.connector.open()
            except CertificateChanged as exc:
                for line in exc.explain():
                    self.ui.show(line)
                self.finish(EXIT_CERTIFICATE)
                return False
            except Unreachable as exc:
                reason = exc.errors[-1].reason if exc.errors else "unreachable"
                self.info(f"Cannot reach {where} yet ({reason}); next try in {delay:.0f} s.")
                continue
            try:
                outcome = await link.login(self.account, self._password)
            except (ConnectionLost, TimeoutError):
                await link.close()
                continue
            if isinstance(outcome, ev.LoginFailed):
                self.info(f"Could not log in again: {sanitize(outcome.reason)}. Start lanchat chat again.")
                await link.close()
                self.finish(EXIT_FAILURE)
                return False
            self.link = link
            self.connected = True
            self.ui.refresh()
            self.info(f"Reconnected to {where}.")
            self.handle(link.take_backlog())
            return True

    async def quit(self, reason: str) -> None:
        """Leave: send QUIT and wait briefly for the server to close, then end with status 0."""
        self._quitting = True
        if self.connected:
            self.link.session.quit(reason)
            await self.link.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), QUIT_WAIT)
        self.finish(EXIT_OK)

    # -- what arrives ------------------------------------------------------------------------

    def handle(self, events: list[Event]) -> None:
        """Show events and keep the conversations up to date; an event that cannot be handled
        is reported in one line and the others are handled still."""
        now = datetime.now(UTC)
        for event in events:
            try:
                self._handle(event, now)
            except Exception:  # whatever the server sent must not end the chat
                self.info("Ignored a malformed line from the server.")
        self.link.send_queued()
        self.ui.refresh()

    def _handle(self, event: Event, now: datetime) -> None:
        match event:
            case ev.MessageReceived(message):
                if self.conversations.note(message):
                    self.ui.show(self.render.message(message))
            case ev.HistoryReceived(target, messages):
                self._history(target, messages)
            case ev.Joined(channel, _nick, True, _time):
                self._show(event, now)
                self._joined(channel)
            case ev.Parted(channel, _nick, _reason, True, _time, _by):
                self.conversations.remove(channel)
                self._show(event, now)
            case ev.Disconnecting() if self._quitting:
                pass
            case ev.NickChanged(old, new, False, _time):
                self.conversations.rename(old, new)
                self._show(event, now)
            case _:
                self._show(event, now)

    def _show(self, event: Event, now: datetime) -> None:
        for line in self.render.event(event, now):
            self.ui.show(line)

    def _joined(self, channel: str) -> None:
        key = self.conversations.fold(channel)
        self.conversations.add(channel, direct=False)
        if self._switch_to == key:
            self._switch_to = None
            self.conversations.select(channel)
            self.info(f"Now talking in {sanitize(channel)}")
        if self.history_lines > 0:
            since = self.conversations.last_seen(channel)
            if self.link.session.request_history(channel, self.history_lines, since):
                self._history_auto.add(key)

    def _history(self, target: str, messages: tuple[ChatMessage, ...]) -> None:
        key = self.conversations.fold(target)
        where = sanitize(target)
        if key in self._history_asked:
            self._history_asked.discard(key)
            for message in messages:
                self.conversations.note(message)
            if not messages:
                self.ui.show(f"--- no messages in {where} yet ---")
                return
            count = f"{len(messages)} message{'s' if len(messages) != 1 else ''}"
            self.ui.show(f"--- last {count} in {where} ---")
            for message in messages:
                self.ui.show(self.render.message(message))
            self.ui.show("--- end of history ---")
            return
        fresh = [m for m in messages if self.conversations.note(m)]
        if key not in self._history_auto:
            for message in fresh:
                self.ui.show(self.render.message(message))
            return
        self._history_auto.discard(key)
        if fresh:
            self.ui.show(f"--- recent messages in {where} ---")
            for message in fresh:
                self.ui.show(self.render.message(message))
            self.ui.show(f"--- end of recent messages in {where} ---")

    # -- what is typed -----------------------------------------------------------------------

    def cycle(self, step: int) -> None:
        """Ctrl-N / Ctrl-P: the next or previous conversation."""
        chosen = self.conversations.cycle(step)
        if chosen is not None:
            self.info(f"Now talking in {self._label(chosen.name, chosen.direct)}")
        self.ui.refresh()

    def _label(self, name: str, direct: bool) -> str:
        return f"a direct conversation with {sanitize(name)}" if direct else sanitize(name)

    async def execute(self, command: cmd.Input | None) -> None:
        """Carry out one parsed input line."""
        if command is None:
            return
        if isinstance(command, cmd.Quit):
            await self.quit(command.reason)
            return
        if isinstance(command, cmd.Help | cmd.Unknown | cmd.Usage | cmd.Switch):
            self._local(command)
            return
        if not self.connected:
            self.info("Not connected (reconnecting); nothing was sent.")
            return
        self._remote(command)
        await self.link.flush()

    def _local(self, command: cmd.Help | cmd.Unknown | cmd.Usage | cmd.Switch) -> None:
        match command:
            case cmd.Help(topic):
                for line in cmd.help_lines(topic):
                    self.ui.show(line)
            case cmd.Unknown():
                self.info(cmd.unknown_hint(command))
            case cmd.Usage(name, problem):
                self.info(f"/{name}: {problem} Usage: {cmd.COMMANDS[name].usage}")
            case cmd.Switch(None):
                self._list_conversations()
            case cmd.Switch(str(which)):
                self._switch(which)
        self.ui.refresh()

    def _list_conversations(self) -> None:
        items = self.conversations.items
        if not items:
            self.info("No conversations yet: /join #channel or /msg NICK text.")
            return
        self.info("Conversations (/switch NUMBER, or Ctrl-N / Ctrl-P):")
        for number, item in enumerate(items, 1):
            mark = "*" if self.conversations.is_current(item.name) else " "
            kind = " (direct)" if item.direct else ""
            self.ui.show(f" {mark} {number}) {sanitize(item.name)}{kind}")

    def _switch(self, which: str) -> None:
        session = self.link.session
        chosen = self.conversations.select(which)
        if chosen is None and not which.isdigit() and not session.is_channel(which):
            self.conversations.add(which, direct=True)
            chosen = self.conversations.select(which)
        if chosen is None:
            self.info(f"No conversation {sanitize(which)}: /switch alone lists them (join a channel with /join).")
            return
        self.info(f"Now talking in {self._label(chosen.name, chosen.direct)}")

    def _remote(self, command: cmd.Input) -> None:
        session = self.link.session
        current = self.conversations.current
        match command:
            case cmd.Say(text) | cmd.Me(text):
                if current is None:
                    self.info("You are not in a conversation: /join #channel or /msg NICK text.")
                    return
                self._say(current.name, text, action=isinstance(command, cmd.Me))
            case cmd.Msg(target, text):
                self._say(target, text)
                if not session.is_channel(target):
                    self.conversations.add(target, direct=True)
            case cmd.Join(channel, key):
                if session.fold(channel) in session.channels:
                    self._switch(channel)
                    return
                self._switch_to = session.fold(channel)
                session.join(channel, key)
            case cmd.Part(target, reason):
                self._part(target, reason)
            case cmd.Who(target):
                mask = target or (current.name if current is not None else "")
                if not mask:
                    self.info("/who: whom? Usage: " + cmd.COMMANDS["who"].usage)
                    return
                session.who(mask)
            case cmd.Topic(text):
                if current is None or current.direct:
                    self.info("/topic works in a channel: /switch to one first.")
                    return
                session.topic(current.name, text)
            case cmd.Away(reason):
                session.away(reason)
            case cmd.History(limit):
                if current is None:
                    self.info("No conversation to show the history of.")
                    return
                if not session.request_history(current.name, limit):
                    self.info("This server keeps no history for clients (no draft/chathistory).")
                    return
                self._history_asked.add(session.fold(current.name))

    def _part(self, target: str | None, reason: str) -> None:
        current = self.conversations.current
        name = target or (current.name if current is not None else None)
        if name is None:
            self.info("You are not in a conversation.")
            return
        item = self.conversations.get(name)
        if item is not None and item.direct:
            self.conversations.remove(name)
            self.info(f"Closed the direct conversation with {sanitize(name)}.")
            return
        self.link.session.part(name, reason)

    def _say(self, target: str, text: str, *, action: bool = False) -> None:
        session = self.link.session
        session.say(target, text, action=action)
        if C.ECHO_MESSAGE in session.caps:
            return
        for line in text.splitlines():
            own = ChatMessage(
                time=datetime.now(UTC),
                sender=session.nick,
                target=target,
                text=line,
                conversation=target,
                direct=not session.is_channel(target),
                own=True,
                action=action,
            )
            self.ui.show(self.render.message(own))
