import { useEffect, useState } from "preact/hooks";
import { type Api, ApiError, type CannedResponse } from "../api";
import { SegmentCounter } from "./Composer";
import { when } from "./ConversationList";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;

function message(e: unknown): string {
  if (e instanceof ApiError) return e.field ? `${e.message} (${e.field})` : e.message;
  return e instanceof Error ? e.message : String(e);
}

/** "08:30-12:00, 13:00-17:00" <-> [["08:30","12:00"],["13:00","17:00"]] */
export function parseSpans(text: string): [string, string][] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((span) => {
      const m = /^(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})$/.exec(span);
      if (!m || !m[1] || !m[2]) throw new Error(`"${span}" is not a span like 08:30-12:00`);
      return [m[1].padStart(5, "0"), m[2].padStart(5, "0")];
    });
}

export function formatSpans(spans: unknown): string {
  return Array.isArray(spans) ? spans.map((s) => (Array.isArray(s) ? `${s[0]}-${s[1]}` : "")).join(", ") : "";
}

const list = (v: string) => v.split(",").map((s) => s.trim()).filter(Boolean);

export function Departments({ api, departments }: { api: Api; departments: string[] }) {
  const [dept, setDept] = useState(departments[0] ?? "");
  const [form, setForm] = useState<Record<string, string>>({});
  const [status, setStatus] = useState<string | null>(null);
  useEffect(() => {
    if (!dept) return;
    setStatus(null);
    api
      .json("GET", `/inbox/departments/${encodeURIComponent(dept)}`)
      .then((r) => {
        const s = (r.settings ?? {}) as Record<string, unknown>;
        const hours = (s.hours ?? {}) as Record<string, unknown>;
        const f: Record<string, string> = {
          time_zone: String(s.time_zone ?? ""),
          holidays: ((s.holidays as string[]) ?? []).join(", "),
          keywords: ((s.keywords as string[]) ?? []).join(", "),
          numbers: ((s.numbers as string[]) ?? []).join(", "),
          first_response_minutes: String(s.first_response_minutes ?? 60),
        };
        for (const d of DAYS) f[d] = formatSpans(hours[d]);
        setForm(f);
      })
      .catch((e) => setStatus(message(e)));
  }, [api, dept]);
  const save = async (e: Event) => {
    e.preventDefault();
    try {
      const hours: Record<string, [string, string][]> = {};
      for (const d of DAYS) hours[d] = parseSpans(form[d] ?? "");
      await api.json("PUT", `/inbox/departments/${encodeURIComponent(dept)}`, {
        time_zone: form.time_zone,
        hours,
        holidays: list(form.holidays ?? ""),
        keywords: list(form.keywords ?? ""),
        numbers: list(form.numbers ?? ""),
        first_response_minutes: Number(form.first_response_minutes),
      });
      setStatus("Saved.");
    } catch (err) {
      setStatus(message(err));
    }
  };
  const field = (key: string, label: string, hint?: string) => (
    <label key={key}>
      {label}
      <input value={form[key] ?? ""} onInput={(e) => setForm({ ...form, [key]: e.currentTarget.value })} />
      {hint && <span class="hint">{hint}</span>}
    </label>
  );
  return (
    <section aria-labelledby="dept-title" class="admin">
      <h2 id="dept-title">Departments, hours and routing</h2>
      <label>
        Department
        <select value={dept} onChange={(e) => setDept(e.currentTarget.value)}>
          {departments.map((d) => (
            <option key={d}>{d}</option>
          ))}
        </select>
      </label>
      <form onSubmit={save}>
        {field("time_zone", "Time zone", "e.g. America/New_York")}
        <fieldset>
          <legend>Weekly hours (an end before its start runs past midnight)</legend>
          {DAYS.map((d) => field(d, d, "e.g. 08:30-12:00, 13:00-17:00; empty = closed"))}
        </fieldset>
        {field("holidays", "Holidays", "dates, comma-separated: 2026-12-25, 2027-01-01")}
        <fieldset>
          <legend>Routing rules</legend>
          {field("keywords", "Keywords that route here", "comma-separated: bill, invoice")}
          {field("numbers", "Clinic numbers that route here", "E.164, comma-separated")}
        </fieldset>
        {field("first_response_minutes", "First-response target (business minutes)")}
        <button type="submit">Save</button>
      </form>
      {status && <p role="status">{status}</p>}
    </section>
  );
}

