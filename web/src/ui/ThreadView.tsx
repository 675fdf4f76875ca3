import { useState } from "preact/hooks";
import type { Ref } from "preact";
import { automatedLabel, secureStatus, type CannedResponse, type SecureMessage, type Thread, type ThreadMessage, type Transcript } from "../api";
import { Composer } from "./Composer";
import { when } from "./ConversationList";

interface Props {
  thread: Thread;
  canned: CannedResponse[];
  departments: string[];
  selfId: string;
  notice: string | null;
  onAction: (action: string, body?: Record<string, unknown>) => Promise<void>;
  textareaRef?: Ref<HTMLTextAreaElement>;
  assignRef?: Ref<HTMLInputElement>;
  /** The cursor of the next older page (null: the whole thread is shown), and how to load it. */
  olderCursor?: string | null;
  olderError?: string | null;
  onOlder?: () => Promise<void>;
  /** Fetch the conversation's plain-text transcript (recorded as an export); absent: no export button. */
  onExport?: () => Promise<Transcript>;
}

/** How long a downloaded transcript's object URL is kept before it is revoked (the download has started). */
export const REVOKE_AFTER_MS = 30_000;

/** Save `blob` as `filename` through a temporary <a download> (the browser's own download, no new tab). */
export function saveFile(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), REVOKE_AFTER_MS);
}

