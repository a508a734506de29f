// The sign-in and create-account screens.

import { api } from "./api.js";
import { h, icon } from "./dom.js";

export function logo() {
  return h("span.logo", { aria: { hidden: "true" } }, icon("chat"));
}

function field(label, input, hint = null) {
  const id = input.id;
  return h(
    "div.field",
    {},
    h("label", { for: id }, label),
    input,
    hint ? h("p.hint", { id: `${id}-hint` }, hint) : null,
  );
}

/**
 * Show the auth screen in root. info is /api/info. onDone(session) is called after a
 * successful login or registration. notice: an optional message (e.g. "You were logged out").
 */
export function showAuth(root, info, onDone, notice = "") {
  const canRegister = info.registration === "open" || info.first_account;
  let mode = info.first_account ? "register" : "login";

  const screen = h("main.auth", { id: "auth" });
  root.replaceChildren(screen);

  function render() {
    const isLogin = mode === "login";
    const error = h("p.form-error", { role: "alert", id: "auth-error", hidden: true });
    const username = h("input", {
      id: "auth-username",
      name: "username",
      autocomplete: "username",
      autocapitalize: "none",
      spellcheck: "false",
      required: true,
      maxLength: 32,
    });
    const password = h("input", {
      id: "auth-password",
      name: "password",
      type: "password",
      autocomplete: isLogin ? "current-password" : "new-password",
      required: true,
      minLength: isLogin ? undefined : 8,
    });
    const confirm = isLogin
      ? null
      : h("input", {
          id: "auth-confirm",
          name: "confirm",
          type: "password",
          autocomplete: "new-password",
          required: true,
        });
    const submit = h("button.primary.wide", { type: "submit" }, isLogin ? "Sign in" : "Create account");

    const form = h(
      "form.auth-form",
      {
        novalidate: true,
        aria: { labelledby: "auth-title" },
        onsubmit: async (event) => {
          event.preventDefault();
          error.hidden = true;
          const name = username.value.trim();
          if (!name || !password.value) {
            showError(isLogin ? "Enter your username and password." : "Choose a username and a password.");
            return;
          }
          if (!isLogin && password.value.length < 8) {
            showError("The password needs at least 8 characters.");
            password.focus();
            return;
          }
          if (!isLogin && password.value !== confirm.value) {
            showError("The two passwords do not match.");
            confirm.focus();
            return;
          }
          submit.disabled = true;
          submit.textContent = isLogin ? "Signing in…" : "Creating account…";
          try {
            const session = isLogin ? await api.login(name, password.value) : await api.register(name, password.value);
            password.value = "";
            if (confirm) confirm.value = "";
            onDone(session);
          } catch (err) {
            submit.disabled = false;
            submit.textContent = isLogin ? "Sign in" : "Create account";
            if (isLogin && err.status === 401) showError("Wrong username or password.");
            else showError(err.message || "Something went wrong.");
            password.select();
            password.focus();
          }
        },
      },
      field("Username", username),
      field("Password", password, isLogin ? null : "At least 8 characters."),
      confirm ? field("Repeat the password", confirm) : null,
      error,
      submit,
    );

    function showError(text) {
      error.textContent = text;
      error.hidden = false;
    }

    const title = info.first_account ? "Set up lanchat" : isLogin ? "Sign in" : "Create an account";
    const lead = info.first_account
      ? "Create the first account. It becomes the administrator: it can add people and manage accounts."
      : isLogin
        ? `Welcome back to ${info.network || "lanchat"}.`
        : `Join ${info.network || "lanchat"} on ${info.server || "this server"}.`;

    const switcher =
      canRegister && !info.first_account
        ? h(
            "p.auth-switch",
            {},
            isLogin ? "New here? " : "Already have an account? ",
            h(
              "button.link",
              {
                type: "button",
                onclick: () => {
                  mode = isLogin ? "register" : "login";
                  render();
                },
              },
              isLogin ? "Create an account" : "Sign in",
            ),
          )
        : !canRegister && isLogin
          ? h("p.auth-switch.muted", {}, "No account yet? Ask an administrator to create one for you.")
          : null;

    screen.replaceChildren(
      h(
        "div.auth-card",
        {},
        h("div.auth-brand", {}, logo(), h("span.auth-name", {}, "lanchat")),
        h("h1", { id: "auth-title" }, title),
        h("p.lead", {}, lead),
        notice ? h("p.notice", { role: "status" }, notice) : null,
        form,
        switcher,
      ),
      h("p.auth-foot", {}, `${info.server || ""}${info.version ? ` · lanchat ${info.version}` : ""}`),
    );
    notice = "";
    username.focus();
  }
  render();
}
