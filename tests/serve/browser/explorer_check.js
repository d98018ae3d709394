// Drives the explorer page of a running `vae serve` in headless Chromium (Debian's, through
// puppeteer-core) as a user would, and checks what it shows:
//   node explorer_check.js URL SCREENSHOT.png
// 1. the page loads, asks for nothing outside the service, and reports no console error;
// 2. hovering over the map decodes; a drag across it decodes again, and the decoded picture
//    changes;
// 3. the last decoded image equals POST /v1/models/NAME/decode for the same z, value for value;
// 4. a click on an example picks it: its score and one slider per latent dimension appear;
//    moving a slider decodes; a shift+click on another decodes the path between them; the
//    sample button draws 8;
// 5. a conditional model: the class selector names its classes; switching the class decodes the
//    same z with the new label, the picture changes, and it equals POST decode with that label;
// 6. a screenshot of the page (the conditional model, its class selector open to the last
//    class) is saved.
// Prints one line of counts; exit 0 when every check passed, 1 otherwise.
"use strict";
const puppeteer = require("puppeteer-core");

const [url, shot] = process.argv.slice(2);
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
const problems = [];
const check = (ok, what) => { if (!ok) problems.push(what); };
const sleep = ms => new Promise(r => setTimeout(r, ms));

async function settle(page) {  // until no decode is running and the count stops moving
  let last = -1;
  for (let i = 0; i < 100; ++i) {
    const n = await page.evaluate(() => window.explorer.decodes);
    if (n === last) return n;
    last = n;
    await sleep(100);
  }
  return last;
}
const picture = page => page.evaluate(() => document.getElementById("decoded").toDataURL());

