const crypto = require("node:crypto");

// Standard Webhooks v1 with Node's crypto: true when the delivery is genuine and recent.
function verify(secret, headers, body, toleranceSeconds = 300) {
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const timestamp = Number(h["webhook-timestamp"]);
  if (!(Math.abs(Date.now() / 1000 - timestamp) <= toleranceSeconds)) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const signed = Buffer.concat([Buffer.from(`${h["webhook-id"]}.${timestamp}.`), body]);
  const expected = crypto.createHmac("sha256", key).update(signed).digest();
  return (h["webhook-signature"] || "").split(" ").some((s) => {
    const [version, signature] = s.split(",");
    const given = Buffer.from(signature || "", "base64");
    return version === "v1" && given.length === expected.length && crypto.timingSafeEqual(given, expected);
  });
}

module.exports = { verify };
