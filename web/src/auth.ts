/**
 * Staff sign-in against the Cognito user pool (amazon-cognito-identity-js): USER_SRP_AUTH with the MFA
 * challenges in a deployment, USER_PASSWORD_AUTH against the sandbox's emulated pool. Tokens are kept in
 * memory only (never localStorage): a reload or the idle logoff signs the user out.
 */
import {
  AuthenticationDetails,
  CognitoUser,
  CognitoUserPool,
  type CognitoUserSession,
  type ICognitoStorage,
} from "amazon-cognito-identity-js";
import type { AppConfig } from "./config";

class MemoryStorage implements ICognitoStorage {
  private items = new Map<string, string>();
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
  clear(): void {
    this.items.clear();
  }
}

export type SignInStep =
  | { kind: "signed-in" }
  | { kind: "mfa"; challenge: "SMS_MFA" | "SOFTWARE_TOKEN_MFA"; submit: (code: string) => Promise<SignInStep> }
  | { kind: "totp-setup"; secret: string; submit: (code: string) => Promise<SignInStep> }
  | { kind: "new-password"; submit: (password: string) => Promise<SignInStep> };

export class Auth {
  private readonly pool: CognitoUserPool;
  private readonly storage = new MemoryStorage();
  private user: CognitoUser | null = null;

  constructor(private readonly config: AppConfig) {
    this.pool = new CognitoUserPool({
      UserPoolId: config.userPoolId,
      ClientId: config.clientId,
      Storage: this.storage,
      ...(config.cognitoEndpoint ? { endpoint: config.cognitoEndpoint } : {}),
    });
  }

  signIn(username: string, password: string): Promise<SignInStep> {
    const user = new CognitoUser({ Username: username, Pool: this.pool, Storage: this.storage });
    user.setAuthenticationFlowType(this.config.authFlow);
    const details = new AuthenticationDetails({ Username: username, Password: password });
    return new Promise((resolve, reject) => {
      const callbacks = this.callbacks(user, resolve, reject);
      user.authenticateUser(details, callbacks);
    });
  }

  private callbacks(
    user: CognitoUser,
    resolve: (step: SignInStep) => void,
    reject: (error: Error) => void,
  ): Parameters<CognitoUser["authenticateUser"]>[1] {
    const again = (run: (cb: ReturnType<Auth["callbacks"]>) => void) =>
      new Promise<SignInStep>((res, rej) => run(this.callbacks(user, res, rej)));
    return {
      onSuccess: () => {
        this.user = user;
        resolve({ kind: "signed-in" });
      },
      onFailure: (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
      mfaRequired: () =>
        resolve({
          kind: "mfa",
          challenge: "SMS_MFA",
          submit: (code) => again((cb) => user.sendMFACode(code, cb)),
        }),
      totpRequired: () =>
        resolve({
          kind: "mfa",
          challenge: "SOFTWARE_TOKEN_MFA",
          submit: (code) => again((cb) => user.sendMFACode(code, cb, "SOFTWARE_TOKEN_MFA")),
        }),
      mfaSetup: () => {
        user.associateSoftwareToken({
          associateSecretCode: (secret: string) =>
            resolve({
              kind: "totp-setup",
              secret,
              submit: (code) =>
                new Promise<SignInStep>((res, rej) =>
                  user.verifySoftwareToken(code, "ClinicText", {
                    onSuccess: () => {
                      this.user = user;
                      res({ kind: "signed-in" });
                    },
                    onFailure: (e: Error) => rej(e),
                  }),
                ),
            }),
          onFailure: (e: Error) => reject(e),
        });
      },
      newPasswordRequired: () =>
        resolve({
          kind: "new-password",
          submit: (newPassword) => again((cb) => user.completeNewPasswordChallenge(newPassword, {}, cb)),
        }),
    };
  }

  /** A current access token (refreshed through the refresh token when it has expired), or null. */
  accessToken(): Promise<string | null> {
    const user = this.user;
    if (!user) return Promise.resolve(null);
    return new Promise((resolve) => {
      user.getSession((error: Error | null, session: CognitoUserSession | null) => {
        if (error || !session || !session.isValid()) resolve(null);
        else resolve(session.getAccessToken().getJwtToken());
      });
    });
  }

  get signedIn(): boolean {
    return this.user !== null;
  }

  signOut(): void {
    this.user?.signOut();
    this.user = null;
    this.storage.clear();
  }
}
