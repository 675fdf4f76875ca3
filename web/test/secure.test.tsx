import { fireEvent, render, screen } from "@testing-library/preact";
import { describe, expect, it, vi } from "vitest";
import { secureStatus, toThread } from "../src/api";
import { ThreadView } from "../src/ui/ThreadView";

const link = (over: Record<string, unknown>) => ({
  id: "sm_1",
  body: "Your biopsy result is benign.",
  sent_at: "2027-03-01T18:00:00Z",
  sent_by: "sub-nurse",
  expires_at: "2027-03-08T18:00:00Z",
  state: "open",
  opened_at: null,
  failed_tries: 0,
  locked_at: null,
  answers: 0,
  answered_at: null,
  ...over,
});

function threadWith(secure: unknown[], consent: unknown = "opted_in") {
  return toThread({ conversation: { id: "c1", department: "nursing", status: "open", version: 7, consent, secure_messages: secure } }, '"7"');
}

describe("secure messages in the thread", () => {
  it("reads each state from the API: sent, opened, answered, locked, expired", () => {
    const thread = threadWith([
      link({ id: "a" }),
      link({ id: "b", opened_at: "2027-03-01T18:05:00Z" }),
      link({ id: "c", opened_at: "2027-03-01T18:05:00Z", answers: 2, answered_at: "2027-03-01T18:07:00Z" }),
      link({ id: "d", state: "locked", failed_tries: 5, locked_at: "2027-03-01T18:09:00Z" }),
      link({ id: "e", state: "expired" }),
    ]);
    expect(thread.secureMessages.map(secureStatus)).toEqual(["sent", "opened", "answered", "locked", "expired"]);
    render(<ThreadView thread={thread} canned={[]} departments={["nursing"]} selfId="sub-me" notice={null} onAction={vi.fn()} />);
    const items = screen.getAllByTestId("secure-message");
    expect(items.map((li) => li.querySelector(".badge")?.textContent)).toEqual([
      "Sent, not opened yet",
      "Opened",
      "Answered",
      "Locked (5 wrong dates of birth)",
      "Expired, not answered",
    ]);
    expect(items[2]?.textContent).toContain("2 answers");
    expect(items[0]?.textContent).toContain("Your biopsy result is benign.");
  });

  it("sends a secure message from the composer as the secure-messages action", async () => {
    const onAction = vi.fn().mockResolvedValue(undefined);
    render(<ThreadView thread={threadWith([])} canned={[]} departments={["nursing"]} selfId="sub-me" notice={null} onAction={onAction} />);
    const send = screen.getByRole("button", { name: "Send secure message" }) as HTMLButtonElement;
    expect(send.disabled).toBe(true);
    fireEvent.input(screen.getByLabelText(/^Secure message/), { target: { value: "  Results: normal.  " } });
    fireEvent.click(send);
    await vi.waitFor(() => expect(onAction).toHaveBeenLastCalledWith("secure-messages", { body: "Results: normal." }));
    await screen.findByText("Secure message sent.");
  });

  it("is off, with the reason, when the patient opted out", () => {
    render(<ThreadView thread={threadWith([], { state: "opted_out" })} canned={[]} departments={["nursing"]} selfId="sub-me" notice={null} onAction={vi.fn()} />);
    expect((screen.getByLabelText(/^Secure message/) as HTMLTextAreaElement).disabled).toBe(true);
    expect(screen.getByText(/Secure messages are off/)).toBeTruthy();
  });
});