export function Canned({ api, departments }: { api: Api; departments: string[] }) {
  const [items, setItems] = useState<CannedResponse[]>([]);
  const [draft, setDraft] = useState({ department: departments[0] ?? "", name: "", body: "" });
  const [status, setStatus] = useState<string | null>(null);
  const load = () => api.canned().then(setItems).catch((e) => setStatus(message(e)));
  useEffect(() => void load(), [api]);
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      await api.json("POST", "/inbox/canned-responses", draft);
      setDraft({ ...draft, name: "", body: "" });
      setStatus("Created.");
      await load();
    } catch (err) {
      setStatus(message(err));
    }
  };
  return (
    <section aria-labelledby="canned-title" class="admin">
      <h2 id="canned-title">Canned responses</h2>
      <ul>
        {items.map((c) => (
          <li key={c.id}>
            <strong>{c.name}</strong> ({c.department}): {c.body}
          </li>
        ))}
      </ul>
      <form onSubmit={create}>
        <label>
          Department
          <select value={draft.department} onChange={(e) => setDraft({ ...draft, department: e.currentTarget.value })}>
            {departments.map((d) => (
              <option key={d}>{d}</option>
            ))}
          </select>
        </label>
        <label>
          Name
          <input value={draft.name} onInput={(e) => setDraft({ ...draft, name: e.currentTarget.value })} />
        </label>
        <label>
          Body (placeholders: {"{first_name}"}, {"{clinic_name}"}, …)
          <textarea rows={3} value={draft.body} onInput={(e) => setDraft({ ...draft, body: e.currentTarget.value })} />
        </label>
        <SegmentCounter text={draft.body} />
        <button type="submit">Create</button>
      </form>
      {status && <p role="status">{status}</p>}
    </section>
  );
}

interface Seg {
  encoding: string;
  characters: number;
  units: number;
  segments: number;
  ucs2_culprits: string[];
}

export function Templates({ api }: { api: Api }) {
  const [name, setName] = useState("");
  const [body, setBody] = useState("");
  const [report, setReport] = useState<Record<string, unknown> | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const check = async () => {
    try {
      const r = await api.json("POST", "/inbox/templates/check", { body });
      setReport(r.report as Record<string, unknown>);
      setStatus(null);
    } catch (e) {
      setStatus(message(e));
    }
  };
  const load = async () => {
    try {
      const r = await api.json("GET", `/inbox/templates/${encodeURIComponent(name)}`);
      setBody(String((r.template as Record<string, unknown>)?.body ?? ""));
    } catch (e) {
      setStatus(message(e));
    }
  };
  const save = async (e: Event) => {
    e.preventDefault();
    try {
      const r = await api.json("PUT", `/inbox/templates/${encodeURIComponent(name)}`, { body });
      setReport(r.report as Record<string, unknown>);
      setStatus(r.created ? "Saved as a new version." : "Unchanged.");
    } catch (err) {
      setStatus(message(err));
    }
  };
  const seg = (label: string, s: unknown) => {
    if (!s) return null;
    const r = s as Seg;
    return (
      <li>
        {label}: {r.encoding}, {r.segments} segment(s), {r.characters} characters
        {r.ucs2_culprits.length ? ` — UCS-2 because of ${r.ucs2_culprits.join(", ")}` : ""}
      </li>
    );
  };
  return (
    <section aria-labelledby="tpl-title" class="admin">
      <h2 id="tpl-title">Reminder templates</h2>
      <form onSubmit={save}>
        <label>
          Template name
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <button type="button" onClick={() => void load()} disabled={!name}>
          Load
        </button>
        <label>
          Body
          <textarea rows={4} value={body} onInput={(e) => setBody(e.currentTarget.value)} />
        </label>
        <SegmentCounter text={body} />
        <button type="button" onClick={() => void check()} disabled={!body}>
          Check segments
        </button>
        <button type="submit" disabled={!name || !body}>
          Save
        </button>
      </form>
      {report && (
        <div role="status" aria-label="Segment report">
          <ul>
            {seg("As written", report.as_written)}
            {seg("Normalized", report.normalized)}
            {seg("Sample", report.sample_report)}
          </ul>
          {typeof report.normalized_body === "string" && <p>Normalized text: {report.normalized_body}</p>}
          {Array.isArray(report.warnings) && report.warnings.length > 0 && (
            <ul class="warn">
              {report.warnings.map((w, i) => (
                <li key={i}>{String(w)}</li>
              ))}
            </ul>
          )}
        </div>
      )}
      {status && <p role="status">{status}</p>}
    </section>
  );
}

