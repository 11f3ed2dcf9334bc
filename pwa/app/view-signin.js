// Sign in with email and password, or with the tenant's single sign-on; ask for a link
// to choose a password ("Forgot your password?"), and choose one with it (ADR 42).

import { ApiError } from "./api.js";
import { h, uid } from "./dom.js";

export async function render(app) {
  if (app.resetToken) return h("section", { class: "pb-narrow" }, choosePassword(app));
  const t = app.t;
  const emailId = uid("email");
  const passwordId = uid("password");
  const errorId = uid("error");
  const email = h("input", {
    id: emailId,
    name: "email",
    type: "email",
    autocomplete: "username",
    required: true,
    spellcheck: "false",
  });
  const password = h("input", {
    id: passwordId,
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const error = h("p", { id: errorId, class: "pb-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "pb-primary" }, t("signin.submit"));
  const form = h(
    "form",
    {
      class: "pb-card pb-signin",
      "aria-labelledby": `${emailId}-title`,
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = "";
        // the fields the error is about say so, and point at it (aria-describedby)
        const invalid = (...fields) => {
          for (const input of [email, password]) {
            if (fields.includes(input)) {
              input.setAttribute("aria-invalid", "true");
              input.setAttribute("aria-describedby", errorId);
            } else {
              input.removeAttribute("aria-invalid");
              input.removeAttribute("aria-describedby");
            }
          }
        };
        invalid();
        if (!email.value || !password.value) {
          error.textContent = t("signin.missing");
          invalid(...[email, password].filter((input) => !input.value));
          (email.value ? password : email).focus();
          return;
        }
        submit.disabled = true;
        submit.textContent = t("signin.busy");
        try {
          const person = await app.api.signIn(email.value.trim(), password.value);
          await app.signedIn(person);
        } catch (e) {
          const refused = e instanceof ApiError && (e.status === 401 || e.status === 400);
          error.textContent = refused ? t("signin.refused") : app.problem(e);
          if (refused) invalid(email, password);
          submit.disabled = false;
          submit.textContent = t("signin.submit");
          password.focus();
        }
      },
    },
    h("h1", { id: `${emailId}-title` }, t("signin.title", { name: app.displayName() })),
    app.otherTenant ? h("p", { class: "pb-notice", role: "status" }, t("signin.other_tenant", { name: app.otherTenant })) : null,
    h("p", { class: "pb-muted" }, t("signin.intro")),
    h("label", { for: emailId }, t("signin.email")),
    email,
    h("label", { for: passwordId }, t("signin.password")),
    password,
    error,
    submit,
    h(
      "p",
      { class: "pb-forgot" },
      h(
        "button",
        {
          type: "button",
          class: "pb-link",
          onclick: () => {
            const asking = forgotPassword(app, email.value.trim(), () => asking.replaceWith(form));
            form.replaceWith(asking);
            asking.querySelector("input").focus();
          },
        },
        t("signin.forgot"),
      ),
    ),
  );
  if (!app.options.embedded && location.hash === "#forgot") {
    // the console's "Forgot your password?" opens here
    history.replaceState(history.state, "", location.pathname + location.search);
    const asking = forgotPassword(app, "", () => asking.replaceWith(form));
    return h("section", { class: "pb-narrow" }, asking);
  }
  if (app.options.embedded) {
    // single sign-on ends in a cookie session on perkbus's origin, which an embed in
    // another site's page cannot use: the embed signs in with a password (bearer tokens)
    return h("section", { class: "pb-narrow" }, form);
  }
  const tenant = encodeURIComponent(app.tenant);
  const back = `?return_to=${encodeURIComponent("/?tenant=" + app.tenant)}`;
  const sso = h(
    "p",
    { class: "pb-sso" },
    h("span", { class: "pb-muted" }, t("signin.or")),
    " ",
    h(
      "a",
      {
        class: "pb-button",
        href: `${app.base}/auth/${tenant}/sso/login${back}`,
      },
      t("signin.sso"),
    ),
  );
  return h("section", { class: "pb-narrow" }, form, sso);
}

/** "Forgot your password?": an email address, then the same words whatever happens (no
 * one learns from them whether the address is a person's). */
function forgotPassword(app, typed, back) {
  const t = app.t;
  const emailId = uid("email");
  const note = h("p", { class: "pb-notice", role: "status" });
  const error = h("p", { class: "pb-error", role: "alert" });
  const email = h("input", {
    id: emailId,
    name: "email",
    type: "email",
    autocomplete: "username",
    required: true,
    spellcheck: "false",
    value: typed,
  });
  const submit = h("button", { type: "submit", class: "pb-primary" }, t("forgot.submit"));
  return h(
    "form",
    {
      class: "pb-card pb-signin",
      "aria-labelledby": `${emailId}-title`,
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = note.textContent = "";
        if (!email.validity.valid || !email.value) {
          error.textContent = t("forgot.missing");
          email.focus();
          return;
        }
        submit.disabled = true;
        submit.textContent = t("forgot.busy");
        try {
          await app.api.askPasswordLink(email.value.trim());
          note.textContent = t("forgot.sent");
        } catch (e) {
          error.textContent = app.problem(e);
        } finally {
          submit.disabled = false;
          submit.textContent = t("forgot.submit");
        }
      },
    },
    h("h1", { id: `${emailId}-title` }, t("forgot.title")),
    h("p", { class: "pb-muted" }, t("forgot.intro")),
    h("label", { for: emailId }, t("signin.email")),
    email,
    note,
    error,
    submit,
    h("p", { class: "pb-forgot" }, h("button", { type: "button", class: "pb-link", onclick: back }, t("forgot.back"))),
  );
}

/** The link's page: a new password, twice, then signed in. The token lives in memory
 * only (main.js took it out of the URL). */
function choosePassword(app) {
  const t = app.t;
  const firstId = uid("password");
  const secondId = uid("password");
  const hintId = uid("hint");
  const error = h("p", { class: "pb-error", role: "alert" });
  const field = (id) =>
    h("input", {
      id,
      type: "password",
      autocomplete: "new-password",
      required: true,
      minlength: 12,
      maxlength: 256,
      "aria-describedby": hintId,
    });
  const first = field(firstId);
  const second = field(secondId);
  const submit = h("button", { type: "submit", class: "pb-primary" }, t("reset.submit"));
  const leave = async () => {
    app.resetToken = "";
    await app.render();
  };
  return h(
    "form",
    {
      class: "pb-card pb-signin",
      "aria-labelledby": `${firstId}-title`,
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = "";
        if (first.value.length < 12) {
          error.textContent = t("reset.short");
          first.focus();
          return;
        }
        if (first.value !== second.value) {
          error.textContent = t("reset.mismatch");
          second.focus();
          return;
        }
        submit.disabled = true;
        submit.textContent = t("reset.busy");
        try {
          const person = await app.api.resetPassword(app.resetToken, first.value);
          app.resetToken = "";
          await app.signedIn(person);
        } catch (e) {
          const dead = e instanceof ApiError && e.status === 422 && e.code === "invalid_request";
          error.textContent = dead && !e.body.errors?.length ? t("reset.invalid") : app.problem(e);
          submit.disabled = false;
          submit.textContent = t("reset.submit");
        }
      },
    },
    h("h1", { id: `${firstId}-title` }, t("reset.title")),
    h("p", { class: "pb-muted", id: hintId }, t("reset.hint")),
    h("label", { for: firstId }, t("reset.password")),
    first,
    h("label", { for: secondId }, t("reset.again")),
    second,
    error,
    submit,
    h("p", { class: "pb-forgot" }, h("button", { type: "button", class: "pb-link", onclick: leave }, t("forgot.back"))),
  );
}