(async () => {
  const browser = await puppeteer.launch({executablePath: chromium, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]});
  const consoleErrors = [], outside = [];
  try {
    const page = await browser.newPage();
    await page.setViewport({width: 1100, height: 720});
    page.on("console", m => { if (m.type() === "error") consoleErrors.push(m.text()); });
    page.on("pageerror", e => consoleErrors.push(String(e)));
    page.on("requestfailed", r => consoleErrors.push("failed: " + r.url()));
    page.on("request", r => { if (!r.url().startsWith(new URL(url).origin)) outside.push(r.url()); });
    await page.goto(url, {waitUntil: "load"});
    await page.waitForFunction(() => window.explorer && window.explorer.ready, {timeout: 10000});
    const box = await (await page.$("#map")).boundingBox();
    const points = await page.evaluate(() => window.explorer && document.getElementById("info").textContent);
    console.log("info: " + points);

    // hover at one place, then drag across the map
    await page.mouse.move(box.x + 40, box.y + 40);
    await settle(page);
    const before = await picture(page);
    const zBefore = await page.evaluate(() => window.explorer.lastZ);
    await page.mouse.move(box.x + 60, box.y + box.height - 60);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width - 50, box.y + 50, {steps: 12});
    await page.mouse.up();
    const decodes = await settle(page);
    const after = await picture(page);
    const state = await page.evaluate(() => ({z: window.explorer.lastZ, x: window.explorer.lastX}));
    check(decodes >= 3, "fewer than 3 decodes after hover and drag: " + decodes);
    check(before !== after, "the decoded picture did not change during the drag");
    check(JSON.stringify(zBefore) !== JSON.stringify(state.z), "z did not change during the drag");

    // the same z through the API
    const name = await page.evaluate(() => document.getElementById("model").value);
    const r = await fetch(new URL("/v1/models/" + name + "/decode", url), {method: "POST",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify({z: [state.z]})});
    const api = await r.json();
    check(r.ok, "POST decode failed: " + JSON.stringify(api));
    const equal = r.ok && api.x[0].length === state.x.length && api.x[0].every((v, i) => v === state.x[i]);
    check(equal, "the page's decoded image differs from POST decode for the same z");

    // pick example 0 of the map: its score and sliders
    const nearestPoint = await page.evaluate(() => {  // a point's screen position, from the page's own map
      const p = document.getElementById("map").getBoundingClientRect();
      return window.explorer.screenOf ? window.explorer.screenOf(0).map((v, i) => v + (i ? p.top : p.left)) : null;
    });
    check(nearestPoint !== null, "the page does not expose screenOf");
    if (nearestPoint) {
      await page.mouse.click(nearestPoint[0], nearestPoint[1]);
      await page.waitForFunction(() => window.explorer.lastScore !== undefined, {timeout: 5000});
      const sliders = await page.$$("#sliders input");
      const latent = await page.evaluate(() => window.explorer.latent);
      check(sliders.length === latent, "sliders: " + sliders.length + " for " + latent + " dimensions");
      const n0 = await settle(page);
      await page.evaluate(() => { const s = document.querySelector("#sliders input"); s.value = +s.value + 1; s.dispatchEvent(new Event("input")); });
      check(await settle(page) > n0, "moving a slider did not decode");
      // shift+click another example: the path from A to it is decoded as a strip
      const second = await page.evaluate(() => {
        const p = document.getElementById("map").getBoundingClientRect();
        return window.explorer.screenOf(1).map((v, i) => v + (i ? p.top : p.left));
      });
      await page.keyboard.down("Shift");
      await page.mouse.click(second[0], second[1]);
      await page.keyboard.up("Shift");
      await page.waitForFunction(() => window.explorer.paths >= 1, {timeout: 5000});
      const score = await page.evaluate(() => document.getElementById("score").textContent);
      check(/score -?\d/.test(score), "no score shown for the pick: '" + score + "'");
    }
    await page.click("#sample");
    await page.waitForFunction(() => window.explorer.samples === 8, {timeout: 5000});

    // a conditional model: its class selector names the classes, and switching the class
    // decodes the same z again with that label, equal to POST decode with it
    let classChanged = false, classEqual = false;
    const models = await page.$$eval("#model option", o => o.map(x => x.value));
    check(models.includes("cond"), "no conditional model 'cond' in the model selector: " + models.join(","));
    if (models.includes("cond")) {
      await page.select("#model", "cond");
      await page.waitForFunction(() => window.explorer.model === "cond", {timeout: 5000});
      check(await page.evaluate(() => !document.getElementById("classbox").hidden), "the class selector is hidden");
      const classes = await page.$$eval("#cls option", o => o.map(x => x.textContent));
      check(classes.join(",") === "red,green,blue", "class names: " + classes.join(","));
      await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.6);
      await page.waitForFunction(() => window.explorer.lastLabel === 0, {timeout: 5000});
      await settle(page);
      const first = await page.evaluate(() => ({z: window.explorer.lastZ, x: window.explorer.lastX}));
      const firstPicture = await picture(page);
      await page.select("#cls", "2");
      await page.waitForFunction(() => window.explorer.lastLabel === 2, {timeout: 5000});
      await settle(page);
      const second = await page.evaluate(() => ({z: window.explorer.lastZ, x: window.explorer.lastX, label: window.explorer.lastLabel}));
      check(JSON.stringify(first.z) === JSON.stringify(second.z), "switching the class moved z");
      classChanged = firstPicture !== await picture(page) && JSON.stringify(first.x) !== JSON.stringify(second.x);
      check(classChanged, "switching the class did not change the decoded picture");
      const rc = await fetch(new URL("/v1/models/cond/decode", url), {method: "POST",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify({z: [second.z], labels: [2]})});
      const apiClass = await rc.json();
      check(rc.ok, "POST decode with a label failed: " + JSON.stringify(apiClass));
      classEqual = rc.ok && apiClass.x[0].length === second.x.length && apiClass.x[0].every((v, i) => v === second.x[i]);
      check(classEqual, "the page's image for class 2 differs from POST decode with labels [2]");
    }
    await page.screenshot({path: shot});
    check(consoleErrors.length === 0, "console errors: " + consoleErrors.join(" | "));
    check(outside.length === 0, "requests outside the service: " + outside.join(" "));
    const pageErrors = await page.evaluate(() => window.explorer.errors);
    check(pageErrors.length === 0, "page errors: " + pageErrors.join(" | "));
    console.log(`decodes=${decodes} changed=${before !== after ? 1 : 0} equal=${equal ? 1 : 0} ` +
                `errors=${consoleErrors.length} outside=${outside.length} ` +
                `class_changed=${classChanged ? 1 : 0} class_equal=${classEqual ? 1 : 0}`);
  } catch (e) {
    problems.push(String(e));
  } finally {
    await browser.close();
  }
  for (const p of problems) console.error("explorer_check: " + p);
  process.exit(problems.length ? 1 : 0);
})();
