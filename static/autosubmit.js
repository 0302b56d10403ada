// Sends the SAML Response form on to the application (SAML Bindings §3.5.4). Without
// JavaScript the page shows a Continue button that does the same.
document.getElementById("saml-post").submit();
