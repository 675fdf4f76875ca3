import { afterEach, describe, expect, it, vi } from "vitest";
import { Api, ApiError, isStale, toThread } from "../src/api";

afterEach(() => vi.unstubAllGlobals());

function stubFetch(...answers: Response[]) {
  const calls: [string, RequestInit][] = [];
  vi.stubGlobal("fetch", vi.fn(async (url: string, init: RequestInit) => {
    calls.push([url, init]);
    const next = answers.shift();
    if (!next) throw new Error("no more answers");
    return next;
  }));
  return calls;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });

describe("Api", () => {
  it("polls a thread with If-None-Match and treats 304 as unchanged", async () => {
    const calls = stubFetch(json(200, { conversation: { id: "c1", version: 3 }, messages: [] }, { ETag: '"v3"' }), new Response(null, { status: 304 }));
    const api = new Api("http://api", async () => "tok");
    const first = await api.thread("c1");
    expect(first?.version).toBe(3);
    expect(first?.etag).toBe('"v3"');
    expect(await api.thread("c1", first!.etag)).toBeNull();
    const headers = calls[1]![1].headers as Record<string, string>;
    expect(headers["If-None-Match"]).toBe('"v3"');
    expect(headers.Authorization).toBe("Bearer tok");
  });

  it("writes carry the version read (If-Match and body), and a 409 names what changed", async () => {
    const calls = stubFetch(json(409, { message: "a reply was sent since version 3", field: "version" }));
    const api = new Api("http://api", async () => "tok");
    const thread = toThread({ conversation: { id: "c1", version: 3 } }, '"v3"');
    const refused = await api.write(thread, "messages", { body: "hi" }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).status).toBe(409);
    expect((refused as ApiError).message).toContain("since version 3");
    expect(calls[0]![0]).toBe("http://api/inbox/conversations/c1/messages");
    expect(JSON.parse(String(calls[0]![1].body))).toEqual({ body: "hi", version: 3 });
    expect((calls[0]![1].headers as Record<string, string>)["If-Match"]).toBe('"v3"');
  });

  it("signs out on 401 and when there is no token", async () => {
    stubFetch(json(401, { message: "Unauthorized" }));
    const onSignedOut = vi.fn();
    await expect(new Api("", async () => "tok", onSignedOut).me()).rejects.toThrow(/session ended/);
    await expect(new Api("", async () => null, onSignedOut).me()).rejects.toThrow(/signed out/);
    expect(onSignedOut).toHaveBeenCalledTimes(2);
  });

  it("reads the consent state: opted out disables replies with the reason", () => {
    const t = toThread({ conversation: { id: "c1", version: 1, consent: { state: "opted_out", reason: "texted STOP on 2026-11-30" } } }, null);
    expect(t.optedOut).toBe(true);
    expect(t.consentReason).toBe("texted STOP on 2026-11-30");
    expect(toThread({ conversation: { id: "c1", consent: "granted" } }, null).optedOut).toBe(false);
  });
});

describe("the contract's shapes (s4-h11)", () => {
  it("a department assignee is the queue (unassigned), a user is named; 409 lists what changed", async () => {
    const { toItem } = await import("../src/api");
    const base = { id: "c1", department: "nursing", status: "open", last_activity_at: "2026-12-01T10:00:00Z", flags: { urgent: false, overdue: false, unread: true } };
    expect(toItem({ ...base, assignee: { kind: "department", id: "nursing" } }).assignee).toBeNull();
    expect(toItem({ ...base, assignee: { kind: "department", id: "billing" } }).assignee).toBe("billing (department)");
    expect(toItem({ ...base, assignee: { kind: "user", id: "sub-1" } }).assignee).toBe("sub-1");
    expect(toItem({ ...base, masked_number: null }).patient).toBe("Patient");
    stubFetch(json(409, { error: "stale_version", message: "the conversation changed", current_version: 4, changes: [{ kind: "note", version: 4 }] }));
    const api = new Api("", async () => "tok");
    const refused = await api.write(toThread({ conversation: { id: "c1", version: 3 } }, '"3"'), "close").catch((e: unknown) => e);
    expect((refused as ApiError).message).toBe("the conversation changed (since then: note)");
  });
  it("reads the {error: {message, field}} shape, and only a stale_version 409 is a stale view", async () => {
    stubFetch(
      json(409, { error: { code: "conflict", message: "the reply was not sent (no_number)" } }),
      json(409, { error: "stale_version", message: "the conversation changed", changes: [{ kind: "note" }] }),
      json(400, { error: { code: "invalid_request", message: "body is required", field: "body" } }),
    );
    const api = new Api("http://api", async () => "tok");
    const thread = toThread({ conversation: { id: "c1", version: 3 } }, '"v3"');
    const conflict = (await api.write(thread, "messages", { body: "hi" }).catch((e: unknown) => e)) as ApiError;
    expect(conflict.message).toBe("the reply was not sent (no_number)");
    expect(isStale(conflict)).toBe(false);
    const stale = (await api.write(thread, "messages", { body: "hi" }).catch((e: unknown) => e)) as ApiError;
    expect(isStale(stale)).toBe(true);
    const invalid = (await api.write(thread, "notes", {}).catch((e: unknown) => e)) as ApiError;
    expect([invalid.message, invalid.field]).toEqual(["body is required", "body"]);
  });
});
