// Passkeys (WebAuthn) for sesame's pages: "Add a passkey" on the account page, and "Use a
// passkey" / "Sign in with a passkey" at sign-in. The server makes the options and checks
// the answers (src/web/passkey.rs); this script only carries them between the browser's
// WebAuthn API and the server, converting base64url to and from binary.
(function () {
  "use strict";

  function decode(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function encode(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(url, token, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
      body: JSON.stringify(body || {}),
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        var why = j.error && (j.error.message || j.error);
        if (!r.ok) throw new Error(why || "the server answered " + r.status);
        return j;
      });
    });
  }

  function fail(button, e) {
    var box = button.parentNode.parentNode.querySelector("[data-passkey-error]");
    var text = e && e.name === "NotAllowedError"
      ? "The passkey prompt was closed or timed out. Try again."
      : "That did not work: " + (e && e.message ? e.message : e);
    if (box) { box.textContent = text; box.hidden = false; }
    button.disabled = false;
  }

  function register(button) {
    var token = button.getAttribute("data-csrf");
    var nameField = document.getElementById("passkey-name");
    button.disabled = true;
    post("/account/passkeys/begin", token).then(function (options) {
      var pk = options.publicKey;
      pk.challenge = decode(pk.challenge);
      pk.user.id = decode(pk.user.id);
      (pk.excludeCredentials || []).forEach(function (c) { c.id = decode(c.id); });
      return navigator.credentials.create({ publicKey: pk });
    }).then(function (cred) {
      return post("/account/passkeys/finish", token, {
        name: nameField ? nameField.value : "",
        next: button.getAttribute("data-next") || "/account/mfa",
        credential: {
          id: cred.id,
          rawId: encode(cred.rawId),
          type: cred.type,
          extensions: cred.getClientExtensionResults(),
          response: {
            attestationObject: encode(cred.response.attestationObject),
            clientDataJSON: encode(cred.response.clientDataJSON),
          },
        },
      });
    }).then(function (done) {
      window.location.assign(done.redirect);
    }).catch(function (e) { fail(button, e); });
  }

  function signIn(button) {
    var token = button.getAttribute("data-csrf");
    button.disabled = true;
    post("/login/passkey/begin", token).then(function (options) {
      var pk = options.publicKey;
      pk.challenge = decode(pk.challenge);
      (pk.allowCredentials || []).forEach(function (c) { c.id = decode(c.id); });
      return navigator.credentials.get({ publicKey: pk });
    }).then(function (cred) {
      var r = cred.response;
      return post("/login/passkey/finish", token, {
        next: button.getAttribute("data-next") || "/",
        credential: {
          id: cred.id,
          rawId: encode(cred.rawId),
          type: cred.type,
          extensions: cred.getClientExtensionResults(),
          response: {
            authenticatorData: encode(r.authenticatorData),
            clientDataJSON: encode(r.clientDataJSON),
            signature: encode(r.signature),
            userHandle: r.userHandle ? encode(r.userHandle) : null,
          },
        },
      });
    }).then(function (done) {
      window.location.assign(done.redirect);
    }).catch(function (e) { fail(button, e); });
  }

  document.querySelectorAll("[data-passkey-register]").forEach(function (b) {
    b.addEventListener("click", function () { register(b); });
  });
  document.querySelectorAll("[data-passkey-signin]").forEach(function (b) {
    b.addEventListener("click", function () { signIn(b); });
  });
})();
