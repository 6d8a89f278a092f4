// The customer's consultation page: reads /c/<token>/plan and posts /c/<token>/reply.
// No API key: the signed link in the address is the only credential; nothing is stored in the browser.

const token = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
const base = `/c/${encodeURIComponent(token)}`;
const $ = (id) => document.getElementById(id);

const REPLY_TEXT = { accept: "同意首选时段", prefer_window: "希望改期", object: "反对" };

function say(text, kind = "") {
  const el = $("status");
  el.textContent = text;
  el.className = kind;
}

async function problem(response) {
  try {
    const body = await response.json();
    if (response.status === 410) return "此链接已过期，无法再回复。";
    if (response.status === 403) return "此链接无效。";
    if (response.status === 409) return "征询已结束，无法再回复。";
    return body.detail || `出错了（${response.status}）`;
  } catch {
    return `出错了（${response.status}）`;
  }
}

function render(plan) {
  $("title").textContent = plan.title || "";
  $("reason").textContent = plan.reason || "";
  $("area").textContent = (plan.area_names || []).join("、") || "—";
  const list = $("windows");
  list.replaceChildren();
  const select = $("window");
  select.replaceChildren();
  plan.windows.forEach((w, i) => {
    const li = document.createElement("li");
    li.textContent = w.text + (i === 0 ? "（首选）" : "（备选）");
    if (i === 0) li.className = "first";
    list.append(li);
    if (i > 0) {
      const opt = document.createElement("option");
      opt.value = String(w.seq);
      opt.textContent = w.text;
      select.append(opt);
    }
  });
  const preferLabel = document.querySelector('input[value="prefer_window"]').closest("label");
  preferLabel.hidden = plan.windows.length < 2;
  select.hidden = plan.windows.length < 2;
  $("plan").hidden = false;
  $("loading").hidden = true;
  if (plan.reply) {
    const w = plan.windows.find((x) => x.seq === plan.reply.window);
    say(`您已回复：${REPLY_TEXT[plan.reply.reply]}${w ? "（" + w.text + "）" : ""}。如需更改可重新提交。`, "done");
    const radio = document.querySelector(`input[name="reply"][value="${plan.reply.reply}"]`);
    if (radio) radio.checked = true;
  }
  if (plan.open) {
    $("reply").hidden = false;
    syncWindow();
  } else {
    say("征询已结束，感谢您的关注。");
  }
}

function syncWindow() {
  const chosen = document.querySelector('input[name="reply"]:checked');
  $("window").disabled = !chosen || chosen.value !== "prefer_window";
}

async function submit(event) {
  event.preventDefault();
  const chosen = document.querySelector('input[name="reply"]:checked');
  if (!chosen) return say("请选择您的意见。", "error");
  const body = { reply: chosen.value };
  const reason = $("reason-text").value.trim();
  if (chosen.value === "prefer_window") body.window = Number($("window").value);
  if (reason) body.reason = reason;
  if (chosen.value === "object" && !reason) return say("反对时请填写原因。", "error");
  $("submit").disabled = true;
  try {
    const response = await fetch(`${base}/reply`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (!response.ok) return say(await problem(response), "error");
    say("已收到您的回复，谢谢！", "done");
  } catch {
    say("网络异常，请稍后重试。", "error");
  } finally {
    $("submit").disabled = false;
  }
}

async function main() {
  document.querySelectorAll('input[name="reply"]').forEach((r) => r.addEventListener("change", syncWindow));
  $("reply").addEventListener("submit", submit);
  try {
    const response = await fetch(`${base}/plan`);
    if (!response.ok) {
      $("loading").hidden = true;
      return say(await problem(response), "error");
    }
    render(await response.json());
  } catch {
    $("loading").hidden = true;
    say("网络异常，请稍后重试。", "error");
  }
}

main();
