// The review screen by keyboard, compiled into the binary. Without it every action is a plain
// form; with it:
//   A        approve                      S   skip (let go of the capture, open the next)
//   1–17     tick or untick a reason      R   reject with the ticked reasons
//   N        write a note (Esc leaves it)
// A number is read digit by digit: "1" waits a moment for a second digit (10–17).
// A decision is posted in the background and the page it leads to (the next capture's screen,
// whose photo the screen before already fetched) replaces this one in place, without reloading
// the page; if that cannot be done the form is submitted as usual.
// While a screen is open the claim is renewed, so nobody else takes the capture meanwhile.
"use strict";
(function () {
  let screen = null;
  let reasons = [];
  let status = null;
  let renewal = null;
  let busy = false;
  let digits = "";
  let pending = null;

  const say = (text) => { if (status) status.textContent = text; };

  // Shows the page `html` (from `url`) in place of this one.
  const show = (html, url, ok) => {
    const page = new DOMParser().parseFromString(html, "text/html");
    document.title = page.title;
    document.body.replaceWith(document.adoptNode(page.body));
    // A refusal stays at the address it was refused at; a reload there shows the capture again.
    if (ok) history.pushState(null, "", url);
    window.scrollTo(0, 0);
    start();
  };

  const submit = (name) => {
    const form = screen && screen.querySelector(`form[data-action=${name}]`);
    if (!form || busy) return;
    busy = true;
    say("正在提交……");
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
    })
      .then((response) => response.text().then((html) => show(html, response.url, response.ok)))
      // No answer (the network): the plain form, which the browser retries and shows itself.
      .catch(() => form.submit());
  };

  const toggle = () => {
    const n = Number(digits);
    digits = "";
    pending = null;
    const box = reasons[n - 1];
    if (!box) return say(`没有第 ${n} 个原因`);
    box.checked = !box.checked;
    say(`${box.checked ? "已选" : "取消"}：${box.closest("label").textContent.trim()}`);
  };

  document.addEventListener("keydown", (event) => {
    if (!screen || busy) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = event.target.closest("textarea, input[type=text]");
    if (typing) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const key = event.key.toLowerCase();
    if (/^[0-9]$/.test(key)) {
      event.preventDefault();
      clearTimeout(pending);
      digits += key;
      // Another digit could still make a larger reason number: wait for it, briefly.
      if (Number(digits) * 10 <= reasons.length && digits !== "0") {
        pending = setTimeout(toggle, 450);
      } else {
        toggle();
      }
      return;
    }
    if (key === "a") { event.preventDefault(); submit("approve"); }
    else if (key === "s") { event.preventDefault(); submit("skip"); }
    else if (key === "n") { event.preventDefault(); screen.querySelector("textarea[name=note]").focus(); }
    else if (key === "r") {
      event.preventDefault();
      if (!reasons.some((box) => box.checked)) {
        say("请先按数字选择至少一个不通过原因");
        return;
      }
      submit("reject");
    }
  });

  // Buttons take the same path as keys.
  document.addEventListener("submit", (event) => {
    const name = event.target.dataset && event.target.dataset.action;
    if (!screen || !name || !screen.contains(event.target)) return;
    event.preventDefault();
    if (name === "reject" && !reasons.some((box) => box.checked)) {
      say("请先按数字选择至少一个不通过原因");
      return;
    }
    submit(name);
  });

  // Back and forward go to the address as a page of its own.
  window.addEventListener("popstate", () => location.reload());

  // Takes up the screen now on the page (there may be none).
  const start = () => {
    clearInterval(renewal);
    busy = false;
    digits = "";
    clearTimeout(pending);
    screen = document.querySelector("[data-review]");
    reasons = screen ? Array.from(screen.querySelectorAll("input[name=reason]")) : [];
    status = screen ? screen.querySelector("[data-keys-status]") : null;
    const renew = screen && screen.dataset.renew;
    if (!renew) return;
    const csrf = screen.querySelector("input[name=csrf]").value;
    // Renew the claim while the screen is open (it lasts ten minutes).
    renewal = setInterval(() => {
      fetch(renew, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf }),
        credentials: "same-origin",
      }).catch(() => {});
    }, 4 * 60 * 1000);
  };
  start();
})();
