// Modal dialogs: confirmation, channel browser, new direct message, search, admin panel.

import { api } from "./api.js";
import { avatar, formatFull, formatShort, h, icon, iconButton, nickClass, richText } from "./dom.js";
import { nameProblem } from "./irc.js";

/** A modal <dialog> with a title and a close button; returns {dialog, body, close}. */
export function openDialog(title, { className = "", onClose = null, describedBy = null } = {}) {
  const previous = document.activeElement;
  const titleId = `dlg-${Math.random().toString(36).slice(2, 8)}`;
  const body = h("div.dialog-body");
  const dialog = h(
    "dialog",
    { class: `dialog ${className}`.trim(), aria: { labelledby: titleId, describedby: describedBy } },
    h(
      "header.dialog-head",
      {},
      h("h2", { id: titleId }, title),
      iconButton("x", "Close", () => close()),
    ),
    body,
  );
  let closed = false;
  function close() {
    if (closed) return;
    closed = true;
    dialog.close();
    dialog.remove();
    if (onClose) onClose();
    if (previous && previous.isConnected) previous.focus({ preventScroll: true });
  }
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    close();
  });
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) close(); // a click on the backdrop
  });
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, body, close };
}

/** Ask a yes/no question; resolves true when confirmed. */
export function confirmDialog(title, text, confirmLabel = "OK", danger = false) {
  return new Promise((resolve) => {
    let answer = false;
    const { body, close } = openDialog(title, { className: "small", onClose: () => resolve(answer) });
    const ok = h(
      `button.${danger ? "danger-button" : "primary"}`,
      {
        type: "button",
        onclick: () => {
          answer = true;
          close();
        },
      },
      confirmLabel,
    );
    body.append(
      h("p", {}, text),
      h("div.dialog-actions", {}, h("button.secondary", { type: "button", onclick: () => close() }, "Cancel"), ok),
    );
    ok.focus();
  });
}

