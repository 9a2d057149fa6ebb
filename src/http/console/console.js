// The review screen by keyboard, compiled into the binary. Without it every action is a plain
// form; with it:
//   A        approve                      S   skip (let go of the capture, open the next)
//   1–17     tick or untick a reason      R   reject with the ticked reasons
//   N        write a note (Esc leaves it)
// A number is read digit by digit: "1" waits a moment for a second digit (10–17).
// While the screen is open the claim is renewed, so nobody else takes the capture meanwhile.
"use strict";
(function () {
  const screen = document.querySelector("[data-review]");
  if (!screen) return;
  const reasons = Array.from(screen.querySelectorAll("input[name=reason]"));
  const status = screen.querySelector("[data-keys-status]");
  const submit = (name) => {
    const form = screen.querySelector(`form[data-action=${name}]`);
    if (form && !form.dataset.sent) {
      form.dataset.sent = "1";
      form.submit();
    }
  };
  const say = (text) => { if (status) status.textContent = text; };
  let digits = "";
  let pending = null;
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
  // Renew the claim while the screen is open (it lasts ten minutes).
  const renew = screen.dataset.renew;
  const csrf = screen.querySelector("input[name=csrf]").value;
  if (renew) {
    setInterval(() => {
      fetch(renew, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf }),
        credentials: "same-origin",
      }).catch(() => {});
    }, 4 * 60 * 1000);
  }
})();
