/**
 * The inbox API (issue 12's contract): JSON over fetch with the staff member's access token. Thread reads
 * use If-None-Match so polling costs a 304 when nothing changed; writes carry the thread's version
 * (If-Match) and a 409 comes back as a StaleView naming what changed.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field: string | null = null,
    readonly body: unknown = null,
  ) {
    super(message);
  }
}

export class SignedOut extends ApiError {}

/** A write refused because the conversation changed since it was read (not any other 409, such as a
 * reply that could not be sent): the view is reloaded and the staff member checks it again. */
export function isStale(e: unknown): e is ApiError {
  return e instanceof ApiError && e.status === 409 && obj(e.body).error === "stale_version";
}

export type Flags = { urgent: boolean; overdue: boolean; unread: boolean };

export interface ConversationItem {
  id: string;
  department: string;
  status: "open" | "closed";
  patient: string; // first name when known, else the masked number
  maskedNumber: string;
  consent: string;
  lastActivityAt: string;
  assignee: string | null;
  flags: Flags;
  labels: string[];
}

export interface ThreadMessage {
  id: string;
  direction: "inbound" | "outbound";
  /** Who the text is from: the patient, a staff member, or the system (reminders, automated replies). */
  kind: "patient" | "staff" | "automated";
  /** The API's kind (patient, staff_reply, reminder, after_hours, urgent_reply, ...). */
  source: string;
  body: string;
  at: string;
  sentBy: string | null;
  /** The carrier's delivery report (delivered, failed, ...), or the send status until one arrives. */
  delivery: string | null;
  deliveryAt: string | null;
  deliveryDetail: string | null;
  segments: number | null;
}

/** A secure message as its department's staff see it: the body, and what the patient's page did with it. */
export interface SecureMessage {
  id: string;
  body: string;
  sentAt: string;
  sentBy: string;
  expiresAt: string;
  state: "open" | "expired" | "locked";
  openedAt: string | null;
  failedTries: number;
  lockedAt: string | null;
  answers: number;
  answeredAt: string | null;
}

/** One word for where a secure message stands: locked, expired, answered, opened or sent. */
export function secureStatus(m: SecureMessage): "locked" | "expired" | "answered" | "opened" | "sent" {
  if (m.state === "locked") return "locked";
  if (m.answers > 0) return "answered";
  if (m.state === "expired") return "expired";
  return m.openedAt ? "opened" : "sent";
}

export interface Thread {
  item: ConversationItem;
  version: number;
  etag: string | null;
  messages: ThreadMessage[];
  /** The cursor of the next (older) page of the thread, or null when this is all of it. */
  olderCursor: string | null;
  notes: { id: string; author: string; at: string; body: string }[];
  assignments: { at: string; by: string; detail: string }[];
  optedOut: boolean;
  consentReason: string | null;
  secureMessages: SecureMessage[];
}

export interface Me {
  user_id: string;
  username: string;
  departments: string[];
  admin: boolean;
  visible_departments: string[];
  /** Every department of the clinic: where a conversation may be assigned (absent from older APIs). */
  assign_departments?: string[];
}

export interface CannedResponse {
  id: string;
  department: string;
  name: string;
  body: string;
  placeholders: string[];
}

type Json = Record<string, unknown>;

const str = (v: unknown, fallback = ""): string => (typeof v === "string" ? v : typeof v === "number" ? String(v) : fallback);
const obj = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** A person's name, or null while the conversation sits in its own department's queue (unassigned). */
function assigneeName(v: unknown, department: string): string | null {
  if (v === null || v === undefined || v === "") return null;
  if (typeof v === "string") return v;
  const a = obj(v);
  const name = str(a.username ?? a.name ?? a.id);
  if (!name) return null;
  if (str(a.kind) === "department") return name === department ? null : `${name} (department)`;
  return name;
}

/** A list item as the API gives it (tolerant of the contract's optional fields). */
export function toItem(raw: unknown): ConversationItem {
  const r = obj(raw);
  const flags = obj(r.flags);
  const masked = str(r.masked_number ?? r.number ?? r.phone);
  const consent = r.consent;
  const department = str(r.department);
  return {
    id: str(r.id ?? r.conversation_id),
    department,
    status: str(r.status) === "closed" ? "closed" : "open",
    // The store keeps only the number's blind index: no name or masked number until a directory gives one.
    patient: str(r.first_name ?? obj(r.patient).first_name) || masked || "Patient",
    maskedNumber: masked,
    consent: typeof consent === "string" ? consent : str(obj(consent).state, "unknown"),
    lastActivityAt: str(r.last_activity_at ?? r.last_activity),
    assignee: assigneeName(r.assignee, department),
    flags: {
      urgent: Boolean(flags.urgent ?? r.urgent),
      overdue: Boolean(flags.overdue ?? r.overdue),
      unread: Boolean(flags.unread ?? r.unread),
    },
    labels: arr(r.labels).map((l) => str(l)),
  };
}

