// A real OpenID Connect provider (the certified `oidc-provider` package) for the tests.
//
// It listens on 127.0.0.1 (port PORT, or any free one), signs with a fresh RSA key at every
// start (so a restart on the same port is a key rotation), logs in through the package's
// own login and consent forms, and prints `READY <issuer>` once it accepts requests.
//
// Settings come from the environment:
//   PORT            the port to listen on; 0 or unset for any free one
//   CLIENT_ID       the registered client (default "romm")
//   CLIENT_SECRET   its secret (default "romm-test-secret")
//   REDIRECT_URI    the client's callback
//   POST_LOGOUT_URI where RP-initiated logout may send the browser back to
//   USERS           JSON: {"<subject>": {"email": ..., "email_verified": ..., ...claims}}

import crypto from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const users = JSON.parse(process.env.USERS ?? '{}');
const clientId = process.env.CLIENT_ID ?? 'romm';
const clientSecret = process.env.CLIENT_SECRET ?? 'romm-test-secret';

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: crypto.randomUUID(),
  use: 'sig',
  alg: 'RS256',
};

const server = http.createServer();
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [process.env.REDIRECT_URI],
        post_logout_redirect_uris: [process.env.POST_LOGOUT_URI],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username', 'name', 'roles'],
    },
    // Put the requested claims in the ID token itself, where the client reads them.
    conformIdTokenClaims: false,
    findAccount: async (_ctx, subject) => {
      const claims = users[subject];
      if (!claims) {
        return undefined;
      }
      return { accountId: subject, claims: async () => ({ sub: subject, ...claims }) };
    },
    jwks: { keys: [signingKey] },
    pkce: { required: () => true },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
  });
  provider.proxy = false;

  server.on('request', provider.callback());
  console.log(`READY ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
