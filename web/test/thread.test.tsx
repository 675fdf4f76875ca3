import { fireEvent, render, screen } from "@testing-library/preact";
import { describe, expect, it, vi } from "vitest";
import { toThread } from "../src/api";
import { ThreadView } from "../src/ui/ThreadView";

const thread = toThread(
  {
    conversation: { id: "c1", department: "nursing", status: "open", version: 5, labels: ["refill"], assignee: { kind: "department", id: "nursing" } },
    messages: [{ id: "m1", direction: "outbound", kind: "automated", body: "We are closed until 8:00.", delivery: "sent", at: "2026-12-01T23:00:00Z" }],
  },
  '"5"',
);

function setup() {
  const onAction = vi.fn().mockResolvedValue(undefined);
  render(<ThreadView thread={thread} canned={[]} departments={["nursing", "billing"]} selfId="sub-me" notice={null} onAction={onAction} />);
  return onAction;
}

describe("ThreadView actions", () => {
  it("assigns to me (my user id), to a department, or to a user", async () => {
    const onAction = setup();
    const box = screen.getByLabelText(/Assign to/);
    for (const [typed, body] of [
      ["me", { user: "sub-me" }],
      ["billing", { department: "billing" }],
      ["sub-other", { user: "sub-other" }],
    ] as const) {
      fireEvent.input(box, { target: { value: typed } });
      fireEvent.click(screen.getByRole("button", { name: "Assign" }));
      await vi.waitFor(() => expect(onAction).toHaveBeenLastCalledWith("assign", body));
    }
  });

  it("labels, notes and closes", async () => {
    const onAction = setup();
    fireEvent.input(screen.getByLabelText("Add a label"), { target: { value: "billing-question" } });
    fireEvent.click(screen.getByRole("button", { name: "Label" }));
    await vi.waitFor(() => expect(onAction).toHaveBeenLastCalledWith("labels", { add: ["billing-question"] }));
    fireEvent.input(screen.getByLabelText(/Private note/), { target: { value: "called back" } });
    fireEvent.click(screen.getByRole("button", { name: "Add note" }));
    await vi.waitFor(() => expect(onAction).toHaveBeenLastCalledWith("notes", { body: "called back" }));
    fireEvent.click(screen.getByRole("button", { name: /Close/ }));
    expect(onAction).toHaveBeenLastCalledWith("close");
  });

  it("shows automated texts as automated, with delivery status, and the queue as unassigned", () => {
    setup();
    expect(screen.getByText("Automated")).toBeTruthy();
    expect(screen.getByText("Sent, awaiting delivery report")).toBeTruthy();
    expect(screen.getByText(/unassigned/)).toBeTruthy();
    expect(screen.getByLabelText("Labels").textContent).toContain("refill");
  });
});
