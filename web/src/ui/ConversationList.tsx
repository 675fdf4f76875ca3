import type { ConversationItem, Me } from "../api";

export interface Filters {
  department: string;
  status: string;
  assignee: string;
  urgent: boolean;
  overdue: boolean;
  unread: boolean;
}

export const NO_FILTERS: Filters = { department: "", status: "open", assignee: "", urgent: false, overdue: false, unread: false };

export function filterQuery(f: Filters): Record<string, string> {
  return {
    department: f.department,
    status: f.status,
    assignee: f.assignee,
    urgent: f.urgent ? "true" : "",
    overdue: f.overdue ? "true" : "",
    unread: f.unread ? "true" : "",
  };
}

export function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
}

/** The number's consent when it stops texts: opted out (STOP), or a record that cannot be read (nothing is
 * sent until it is repaired). Opted in and never recorded (a reply may go) show no badge. */
export function ConsentBadge({ consent }: { consent: string }) {
  if (consent === "opted_out") return <span class="badge opted-out">Opted out</span>;
  if (consent === "unreadable") return <span class="badge opted-out">Consent unreadable</span>;
  return null;
}

interface Props {
  me: Me;
  items: ConversationItem[];
  selected: string | null;
  filters: Filters;
  onFilters: (f: Filters) => void;
  onOpen: (id: string) => void;
  more: boolean;
  onMore: () => void;
  /** False until the first page has arrived: "Loading", never a false "No conversations match". */
  loaded?: boolean;
}

export function ConversationList({ me, items, selected, filters, onFilters, onOpen, more, onMore, loaded = true }: Props) {
  const set = (patch: Partial<Filters>) => onFilters({ ...filters, ...patch });
  return (
    <section class="list" aria-labelledby="list-title" aria-busy={loaded ? "false" : "true"}>
      <h2 id="list-title">Conversations</h2>
      <fieldset class="filters">
        <legend>Filters</legend>
        <label>
          Department
          <select value={filters.department} onChange={(e) => set({ department: e.currentTarget.value })}>
            <option value="">All mine</option>
            {me.visible_departments.map((d) => (
              <option key={d} value={d}>
                {d}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select value={filters.status} onChange={(e) => set({ status: e.currentTarget.value })}>
            <option value="open">Open</option>
            <option value="closed">Closed</option>
            <option value="">Any</option>
          </select>
        </label>
        <label>
          Assignee
          <select value={filters.assignee} onChange={(e) => set({ assignee: e.currentTarget.value })}>
            <option value="">Anyone</option>
            <option value="me">Me</option>
            <option value="unassigned">Unassigned</option>
          </select>
        </label>
        <label class="check">
          <input type="checkbox" checked={filters.urgent} onChange={(e) => set({ urgent: e.currentTarget.checked })} /> Urgent
        </label>
        <label class="check">
          <input type="checkbox" checked={filters.overdue} onChange={(e) => set({ overdue: e.currentTarget.checked })} /> Overdue
        </label>
        <label class="check">
          <input type="checkbox" checked={filters.unread} onChange={(e) => set({ unread: e.currentTarget.checked })} /> Unread
        </label>
      </fieldset>
      {!loaded ? (
        <p role="status">Loading conversations…</p>
      ) : items.length === 0 ? (
        <p>No conversations match.</p>
      ) : (
        <ul class="items">
          {items.map((c) => (
            <li key={c.id}>
              <button
                type="button"
                class={`item${c.id === selected ? " selected" : ""}${c.flags.unread ? " unread" : ""}`}
                aria-current={c.id === selected ? "true" : undefined}
                onClick={() => onOpen(c.id)}
              >
                <span class="who">
                  {c.patient} <span class="muted">{c.patient !== c.maskedNumber ? c.maskedNumber : ""}</span>
                </span>
                <span class="badges">
                  {c.flags.urgent && <span class="badge urgent">Urgent</span>}
                  {c.flags.overdue && <span class="badge overdue">Overdue</span>}
                  {c.flags.unread && <span class="badge unread">Unread</span>}
                  {c.status === "closed" && <span class="badge">Closed</span>}
                  <ConsentBadge consent={c.consent} />
                </span>
                <span class="meta">
                  {c.department} · {c.assignee ? `assigned to ${c.assignee}` : "unassigned"} · {when(c.lastActivityAt)}
                </span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {more && (
        <button type="button" onClick={onMore}>
          Load more
        </button>
      )}
    </section>
  );
}