/** Browse the server's channels (LIST), join one, or create a new one. */
export function channelBrowser(ui) {
  const state = ui.state;
  const { body, close } = openDialog("Browse channels", { className: "wide" });
  const filter = h("input", {
    type: "search",
    placeholder: "Find or create a channel",
    aria: { label: "Find or create a channel" },
    autocomplete: "off",
  });
  const list = h("ul.channel-list", { aria: { label: "Channels" } });
  const status = h("p.muted", { role: "status" }, "Loading channels…");
  let channels = [];

  function render() {
    const query = filter.value.trim().replace(/^#/, "").toLowerCase();
    const shown = channels.filter(
      (c) => !query || c.name.toLowerCase().includes(query) || c.topic.toLowerCase().includes(query),
    );
    const items = shown.map((c) => {
      const joined = state.convs.get(state.fold(c.name))?.joined;
      return h(
        "li.channel-row",
        {},
        h(
          "div.channel-info",
          {},
          h("span.channel-name", {}, icon("hash"), c.name.replace(/^#/, "")),
          c.topic ? h("span.channel-topic", {}, c.topic) : null,
        ),
        h("span.channel-users", { aria: { label: `${c.users} members` } }, icon("users"), String(c.users)),
        h(
          `button.${joined ? "secondary" : "primary"}.small`,
          {
            type: "button",
            aria: { label: `${joined ? "Open" : "Join"} ${c.name}` },
            onclick: () => {
              state.join(c.name);
              close();
            },
          },
          joined ? "Open" : "Join",
        ),
      );
    });
    const exact = channels.some((c) => c.name.replace(/^#/, "").toLowerCase() === query);
    if (query && !exact) {
      const name = "#" + query.replace(/[\s,]+/g, "-");
      items.unshift(
        h(
          "li.channel-row.create-row",
          {},
          h(
            "div.channel-info",
            {},
            h("span.channel-name", {}, icon("plus"), `Create ${name}`),
            h("span.channel-topic", {}, "A new channel; you will be its operator."),
          ),
          h(
            "button.primary.small",
            {
              type: "button",
              onclick: () => {
                state.join(name);
                close();
              },
            },
            "Create",
          ),
        ),
      );
    }
    list.replaceChildren(...items);
    status.textContent = channels.length
      ? `${shown.length} of ${channels.length} channels`
      : "No channels yet: type a name to create one.";
  }

  filter.addEventListener("input", render);
  filter.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      list.querySelector("button")?.click();
    }
  });
  body.append(filter, status, list);
  filter.focus();
  state
    .listChannels()
    .then((result) => {
      channels = result;
      render();
    })
    .catch((err) => {
      status.textContent = `Could not load the channel list: ${err.message}`;
    });
}

/** Start a direct conversation with someone. */
export function newDmDialog(ui) {
  const state = ui.state;
  const { body, close } = openDialog("New direct message", { className: "small" });
  const known = new Map();
  for (const conv of state.convs.values()) {
    for (const member of conv.members.values())
      if (!state.isMe(member.nick)) known.set(state.fold(member.nick), member.nick);
  }
  const listId = "dm-people";
  const error = h("p.form-error", { id: "dm-nick-error", role: "alert", hidden: true });
  const input = h("input", {
    id: "dm-nick",
    list: listId,
    autocomplete: "off",
    autocapitalize: "none",
    required: true,
    aria: { describedby: "dm-nick-error" },
    oninput: () => {
      error.hidden = true;
      input.removeAttribute("aria-invalid");
    },
  });
  const people = h("ul.people-list", { aria: { label: "People online" } });
  for (const nick of [...known.values()].sort((a, b) => a.localeCompare(b))) {
    people.append(
      h(
        "li",
        {},
        h(
          "button.person",
          {
            type: "button",
            onclick: () => {
              state.openDm(nick);
              close();
              ui.composer.focus();
            },
          },
          avatar(nick, "small"),
          h("span", {}, nick),
        ),
      ),
    );
  }
  const form = h(
    "form",
    {
      onsubmit: (event) => {
        event.preventDefault();
        const nick = input.value.trim();
        if (!nick) return;
        const problem = state.isChannel(nick)
          ? `${nick} is a channel: join it from Browse channels.`
          : nameProblem(nick, "username");
        if (problem) {
          error.textContent = problem;
          error.hidden = false;
          input.setAttribute("aria-invalid", "true");
          input.focus();
          return;
        }
        state.openDm(nick);
        close();
        ui.composer.focus();
      },
    },
    h("div.field", {}, h("label", { for: "dm-nick" }, "Username"), input),
    error,
    h(
      "datalist",
      { id: listId },
      [...known.values()].map((n) => h("option", { value: n })),
    ),
    h("div.dialog-actions", {}, h("button.primary", { type: "submit" }, "Open conversation")),
  );
  body.append(
    form,
    known.size ? h("h3.section-title", {}, "People in your channels") : null,
    known.size ? people : null,
  );
  input.focus();
}

/** Server-side search of the active conversation (soju.im/search). */
export function searchDialog(ui, conv, initial = "") {
  const state = ui.state;
  const { body, close } = openDialog(`Search ${conv.name}`, { className: "wide search-dialog" });
  const input = h("input", {
    type: "search",
    value: initial,
    placeholder: "Words to find",
    aria: { label: `Search ${conv.name}` },
    autocomplete: "off",
  });
  const status = h("p.muted", { role: "status" });
  const results = h("ol.search-results", { aria: { label: "Results" } });
  const form = h(
    "form.search-form",
    {
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        run();
      },
    },
    input,
    h("button.primary", { type: "submit" }, icon("search"), "Search"),
  );
  async function run() {
    const text = input.value.trim();
    if (!text) return;
    if (!state.has("soju.im/search")) {
      status.textContent = "This server does not offer search.";
      return;
    }
    status.textContent = "Searching…";
    results.replaceChildren();
    try {
      const found = await state.search(conv, text);
      status.textContent = found.length
        ? `${found.length} message${found.length === 1 ? "" : "s"} found`
        : "Nothing found.";
      const words = text.split(/\s+/);
      results.replaceChildren(
        ...found.map((m) =>
          h(
            "li",
            {},
            h(
              "button.search-result",
              {
                type: "button",
                onclick: () => {
                  close();
                  ui.jumpTo(conv, m.id, m.time);
                },
              },
              avatar(m.nick, "small"),
              h(
                "span.result-body",
                {},
                h(
                  "span.result-head",
                  {},
                  h("strong." + nickClass(m.nick), {}, m.nick),
                  h("time", { title: formatFull(m.time) }, `${formatShort(m.time)}`),
                ),
                h("span.result-text", {}, richText(m.text, words)),
              ),
            ),
          ),
        ),
      );
    } catch (err) {
      status.textContent = `Search failed: ${err.message}`;
    }
  }
  body.append(form, status, results);
  input.focus();
  if (initial) run();
}

/** The admin panel: accounts and registration. */
export function adminPanel(ui) {
  const { body } = openDialog("Administration", { className: "wide admin-dialog" });
  const status = h("p.muted", { role: "status" });
  const table = h("table.accounts");
  const regSwitch = h("input", { type: "checkbox", id: "reg-open", role: "switch" });
  const regLabel = h("span", {}, "");
  const showRegistration = (open) => {
    regSwitch.checked = open;
    regLabel.textContent = open
      ? "Open: anyone on the network can create an account."
      : "Closed: only administrators create accounts.";
  };
  showRegistration(ui.info.registration === "open");
  regSwitch.addEventListener("change", async () => {
    const wanted = regSwitch.checked ? "open" : "closed";
    try {
      await api.setRegistration(wanted);
      ui.info.registration = wanted;
      showRegistration(wanted === "open");
      ui.toast(`Registration is now ${wanted}.`, "info");
    } catch (err) {
      showRegistration(!regSwitch.checked);
      ui.toast(`Could not change registration: ${err.message}`);
    }
  });

  const newName = h("input", { id: "new-account-name", autocomplete: "off", autocapitalize: "none", required: true });
  const newPassword = h("input", {
    id: "new-account-password",
    type: "password",
    autocomplete: "new-password",
    required: true,
    minLength: 8,
  });
  const newAdmin = h("input", { id: "new-account-admin", type: "checkbox" });
  const createError = h("p.form-error", { role: "alert", hidden: true });
  const createForm = h(
    "form.create-account",
    {
      aria: { label: "Create an account" },
      onsubmit: async (event) => {
        event.preventDefault();
        createError.hidden = true;
        if (!newName.value.trim() || newPassword.value.length < 8) {
          createError.textContent = "Enter a name and a password of at least 8 characters.";
          createError.hidden = false;
          return;
        }
        try {
          await api.createAccount(newName.value.trim(), newPassword.value, newAdmin.checked);
          ui.toast(`Account ${newName.value.trim()} created.`, "info");
          newName.value = "";
          newPassword.value = "";
          newAdmin.checked = false;
          load();
        } catch (err) {
          createError.textContent = err.message;
          createError.hidden = false;
        }
      },
    },
    h("div.field", {}, h("label", { for: "new-account-name" }, "Username"), newName),
    h("div.field", {}, h("label", { for: "new-account-password" }, "Password"), newPassword),
    h("label.check", { for: "new-account-admin" }, newAdmin, "Administrator"),
    h("button.primary", { type: "submit" }, icon("userplus"), "Create account"),
    createError,
  );

  async function load() {
    status.textContent = "Loading accounts…";
    try {
      const accounts = await api.accounts();
      accounts.sort((a, b) => a.name.localeCompare(b.name));
      status.textContent = `${accounts.length} account${accounts.length === 1 ? "" : "s"}`;
      table.replaceChildren(
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "Account"),
            h("th", { scope: "col" }, "Created"),
            h("th", { scope: "col" }, "Last seen"),
            h("th", { scope: "col" }, h("span.visually-hidden", {}, "Actions")),
          ),
        ),
        h(
          "tbody",
          {},
          accounts.map((a) => accountRow(a)),
        ),
      );
    } catch (err) {
      status.textContent = `Could not load accounts: ${err.message}`;
    }
  }

  function accountRow(a) {
    const self = ui.state.fold(a.name) === ui.state.fold(ui.state.account);
    const when = (iso) =>
      iso
        ? h("time", { datetime: iso, title: formatFull(Date.parse(iso)) }, formatShort(Date.parse(iso)))
        : h("span.muted", {}, "never");
    return h(
      "tr",
      { data: { account: a.name } },
      h(
        "th",
        { scope: "row" },
        h(
          "span.account-cell",
          {},
          avatar(a.name, "small"),
          h("span", {}, a.name),
          a.admin ? h("span.badge", {}, "admin") : null,
          self ? h("span.badge.subtle", {}, "you") : null,
        ),
      ),
      h("td", {}, when(a.created)),
      h("td", {}, a.online ? h("span.badge.online", {}, "online now") : when(a.last_seen)),
      h(
        "td",
        {},
        h(
          "div.row-actions",
          {},
          h(
            "button.secondary.small",
            { type: "button", aria: { label: `Reset the password of ${a.name}` }, onclick: () => resetPassword(a) },
            icon("key"),
            "Reset password",
          ),
          self
            ? null
            : h(
                "button.secondary.small",
                {
                  type: "button",
                  aria: { label: a.admin ? `Remove admin rights from ${a.name}` : `Make ${a.name} an admin` },
                  onclick: async () => {
                    try {
                      await api.setAdmin(a.name, !a.admin);
                      ui.toast(a.admin ? `${a.name} is no longer an admin.` : `${a.name} is now an admin.`, "info");
                      load();
                    } catch (err) {
                      ui.toast(err.message);
                    }
                  },
                },
                icon("shield"),
                a.admin ? "Remove admin" : "Make admin",
              ),
          self
            ? null
            : h(
                "button.danger-button.small",
                {
                  type: "button",
                  aria: { label: `Remove the account ${a.name}` },
                  onclick: async () => {
                    if (
                      !(await confirmDialog(
                        "Remove account",
                        `Remove the account ${a.name}? They can no longer sign in.`,
                        "Remove",
                        true,
                      ))
                    )
                      return;
                    try {
                      await api.deleteAccount(a.name);
                      ui.toast(`Account ${a.name} removed.`, "info");
                      load();
                    } catch (err) {
                      ui.toast(err.message);
                    }
                  },
                },
                icon("trash"),
                "Remove",
              ),
        ),
      ),
    );
  }

  function resetPassword(a) {
    const { body: pwBody, close } = openDialog(`New password for ${a.name}`, { className: "small" });
    const input = h("input", {
      id: "reset-password",
      type: "password",
      autocomplete: "new-password",
      minLength: 8,
      required: true,
    });
    const error = h("p.form-error", { role: "alert", hidden: true });
    pwBody.append(
      h(
        "form",
        {
          onsubmit: async (event) => {
            event.preventDefault();
            if (input.value.length < 8) {
              error.textContent = "At least 8 characters.";
              error.hidden = false;
              return;
            }
            try {
              await api.resetPassword(a.name, input.value);
              close();
              ui.toast(`Password of ${a.name} changed.`, "info");
            } catch (err) {
              error.textContent = err.message;
              error.hidden = false;
            }
          },
        },
        h("div.field", {}, h("label", { for: "reset-password" }, "New password"), input),
        error,
        h(
          "div.dialog-actions",
          {},
          h("button.secondary", { type: "button", onclick: () => close() }, "Cancel"),
          h("button.primary", { type: "submit" }, "Set password"),
        ),
      ),
    );
    input.focus();
  }

  body.append(
    h(
      "section.admin-section",
      { aria: { labelledby: "reg-title" } },
      h("h3", { id: "reg-title" }, "Registration"),
      h("label.switch", { for: "reg-open" }, regSwitch, h("span.switch-track", { aria: { hidden: "true" } }), regLabel),
    ),
    h(
      "section.admin-section",
      { aria: { labelledby: "new-title" } },
      h("h3", { id: "new-title" }, "New account"),
      createForm,
    ),
    h(
      "section.admin-section",
      { aria: { labelledby: "acc-title" } },
      h("h3", { id: "acc-title" }, "Accounts"),
      status,
      h("div.table-wrap", {}, table),
    ),
  );
  load();
}
