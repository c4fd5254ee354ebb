//! Better Auth's cookies: names (`better-auth.session_token`, `__Secure-` on https), the
//! signed value format (`value + "." + base64std(HMAC-SHA256(secret, value))`, URL-encoded),
//! `Set-Cookie` serialization and `Cookie` header parsing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::password::constant_time_eq;

/// Cookie name prefix.
pub const PREFIX: &str = "better-auth";
/// The session cookie (without prefix).
pub const SESSION_TOKEN: &str = "session_token";
/// The "remember me was off" marker cookie.
pub const DONT_REMEMBER: &str = "dont_remember";
/// The cookie-cache cookie (Ferrovex never sets it, but clears it like Better Auth).
pub const SESSION_DATA: &str = "session_data";
/// The Convex JWT cookie of the convex plugin.
pub const CONVEX_JWT: &str = "convex_jwt";
/// Largest cookie header we look at.
pub const MAX_COOKIE_HEADER: usize = 16 * 1024;

/// The full name of a cookie: `better-auth.<name>`, with `__Secure-` when `secure`.
pub fn cookie_name(name: &str, secure: bool) -> String {
    if secure {
        format!("__Secure-{PREFIX}.{name}")
    } else {
        format!("{PREFIX}.{name}")
    }
}

/// Signs and verifies cookie values with the auth secret.
#[derive(Clone)]
pub struct CookieSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for CookieSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieSigner(<secret>)")
    }
}

fn percent_encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` on malformed input.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl CookieSigner {
    /// A signer keyed with the UTF-8 bytes of `secret`.
    pub fn new(secret: &str) -> CookieSigner {
        CookieSigner {
            key: secret.as_bytes().to_vec(),
        }
    }

    fn mac(&self, value: &str) -> [u8; 32] {
        // HMAC accepts keys of any length; new_from_slice cannot fail for it.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => return [0; 32],
        };
        mac.update(value.as_bytes());
        let bytes = mac.finalize().into_bytes();
        let mut out = [0u8; 32];
        out.copy_from_slice(&bytes);
        out
    }

    /// The cookie value for `value`: signed and URL-encoded.
    pub fn sign(&self, value: &str) -> String {
        let sig = STANDARD.encode(self.mac(value));
        percent_encode_component(&format!("{value}.{sig}"))
    }

    /// The signed value inside a cookie (URL-encoded or not), if the signature is valid.
    pub fn verify(&self, cookie_value: &str) -> Option<String> {
        let decoded = percent_decode(cookie_value)?;
        let (value, sig) = decoded.rsplit_once('.')?;
        if sig.len() != 44 || !sig.ends_with('=') {
            return None;
        }
        let expected = STANDARD.encode(self.mac(value));
        constant_time_eq(expected.as_bytes(), sig.as_bytes()).then(|| value.to_owned())
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn find_cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    if header.len() > MAX_COOKIE_HEADER {
        return None;
    }
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The session cookie value under the deployment's name: `__Secure-` on https (`secure`),
/// as Better Auth reads it. On https the plain name is never read: a sibling site or a
/// plain-http page can set that one, and would sign the victim into the attacker's session.
pub fn session_cookie(header: &str, secure: bool) -> Option<&str> {
    find_cookie(header, &cookie_name(SESSION_TOKEN, secure))
}

/// Whether the header carries a validly signed `dont_remember` cookie (a session signed in
/// with `rememberMe: false`).
pub fn dont_remember(header: &str, secure: bool, signer: &CookieSigner) -> bool {
    find_cookie(header, &cookie_name(DONT_REMEMBER, secure))
        .and_then(|v| signer.verify(v))
        .is_some()
}

/// A `Set-Cookie` value in better-call's attribute order.
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> String {
    let mut s = format!("{name}={value}");
    if let Some(age) = max_age {
        s.push_str(&format!("; Max-Age={age}"));
    }
    s.push_str("; Path=/; HttpOnly");
    if secure {
        s.push_str("; Secure");
    }
    s.push_str("; SameSite=Lax");
    s
}

/// A `Set-Cookie` value that deletes the cookie.
pub fn expire_cookie(name: &str, secure: bool) -> String {
    set_cookie(name, "", Some(0), secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "anchor-test-secret-0123456789abcdefghijklmnopqrstuvwxyz";

    #[test]
    fn signatures_match_a_cookie_observed_from_better_auth() {
        let signer = CookieSigner::new(SECRET);
        let observed =
            "BMmnOrJmCriLSIUxlEpGifkQzE6rF5MS.7qt2rQJqVYNvgsHygFjkH37k5t8QpBotNkb8J1EO6UI%3D";
        assert_eq!(signer.sign("BMmnOrJmCriLSIUxlEpGifkQzE6rF5MS"), observed);
        assert_eq!(
            signer.verify(observed).as_deref(),
            Some("BMmnOrJmCriLSIUxlEpGifkQzE6rF5MS")
        );
        // Not URL-encoded works too (Bearer values).
        let plain = percent_decode(observed).unwrap();
        assert_eq!(
            signer.verify(&plain).as_deref(),
            Some("BMmnOrJmCriLSIUxlEpGifkQzE6rF5MS")
        );
    }

    #[test]
    fn forged_or_malformed_signatures_are_rejected() {
        let signer = CookieSigner::new(SECRET);
        let good = signer.sign("token1234");
        let other = CookieSigner::new("another secret");
        assert!(other.verify(&good).is_none());
        let tampered = good.replacen("token1234", "token1235", 1);
        assert!(signer.verify(&tampered).is_none());
        for bad in [
            "",
            "nodot",
            "a.b",
            "a.%ZZ",
            "a.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(signer.verify(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn only_the_deployments_own_cookie_name_is_read() {
        let h = "a=1; better-auth.session_token=plain; __Secure-better-auth.session_token=secure";
        assert_eq!(session_cookie(h, true), Some("secure"));
        assert_eq!(session_cookie(h, false), Some("plain"));
        // D10: on https the plain name is not a fallback.
        assert_eq!(
            session_cookie("better-auth.session_token=plain", true),
            None
        );
        assert_eq!(session_cookie("x=y", false), None);
        assert_eq!(
            set_cookie("better-auth.session_token", "v", Some(604800), false),
            "better-auth.session_token=v; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            expire_cookie("n", true),
            "n=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
    }
}
