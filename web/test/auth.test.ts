import { afterEach, describe, expect, it, vi } from "vitest";
import { Auth } from "../src/auth";
import { parseConfig } from "../src/config";

afterEach(() => vi.unstubAllGlobals());

describe("Auth against the configured Cognito endpoint", () => {
  it("signs in with USER_PASSWORD_AUTH (the sandbox) at the pool endpoint, tokens kept in memory", async () => {
    const calls: { url: string; target: string; body: Record<string, unknown> }[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string, init: RequestInit) => {
        const headers = init.headers as Record<string, string>;
        calls.push({ url, target: headers["X-Amz-Target"] ?? "", body: JSON.parse(String(init.body)) });
        // an unsigned JWT shape is enough: the library only decodes the payload
        const claims = btoa(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 1800, iat: Math.floor(Date.now() / 1000), username: "nina.nurse" }));
        const token = `h.${claims}.s`;
        return new Response(JSON.stringify({ AuthenticationResult: { AccessToken: token, IdToken: token, RefreshToken: "r" } }), { status: 200 });
      }),
    );
    const setItem = vi.spyOn(Storage.prototype, "setItem");
    const config = parseConfig({ userPoolId: "us-east-1_abc123", clientId: "client1", cognitoEndpoint: "http://127.0.0.1:4566/", authFlow: "USER_PASSWORD_AUTH" });
    const auth = new Auth(config);
    expect(await auth.signIn("nina.nurse", "pw")).toEqual({ kind: "signed-in" });
    expect(calls[0]!.url).toBe("http://127.0.0.1:4566/");
    expect(calls[0]!.target).toBe("AWSCognitoIdentityProviderService.InitiateAuth");
    expect(calls[0]!.body).toMatchObject({ AuthFlow: "USER_PASSWORD_AUTH", ClientId: "client1", AuthParameters: { USERNAME: "nina.nurse", PASSWORD: "pw" } });
    expect(await auth.accessToken()).toMatch(/^h\./);
    expect(setItem).not.toHaveBeenCalled(); // nothing in localStorage or sessionStorage
    auth.signOut();
    expect(await auth.accessToken()).toBeNull();
  });

  it("a deployment starts USER_SRP_AUTH (the password never leaves the browser)", async () => {
    const bodies: Record<string, unknown>[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (_url: string, init: RequestInit) => {
        bodies.push(JSON.parse(String(init.body)));
        return new Response(JSON.stringify({ __type: "NotAuthorizedException", message: "Incorrect username or password." }), { status: 400 });
      }),
    );
    const auth = new Auth(parseConfig({ userPoolId: "us-east-1_abc123", clientId: "client1" }));
    await expect(auth.signIn("nina.nurse", "secret-pw")).rejects.toThrow(/Incorrect username or password/);
    expect(bodies[0]).toMatchObject({ AuthFlow: "USER_SRP_AUTH" });
    expect(JSON.stringify(bodies[0])).not.toContain("secret-pw");
  });
});
