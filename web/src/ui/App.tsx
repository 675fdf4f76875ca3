import { useEffect, useMemo, useState } from "preact/hooks";
import { Api, type Me } from "../api";
import { Auth } from "../auth";
import type { AppConfig } from "../config";
import { startIdleTimer } from "../idle";
import { Audit, Canned, Departments, Templates } from "./Admin";
import { Inbox } from "./Inbox";
import { Login } from "./Login";

type Route = { page: "inbox"; id: string | null } | { page: "departments" | "canned" | "templates" | "audit" };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, "");
  const [head, rest] = [path.split("/")[0] ?? "", path.split("/").slice(1).join("/")];
  if (head === "c" && rest) return { page: "inbox", id: decodeURIComponent(rest) };
  if (head === "admin" && ["departments", "canned", "templates", "audit"].includes(rest)) {
    return { page: rest as "departments" };
  }
  return { page: "inbox", id: null };
}

function useHash(): string {
  const [hash, setHash] = useState(window.location.hash);
  useEffect(() => {
    const on = () => setHash(window.location.hash);
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return hash;
}

export function App({ config, auth: given }: { config: AppConfig; auth?: Auth }) {
  const auth = useMemo(() => given ?? new Auth(config), [config, given]);
  const [me, setMe] = useState<Me | null>(null);
  const [signedIn, setSignedIn] = useState(false);
  const [reason, setReason] = useState<string | null>(null);
  const hash = useHash();
  const route = parseRoute(hash);

  const signOut = (why: string | null) => {
    auth.signOut();
    setMe(null);
    setSignedIn(false);
    setReason(why);
  };
  const api = useMemo(
    () => new Api(config.apiBaseUrl, () => auth.accessToken(), () => signOut("Your session ended. Sign in again.")),
    [auth, config],
  );

  useEffect(() => {
    if (!signedIn) return;
    api.me().then(setMe).catch((e) => signOut(e instanceof Error ? e.message : String(e)));
    return startIdleTimer(config.idleMinutes, () => signOut(`Signed out after ${config.idleMinutes} idle minutes.`));
  }, [signedIn]);

  if (!signedIn) {
    return <Login auth={auth} clinicName={config.clinicName} reason={reason} onSignedIn={() => setSignedIn(true)} />;
  }
  if (!me) return <p role="status">Loading…</p>;
  const departments = me.visible_departments;
  const link = (href: string, label: string, current: boolean) => (
    <a href={href} aria-current={current ? "page" : undefined}>
      {label}
    </a>
  );
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <h1>{config.clinicName} inbox</h1>
        <nav aria-label="Main">
          {link("#/", "Inbox", route.page === "inbox")}
          {me.admin && link("#/admin/departments", "Departments", route.page === "departments")}
          {me.admin && link("#/admin/canned", "Canned responses", route.page === "canned")}
          {me.admin && link("#/admin/templates", "Templates", route.page === "templates")}
          {me.admin && link("#/admin/audit", "Audit", route.page === "audit")}
        </nav>
        <span class="user">
          {me.username} ({me.admin ? "admin" : me.departments.join(", ")})
          <button type="button" onClick={() => signOut("Signed out.")}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        {route.page === "inbox" && (
          <Inbox
            api={api}
            me={me}
            pollSeconds={config.pollSeconds}
            selected={route.id}
            onSelect={(id) => (window.location.hash = id ? `#/c/${encodeURIComponent(id)}` : "#/")}
          />
        )}
        {route.page === "departments" && <Departments api={api} departments={departments} />}
        {route.page === "canned" && <Canned api={api} departments={departments} />}
        {route.page === "templates" && <Templates api={api} />}
        {route.page === "audit" && <Audit api={api} />}
      </main>
    </>
  );
}
