/**
 * SMS encoding and segment counter: a port of shared/core/segments.py (GSM 03.38 GSM-7 and UCS-2), so the
 * composer shows what the server will count while staff type. test/segments.test.ts checks it against a
 * table of cases generated from the Python implementation (scripts/segment_cases.py).
 *
 * GSM-7: one septet per basic-table character, two (ESC + character) for the extension table; 160 septets
 * in one segment, 153 per part when concatenated. UCS-2 (UTF-16): one unit per BMP code point, two for a
 * surrogate pair; 70 in one segment, 67 per part. A part never splits an escape pair or a surrogate pair.
 */

export type Encoding = "GSM-7" | "UCS-2";

export interface SegmentReport {
  encoding: Encoding;
  characters: number;
  units: number;
  segments: number;
  ucs2_culprits: string[];
  per_segment_limit: number;
}

export const GSM7_SINGLE_LIMIT = 160;
export const GSM7_CONCAT_LIMIT = 153;
export const UCS2_SINGLE_LIMIT = 70;
export const UCS2_CONCAT_LIMIT = 67;

export const GSM7_BASIC: ReadonlySet<string> = new Set(
  Array.from(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
      "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
  ),
);

export const GSM7_EXTENSION: ReadonlySet<string> = new Set(Array.from("\f^{}\\[~]|€"));

function inGsm(ch: string): boolean {
  return GSM7_BASIC.has(ch) || GSM7_EXTENSION.has(ch);
}

/** Code points, as Python iterates a str (a lone surrogate is one). */
function codePoints(text: string): string[] {
  return Array.from(text);
}

export function isGsm7(text: string): boolean {
  return codePoints(text).every(inGsm);
}

function culprits(chars: string[]): string[] {
  const seen = new Set<string>();
  for (const ch of chars) if (!inGsm(ch)) seen.add(ch);
  return [...seen];
}

function unitCosts(chars: string[], gsm: boolean): number[] {
  if (gsm) return chars.map((ch) => (GSM7_EXTENSION.has(ch) ? 2 : 1));
  return chars.map((ch) => ((ch.codePointAt(0) ?? 0) > 0xffff ? 2 : 1));
}

function partBounds(costs: number[], limit: number): number[] {
  const starts: number[] = [];
  let used = limit;
  costs.forEach((cost, index) => {
    if (used + cost > limit) {
      starts.push(index);
      used = 0;
    }
    used += cost;
  });
  return starts;
}

export function analyze(text: string): SegmentReport {
  const chars = codePoints(text);
  const bad = culprits(chars);
  const gsm = bad.length === 0;
  const costs = unitCosts(chars, gsm);
  const units = costs.reduce((a, b) => a + b, 0);
  const [single, concat] = gsm ? [GSM7_SINGLE_LIMIT, GSM7_CONCAT_LIMIT] : [UCS2_SINGLE_LIMIT, UCS2_CONCAT_LIMIT];
  let segments: number;
  let limit: number;
  if (units === 0) [segments, limit] = [0, single];
  else if (units <= single) [segments, limit] = [1, single];
  else [segments, limit] = [partBounds(costs, concat).length, concat];
  return {
    encoding: gsm ? "GSM-7" : "UCS-2",
    characters: graphemeCount(chars),
    units,
    segments,
    ucs2_culprits: bad,
    per_segment_limit: limit,
  };
}

// --- grapheme clusters: the same compact approximation of UAX #29 as the Python module ------------------
const ZWJ = "\u200d";
const ZWNJ = "\u200c";
const MARK = /^[\p{Mn}\p{Me}\p{Mc}]$/u;
const CONTROL = /^[\p{Cc}\p{Zl}\p{Zp}]$/u;
const FORMAT = /^\p{Cf}$/u;
const SYMBOL_OTHER = /^\p{So}$/u;

const cp = (ch: string): number => ch.codePointAt(0) ?? 0;
const isTag = (c: number): boolean => c >= 0xe0020 && c <= 0xe007f;

function isExtend(ch: string): boolean {
  const c = cp(ch);
  return MARK.test(ch) || ch === ZWJ || ch === ZWNJ || (c >= 0x1f3fb && c <= 0x1f3ff) || isTag(c);
}

function isControl(ch: string): boolean {
  if (CONTROL.test(ch)) return true;
  return FORMAT.test(ch) && ch !== ZWJ && ch !== ZWNJ && !isTag(cp(ch));
}

const isRegional = (ch: string): boolean => cp(ch) >= 0x1f1e6 && cp(ch) <= 0x1f1ff;
const isPictographic = (ch: string): boolean => SYMBOL_OTHER.test(ch) || (cp(ch) >= 0x1f000 && cp(ch) <= 0x1faff);

function graphemeCount(chars: string[]): number {
  let count = 0;
  let prev = "";
  let regionalRun = 0;
  for (const ch of chars) {
    const regional = isRegional(ch);
    let joins: boolean;
    if (!prev) joins = false;
    else if (prev === "\r" && ch === "\n") joins = true;
    else if (isControl(prev) || isControl(ch)) joins = false;
    else if (isExtend(ch) || (prev === ZWJ && isPictographic(ch))) joins = true;
    else joins = regional && regionalRun % 2 === 1;
    if (!joins) count += 1;
    regionalRun = regional ? regionalRun + 1 : 0;
    prev = ch;
  }
  return count;
}

/** How a culprit reads in the composer's warning: the character and its code point. */
export function describeCulprit(ch: string): string {
  const hex = cp(ch).toString(16).toUpperCase().padStart(4, "0");
  const shown = /^[\p{Cc}\p{Cf}\p{Z}]$/u.test(ch) ? "" : `${ch} `;
  return `${shown}U+${hex}`;
}
