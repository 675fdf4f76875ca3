import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { type Api, ApiError, type CannedResponse, isStale, type ConversationItem, type Me, type Thread, type ThreadMessage } from "../api";
import { shortcutHandler, SHORTCUT_HELP } from "../keys";
import { ConversationList, type Filters, filterQuery, NO_FILTERS } from "./ConversationList";
import { ThreadView } from "./ThreadView";

/** Texts seen so far, merged by id (the newest report of each wins), newest first: a poll's first page and
 * the older pages loaded, so a text pushed off the first page by new arrivals stays in view. */
export function mergeMessages(known: ThreadMessage[], fresh: ThreadMessage[]): ThreadMessage[] {
  const byId = new Map(known.map((m) => [m.id, m]));
  for (const m of fresh) byId.set(m.id, m);
  return [...byId.values()].sort((a, b) => (a.at === b.at ? b.id.localeCompare(a.id) : b.at.localeCompare(a.at)));
}

interface Props {
  api: Api;
  me: Me;
  pollSeconds: number;
  selected: string | null;
  onSelect: (id: string | null) => void;
}

export function Inbox({ api, me, pollSeconds, selected, onSelect }: Props) {
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [items, setItems] = useState<ConversationItem[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false); // the first page of the list has arrived
  const [thread, setThread] = useState<Thread | null>(null);
  const [canned, setCanned] = useState<CannedResponse[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [help, setHelp] = useState(false);
  const reply = useRef<HTMLTextAreaElement>(null);
  const assign = useRef<HTMLInputElement>(null);
  const etag = useRef<string | null>(null);
  const current = useRef(selected); // a late answer for a conversation no longer open is dropped
  current.current = selected;
  const [seen, setSeen] = useState<ThreadMessage[]>([]);
  // The next older page's cursor once "older messages" was used (null: the start of the thread was reached).
  const [older, setOlder] = useState<{ cursor: string | null } | null>(null);
  const [olderError, setOlderError] = useState<string | null>(null);

  const loadList = useCallback(async () => {
    try {
      const page = await api.conversations(filterQuery(filters));
      setItems(page.items);
      setCursor(page.cursor);
      setLoaded(true);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }, [api, filters]);

  const loadThread = useCallback(
    async (fresh: boolean) => {
      if (!selected) return;
      try {
        const got = await api.thread(selected, fresh ? null : etag.current);
        if (current.current !== selected) return;
        if (got) {
          etag.current = got.etag;
          setThread(got);
          setSeen((known) => mergeMessages(known, got.messages));
        }
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) {
          setThread(null);
          setNotice("That conversation does not exist or is not in your departments.");
        } else setError(e instanceof Error ? e.message : String(e));
      }
    },
    [api, selected],
  );

  useEffect(() => void api.canned().then(setCanned).catch(() => setCanned([])), [api]);
  useEffect(() => {
    void loadList();
    const timer = setInterval(() => void loadList(), pollSeconds * 1000);
    return () => clearInterval(timer);
  }, [loadList, pollSeconds]);
  useEffect(() => {
    etag.current = null;
    setThread(null);
    setSeen([]);
    setOlder(null);
    setOlderError(null);
    setNotice(null);
    void loadThread(true);
    const timer = setInterval(() => void loadThread(false), pollSeconds * 1000);
    return () => clearInterval(timer);
  }, [loadThread, pollSeconds]);

  const act = async (action: string, body: Record<string, unknown> = {}) => {
    if (!thread) return;
    try {
      await api.write(thread, action, body);
      setNotice(null);
    } catch (e) {
      if (isStale(e)) {
        setNotice(`Not done: ${e.message}. The conversation changed since you opened it and has been reloaded; check it and try again.`);
        await loadThread(true);
        throw e;
      }
      throw e;
    }
    await loadThread(true);
    void loadList();
  };

  const olderCursor = older ? older.cursor : (thread?.olderCursor ?? null);
  const loadOlder = async () => {
    if (!thread || !olderCursor) return;
    try {
      const page = await api.olderMessages(thread.item.id, olderCursor);
      if (current.current !== thread.item.id) return;
      setSeen((known) => mergeMessages(known, page.messages));
      setOlder({ cursor: page.cursor });
      setOlderError(null);
    } catch (e) {
      setOlderError(e instanceof Error ? e.message : String(e));
    }
  };

  const move = (step: number) => {
    if (items.length === 0) return;
    const at = items.findIndex((c) => c.id === selected);
    const next = items[Math.min(items.length - 1, Math.max(0, at === -1 ? 0 : at + step))];
    if (next) onSelect(next.id);
  };

  useEffect(() => {
    const handler = shortcutHandler({
      next: () => move(1),
      prev: () => move(-1),
      reply: () => reply.current?.focus(),
      assign: () => assign.current?.focus(),
      close: () => void act("close").catch(() => {}),
      help: () => setHelp(true),
    });
    const escape = (e: KeyboardEvent) => e.key === "Escape" && setHelp(false);
    window.addEventListener("keydown", handler);
    window.addEventListener("keydown", escape);
    return () => {
      window.removeEventListener("keydown", handler);
      window.removeEventListener("keydown", escape);
    };
  });

  const more = async () => {
    if (!cursor) return;
    const page = await api.conversations(filterQuery(filters), cursor);
    setItems([...items, ...page.items]);
    setCursor(page.cursor);
  };

  return (
    <div class="inbox">
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <ConversationList
        me={me}
        items={items}
        selected={selected}
        filters={filters}
        onFilters={setFilters}
        onOpen={onSelect}
        more={cursor !== null}
        onMore={() => void more()}
        loaded={loaded}
      />
      {thread ? (
        <ThreadView
          thread={{ ...thread, messages: seen }}
          olderCursor={olderCursor}
          olderError={olderError}
          onOlder={loadOlder}
          canned={canned}
          departments={me.assign_departments ?? me.visible_departments}
          selfId={me.user_id}
          notice={notice}
          onAction={act}
          onExport={() => api.transcript(thread.item.id)}
          textareaRef={reply}
          assignRef={assign}
        />
      ) : (
        <section class="thread empty" aria-label="Conversation">
          <p>{notice ?? "Choose a conversation (j/k to move, ? for shortcuts)."}</p>
        </section>
      )}
      {help && (
        <div role="dialog" aria-modal="true" aria-labelledby="help-title" class="dialog">
          <h2 id="help-title">Keyboard shortcuts</h2>
          <dl>
            {SHORTCUT_HELP.map(([key, what]) => (
              <div key={key}>
                <dt>
                  <kbd>{key}</kbd>
                </dt>
                <dd>{what}</dd>
              </div>
            ))}
          </dl>
          <button type="button" autoFocus onClick={() => setHelp(false)}>
            Close
          </button>
        </div>
      )}
    </div>
  );
}
