import { fireEvent, render, screen, within } from "@testing-library/preact";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Api, toThread } from "../src/api";
import { Inbox, mergeMessages } from "../src/ui/Inbox";
import { ThreadView } from "../src/ui/ThreadView";

afterEach(() => vi.unstubAllGlobals());

// The shape GET /inbox/conversations/{id} gives (shared/inbox/service_staff.py thread_entry).
const entry = (id: string, at: string, extra: Record<string, unknown>) => ({
  id,
  at: `2026-12-01T${at}:00Z`,
  direction: "outbound",
  automated: true,
  sender: null,
  status: "sent",
  segments: 1,
  delivery: { status: null, at: null, detail: null },
  ...extra,
});

const THREAD = [
  entry("m6", "10:30", { kind: "urgent_reply", body: "If this is an emergency call 911.", delivery: { status: "failed", at: null, detail: "carrier unreachable" } }),
  entry("m5", "10:20", { kind: "after_hours", body: "We are closed until 8:00." }),
  entry("m4", "10:10", { kind: "reminder", body: "Reminder: your visit Tuesday 9:00." }),
  entry("m3", "10:05", {
    kind: "staff_reply",
    automated: false,
    sender: { user_id: "u1", name: "nina.nurse" },
    body: "Some redness is normal.",
    delivery: { status: "delivered", at: "2026-12-01T10:05:04Z", detail: null },
  }),
  entry("m2", "10:00", { direction: "inbound", kind: "patient", automated: false, body: "My incision is red", status: "received", delivery: null }),
];

function conversation(thread: unknown[], cursor: string | null, extra: Record<string, unknown> = {}) {
  return {
    conversation: { id: "c1", department: "nursing", status: "open", version: 3, consent: { state: "opted_in", can_text: true, reason: null }, thread, thread_cursor: cursor, ...extra },
  };
}

function view(raw: unknown, props: Record<string, unknown> = {}) {
  render(<ThreadView thread={toThread(raw, '"3"')} canned={[]} departments={["nursing"]} selfId="u1" notice={null} onAction={vi.fn()} {...props} />);
  return screen.getByRole("list", { name: "Messages" });
}

describe("the thread", () => {
  it("shows each kind: who sent it, automated texts labelled, newest first, as a list", () => {
    const list = view(conversation(THREAD, null));
    const items = within(list).getAllByRole("listitem");
    expect(items.map((li) => li.querySelector(".who")?.textContent)).toEqual([
      "Urgent auto-replyAutomated",
      "After-hours replyAutomated",
      "Appointment reminderAutomated",
      "Staff: nina.nurse",
      "Patient",
    ]);
    expect(items[3]?.classList.contains("staff")).toBe(true);
    expect(items[4]?.classList.contains("patient")).toBe(true);
    expect(items[0]?.classList.contains("automated")).toBe(true);
    expect(within(items[4] as HTMLElement).getByText("My incision is red")).toBeTruthy();
    expect(items[3]?.querySelector("time")?.getAttribute("dateTime")).toBe("2026-12-01T10:05:00Z");
  });

  it("shows each outbound text's delivery status, and none for the patient's", () => {
    const items = within(view(conversation(THREAD, null))).getAllByRole("listitem");
    const delivery = items.map((li) => li.querySelector(".delivery")?.textContent ?? null);
    expect(delivery).toEqual([
      " · Delivery: Not delivered: carrier unreachable",
      " · Delivery: Sent, awaiting delivery report",
      " · Delivery: Sent, awaiting delivery report",
      " · Delivery: Delivered",
      null,
    ]);
  });

  it("labels an automated kind it does not know by its name, and an unknown staff sender as Staff", () => {
    const items = within(
      view(conversation([entry("k1", "11:00", { kind: "keyword_help", body: "Reply STOP to opt out." }), entry("s1", "10:00", { kind: "staff_reply", automated: false, body: "Hi" })], null)),
    ).getAllByRole("listitem");
    expect(items[0]?.querySelector(".who")?.textContent).toBe("Automated: keyword helpAutomated");
    expect(items[1]?.querySelector(".who")?.textContent).toBe("Staff");
  });

  it("shows the consent the API gives, and turns replies off when it says the number cannot be texted", () => {
    view(conversation(THREAD, null, { consent: { state: "unreadable", can_text: false, reason: "The consent record cannot be read." } }));
    expect(screen.getByText("unreadable", { selector: "strong" })).toBeTruthy();
    expect((screen.getByLabelText("Reply") as HTMLTextAreaElement).disabled).toBe(true);
  });

  it("offers older messages only when there is a cursor", () => {
    const onOlder = vi.fn().mockResolvedValue(undefined);
    view(conversation(THREAD, "cur1"), { olderCursor: "cur1", onOlder });
    fireEvent.click(screen.getByRole("button", { name: "Older messages" }));
    expect(onOlder).toHaveBeenCalledOnce();
  });

  it("merges pages by id, the newest report winning, newest first", () => {
    const a = toThread(conversation(THREAD.slice(0, 3), null), null).messages;
    const b = toThread(conversation([{ ...THREAD[2], delivery: { status: "delivered" } }, ...THREAD.slice(3)], null), null).messages;
    const merged = mergeMessages(a, b);
    expect(merged.map((m) => m.id)).toEqual(["m6", "m5", "m4", "m3", "m2"]);
    expect(merged[2]?.delivery).toBe("delivered");
  });
});

describe("the inbox's thread", () => {
  it("loads older messages by thread_cursor and shows new texts on the next poll without a reload", async () => {
    let first = conversation(THREAD.slice(0, 2), "cur1");
    const urls: string[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string) => {
        urls.push(url);
        const body =
          url === "/inbox/conversations/c1"
            ? first
            : url === "/inbox/conversations/c1?cursor=cur1"
              ? conversation(THREAD.slice(2), null)
              : url.startsWith("/inbox/conversations")
                ? { conversations: [], cursor: null }
                : { canned_responses: [] };
        return new Response(JSON.stringify(body), { status: 200, headers: { ETag: '"3"' } });
      }),
    );
    const api = new Api("", async () => "tok");
    const me = { user_id: "u1", username: "nina.nurse", departments: ["nursing"], admin: false, visible_departments: ["nursing"] };
    render(<Inbox api={api} me={me} pollSeconds={1} selected="c1" onSelect={() => {}} />);
    expect(await screen.findByText("If this is an emergency call 911.")).toBeTruthy();
    expect(screen.queryByText("My incision is red")).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Older messages" }));
    expect(await screen.findByText("My incision is red")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Older messages" })).toBeNull(); // the start of the thread
    // The patient texts again: the next poll shows it, and the older pages stay.
    first = conversation([entry("m7", "11:00", { direction: "inbound", kind: "patient", automated: false, body: "Thanks!", delivery: null }), ...THREAD.slice(0, 1)], "cur0");
    expect(await screen.findByText("Thanks!", {}, { timeout: 3000 })).toBeTruthy();
    const items = within(screen.getByRole("list", { name: "Messages" })).getAllByRole("listitem");
    expect(items.map((li) => li.querySelector(".body")?.textContent)).toEqual(["Thanks!", ...THREAD.map((e) => String(e["body" as keyof typeof e]))]);
    expect(urls).toContain("/inbox/conversations/c1?cursor=cur1");
  });
});
