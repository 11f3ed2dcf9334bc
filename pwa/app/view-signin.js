// Sign in with email and password, or with the tenant's single sign-on.

import { ApiError } from "./api.js";
import { h, uid } from "./dom.js";

export async function render(app) {
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
        if (!email.value || !password.value) {
          error.textContent = t("signin.missing");
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
  );
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
