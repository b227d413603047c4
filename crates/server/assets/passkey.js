// Passkeys for the hosted pages: the WebAuthn browser calls between aegis's
// begin and finish endpoints. Binary fields travel as base64url text.
"use strict";

function toBytes(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function toText(buffer) {
  const bytes = new Uint8Array(buffer);
  let raw = "";
  for (const b of bytes) raw += String.fromCharCode(b);
  return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function post(path, fields) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields),
    credentials: "same-origin",
  });
  let body = {};
  try { body = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) throw new Error(body.error || "The request failed.");
  return body;
}

function show(message) {
  let el = document.getElementById("error");
  if (!el) {
    el = document.createElement("p");
    el.id = "error";
    el.className = "error";
    el.setAttribute("role", "alert");
    document.querySelector("h2").after(el);
  }
  el.textContent = message;
}

function field(form, name) {
  const input = form.querySelector(`input[name="${name}"]`);
  return input ? input.value : "";
}

async function signIn() {
  const form = document.getElementById("login-form");
  const csrf = field(form, "csrf");
  const begun = await post("/login/passkey/begin", {
    csrf,
    identifier: document.getElementById("identifier").value,
  });
  const options = begun.options.publicKey;
  options.challenge = toBytes(options.challenge);
  for (const c of options.allowCredentials || []) c.id = toBytes(c.id);
  const cred = await navigator.credentials.get({ publicKey: options });
  const answer = {
    id: cred.id,
    rawId: toText(cred.rawId),
    type: cred.type,
    extensions: {},
    response: {
      authenticatorData: toText(cred.response.authenticatorData),
      clientDataJSON: toText(cred.response.clientDataJSON),
      signature: toText(cred.response.signature),
      userHandle: cred.response.userHandle ? toText(cred.response.userHandle) : null,
    },
  };
  const done = await post("/login/passkey/finish", {
    csrf,
    ceremony: begun.state,
    credential: JSON.stringify(answer),
    redirect_uri: field(form, "redirect_uri"),
    state: field(form, "state"),
    resume: field(form, "resume"),
  });
  window.location.assign(done.location);
}

async function register() {
  const form = document.getElementById("passkey-form");
  const csrf = field(form, "csrf");
  const begun = await post("/account/passkey/begin", { csrf });
  const options = begun.options.publicKey;
  options.challenge = toBytes(options.challenge);
  options.user.id = toBytes(options.user.id);
  for (const c of options.excludeCredentials || []) c.id = toBytes(c.id);
  const cred = await navigator.credentials.create({ publicKey: options });
  const answer = {
    id: cred.id,
    rawId: toText(cred.rawId),
    type: cred.type,
    extensions: {},
    response: {
      attestationObject: toText(cred.response.attestationObject),
      clientDataJSON: toText(cred.response.clientDataJSON),
    },
  };
  await post("/account/passkey/finish", {
    csrf,
    ceremony: begun.state,
    credential: JSON.stringify(answer),
    name: document.getElementById("passkey-name").value,
  });
  window.location.assign("/account?passkey=added");
}

function wire(id, action) {
  const button = document.getElementById(id);
  if (!button) return;
  button.addEventListener("click", (event) => {
    event.preventDefault();
    action().catch((e) => show(e.message || String(e)));
  });
}

wire("passkey-sign-in", signIn);
wire("passkey-add", register);
