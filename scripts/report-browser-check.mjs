// Open an opsverify HTML report in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core), wait until it shows the text we expect, save a screenshot and print what
// a person would see as JSON: {text, external_requests, elapsed_ms, found}.
// Usage: node scripts/report-browser-check.mjs URL SCREENSHOT.png EXPECTED_TEXT [TIMEOUT_MS]
// Any request that leaves the machine (http(s) to anything but loopback) is aborted and
// reported: an audit report must not phone home.
import { chromium } from "playwright-core";

const [url, screenshot, expected, timeoutArg] = process.argv.slice(2);
if (!url || !screenshot || !expected) {
  console.error("usage: report-browser-check.mjs URL SCREENSHOT EXPECTED_TEXT [TIMEOUT_MS]");
  process.exit(2);
}
const timeout = Number(timeoutArg || 20000);
const executablePath = process.env.OPSVERIFY_CHROMIUM || "/usr/bin/chromium";
const started = Date.now();
const browser = await chromium.launch({
  executablePath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const external = [];
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  await context.route("**/*", (route) => {
    const u = new URL(route.request().url());
    const local = ["file:", "data:", "blob:", "about:"].includes(u.protocol)
      || ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname);
    if (local) return route.continue();
    external.push(route.request().url());
    return route.abort();
  });
  const page = await context.newPage();
  await page.goto(url, { waitUntil: "load", timeout });
  let found = true;
  try {
    await page.waitForFunction(
      (needle) => document.body && document.body.innerText.includes(needle)
        && document.body.innerText.includes("Total"),
      expected, { timeout, polling: 100 });
    await page.waitForTimeout(300); // let charts settle for the screenshot
  } catch {
    found = false;
  }
  await page.screenshot({ path: screenshot });
  const text = await page.evaluate(() => document.body ? document.body.innerText : "");
  // optionally open a tab (e.g. "Categories") and read what it shows
  let clicked_text = "";
  const click = process.env.OPSVERIFY_REPORT_CLICK;
  if (found && click) {
    await page.getByText(click, { exact: false }).first().click({ timeout: 5000 });
    await page.waitForTimeout(700);
    clicked_text = await page.evaluate(() => document.body.innerText);
  }
  console.log(JSON.stringify({ found, text, clicked_text, external_requests: external,
                               elapsed_ms: Date.now() - started }));
} finally {
  await browser.close();
}