/** What an automated text is, in words (kinds the app does not know are shown by their name). */
const AUTOMATED_LABELS: Record<string, string> = {
  reminder: "Appointment reminder",
  after_hours: "After-hours reply",
  after_hours_reply: "After-hours reply",
  urgent_reply: "Urgent auto-reply",
  broadcast: "Announcement",
  survey: "Survey",
  emergency_notice: "Emergency notice",
};

export function automatedLabel(source: string): string {
  const known = AUTOMATED_LABELS[source];
  if (known) return known;
  const words = source.replace(/[_-]+/g, " ").trim();
  return words && words !== "automated" ? `Automated: ${words}` : "Automated";
}

function toSecure(raw: unknown): SecureMessage {
  const r = obj(raw);
  const state = str(r.state);
  const when = (v: unknown): string | null => str(v) || null;
  return {
    id: str(r.id),
    body: str(r.body),
    sentAt: str(r.sent_at),
    sentBy: str(r.sent_by),
    expiresAt: str(r.expires_at),
    state: state === "locked" || state === "expired" ? state : "open",
    openedAt: when(r.opened_at),
    failedTries: Number(r.failed_tries ?? 0),
    lockedAt: when(r.locked_at),
    answers: Number(r.answers ?? 0),
    answeredAt: when(r.answered_at),
  };
}

function toMessage(raw: unknown): ThreadMessage {
  const r = obj(raw);
  const direction = str(r.direction) === "inbound" ? "inbound" : "outbound";
  const kindRaw = str(r.kind ?? r.author_kind);
  const sender = obj(r.sender);
  const sentBy = str(sender.name ?? sender.user_id ?? r.sent_by ?? r.author ?? obj(r.staff).username) || null;
  const automated = r.automated === true;
  const kind: ThreadMessage["kind"] =
    direction === "inbound"
      ? "patient"
      : !automated && (kindRaw === "staff" || kindRaw === "staff_reply" || sentBy || r.automated === false)
        ? "staff"
        : "automated";
  const report = r.delivery ?? r.delivery_status;
  const reported = typeof report === "string" ? report : str(obj(report).status);
  const seg = obj(r.segment_report ?? r.report).segments ?? r.segments;
  return {
    id: str(r.id ?? r.message_id),
    direction,
    kind,
    source: direction === "inbound" ? "patient" : kindRaw || kind,
    body: str(r.body),
    at: str(r.at ?? r.created_at),
    sentBy: kind === "staff" ? sentBy : null,
    delivery: direction === "inbound" ? null : reported || str(r.status) || null,
    deliveryAt: str(obj(report).at) || null,
    deliveryDetail: str(obj(report).detail) || null,
    segments: typeof seg === "number" ? seg : null,
  };
}

export function toThread(raw: unknown, etag: string | null): Thread {
  const r = obj(raw);
  const c = obj(r.conversation ?? r);
  const consent = obj(c.consent);
  const consentState = typeof c.consent === "string" ? c.consent : str(consent.state, "unknown");
  const optedOut = /opt(ed)?[_-]?out|revoked|stopped|unreadable/i.test(consentState) || consent.can_text === false;
  return {
    item: toItem(c),
    version: Number(c.version ?? r.version ?? 0),
    etag,
    messages: arr(r.messages ?? c.messages ?? c.thread).map(toMessage),
    olderCursor: str(c.thread_cursor ?? r.thread_cursor) || null,
    notes: arr(r.notes ?? c.notes).map((n) => {
      const o = obj(n);
      return { id: str(o.id ?? o.note_id), author: str(o.author ?? o.by), at: str(o.at), body: str(o.body) };
    }),
    assignments: arr(r.assignments ?? c.assignments ?? c.assignment_history).map((a) => {
      const o = obj(a);
      return { at: str(o.at), by: str(o.by), detail: str(o.detail ?? o.to) };
    }),
    optedOut,
    consentReason: optedOut ? str(consent.reason ?? c.consent_reason, "The patient opted out of texts (STOP).") : null,
    secureMessages: arr(r.secure_messages ?? c.secure_messages).map(toSecure),
  };
}

