// Minor-unit digits of currencies, as the server counts them (bus/messages/common.py
// MINOR_DIGITS, held equal by tests/unit/test_pwa_assets.py). The browser's Intl knows
// other figures for some (0 for HUF or IDR, where ISO 4217 and the ledger say 2), so
// amounts in minor units are never scaled by Intl's.

const NO_MINOR_UNITS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF";

export const MINOR_DIGITS = {
  ...Object.fromEntries(NO_MINOR_UNITS.split(" ").map((c) => [c, 0])),
  ...Object.fromEntries(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"].map((c) => [c, 3])),
  ...Object.fromEntries(["CLF", "UYW"].map((c) => [c, 4])),
  PTS: 0,
};

/** Digits after the decimal point of an amount of ``currency``. */
export function minorDigits(currency) {
  return MINOR_DIGITS[currency] ?? 2;
}

/** ``minor`` units as an exact decimal string ("1234.50"), for Intl to format. */
export function decimal(minor, currency) {
  const digits = minorDigits(currency);
  const whole = Math.abs(Math.trunc(minor)).toString().padStart(digits + 1, "0");
  const text = digits ? `${whole.slice(0, -digits)}.${whole.slice(-digits)}` : whole;
  return minor < 0 ? `-${text}` : text;
}
