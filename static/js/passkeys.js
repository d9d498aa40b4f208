// Passkeys (WebAuthn): the only part of Orgkit that needs JavaScript, because only the browser can
// talk to an authenticator (navigator.credentials). Elements opt in with data-passkey:
//   data-passkey="register"  a <form> with a name field: creates a passkey for the signed-in account
//   data-passkey="login"     a button: signs in with a passkey (no password), or does the second step
// Each carries data-options-url (POST: WebAuthn options as JSON), data-url (POST: the browser's answer)
// and data-csrf. Answers are {"redirect": url} or {"error": {"message": ...}}; errors are shown in the
// element named by data-error. Hidden until this script finds WebAuthn support.
(function () {
  "use strict";

  function toBytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer), binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json"},
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {error: {message: "Orgkit did not answer. Try again."}}; });
    });
  }

  function creationOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    (options.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return options;
  }

  function requestOptions(options) {
    options.challenge = toBytes(options.challenge);
    (options.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return options;
  }

  // The credential as JSON (WebAuthn Level 3's toJSON shape, which py_webauthn parses): the named
  // binary fields of its response in base64url.
  function credentialJSON(credential, binaryFields) {
    var response = credential.response, encoded = {};
    binaryFields.forEach(function (field) { if (response[field]) encoded[field] = toBase64url(response[field]); });
    if (response.getTransports) encoded.transports = response.getTransports();
    return {
      id: credential.id, rawId: toBase64url(credential.rawId), type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      response: encoded
    };
  }

  function registrationJSON(credential) {
    return credentialJSON(credential, ["clientDataJSON", "attestationObject"]);
  }

  function assertionJSON(credential) {
    return credentialJSON(credential, ["clientDataJSON", "authenticatorData", "signature", "userHandle"]);
  }

  function showError(element, message) {
    var box = document.getElementById(element.dataset.error);
    if (box) { box.textContent = message; box.hidden = false; box.focus && box.focus(); }
  }

  function finish(element, answer) {
    if (answer && answer.redirect) { window.location.assign(answer.redirect); return; }
    showError(element, (answer && answer.error && answer.error.message) || "That did not work. Try again.");
  }

  function browserRefused(element, error) {
    // NotAllowedError: the person cancelled, or the time ran out; say so plainly.
    showError(element, error && error.name === "NotAllowedError"
      ? "The passkey request was cancelled or timed out. Try again."
      : "Your browser could not use a passkey: " + (error && error.message ? error.message : "unknown error") + ".");
  }

  function register(form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var name = form.querySelector("[name=name]").value;
      post(form.dataset.optionsUrl, form.dataset.csrf, {name: name}).then(function (options) {
        if (options.error) { finish(form, options); return; }
        return navigator.credentials.create({publicKey: creationOptions(options)}).then(function (credential) {
          return post(form.dataset.url, form.dataset.csrf, {name: name, credential: registrationJSON(credential)});
        }, function (error) { browserRefused(form, error); return null; }).then(function (answer) {
          if (answer) finish(form, answer);
        });
      });
    });
  }

  function login(button) {
    button.addEventListener("click", function () {
      var remember = document.getElementById(button.dataset.remember || "");
      post(button.dataset.optionsUrl, button.dataset.csrf).then(function (options) {
        if (options.error) { finish(button, options); return; }
        return navigator.credentials.get({publicKey: requestOptions(options)}).then(function (credential) {
          return post(button.dataset.url, button.dataset.csrf, {
            credential: assertionJSON(credential), remember: !!(remember && remember.checked),
            next: new URLSearchParams(window.location.search).get("next")
          });
        }, function (error) { browserRefused(button, error); return null; }).then(function (answer) {
          if (answer) finish(button, answer);
        });
      });
    });
  }

  function setUp() {
    if (!window.PublicKeyCredential || !navigator.credentials) return;
    document.querySelectorAll("[data-passkey]").forEach(function (element) {
      if (element.dataset.passkeyReady) return;
      element.dataset.passkeyReady = "1";
      (element.dataset.passkey === "register" ? register : login)(element);
      var wrapper = element.closest("[data-passkey-wrapper]") || element;
      wrapper.hidden = false;
    });
    document.querySelectorAll("[data-passkey-unsupported]").forEach(function (note) { note.hidden = true; });
  }

  // Included inside the page's content, so with hx-boost it also runs after a swap: set up at once
  // when the document is already parsed, and again for content htmx loads later.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
  if (!window.orgkitPasskeysListening) {
    window.orgkitPasskeysListening = true;
    document.addEventListener("htmx:load", setUp);
  }
})();
