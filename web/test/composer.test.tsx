import { fireEvent, render, screen } from "@testing-library/preact";
import { describe, expect, it, vi } from "vitest";
import { Composer } from "../src/ui/Composer";

const canned = [{ id: "cr1", department: "nursing", name: "Refill ok", body: "Hi {first_name}, your refill is ready.", placeholders: ["first_name"] }];

describe("Composer", () => {
  it("counts segments live and names the UCS-2 culprits", () => {
    render(<Composer canned={[]} disabledReason={null} onSend={vi.fn()} />);
    const box = screen.getByLabelText("Reply");
    fireEvent.input(box, { target: { value: "Hello" } });
    expect(screen.getByTestId("segment-counter").textContent).toContain("GSM-7 · 1 segment");
    fireEvent.input(box, { target: { value: "It\u2019s ready \u2013 see you" } });
    const counter = screen.getByTestId("segment-counter").textContent ?? "";
    expect(counter).toContain("UCS-2");
    expect(counter).toContain("U+2019");
    expect(counter).toContain("U+2013");
  });

  it("is disabled with the reason when the patient opted out", () => {
    const onSend = vi.fn();
    render(<Composer canned={canned} disabledReason="the patient texted STOP" onSend={onSend} />);
    expect(screen.getByRole("alert").textContent).toContain("the patient texted STOP");
    expect((screen.getByLabelText("Reply") as HTMLTextAreaElement).disabled).toBe(true);
    expect((screen.getByRole("button", { name: "Send" }) as HTMLButtonElement).disabled).toBe(true);
    expect((screen.getByLabelText("Canned response") as HTMLSelectElement).disabled).toBe(true);
  });

  it("sends a chosen canned response by id, and edited text as a body", async () => {
    const onSend = vi.fn().mockResolvedValue(undefined);
    render(<Composer canned={canned} disabledReason={null} onSend={onSend} />);
    fireEvent.change(screen.getByLabelText("Canned response"), { target: { value: "cr1" } });
    expect((screen.getByLabelText("Reply") as HTMLTextAreaElement).value).toBe(canned[0]!.body);
    fireEvent.click(screen.getByRole("button", { name: "Send" }));
    await vi.waitFor(() => expect(onSend).toHaveBeenCalledWith({ canned_response_id: "cr1" }));

    fireEvent.change(screen.getByLabelText("Canned response"), { target: { value: "cr1" } });
    fireEvent.input(screen.getByLabelText("Reply"), { target: { value: "Hi Ana, ready." } });
    fireEvent.click(screen.getByRole("button", { name: "Send" }));
    await vi.waitFor(() => expect(onSend).toHaveBeenLastCalledWith({ body: "Hi Ana, ready." }));
  });

  it("shows why a send was refused and keeps the text", async () => {
    const onSend = vi.fn().mockRejectedValue(new Error("the patient opted out"));
    render(<Composer canned={[]} disabledReason={null} onSend={onSend} />);
    fireEvent.input(screen.getByLabelText("Reply"), { target: { value: "Hello" } });
    fireEvent.click(screen.getByRole("button", { name: "Send" }));
    expect((await screen.findByRole("alert")).textContent).toContain("opted out");
    expect((screen.getByLabelText("Reply") as HTMLTextAreaElement).value).toBe("Hello");
  });
});
