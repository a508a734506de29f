// Boot: read /api/info and /api/session, show the sign-in screen or the chat, keep the IRC
// connection up (reconnecting with backoff, re-reading the session first).

import { api, ApiError, setCsrf } from "./api.js";
import { showAuth } from "./auth.js";
import { ChatUI } from "./chat.js";
import { IrcConnection } from "./connection.js";
import { h } from "./dom.js";
import { ChatState } from "./state.js";

const root = document.getElementById("app");
const MAX_BACKOFF_MS = 30000;

let info = null;
let current = null; // {state, ui, conn, attempt, timer, stopped}

async function boot() {
  try {
    info = await api.info();
  } catch (err) {
    showUnreachable(err);
    return;
  }
  try {
    const session = await api.session();
    startChat(session);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) showAuth(root, info, startChat);
    else showUnreachable(err);
  }
}

function showUnreachable(err) {
  root.replaceChildren(
    h(
      "main.auth",
      {},
      h(
        "div.auth-card",
        { role: "alert" },
        h("h1", {}, "lanchat is not reachable"),
        h("p.lead", {}, err.message || "The server did not answer."),
        h("button.primary.wide", { type: "button", onclick: () => boot() }, "Try again"),
      ),
    ),
  );
  setTimeout(() => {
    if (!current && !document.getElementById("auth")) boot();
  }, 5000);
}

function wsUrl() {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/irc`;
}

function startChat(session) {
  setCsrf(session.csrf);
  const state = new ChatState(session.account, session.admin);
  const chat = { state, ui: null, conn: null, attempt: 0, timer: null, stopped: false };
  current = chat;
  chat.ui = new ChatUI(root, state, info, {
    logout: () => logout(chat),
    reconnectNow: () => {
      clearTimeout(chat.timer);
      reconnect(chat);
    },
  });
  window.lanchat = { state, ui: chat.ui }; // for debugging from the console
  connect(chat);
}

function connect(chat) {
  if (chat.stopped) return;
  const conn = new IrcConnection(wsUrl(), chat.state.account);
  chat.conn = conn;
  chat.state.attach(conn);
  chat.ui.setConnection("connecting");
  conn.addEventListener("ready", () => {
    chat.attempt = 0;
    chat.ui.setConnection("connected");
  });
  conn.addEventListener("close", () => {
    if (chat.stopped || chat.conn !== conn) return;
    scheduleReconnect(chat);
  });
  conn.open();
}

function scheduleReconnect(chat) {
  const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** chat.attempt);
  const delay = chat.attempt === 0 ? 500 : base / 2 + Math.random() * (base / 2);
  chat.attempt += 1;
  chat.ui.setConnection("waiting", Date.now() + delay);
  clearTimeout(chat.timer);
  chat.timer = setTimeout(() => reconnect(chat), delay);
}

/** Re-read the session (it may have been revoked or expired), then connect again. */
async function reconnect(chat) {
  if (chat.stopped) return;
  chat.ui.setConnection("connecting");
  try {
    const session = await api.session();
    setCsrf(session.csrf);
    chat.state.admin = session.admin;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      stopChat(chat);
      showAuth(root, info, startChat, "Your session has ended. Please sign in again.");
      return;
    }
    scheduleReconnect(chat);
    return;
  }
  connect(chat);
}

function stopChat(chat) {
  chat.stopped = true;
  clearTimeout(chat.timer);
  chat.conn?.close();
  chat.ui.destroy();
  if (current === chat) current = null;
}

async function logout(chat) {
  try {
    await api.logout();
  } catch {
    /* the cookie is cleared anyway when the server answers; show the sign-in screen regardless */
  }
  setCsrf("");
  stopChat(chat);
  try {
    info = await api.info();
  } catch {
    /* keep the old info */
  }
  showAuth(root, info, startChat, "You are signed out.");
}

boot();