/** A downloaded transcript: the text/plain body and the name to save it under. */
export interface Transcript {
  blob: Blob;
  filename: string;
}

export type TokenSource = () => Promise<string | null>;

export class Api {
  constructor(
    private readonly baseUrl: string,
    private readonly token: TokenSource,
    private readonly onSignedOut: () => void = () => {},
  ) {}

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const token = await this.token();
    if (!token) {
      this.onSignedOut();
      throw new SignedOut(401, "signed out");
    }
    const init: RequestInit = {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: "application/json",
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        ...headers,
      },
      cache: "no-store",
      credentials: "omit",
    };
    if (body !== undefined) init.body = JSON.stringify(body);
    const answer = await fetch(this.baseUrl + path, init);
    if (answer.status === 401) {
      this.onSignedOut();
      throw new SignedOut(401, "your session ended; sign in again");
    }
    if (!answer.ok && answer.status !== 304) {
      let payload: unknown = null;
      try {
        payload = await answer.json();
      } catch {
        payload = null;
      }
      const p = obj(payload);
      // Two shapes: {"message", "field"} (the inbox's stale view) and {"error": {"code", "message", "field"}}.
      const nested = obj(p.error);
      let message = str(p.message ?? nested.message ?? p.error, `request failed (${answer.status})`);
      const changes = arr(p.changes).map((c) => str(obj(c).kind)).filter(Boolean);
      if (answer.status === 409 && changes.length) message += ` (since then: ${changes.join(", ")})`;
      throw new ApiError(answer.status, message, str(p.field ?? nested.field) || null, payload);
    }
    return answer;
  }

  async json<T = Json>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    const answer = await this.request(method, path, body, headers);
    return (await answer.json()) as T;
  }

  me(): Promise<Me> {
    return this.json<Me>("GET", "/inbox/me");
  }

  async conversations(filters: Record<string, string>, cursor?: string): Promise<{ items: ConversationItem[]; cursor: string | null }> {
    const query = new URLSearchParams(Object.entries(filters).filter(([, v]) => v !== ""));
    if (cursor) query.set("cursor", cursor);
    const qs = query.toString();
    const page = await this.json("GET", `/inbox/conversations${qs ? `?${qs}` : ""}`);
    return {
      items: arr(page.conversations ?? page.items).map(toItem),
      cursor: str(page.cursor) || null,
    };
  }

  /** The thread, or null when unchanged since `etag` (304). */
  async thread(id: string, etag: string | null = null): Promise<Thread | null> {
    const answer = await this.request("GET", `/inbox/conversations/${encodeURIComponent(id)}`, undefined, etag ? { "If-None-Match": etag } : {});
    if (answer.status === 304) return null;
    return toThread(await answer.json(), answer.headers.get("ETag"));
  }

  /** An older page of the thread (the cursor a thread or a previous page gave): its texts, newest first. */
  async olderMessages(id: string, cursor: string): Promise<{ messages: ThreadMessage[]; cursor: string | null }> {
    const qs = new URLSearchParams({ cursor }).toString();
    const page = toThread(await this.json("GET", `/inbox/conversations/${encodeURIComponent(id)}?${qs}`), null);
    return { messages: page.messages, cursor: page.olderCursor };
  }

  /** The conversation's plain-text transcript (the API records the export before it answers) and the
   * file name its Content-Disposition gives (else conversation-<id>.txt). */
  async transcript(id: string): Promise<Transcript> {
    const answer = await this.request("GET", `/inbox/conversations/${encodeURIComponent(id)}/export?format=text`, undefined, { Accept: "text/plain" });
    const named = /filename="([A-Za-z0-9_.-]{1,128})"/.exec(answer.headers.get("Content-Disposition") ?? "");
    return { blob: await answer.blob(), filename: named?.[1] ?? `conversation-${id.replace(/[^A-Za-z0-9_-]/g, "_")}.txt` };
  }

  /** A write against the thread as last read: If-Match and version both carry it. */
  write(thread: Thread, action: string, body: Json = {}): Promise<Json> {
    const headers: Record<string, string> = thread.etag ? { "If-Match": thread.etag } : {};
    return this.json("POST", `/inbox/conversations/${encodeURIComponent(thread.item.id)}/${action}`, { ...body, version: thread.version }, headers);
  }

  canned(department?: string): Promise<CannedResponse[]> {
    const qs = department ? `?department=${encodeURIComponent(department)}` : "";
    return this.json("GET", `/inbox/canned-responses${qs}`).then((r) => arr(r.canned_responses) as CannedResponse[]);
  }
}
