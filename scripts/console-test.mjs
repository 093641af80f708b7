// The console's browser test: drives headless Chromium (Debian's /usr/bin/chromium) through
// playwright-core against a running `esr serve`, the way a person would use the page.
//
//   node scripts/console-test.mjs BASE_URL OUT.png
//
// Env: PLAYWRIGHT_DIR (the folder playwright-core is installed in; console-test.sh sets it),
// CONSOLE_TEST_SPEED (default 600), CONSOLE_TEST_ACTORS (default: the seed's own count),
// CONSOLE_TEST_TOKEN (the server wants this bearer token: answer the console's dialog).
// Exits 0 when every check passed, 1 on a failed check, 2 on bad usage. Started by
// scripts/console-test.sh, which also starts the server.
import { createRequire } from "node:module";
import path from "node:path";

const [base, out] = process.argv.slice(2);
if (!base || !out || !process.env.PLAYWRIGHT_DIR) {
  console.error("usage: PLAYWRIGHT_DIR=DIR node scripts/console-test.mjs BASE_URL OUT.png");
  process.exit(2);
}
// playwright-core lives in a cache folder, not in the repository: resolve it from there.
const require = createRequire(path.join(path.resolve(process.env.PLAYWRIGHT_DIR), "x.js"));
const { chromium } = require("playwright-core");

const SPEED = process.env.CONSOLE_TEST_SPEED || "600";
const ACTORS = process.env.CONSOLE_TEST_ACTORS;
const TOKEN = process.env.CONSOLE_TEST_TOKEN || "";
const RUN_TIMEOUT_MS = 90_000;

