// The tests' OpenID Provider: panva's oidc-provider, configured from the JSON in the
// ATTACH_OIDC_CONFIG environment variable and listening on its issuer's loopback port until its
// standard input closes. Prints "listening <issuer>" once it answers.
//
// The configuration: { "issuer": "http://127.0.0.1:<port>", "clients": [<client metadata>],
// "accounts": { "<login>": { <claims> } }, "keyFile": <path>?, "tamper": <how>? }. Any account
// signs in through the provider's own login page (its development interactions) with its login
// and any password; an unknown login is refused there.
//
// Each start signs with a new key, unless `keyFile` names a file: the key is read from it, or
// made and written there (its private JWK under "jwk", PKCS #1 PEM under "pem", for a test that
// signs logout tokens as this provider would).
//
// `tamper` makes the token endpoint answer as an attacker between it and the admin center
// would, with the ID token: "issuer", "audience", "expired", "nonce" (signed again with the
// provider's key, one claim changed), "unknownKey" (signed with a key the provider never
// published), "none" (unsigned, alg none), "hmac" (HS256 with the client's secret as the key),
// "claim" (a role added, the provider's signature kept).
import { createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import Provider from 'oidc-provider';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair } from 'jose';

const config = JSON.parse(process.env.ATTACH_OIDC_CONFIG ?? '{}');
const issuer = new URL(config.issuer);
const accounts = config.accounts ?? {};

async function signingKey() {
  if (config.keyFile && existsSync(config.keyFile)) {
    return JSON.parse(readFileSync(config.keyFile, 'utf8')).jwk;
  }
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: `key-${process.pid}-${Date.now()}`, use: 'sig', alg: 'RS256' };
  if (config.keyFile) {
    const pem = createPrivateKey({ key: jwk, format: 'jwk' }).export({ type: 'pkcs1', format: 'pem' });
    writeFileSync(`${config.keyFile}.part`, JSON.stringify({ jwk, pem }));
    renameSync(`${config.keyFile}.part`, config.keyFile);
  }
  return jwk;
}
const signing = await signingKey();

const provider = new Provider(config.issuer, {
  clients: config.clients ?? [],
  async findAccount(_ctx, id) {
    const claims = accounts[id];
    if (!claims) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
  },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'upn', 'oid', 'onprem_sid', 'roles', 'groups', '_claim_names', '_claim_sources'],
  },
  // The claims go into the ID token itself, as Entra ID puts them.
  conformIdTokenClaims: false,
  pkce: { required: () => true, methods: ['S256'] },
  features: {
    devInteractions: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  cookies: { keys: ['attach-center-tests'] },
  jwks: { keys: [signing] },
});
provider.proxy = false;

const json = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function tampered(idToken) {
  const [header, payload, signature] = idToken.split('.');
  const claims = decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  const key = createPrivateKey({ key: signing, format: 'jwk' });
  const signed = (changed, with_ = key, kid = signing.kid) =>
    new SignJWT(changed).setProtectedHeader({ alg: 'RS256', kid }).sign(with_);
  switch (config.tamper) {
    case 'issuer': return signed({ ...claims, iss: 'https://provider.elsewhere.example' });
    case 'audience': return signed({ ...claims, aud: 'another-client' });
    case 'expired': return signed({ ...claims, iat: now - 7200, exp: now - 3600 });
    case 'nonce': return signed({ ...claims, nonce: 'a nonce of another sign-in' });
    case 'unknownKey': {
      const { privateKey } = await generateKeyPair('RS256');
      return signed(claims, privateKey, 'a-key-the-provider-never-published');
    }
    case 'none': return `${json({ alg: 'none', typ: 'JWT' })}.${payload}.`;
    case 'hmac': {
      const secret = new TextEncoder().encode(config.clients[0].client_secret);
      return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: signing.kid }).sign(secret);
    }
    case 'claim': {
      const roles = [...(claims.roles ?? []), 'AttachCenter.Administrator'];
      return `${header}.${json({ ...claims, roles })}.${signature}`;
    }
    default: throw new Error(`no such tampering: ${config.tamper}`);
  }
}

if (config.tamper) {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token' && ctx.body?.id_token) {
      ctx.body = { ...ctx.body, id_token: await tampered(ctx.body.id_token) };
    }
  });
}

const server = provider.listen(Number(issuer.port), issuer.hostname, () => {
  console.log(`listening ${config.issuer}`);
});

process.stdin.on('end', () => server.close(() => process.exit(0)));
process.stdin.resume();
