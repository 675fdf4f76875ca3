import { useState } from "preact/hooks";
import type { Auth, SignInStep } from "../auth";

export function Login({ auth, clinicName, onSignedIn, reason }: {
  auth: Pick<Auth, "signIn">;
  clinicName: string;
  onSignedIn: () => void;
  reason: string | null;
}) {
  const [username, setUsername] = useState("");
  const [secret, setSecret] = useState("");
  const [step, setStep] = useState<SignInStep | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const advance = (next: SignInStep) => {
    setSecret("");
    if (next.kind === "signed-in") onSignedIn();
    else setStep(next);
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      advance(step && step.kind !== "signed-in" ? await step.submit(secret) : await auth.signIn(username, secret));
    } catch (err) {
      // Cognito says "Incorrect username or password." without telling which; keep it that way.
      setError(err instanceof Error ? err.message : "sign-in failed");
    } finally {
      setBusy(false);
    }
  };
  const prompt =
    step?.kind === "mfa"
      ? step.challenge === "SMS_MFA"
        ? "Code sent by text message"
        : "Code from your authenticator app"
      : step?.kind === "totp-setup"
        ? "Code from your authenticator app after adding this key"
        : step?.kind === "new-password"
          ? "Choose a new password"
          : "Password";
  return (
    <main class="login">
      <h1>{clinicName} inbox</h1>
      {reason && <p role="status">{reason}</p>}
      <form onSubmit={submit} aria-label="Sign in">
        {!step && (
          <label for="username">
            Username
            <input id="username" autoComplete="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} required />
          </label>
        )}
        {step?.kind === "totp-setup" && (
          <p>
            Add this key to your authenticator app: <code>{step.secret}</code>
          </p>
        )}
        <label for="secret">
          {prompt}
          {step?.kind === "mfa" || step?.kind === "totp-setup" ? (
            <input
              id="secret"
              type="text"
              inputMode="numeric"
              autoComplete="one-time-code"
              value={secret}
              onInput={(e) => setSecret(e.currentTarget.value)}
              required
            />
          ) : (
            <input
              id="secret"
              type="password"
              autoComplete={step ? "new-password" : "current-password"}
              value={secret}
              onInput={(e) => setSecret(e.currentTarget.value)}
              required
            />
          )}
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : step ? "Continue" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
