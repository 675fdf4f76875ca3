import { render, screen } from "@testing-library/preact";
import userEvent from "@testing-library/user-event";
import axe from "axe-core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Api, toThread } from "../src/api";
import { REVOKE_AFTER_MS, ThreadView } from "../src/ui/ThreadView";

const thread = toThread(
  {
    conversation: { id: "c_AAAAAAAAAAAAAAAAAAAAAA", department: "nursing", status: "open", version: 5, labels: [], assignee: { kind: "department", id: "nursing" } },
    messages: [{ id: "m1", direction: "inbound", kind: "patient", body: "Is this redness normal?", at: "2026-12-01T23:00:00Z" }],
  },
  '"5"',
);

function setup(onExport: () => Promise<{ blob: Blob; filename: string }>) {
  return render(<ThreadView thread={thread} canned={[]} departments={["nursing"]} selfId="sub-me" notice={null} onAction={vi.fn().mockResolvedValue(undefined)} onExport={onExport} />);
}

/** jsdom has no object URLs: record what was made and revoked, and every <a> click (with its download name). */
function downloads() {
  const made: Blob[] = [];
  const revoked: string[] = [];
  const clicked: { href: string; download: string; attached: boolean }[] = [];
  Object.assign(URL, {
    createObjectURL: (blob: Blob) => {
      made.push(blob);
      return `blob:test/${made.length}`;
    },
    revokeObjectURL: (url: string) => revoked.push(url),
  });
  vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
    clicked.push({ href: this.href, download: this.download, attached: document.body.contains(this) });
  });
  return { made, revoked, clicked };
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe("Export transcript", () => {
  it("downloads the text transcript through a Blob and an <a download>, from the keyboard", async () => {
    const seen = downloads();
    const blob = new Blob(["Conversation transcript\n"], { type: "text/plain" });
    const onExport = vi.fn().mockResolvedValue({ blob, filename: "conversation-c_AAAAAAAAAAAAAAAAAAAAAA.txt" });
    setup(onExport);
    const button = screen.getByRole("button", { name: "Export transcript" });
    const user = userEvent.setup();
    for (let i = 0; i < 40 && document.activeElement !== button; i++) await user.tab();
    expect(document.activeElement).toBe(button); // reachable with Tab
    await user.keyboard("{Enter}");
    await vi.waitFor(() => expect(seen.clicked).toHaveLength(1));
    expect(onExport).toHaveBeenCalledTimes(1);
    expect(seen.made).toEqual([blob]);
    expect(seen.clicked[0]).toEqual({ href: "blob:test/1", download: "conversation-c_AAAAAAAAAAAAAAAAAAAAAA.txt", attached: true });
    expect((await screen.findByRole("status")).textContent).toContain("conversation-c_AAAAAAAAAAAAAAAAAAAAAA.txt");
    expect(document.querySelectorAll("a[download]")).toHaveLength(0); // the temporary link is gone
  });

  it("revokes the object URL once the download has started", async () => {
    const seen = downloads();
    vi.useFakeTimers();
    setup(() => Promise.resolve({ blob: new Blob(["x"]), filename: "t.txt" }));
    screen.getByRole("button", { name: "Export transcript" }).click();
    await vi.waitFor(() => expect(seen.clicked).toHaveLength(1));
    expect(seen.revoked).toEqual([]);
    vi.advanceTimersByTime(REVOKE_AFTER_MS);
    expect(seen.revoked).toEqual(["blob:test/1"]);
  });

  it("shows a refused export as an alert and downloads nothing", async () => {
    const seen = downloads();
    setup(() => Promise.reject(new Error("conversation not found")));
    screen.getByRole("button", { name: "Export transcript" }).click();
    expect((await screen.findByRole("alert")).textContent).toBe("conversation not found");
    expect(seen.clicked).toEqual([]);
  });

  it("has no axe violations", async () => {
    const { container } = setup(() => Promise.resolve({ blob: new Blob(["x"]), filename: "t.txt" }));
    const results = await axe.run(container, { rules: { "color-contrast": { enabled: false } } });
    expect(results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
  });
});

describe("Api.transcript", () => {
  it("asks for format=text and takes the file name from Content-Disposition", async () => {
    const fetched: string[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string, init: RequestInit) => {
        fetched.push(`${init.method} ${url} ${(init.headers as Record<string, string>).Accept}`);
        return new Response("Conversation transcript\n", {
          status: 200,
          headers: { "Content-Type": "text/plain; charset=utf-8", "Content-Disposition": 'attachment; filename="conversation-c_AAAAAAAAAAAAAAAAAAAAAA.txt"' },
        });
      }),
    );
    const api = new Api("https://clinic.example", () => Promise.resolve("token"));
    const got = await api.transcript("c_AAAAAAAAAAAAAAAAAAAAAA");
    expect(fetched).toEqual(["GET https://clinic.example/inbox/conversations/c_AAAAAAAAAAAAAAAAAAAAAA/export?format=text text/plain"]);
    expect(got.filename).toBe("conversation-c_AAAAAAAAAAAAAAAAAAAAAA.txt");
    expect(await got.blob.text()).toBe("Conversation transcript\n");
    vi.unstubAllGlobals();
  });
});
