// The tests' OpenID Provider: panva's oidc-provider, configured from the JSON in the
// ATTACH_OIDC_CONFIG environment variable and listening on its issuer's loopback port until its
// standard input closes. Prints "listening <issuer>" once it answers.
//
// The configuration: { "issuer": "http://127.0.0.1:<port>", "clients": [<client metadata>],
// "accounts": { "<login>": { <claims> } } }. Any account signs in through the provider's own
// login page (its development interactions) with its login and any password; an unknown login
// is refused there. Each start signs with a new key.
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair } from 'jose';

const config = JSON.parse(process.env.ATTACH_OIDC_CONFIG ?? '{}');
const issuer = new URL(config.issuer);
const accounts = config.accounts ?? {};
// A signing key of this start's own: a provider started again has rotated its keys.
const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signing = { ...(await exportJWK(privateKey)), kid: `key-${process.pid}-${Date.now()}`, use: 'sig', alg: 'RS256' };

const provider = new Provider(config.issuer, {
  clients: config.clients ?? [],
  async findAccount(_ctx, id) {
    const claims = accounts[id];
    if (!claims) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
  },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'upn', 'oid', 'onprem_sid', 'roles', 'groups'],
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

const server = provider.listen(Number(issuer.port), issuer.hostname, () => {
  console.log(`listening ${config.issuer}`);
});

process.stdin.on('end', () => server.close(() => process.exit(0)));
process.stdin.resume();
