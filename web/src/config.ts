/**
 * The deployment's settings, fetched from config.json beside index.html at start, so one build serves every
 * deployment (the sandbox writes its own; a deployment uploads one next to the build).
 */

export type AuthFlow = "USER_SRP_AUTH" | "USER_PASSWORD_AUTH";

export interface AppConfig {
  /** The HTTP API's base URL; "" for the same origin (CloudFront routes /inbox/* to the API). */
  apiBaseUrl: string;
  region: string;
  userPoolId: string;
  clientId: string;
  /** The Cognito endpoint; "" for the region's public one. The sandbox points it at moto. */
  cognitoEndpoint: string;
  authFlow: AuthFlow;
  idleMinutes: number;
  pollSeconds: number;
  clinicName: string;
}

export class ConfigError extends Error {}

function text(raw: Record<string, unknown>, key: string, fallback?: string): string {
  const value = raw[key] ?? fallback;
  if (typeof value !== "string") throw new ConfigError(`config.json: ${key} must be a string`);
  return value;
}

function positive(raw: Record<string, unknown>, key: string, fallback: number, max: number): number {
  const value = raw[key] ?? fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > max) {
    throw new ConfigError(`config.json: ${key} must be a number from 1 to ${max}`);
  }
  return value;
}

export function parseConfig(raw: unknown): AppConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError("config.json must be a JSON object");
  }
  const r = raw as Record<string, unknown>;
  const apiBaseUrl = text(r, "apiBaseUrl", "").replace(/\/+$/, "");
  if (apiBaseUrl && !/^https?:\/\/[^/]+/.test(apiBaseUrl)) throw new ConfigError("config.json: apiBaseUrl must be a URL");
  const userPoolId = text(r, "userPoolId");
  if (!/^[\w-]+_[0-9a-zA-Z]+$/.test(userPoolId)) throw new ConfigError("config.json: userPoolId is not a pool id");
  const authFlow = text(r, "authFlow", "USER_SRP_AUTH");
  if (authFlow !== "USER_SRP_AUTH" && authFlow !== "USER_PASSWORD_AUTH") {
    throw new ConfigError("config.json: authFlow must be USER_SRP_AUTH or USER_PASSWORD_AUTH");
  }
  return {
    apiBaseUrl,
    region: text(r, "region", userPoolId.split("_")[0]),
    userPoolId,
    clientId: text(r, "clientId"),
    cognitoEndpoint: text(r, "cognitoEndpoint", ""),
    authFlow,
    idleMinutes: positive(r, "idleMinutes", 15, 24 * 60),
    pollSeconds: positive(r, "pollSeconds", 5, 600),
    clinicName: text(r, "clinicName", "ClinicText"),
  };
}

export async function loadConfig(url = "config.json"): Promise<AppConfig> {
  const answer = await fetch(url, { cache: "no-store" });
  if (!answer.ok) throw new ConfigError(`config.json could not be loaded (${answer.status})`);
  return parseConfig(await answer.json());
}
