// Products' names by id, for the views that list orders and wallet movements (which carry
// only the product's id): asked of the API once per locale and kept for the session.

/** ``{name, lang}`` of product ``id`` in the app's locale (``lang`` set when the API had no
 * text in the app's language); the id itself, as the name, when it cannot be read. */
export function productText(app, id) {
  app.productNames ??= new Map();
  const key = `${app.locale}:${id}`;
  if (!app.productNames.has(key)) {
    app.productNames.set(
      key,
      app.api.product(id, app.locale).then(
        (p) => ({ name: p.name, lang: app.t.textLang(p) }),
        () => ({ name: id, lang: undefined }),
      ),
    );
  }
  return app.productNames.get(key);
}