/** "Export transcript": downloads the whole conversation as text, for the medical record. */
export function ExportButton({ onExport }: { onExport: () => Promise<Transcript> }) {
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const run = async () => {
    if (busy) return;
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const { blob, filename } = await onExport();
      saveFile(blob, filename);
      setDone(`Transcript saved as ${filename} (the export is in the audit trail).`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="export">
      <button type="button" onClick={() => void run()} disabled={busy} aria-describedby="export-help">
        {busy ? "Exporting…" : "Export transcript"}
      </button>
      <span id="export-help" class="hint">
        The whole conversation as a text file, for the medical record. Every export is recorded.
      </span>
      {done && <p role="status">{done}</p>}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/** Who a text is from, in words. */
export function sender(m: ThreadMessage): string {
  if (m.kind === "patient") return "Patient";
  if (m.kind === "staff") return m.sentBy ? `Staff: ${m.sentBy}` : "Staff";
  return automatedLabel(m.source);
}

const DELIVERY_WORDS: Record<string, string> = {
  delivered: "Delivered",
  failed: "Not delivered",
  opted_out: "Not delivered (opted out)",
  sent: "Sent, awaiting delivery report",
  queued: "Queued",
};

/** An outbound text's delivery, in words (unknown reports are shown as given). */
export function deliveryText(m: ThreadMessage): string | null {
  if (m.direction !== "outbound" || !m.delivery) return null;
  const words = DELIVERY_WORDS[m.delivery] ?? m.delivery.replace(/[_-]+/g, " ");
  return m.delivery === "failed" && m.deliveryDetail ? `${words}: ${m.deliveryDetail}` : words;
}

function Message({ m }: { m: ThreadMessage }) {
  const who = sender(m);
  const delivery = deliveryText(m);
  return (
    <li class={`msg ${m.kind} ${m.direction}`}>
      <p class="who">
        <strong>{who}</strong>
        {m.kind === "automated" && who !== "Automated" && <span class="badge">Automated</span>}
      </p>
      <p class="body">{m.body}</p>
      <p class="meta">
        <time dateTime={m.at}>{when(m.at)}</time>
        {delivery && (
          <span class={`delivery ${m.delivery ?? ""}`}>
            {" · "}
            <span class="sr-only">Delivery: </span>
            <span>{delivery}</span>
          </span>
        )}
        {m.segments !== null ? ` · ${m.segments} seg.` : ""}
      </p>
    </li>
  );
}

function OneField({ id, label, button, onSubmit, inputRef, multiline }: {
  id: string;
  label: string;
  button: string;
  onSubmit: (value: string) => Promise<void>;
  inputRef?: Ref<HTMLInputElement>;
  multiline?: boolean;
}) {
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!value.trim()) return;
    setError(null);
    try {
      await onSubmit(value.trim());
      setValue("");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <form class="one-field" onSubmit={submit}>
      <label for={id}>{label}</label>
      {multiline ? (
        <textarea id={id} rows={2} value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      ) : (
        <input id={id} ref={inputRef} value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      )}
      <button type="submit">{button}</button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

const STATUS_TEXT = {
  sent: "Sent, not opened yet",
  opened: "Opened",
  answered: "Answered",
  locked: "Locked (5 wrong dates of birth)",
  expired: "Expired, not answered",
} as const;

function SecureMessageItem({ m }: { m: SecureMessage }) {
  const status = secureStatus(m);
  return (
    <li class={`secure ${status}`} data-testid="secure-message">
      <span class={`badge secure-${status}`}>{STATUS_TEXT[status]}</span>
      <p class="body">{m.body}</p>
      <span class="meta">
        sent {when(m.sentAt)}
        {m.openedAt ? ` · opened ${when(m.openedAt)}` : ""}
        {m.answers > 0 ? ` · ${m.answers} answer${m.answers === 1 ? "" : "s"}${m.answeredAt ? `, last ${when(m.answeredAt)}` : ""}` : ""}
        {m.lockedAt ? ` · locked ${when(m.lockedAt)}` : m.failedTries > 0 ? ` · ${m.failedTries} wrong date${m.failedTries === 1 ? "" : "s"} of birth` : ""}
        {status === "sent" || status === "opened" ? ` · link expires ${when(m.expiresAt)}` : ""}
      </span>
    </li>
  );
}

/** "Secure message": for what a text must not carry; the patient reads it after confirming their date of birth. */
export function SecureComposer({ disabledReason, onSend }: { disabledReason: string | null; onSend: (body: string) => Promise<void> }) {
  const [text, setText] = useState("");
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [sent, setSent] = useState(false);
  const disabled = disabledReason !== null;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (disabled || sending || !text.trim()) return;
    setSending(true);
    setError(null);
    setSent(false);
    try {
      await onSend(text.trim());
      setText("");
      setSent(true);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setSending(false);
    }
  };
  return (
    <form class="secure-composer" onSubmit={submit} aria-label="Send a secure message">
      <label for="secure-body">Secure message (read after a date-of-birth check)</label>
      <textarea id="secure-body" rows={3} maxLength={4000} value={text} disabled={disabled} aria-describedby="secure-help" onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)} />
      <span id="secure-help" class="hint">
        {disabled
          ? `Secure messages are off: ${disabledReason}`
          : "For what a text must not carry. The patient gets a text with a link only, and reads this after confirming their date of birth."}
      </span>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {sent && <p role="status">Secure message sent.</p>}
      <button type="submit" disabled={disabled || sending || !text.trim()}>
        {sending ? "Sending…" : "Send secure message"}
      </button>
    </form>
  );
}

export function ThreadView({
  thread,
  canned,
  departments,
  selfId,
  notice,
  onAction,
  textareaRef,
  assignRef,
  olderCursor = null,
  olderError = null,
  onOlder,
  onExport,
}: Props) {
  const c = thread.item;
  const assign = async (value: string) => {
    await onAction("assign", departments.includes(value) ? { department: value } : { user: value.toLowerCase() === "me" ? selfId : value });
  };
  return (
    <section class="thread" aria-labelledby="thread-title">
      <header>
        <h2 id="thread-title">
          {c.patient} <span class="muted">{c.maskedNumber}</span>
        </h2>
        <p class="meta">
          {c.department} · {c.status} · {c.assignee ? `assigned to ${c.assignee}` : "unassigned"} · consent:{" "}
          <strong>{c.consent}</strong>
          {c.flags.urgent && <span class="badge urgent">Urgent</span>}
          {c.flags.overdue && <span class="badge overdue">Overdue</span>}
        </p>
        {c.labels.length > 0 && (
          <p class="labels" aria-label="Labels">
            {c.labels.map((l) => (
              <span key={l} class="badge">
                {l}
              </span>
            ))}
          </p>
        )}
      </header>
      {notice && (
        <p class="notice" role="alert">
          {notice}
        </p>
      )}
      <h3 id="thread-messages">Messages</h3>
      {thread.messages.length === 0 ? (
        <p class="muted">No texts in this conversation yet.</p>
      ) : (
        <ol class="messages" aria-labelledby="thread-messages" aria-live="polite" aria-relevant="additions">
          {thread.messages.map((m) => (
            <Message key={m.id} m={m} />
          ))}
        </ol>
      )}
      {olderCursor && onOlder && (
        <button type="button" class="older" onClick={() => void onOlder()}>
          Older messages
        </button>
      )}
      {olderError && (
        <p class="error" role="alert">
          {olderError}
        </p>
      )}
      <Composer
        canned={canned.filter((r) => r.department === c.department)}
        disabledReason={thread.optedOut ? (thread.consentReason ?? "the patient opted out") : null}
        onSend={(reply) => onAction("messages", reply)}
        {...(textareaRef ? { textareaRef } : {})}
      />
      {thread.secureMessages.length > 0 && (
        <ol class="messages secure-messages" aria-label="Secure messages">
          {thread.secureMessages.map((m) => (
            <SecureMessageItem key={m.id} m={m} />
          ))}
        </ol>
      )}
      <SecureComposer
        disabledReason={thread.optedOut ? (thread.consentReason ?? "the patient opted out") : null}
        onSend={(body) => onAction("secure-messages", { body })}
      />
      <div class="actions">
        {c.status === "open" ? (
          <button type="button" onClick={() => void onAction("close")}>
            Close (e)
          </button>
        ) : (
          <button type="button" onClick={() => void onAction("reopen")}>
            Reopen
          </button>
        )}
        <OneField
          id="assign-to"
          label="Assign to (a username, “me”, or a department)"
          button="Assign"
          onSubmit={assign}
          {...(assignRef ? { inputRef: assignRef } : {})}
        />
        <OneField id="label" label="Add a label" button="Label" onSubmit={(v) => onAction("labels", { add: [v] })} />
        <OneField id="note" label="Private note (staff only)" button="Add note" multiline onSubmit={(v) => onAction("notes", { body: v })} />
        {onExport && <ExportButton onExport={onExport} />}
      </div>
      <details>
        <summary>Notes ({thread.notes.length}) and assignment history ({thread.assignments.length})</summary>
        <ul>
          {thread.notes.map((n) => (
            <li key={n.id}>
              <strong>{n.author}</strong> {when(n.at)}: {n.body}
            </li>
          ))}
        </ul>
        <ul>
          {thread.assignments.map((a, i) => (
            <li key={i}>
              {when(a.at)} {a.by}: {a.detail}
            </li>
          ))}
        </ul>
      </details>
    </section>
  );
}
