import { fireEvent, render, screen } from "@testing-library/preact";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Auth } from "../src/auth";
import { parseConfig } from "../src/config";
import { App } from "../src/ui/App";

afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = "";
});

const config = parseConfig({ userPoolId: "us-east-1_abc123", clientId: "c", idleMinutes: 15, pollSeconds: 600 });

function fakeAuth(): Auth {
  let signed = false;
  return {
    signIn: vi.fn(async () => {
      signed = true;
      return { kind: "signed-in" } as const;
    }),
    accessToken: vi.fn(async () => (signed ? "tok" : null)),
    signOut: vi.fn(() => {
      signed = false;
    }),
    get signedIn() {
      return signed;
    },
  } as unknown as Auth;
}

const answers: Record<string, unknown> = {
  "/inbox/me": { user_id: "u1", username: "nina.nurse", departments: ["nursing"], admin: false, visible_departments: ["nursing"] },
  "/inbox/canned-responses": { canned_responses: [] },
  "/inbox/conversations?status=open": {
    conversations: [{ id: "c1", department: "nursing", status: "open", first_name: "Ana", masked_number: "***0123", flags: { unread: true } }],
    cursor: null,
  },
  "/inbox/conversations/c1": {
    conversation: {
      id: "c1",
      department: "nursing",
      status: "open",
      version: 2,
      consent: { state: "opted_out", can_text: false, reason: "texted STOP" },
      thread: [
        {
          id: "m2",
          direction: "outbound",
          kind: "staff_reply",
          automated: false,
          sender: { user_id: "u1", name: "nina.nurse" },
          body: "Yes",
          delivery: { status: "delivered", at: "2026-12-01T10:05:03Z", detail: null },
          at: "2026-12-01T10:05:00Z",
        },
        { id: "m1", direction: "inbound", kind: "patient", automated: false, sender: null, body: "Is my refill ready?", delivery: null, at: "2026-12-01T10:00:00Z" },
      ],
      thread_cursor: null,
    },
  },
};

describe("App", () => {
  it("signs in, lists, opens a thread with who said what, and disables replies for an opted-out patient", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string) => {
        const body = answers[url];
        return body ? new Response(JSON.stringify(body), { status: 200, headers: { ETag: '"2"' } }) : new Response("{}", { status: 404 });
      }),
    );
    const auth = fakeAuth();
    render(<App config={config} auth={auth} />);
    fireEvent.input(screen.getByLabelText("Username"), { target: { value: "nina.nurse" } });
    fireEvent.input(screen.getByLabelText("Password"), { target: { value: "pw" } });
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    const item = await screen.findByRole("button", { name: /Ana/ });
    expect(item.textContent).toContain("Unread");
    fireEvent.click(item);
    expect(await screen.findByText("Is my refill ready?")).toBeTruthy();
    expect(screen.getByText("Staff: nina.nurse")).toBeTruthy();
    expect(screen.getByText("Delivered")).toBeTruthy();
    expect(screen.getByText("opted_out", { selector: "strong" })).toBeTruthy(); // the consent the API gave
    expect(screen.getByText(/Replies are off: texted STOP/)).toBeTruthy();
    expect((screen.getByLabelText("Reply") as HTMLTextAreaElement).disabled).toBe(true);
    // no admin pages for a nurse
    expect(screen.queryByRole("link", { name: "Audit" })).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Sign out" }));
    expect(await screen.findByText("Signed out.")).toBeTruthy();
  });
});