interface AuditRecord {
  sequence: number;
  at: string;
  username: string;
  user_id: string;
  action: string;
  conversation_id: string | null;
  source_ip: string;
  reason: string | null;
}

export function Audit({ api }: { api: Api }) {
  const [filters, setFilters] = useState({ conversation_id: "", user: "", from: "", to: "" });
  const [records, setRecords] = useState<AuditRecord[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const search = async (more: boolean) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filters)) if (v) q.set(k, k === "from" || k === "to" ? new Date(v).toISOString() : v);
    if (more && cursor) q.set("cursor", cursor);
    try {
      const r = await api.json("GET", `/inbox/audit?${q.toString()}`);
      const got = (r.records ?? []) as AuditRecord[];
      setRecords(more ? [...records, ...got] : got);
      setCursor((r.cursor as string | null) ?? null);
      setStatus(null);
    } catch (e) {
      setStatus(message(e));
    }
  };
  const input = (key: keyof typeof filters, label: string, type: "text" | "datetime-local" = "text") => (
    <label>
      {label}
      {type === "text" ? (
        <input type="text" value={filters[key]} onInput={(e) => setFilters({ ...filters, [key]: e.currentTarget.value })} />
      ) : (
        <input type="datetime-local" value={filters[key]} onInput={(e) => setFilters({ ...filters, [key]: e.currentTarget.value })} />
      )}
    </label>
  );
  return (
    <section aria-labelledby="audit-title" class="admin">
      <h2 id="audit-title">Audit trail</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void search(false);
        }}
      >
        {input("conversation_id", "Conversation id")}
        {input("user", "Staff member (user id)")}
        {input("from", "From", "datetime-local")}
        {input("to", "To", "datetime-local")}
        <button type="submit">Search</button>
      </form>
      {status && <p role="status">{status}</p>}
      {/* Scrolls sideways on a phone: focusable, so a keyboard user can scroll it too (axe scrollable-region-focusable). */}
      <div class="scroll" tabIndex={0} role="region" aria-labelledby="audit-caption">
        <table>
          <caption id="audit-caption">Records, oldest first</caption>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">What</th>
              <th scope="col">Conversation</th>
              <th scope="col">From</th>
            </tr>
          </thead>
          <tbody>
            {records.map((r) => (
              <tr key={r.sequence}>
                <td>{r.sequence}</td>
                <td>{when(r.at)}</td>
                <td>{r.username || r.user_id}</td>
                <td>
                  {r.action}
                  {r.reason ? ` (${r.reason})` : ""}
                </td>
                <td>{r.conversation_id ?? ""}</td>
                <td>{r.source_ip}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {cursor && (
        <button type="button" onClick={() => void search(true)}>
          Load more
        </button>
      )}
    </section>
  );
}
