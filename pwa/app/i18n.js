// Strings and formats by locale. Strings live in i18n/<locale>.json (fetched once per
// locale, cached by the service worker like the rest of the shell); numbers, money and
// dates go through Intl so that each locale writes them its own way.

import { decimal, minorDigits } from "./currencies.js";

export const LOCALES = ["en", "es", "fr", "de", "hi", "ar"];
const RTL = new Set(["ar", "he", "fa", "ur"]);
const loaded = new Map();

export function direction(locale) {
  return RTL.has(locale.split("-")[0]) ? "rtl" : "ltr";
}

/** The best locale we have strings for: the wanted one, its language, or English. */
export function supported(locale) {
  if (!locale) return "en";
  if (LOCALES.includes(locale)) return locale;
  const language = locale.split("-")[0];
  return LOCALES.includes(language) ? language : "en";
}

/** The locale a product's texts come in from the API: the one asked for, its language,
 * or English (bus/messages/catalogue.py, ``Product.text``); unknown: the one asked for. */
export function textLocale(locales, locale) {
  if (!locales || !locales.length || locales.includes(locale)) return locale;
  const language = locale.split("-")[0];
  return locales.includes(language) ? language : "en";
}

async function strings(base, locale) {
  if (!loaded.has(locale)) {
    loaded.set(
      locale,
      fetch(`${base}/app/i18n/${locale}.json`).then((r) => {
        if (!r.ok) throw new Error(`no strings for ${locale}`);
        return r.json();
      }),
    );
  }
  try {
    return await loaded.get(locale);
  } catch (e) {
    loaded.delete(locale);
    throw e;
  }
}

/** A translator for one locale: t(key, {name: value}) and the Intl formats. */
export async function translator(base, locale) {
  const english = await strings(base, "en");
  const own = locale === "en" ? english : await strings(base, locale).catch(() => english);
  const numbers = new Intl.NumberFormat(locale);
  const dates = new Intl.DateTimeFormat(locale, { dateStyle: "medium" });
  const dateTimes = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
  const fillIn = (text, vars) =>
    vars ? text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? "")) : text;
  const t = (key, vars) => fillIn(own[key] ?? english[key] ?? key, vars);
  t.locale = locale;
  t.dir = direction(locale);
  /** A counted string: ``key.one``, ``key.other`` … by the locale's plural rules (Arabic
   * has six forms); a form the locale lacks is its ``other``, then English's. */
  const plurals = new Intl.PluralRules(locale);
  const englishPlurals = new Intl.PluralRules("en");
  t.plural = (key, count, vars) => {
    const text =
      own[`${key}.${plurals.select(count)}`] ??
      own[`${key}.other`] ??
      english[`${key}.${englishPlurals.select(count)}`] ??
      english[`${key}.other`] ??
      key;
    return fillIn(text, vars);
  };
  /** The lang a product's texts need when they are not in this locale's language (the
   * API falls back to English: ADR 22); undefined when they are. */
  t.textLang = (product) => {
    const text = textLocale(product?.locales, locale);
    return text.split("-")[0] === locale.split("-")[0] ? undefined : text;
  };
  t.number = (n) => numbers.format(n);
  t.money = (minor, currency) => {
    const digits = minorDigits(currency);
    const options = { minimumFractionDigits: digits, maximumFractionDigits: digits };
    const format = new Intl.NumberFormat(locale, { style: "currency", currency, ...options });
    return format.format(decimal(minor, currency)); // a string: exact, whatever its size
  };
  /** A category's name; a tenant's own category, which no locale names, as it is. */
  t.category = (category) => {
    const key = `category.${category}`;
    const text = t(key);
    return text === key ? category : text;
  };
  t.date = (iso) => (iso ? dates.format(new Date(iso)) : "");
  t.dateTime = (iso) => (iso ? dateTimes.format(new Date(iso)) : "");
  t.list = (items) => {
    try {
      return new Intl.ListFormat(locale, { type: "conjunction" }).format(items);
    } catch {
      return items.join(", ");
    }
  };
  t.country = (code) => {
    try {
      return new Intl.DisplayNames([locale], { type: "region" }).of(code) || code;
    } catch {
      return code;
    }
  };
  t.language = (code) => {
    try {
      return new Intl.DisplayNames([code], { type: "language" }).of(code) || code;
    } catch {
      return code;
    }
  };
  return t;
}
