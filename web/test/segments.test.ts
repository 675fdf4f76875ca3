import { describe, expect, it } from "vitest";
import fixture from "./segment-cases.json";
import { analyze, describeCulprit } from "../src/segments";

interface Case {
  code_points: number[];
  encoding: string;
  characters: number;
  units: number;
  segments: number;
  ucs2_culprits: number[];
  per_segment_limit: number;
}

const cases = (fixture as { cases: Case[] }).cases;

describe("segments.ts agrees with shared/core/segments.py", () => {
  it("has a table to compare against", () => {
    expect(cases.length).toBeGreaterThan(30);
  });

  it.each(cases.map((c, i) => [i, c] as const))("case %i", (_i, c) => {
    const text = String.fromCodePoint(...c.code_points);
    const report = analyze(text);
    expect({
      encoding: report.encoding,
      characters: report.characters,
      units: report.units,
      segments: report.segments,
      ucs2_culprits: report.ucs2_culprits.map((ch) => ch.codePointAt(0)),
      per_segment_limit: report.per_segment_limit,
    }).toEqual({
      encoding: c.encoding,
      characters: c.characters,
      units: c.units,
      segments: c.segments,
      ucs2_culprits: c.ucs2_culprits,
      per_segment_limit: c.per_segment_limit,
    });
  });
});

describe("describeCulprit", () => {
  it("shows a visible character with its code point", () => {
    expect(describeCulprit("’")).toBe("’ U+2019");
  });
  it("shows an invisible one by code point only", () => {
    expect(describeCulprit("\u00a0")).toBe("U+00A0");
  });
});
