import { fireEvent, render, screen } from "@testing-library/preact";
import { describe, expect, it, vi } from "vitest";
import { toItem } from "../src/api";
import { ConversationList, NO_FILTERS, filterQuery } from "../src/ui/ConversationList";

const me = { user_id: "u1", username: "nina.nurse", departments: ["nursing"], admin: false, visible_departments: ["nursing"] };
const items = [
  toItem({ id: "c1", department: "nursing", status: "open", first_name: "Ana", masked_number: "***-***-0123", last_activity_at: "2026-12-01T10:00:00Z", assignee: { kind: "user", id: "u1", username: "nina.nurse" }, flags: { urgent: true, overdue: false, unread: true } }),
  toItem({ id: "c2", department: "nursing", status: "open", masked_number: "***-***-9876", last_activity_at: "2026-12-01T09:00:00Z", assignee: null, flags: { urgent: false, overdue: true, unread: false } }),
];

describe("ConversationList", () => {
  it("shows department, assignee, unread, urgent and overdue at a glance", () => {
    render(<ConversationList me={me} items={items} selected="c1" filters={NO_FILTERS} onFilters={vi.fn()} onOpen={vi.fn()} more={false} onMore={vi.fn()} />);
    const [first, second] = screen.getAllByRole("button", { name: /nursing/ });
    expect(first!.textContent).toContain("Ana");
    expect(first!.textContent).toContain("Urgent");
    expect(first!.textContent).toContain("Unread");
    expect(first!.textContent).toContain("assigned to nina.nurse");
    expect(first!.getAttribute("aria-current")).toBe("true");
    expect(second!.textContent).toContain("***-***-9876");
    expect(second!.textContent).toContain("Overdue");
    expect(second!.textContent).toContain("unassigned");
    expect(second!.textContent).not.toContain("Urgent");
  });

  it("turns filters into the API's query", () => {
    const onFilters = vi.fn();
    render(<ConversationList me={me} items={[]} selected={null} filters={NO_FILTERS} onFilters={onFilters} onOpen={vi.fn()} more={false} onMore={vi.fn()} />);
    fireEvent.click(screen.getByLabelText("Urgent"));
    const chosen = onFilters.mock.calls[0]![0];
    expect(filterQuery(chosen)).toEqual({ department: "", status: "open", assignee: "", urgent: "true", overdue: "", unread: "" });
  });

  it("says it is loading until the first page arrives, never a false 'No conversations match'", () => {
    const { rerender } = render(
      <ConversationList me={me} items={[]} selected={null} filters={NO_FILTERS} onFilters={vi.fn()} onOpen={vi.fn()} more={false} onMore={vi.fn()} loaded={false} />,
    );
    expect(screen.getByRole("status").textContent).toContain("Loading conversations");
    expect(screen.queryByText("No conversations match.")).toBeNull();
    expect(screen.getByRole("region", { name: "Conversations" }).getAttribute("aria-busy")).toBe("true");
    rerender(
      <ConversationList me={me} items={[]} selected={null} filters={NO_FILTERS} onFilters={vi.fn()} onOpen={vi.fn()} more={false} onMore={vi.fn()} loaded={true} />,
    );
    expect(screen.getByText("No conversations match.")).toBeTruthy();
    expect(screen.getByRole("region", { name: "Conversations" }).getAttribute("aria-busy")).toBe("false");
  });
});

describe("ConversationList consent", () => {
  const consentItems = [
    toItem({ id: "c3", department: "nursing", status: "open", masked_number: "***-***-0140", consent: "opted_out", last_activity_at: "2026-12-01T10:00:00Z", flags: {} }),
    toItem({ id: "c4", department: "nursing", status: "open", masked_number: "***-***-0141", consent: "opted_in", last_activity_at: "2026-12-01T09:00:00Z", flags: {} }),
    toItem({ id: "c5", department: "nursing", status: "open", masked_number: "***-***-0142", consent: "unknown", last_activity_at: "2026-12-01T08:00:00Z", flags: {} }),
    toItem({ id: "c6", department: "nursing", status: "open", masked_number: "***-***-0143", consent: "unreadable", last_activity_at: "2026-12-01T07:00:00Z", flags: {} }),
  ];

  it("badges an opted-out item (and an unreadable record), never one that may be texted", () => {
    render(<ConversationList me={me} items={consentItems} selected={null} filters={NO_FILTERS} onFilters={vi.fn()} onOpen={vi.fn()} more={false} onMore={vi.fn()} />);
    // the badge is part of the item's accessible name, so a screen reader hears it with the patient
    const [out, opted, never, unreadable] = screen.getAllByRole("button", { name: /nursing/ });
    expect(screen.getByRole("button", { name: /Opted out/ })).toBe(out);
    expect(out!.querySelector(".badge.opted-out")?.textContent).toBe("Opted out");
    expect(opted!.textContent).not.toMatch(/Opted out|unreadable/);
    expect(never!.textContent).not.toMatch(/Opted out|unreadable/);
    expect(unreadable!.textContent).toContain("Consent unreadable");
    expect(unreadable!.textContent).not.toContain("Opted out");
  });

  it("is clean under axe-core", async () => {
    const { container } = render(<ConversationList me={me} items={consentItems} selected="c3" filters={NO_FILTERS} onFilters={vi.fn()} onOpen={vi.fn()} more={false} onMore={vi.fn()} />);
    const axe = (await import("axe-core")).default;
    // jsdom has no layout: colour contrast is left to the browser suite (tests/browser/test_accessibility.py)
    const result = await axe.run(container, { rules: { "color-contrast": { enabled: false } } });
    expect(result.violations.map((v) => v.id)).toEqual([]);
  });
});
