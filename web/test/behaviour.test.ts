import { afterEach, describe, expect, it, vi } from "vitest";
import { ConfigError, parseConfig } from "../src/config";
import { startIdleTimer } from "../src/idle";
import { shortcutHandler } from "../src/keys";
import { parseSpans } from "../src/ui/Admin";
import { parseRoute } from "../src/ui/App";

afterEach(() => vi.useRealTimers());

describe("idle logoff", () => {
  it("fires after the idle minutes, and activity pushes it back", () => {
    vi.useFakeTimers();
    const target = new EventTarget();
    const onIdle = vi.fn();
    startIdleTimer(15, onIdle, target);
    vi.advanceTimersByTime(14 * 60_000);
    target.dispatchEvent(new Event("keydown"));
    vi.advanceTimersByTime(14 * 60_000);
    expect(onIdle).not.toHaveBeenCalled();
    vi.advanceTimersByTime(60_000);
    expect(onIdle).toHaveBeenCalledTimes(1);
    target.dispatchEvent(new Event("keydown"));
    vi.advanceTimersByTime(60 * 60_000);
    expect(onIdle).toHaveBeenCalledTimes(1);
  });
});

describe("shortcuts", () => {
  it("maps j/k/r/a/e/? and ignores keys typed into a field", () => {
    const s = { next: vi.fn(), prev: vi.fn(), reply: vi.fn(), assign: vi.fn(), close: vi.fn(), help: vi.fn() };
    const handle = shortcutHandler(s);
    for (const key of ["j", "k", "r", "a", "e", "?"]) handle(new KeyboardEvent("keydown", { key }));
    for (const f of Object.values(s)) expect(f).toHaveBeenCalledTimes(1);
    const box = document.createElement("textarea");
    document.body.append(box);
    box.addEventListener("keydown", (e) => handle(e));
    box.dispatchEvent(new KeyboardEvent("keydown", { key: "e", bubbles: true }));
    handle(new KeyboardEvent("keydown", { key: "j", ctrlKey: true }));
    expect(s.close).toHaveBeenCalledTimes(1);
    expect(s.next).toHaveBeenCalledTimes(1);
  });
});

describe("config.json", () => {
  const good = { userPoolId: "us-east-1_abc123", clientId: "client" };
  it("fills defaults: SRP, 15 idle minutes, same-origin API", () => {
    expect(parseConfig(good)).toMatchObject({ authFlow: "USER_SRP_AUTH", idleMinutes: 15, apiBaseUrl: "", region: "us-east-1" });
  });
  it("takes a configured idle time and refuses nonsense naming the field", () => {
    expect(parseConfig({ ...good, idleMinutes: 5 }).idleMinutes).toBe(5);
    expect(() => parseConfig({ ...good, idleMinutes: 0 })).toThrow(/idleMinutes/);
    expect(() => parseConfig({ ...good, authFlow: "CUSTOM" })).toThrow(/authFlow/);
    expect(() => parseConfig({ clientId: "x" })).toThrow(ConfigError);
  });
});

describe("admin helpers", () => {
  it("parses split shifts and refuses a malformed span", () => {
    expect(parseSpans("8:30-12:00, 13:00-17:00")).toEqual([["08:30", "12:00"], ["13:00", "17:00"]]);
    expect(parseSpans("")).toEqual([]);
    expect(() => parseSpans("9 to 5")).toThrow(/9 to 5/);
  });
  it("routes hashes to pages", () => {
    expect(parseRoute("#/c/abc")).toEqual({ page: "inbox", id: "abc" });
    expect(parseRoute("#/admin/audit")).toEqual({ page: "audit" });
    expect(parseRoute("#/nowhere")).toEqual({ page: "inbox", id: null });
  });
});