let failures = 0;
function check(ok, what, detail = "") {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}${detail ? `: ${detail}` : ""}`);
  if (!ok) failures++;
  return ok;
}

// "12.3 ms" / "98.1 %" / "1,234" -> number (NaN when the page shows none).
const numberIn = (text) => Number(String(text).replace(/,/g, "").replace(/[^0-9.eE+-].*$/, ""));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // The flags that keep Chromium from reaching out: this machine has no network.
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
// A script error or a Content-Security-Policy violation shows up as a page error or an
// error on the console: either fails the test.
const pageErrors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // Anything outside the server is refused: the console must work with no network.
  const origin = new URL(base).origin;
  const foreign = [];
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(origin) || url.startsWith("blob:") || url.startsWith("data:")) return route.continue();
    foreign.push(url);
    return route.abort();
  });
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 4\d\d/.test(m.text())) pageErrors.push(m.text());
  });

  await page.goto(base, { waitUntil: "domcontentloaded" });
  check((await page.locator("h1").textContent()) === "esr console", "the console page opens");
  if (TOKEN) {
    // The first 401 opens the token dialog; the token then stays for the tab.
    await page.locator("#token-dialog[open]").waitFor({ timeout: 10_000 });
    await page.locator("#token-input").fill(TOKEN);
    await page.locator("#token-form button[type=submit]").click();
    await page.locator("#token-dialog").waitFor({ state: "hidden", timeout: 5_000 });
    check(true, "the console asks for the API token");
  }
  await page.waitForFunction(() => document.querySelectorAll("#field-list li").length > 0);
  check(
    (await page.locator('#field-list li[data-field="script[2].ratio"]').count()) === 1,
    "the field list names the seed's fields",
  );

  // 1. An invalid scenario: the server's error is shown beside the field it names.
  const seed = await page.locator("#scenario-json").inputValue();
  check(seed.includes('"flood_rerate_wave1"'), "the editor is prefilled with the seed scenario");
  await page.locator("#scenario-json").fill(seed.replace(/"actors":\s*\d+/, '"actors": "many"'));
  await page.locator("#scenario-submit").click();
  const bad = page.locator('#field-list li.bad[data-field="actors"]');
  await bad.waitFor({ timeout: 10_000 });
  const badMsg = (await bad.locator(".msg").textContent()) || "";
  check(badMsg.trim().length > 0, "an invalid `actors` is flagged beside the `actors` field", badMsg.trim());
  check(
    (await page.locator("#scenario-json").getAttribute("aria-invalid")) === "true",
    "the editor is marked invalid",
  );
  await bad.locator("button.name").click();
  const selected = await page.locator("#scenario-json").evaluate((ta) => ta.value.slice(ta.selectionStart, ta.selectionEnd));
  check(selected.startsWith('"actors"'), "selecting the flagged field selects it in the editor", selected);

  // 2. The seed scenario through the form.
  const scenario = ACTORS ? seed.replace(/"actors":\s*\d+/, `"actors": ${ACTORS}`) : seed;
  await page.locator("#scenario-json").fill(scenario);
  await page.locator("#scenario-submit").click();
  await page.locator("#scenario-result.ok").waitFor({ timeout: 10_000 });
  const created = (await page.locator("#scenario-result").textContent()) || "";
  const scnId = (/SCN-\d+/.exec(created) || [])[0];
  check(Boolean(scnId) && /READY/.test(created), "the seed scenario is created", created);
  check((await page.locator("#field-list li.bad").count()) === 0, "no field is flagged after a good scenario");
  await page.locator(`#scenario-table tr[data-id="${scnId}"]`).waitFor({ timeout: 5_000 });

  // 3. Run it fast and watch it reach DONE.
  await page.locator("#run-scenario").selectOption(scnId);
  await page.locator("#run-speed").fill(SPEED);
  await page.locator("#run-submit").click();
  await page.locator("#run:not([hidden])").waitFor({ timeout: 10_000 });
  const runTitle = (await page.locator("#run-title").textContent()) || "";
  const runId = (/RUN-\d+/.exec(runTitle) || [])[0];
  check(Boolean(runId), "the run starts", runTitle);
  const t0 = Date.now();
  await page.waitForFunction(
    () => ["DONE", "FAILED", "CANCELLED"].includes(document.querySelector("#run-state")?.dataset.state),
    null,
    { timeout: RUN_TIMEOUT_MS, polling: 250 },
  );
  const state = await page.locator("#run-state").getAttribute("data-state");
  check(state === "DONE", `the run reaches DONE (${((Date.now() - t0) / 1000).toFixed(1)} s)`, state);

  // 4. The scorecard's numbers, read off the page.
  await page.locator("#run-summary:not([hidden]) #fig-p95").waitFor({ timeout: 10_000 });
  const text = async (sel) => ((await page.locator(sel).textContent()) || "").trim();
  const p95 = await text("#fig-p95");
  const payment = await text("#fig-payment");
  const compliance = await text("#fig-compliance");
  const esq = await text("#fig-esq");
  const requests = await text("#fig-requests");
  const notes = await text("#run-notes");
  check(numberIn(p95) > 0 && numberIn(p95) < 60_000 && p95.endsWith("ms"), "latency p95 is shown", p95);
  check(numberIn(payment) >= 50 && numberIn(payment) <= 100, "payment success is a sane share", payment);
  check(numberIn(compliance) === 0, "compliance hits are 0", compliance);
  check(numberIn(esq) === 0, "no ESQ rule violations", esq);
  check(numberIn(requests) > 0, "requests were sent", requests);
  check(notes.length > 0, "the scorecard's notes are shown", notes);

  // 5. The report with its charts: in the frame, or (with a token, which a frame cannot
  // send) fetched into the page.
  const report = TOKEN ? page.locator("#run-report-inline") : page.frameLocator("#run-report");
  await report.locator("svg").first().waitFor({ timeout: 15_000 });
  const reportTitle = (await report.locator("h1").first().textContent()) || "";
  check(reportTitle.includes(runId), "the scorecard report with its charts is embedded", reportTitle.trim());

  // 6. The runs list shows the run as DONE.
  await page.locator(`#run-table tr[data-id="${runId}"] td.state-DONE`).waitFor({ timeout: 10_000 });
  check(true, "the runs list shows the run as DONE");

  // 7. A second run of the same scenario, and the two compared side by side.
  await page.locator("#run-submit").click();
  await page.waitForFunction(
    (first) => {
      const title = document.querySelector("#run-title")?.textContent || "";
      const state = document.querySelector("#run-state")?.dataset.state;
      return !title.includes(first) && ["DONE", "FAILED", "CANCELLED"].includes(state);
    },
    runId,
    { timeout: RUN_TIMEOUT_MS, polling: 250 },
  );
  const second = (/RUN-\d+/.exec((await page.locator("#run-title").textContent()) || "") || [])[0];
  check((await page.locator("#run-state").getAttribute("data-state")) === "DONE", "a second run reaches DONE", second);
  for (const id of [runId, second]) {
    await page.locator(`#run-table tr[data-id="${id}"] input[name=compare]`).check();
  }
  await page.locator("#compare-submit").click();
  await page.locator("#compare:not([hidden])").waitFor({ timeout: 10_000 });
  const row = page.locator('#compare-table tr[data-figure="p95"] td');
  const [a, b, delta] = await row.allTextContents();
  check(
    numberIn(a) > 0 && numberIn(b) > 0 && delta !== undefined,
    "the two runs' p95 side by side with the delta",
    `${a} | ${b} | ${delta}`,
  );
  check(
    ((await page.locator("#compare-a").textContent()) || "").includes(runId),
    "the older run is A",
  );
  // The statistics come from `esr diff` through the API: a verdict and a row per endpoint.
  await page.waitForFunction(
    () => (document.querySelector("#diff-verdict")?.dataset.verdict || "") !== "",
    null,
    { timeout: RUN_TIMEOUT_MS, polling: 250 },
  );
  const verdict = await page.locator("#diff-verdict").getAttribute("data-verdict");
  const diffRows = await page.locator("#diff-table tbody tr").count();
  check(
    ["unchanged", "regressed", "improved", "too_little_data"].includes(verdict) && diffRows >= 2,
    "esr diff's verdict and per-endpoint rows for the two runs",
    `${verdict}, ${diffRows} rows`,
  );

  await page.locator("#run").scrollIntoViewIfNeeded();
  await page.screenshot({ path: out, fullPage: true });
  check(true, `screenshot written to ${out}`);

  const asked = Number((await page.locator("#token-dialog").getAttribute("data-asked")) || 0);
  check(asked === (TOKEN ? 1 : 0), "the token is asked for once at most", `asked ${asked} time(s)`);
  check(pageErrors.length === 0, "no script error or policy violation", pageErrors.join(" | "));
  check(foreign.length === 0, "nothing was fetched from another origin", foreign.join(" "));
} catch (e) {
  check(false, "the browser test ran to the end", String(e && e.message ? e.message : e).split("\n")[0]);
  if (pageErrors.length) console.log(`page errors: ${pageErrors.join(" | ")}`);
} finally {
  await browser.close();
}
console.log(failures ? `console test: ${failures} check(s) failed` : "console test: every check passed");
process.exit(failures ? 1 : 0);
