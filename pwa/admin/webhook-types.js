// Which events a webhook gets, picked from the public event types (GET /events/schemas)
// grouped by aggregate: every event, or the types and whole aggregates ticked
// ("perkbus.order.*"). Used by the webhooks view's create and edit forms.

import { h } from "./ui.js";

/** Aggregates whose events only some may have sent (bus/webhook_filters.py), and the
 * permission each needs: their boxes are offered to those who hold it. */
const PRIVATE = { people: "people:admin", identity: "clients:admin" };
/** Never on the event stream: it is what "Send a test event" sends, to one endpoint. */
const NOT_OFFERED = new Set(["webhook"]);

/** The public event types, grouped: ``[[aggregate, [type…]]…]`` in name order. */
export async function eventTypes(app) {
  const { types } = await app.api.get("/events/schemas");
  const groups = new Map();
  for (const type of Object.keys(types).sort()) {
    const aggregate = type.split(".")[1];
    if (!aggregate || NOT_OFFERED.has(aggregate)) continue;
    if (PRIVATE[aggregate] && !app.can(PRIVATE[aggregate])) continue;
    if (!groups.has(aggregate)) groups.set(aggregate, []);
    groups.get(aggregate).push(type);
  }
  return [...groups];
}

/** The events an endpoint gets, as people read them: every event of an endpoint made by
 * someone who could not read people's or API clients' events leaves those out. */
export function typesText(w) {
  if (w.event_types.length) return w.event_types.join(", ");
  const without = Object.keys(PRIVATE).filter((a) => !w.private_aggregates.includes(a));
  return without.length ? `all events but ${without.join(" and ")} ones` : "all events";
}

/**
 * The picker: "every event" or "only those ticked", then a box per aggregate and per
 * type. ``chosen`` are an endpoint's filters (empty: every event). Filters the picker does
 * not offer (an aggregate this session may not name, a type no longer public) are kept as
 * boxes of their own, ticked, so that saving does not drop them unasked.
 * ``picker.chosen()`` is the filters ticked, or throws an Error people can read.
 */
export function typePicker(groups, chosen, failed) {
  const offered = new Set(groups.flatMap(([aggregate, types]) => [`perkbus.${aggregate}.*`, ...types]));
  const others = chosen.filter((f) => !offered.has(f));
  const all = h("input", { type: "radio", name: "events", value: "all", checked: chosen.length === 0 });
  const some = h("input", { type: "radio", name: "events", value: "some", checked: chosen.length > 0 });
  const boxes = [];
  const box = (filter, text) => {
    const input = h("input", { type: "checkbox", name: `type:${filter}`, value: filter, checked: chosen.includes(filter) });
    input.addEventListener("change", () => {
      if (input.checked) some.checked = true;
    });
    boxes.push(input);
    return { input, label: h("label", {}, input, ` ${text}`) };
  };
  const group = (aggregate, types) => {
    const whole = box(`perkbus.${aggregate}.*`, `all ${aggregate} events (perkbus.${aggregate}.*)`);
    const each = types.map((type) => box(type, type));
    // a whole aggregate ticked covers its types: they show ticked and cannot be changed
    const sync = () => {
      for (const one of each) {
        if (whole.input.checked) one.input.checked = true;
        else if (one.input.disabled) one.input.checked = false;
        one.input.disabled = whole.input.checked;
      }
    };
    whole.input.addEventListener("change", sync);
    sync();
    return h(
      "fieldset",
      { class: "pa-choices pa-type-group" },
      h("legend", {}, aggregate),
      whole.label,
      each.map((b) => b.label),
    );
  };
  const picker = h(
    "fieldset",
    { class: "pa-types" },
    h("legend", {}, "Events it gets"),
    h(
      "div",
      { class: "pa-choices pa-plain" },
      h("label", {}, all, " every event"),
      h("label", {}, some, " only those ticked below"),
    ),
    failed ? h("p", { class: "pa-notice pa-fail", role: "alert" }, `The event types could not be read (${failed}): only “every event” can be chosen.`) : null,
    groups.map(([aggregate, types]) => group(aggregate, types)),
    others.length
      ? h(
          "fieldset",
          { class: "pa-choices pa-type-group" },
          h("legend", {}, "others it has"),
          others.map((f) => box(f, f).label),
        )
      : null,
  );
  picker.chosen = () => {
    if (all.checked) return [];
    const ticked = boxes.filter((b) => b.checked && !b.disabled).map((b) => b.value);
    if (!ticked.length) throw new Error("Tick at least one event type, or choose every event.");
    return ticked;
  };
  return picker;
}

/** Whether two endpoints' filters name the same events (in any order). */
export function sameTypes(a, b) {
  return a.length === b.length && [...a].sort().join(" ") === [...b].sort().join(" ");
}
