import { useMemo, useState } from "preact/hooks";
import type { Ref } from "preact";
import type { CannedResponse } from "../api";
import { analyze, describeCulprit } from "../segments";

export interface ComposerProps {
  canned: CannedResponse[];
  disabledReason: string | null;
  onSend: (reply: { body: string } | { canned_response_id: string }) => Promise<void>;
  textareaRef?: Ref<HTMLTextAreaElement>;
}

export function SegmentCounter({ text }: { text: string }) {
  const report = useMemo(() => analyze(text), [text]);
  const plural = report.segments === 1 ? "segment" : "segments";
  return (
    <div class="counter" aria-live="polite" data-testid="segment-counter">
      <span>
        {report.characters} characters · {report.encoding} · {report.segments} {plural} ({report.units}/
        {report.per_segment_limit * Math.max(1, report.segments)} units)
      </span>
      {report.ucs2_culprits.length > 0 && (
        <p class="warn" role="status">
          UCS-2 (about twice the cost) because of: {report.ucs2_culprits.map(describeCulprit).join(", ")}
        </p>
      )}
    </div>
  );
}

export function Composer({ canned, disabledReason, onSend, textareaRef }: ComposerProps) {
  const [text, setText] = useState("");
  const [cannedId, setCannedId] = useState("");
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const chosen = canned.find((c) => c.id === cannedId);
  const usesCanned = chosen !== undefined && text === chosen.body;
  const disabled = disabledReason !== null;

  const submit = async (event: Event) => {
    event.preventDefault();
    if (disabled || sending || !text.trim()) return;
    setSending(true);
    setError(null);
    try {
      await onSend(usesCanned && chosen ? { canned_response_id: chosen.id } : { body: text });
      setText("");
      setCannedId("");
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setSending(false);
    }
  };

  return (
    <form class="composer" onSubmit={submit} aria-label="Reply to the patient">
      {disabled && (
        <p class="notice" role="alert" id="composer-disabled">
          Replies are off: {disabledReason}
        </p>
      )}
      <label for="canned">Canned response</label>
      <select
        id="canned"
        value={cannedId}
        disabled={disabled || canned.length === 0}
        onChange={(e) => {
          const id = (e.currentTarget as HTMLSelectElement).value;
          setCannedId(id);
          const found = canned.find((c) => c.id === id);
          if (found) setText(found.body);
        }}
      >
        <option value="">{canned.length ? "Choose one…" : "None for this department"}</option>
        {canned.map((c) => (
          <option key={c.id} value={c.id}>
            {c.name}
          </option>
        ))}
      </select>
      <label for="reply">Reply</label>
      <textarea
        id="reply"
        ref={textareaRef}
        rows={4}
        value={text}
        disabled={disabled}
        aria-describedby={disabled ? "composer-disabled" : "reply-help"}
        onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)}
      />
      <span id="reply-help" class="hint">
        {usesCanned ? "Sent as the canned response: placeholders such as {first_name} are filled in by the server." : "Texts carry no PHI beyond what the patient wrote."}
      </span>
      <SegmentCounter text={text} />
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" disabled={disabled || sending || !text.trim()}>
        {sending ? "Sending…" : "Send"}
      </button>
    </form>
  );
}
