// Drives the interactive API docs in a real Chromium the way a person would: Authorize with
// the OAuth2 password form, then "Try it out" on GET /api/users/me.
//
// Usage: node authorize.mjs BASE_URL USERNAME PASSWORD SCREENSHOT_PATH
//
// It prints one JSON line saying what the page showed: the token endpoint's status and the
// dialog's error text, if any; then the status and body the docs show for /api/users/me,
// and which credential the browser actually sent with that request. It exits 0 only when
// the page shows a 200 for /api/users/me, 1 when the page worked but showed anything else,
// and 2 when the page could not be driven at all. A screenshot of the page as it ends is
// saved in every case, and one of the settled Authorize dialog beside it (`*.dialog.png`).
//
// The browser is the system's Chromium (CHROMIUM, default /usr/bin/chromium): test tools
// cannot download a browser of their own on every machine this runs on.

import { chromium } from 'playwright-core';

const STEP_TIMEOUT_MS = 15_000;

const [baseUrl, username, password, screenshotPath] = process.argv.slice(2);
if (!screenshotPath) {
  console.error('usage: node authorize.mjs BASE_URL USERNAME PASSWORD SCREENSHOT_PATH');
  process.exit(2);
}

const result = { token: null, authorized: false, dialog_errors: [], me: null };

let browser;
let page;
try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // Without the networking switches Chromium keeps retrying refused background
    // connections and stalls; Playwright gives every launch a fresh profile.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  await authorize(page);
  await tryMe(page);
} catch (error) {
  result.error = String(error.message || error).split('\n')[0];
} finally {
  await page?.screenshot({ path: screenshotPath }).catch(() => {});
  await browser?.close();
}

console.log(JSON.stringify(result));
if (result.error) {
  process.exit(2);
}
process.exit(result.me?.status === 200 ? 0 : 1);

// Opens the docs and signs in through the OAuth2 password form, client fields left empty.
async function authorize(page) {
  await page.goto(new URL('/api/docs/', baseUrl).href);
  await page.locator('.swagger-ui .btn.authorize').first().click();

  const dialog = page.locator('.dialog-ux .modal-ux');
  const oauth = dialog.locator('.auth-container').filter({ hasText: 'OAuth2PasswordBearer' });
  await oauth.locator('#oauth_username').fill(username);
  await oauth.locator('#oauth_password').fill(password);

  const tokenResponse = page.waitForResponse((response) =>
    new URL(response.url()).pathname === '/api/token');
  await oauth.locator('button.authorize').click();
  const response = await tokenResponse;
  const request = response.request();
  // Swagger UI sends the empty client id and secret as Basic by default; the scheme is
  // reported to show that the token endpoint was reached exactly as a person reaches it.
  result.token = {
    status: response.status(),
    content_type: request.headers()['content-type'] ?? null,
    authorization_scheme: (request.headers().authorization ?? '').split(' ')[0] || null,
  };

  // Success turns the form into a "Logout" button; failure adds an error line. Either way
  // the dialog has settled once one of them is there.
  const settled = oauth.locator('button.authorize:has-text("Logout"), .errors');
  await settled.first().waitFor();
  result.dialog_errors = await oauth.locator('.errors').allInnerTexts();
  result.authorized = await oauth.locator('button.authorize:has-text("Logout")').count() > 0;
  await page.screenshot({ path: screenshotPath.replace(/(\.png)?$/, '.dialog.png') });

  await dialog.locator('button.close-modal').click();
  await dialog.waitFor({ state: 'detached' });
}

// Runs GET /api/users/me from its docs entry and reads what the page shows.
async function tryMe(page) {
  const operation = page.locator('.opblock-get')
    .filter({ has: page.locator('[data-path="/api/users/me"]') })
    .first();
  await operation.locator('.opblock-summary-control').click();
  await operation.locator('button.try-out__btn').click();

  const meResponse = page.waitForResponse((response) =>
    new URL(response.url()).pathname === '/api/users/me');
  await operation.locator('button.execute').click();
  const request = (await meResponse).request();
  const headers = await request.allHeaders();

  // Only the kind of credential is reported, never the credential itself.
  const authorization = headers.authorization ?? '';
  const shown = operation.locator('.live-responses-table tbody tr.response').first();
  await shown.waitFor();
  result.me = {
    status: Number((await shown.locator('.response-col_status').innerText()).trim()),
    body: await shown.locator('.response-col_description pre').first().innerText(),
    authorization_scheme: authorization.split(' ')[0] || null,
    cookie_names: cookieNames(headers.cookie),
  };

  // The final screenshot should show the response the report was read from.
  await shown.scrollIntoViewIfNeeded();
}

// The names of the cookies in a Cookie header, without their values.
function cookieNames(header) {
  if (!header) {
    return [];
  }
  return header.split(';').map((pair) => pair.split('=')[0].trim()).filter(Boolean);
}
