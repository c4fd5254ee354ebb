//! RSA signing keys for Convex JWTs: generation, JWK export/import, and Better Auth's stored
//! form (`jwks` rows whose private key is XChaCha20-Poly1305-encrypted with SHA-256 of the
//! secret and written as a JSON string of hex), so keys move between Better Auth and Ferrovex.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::der::{RsaComponents, encode_pkcs1, parse_pkcs8_rsa};
use crate::error::AuthError;

/// An RSA private key with its id and lifetime, parsed once and kept in memory.
pub struct SigningKey {
    /// `kid`.
    pub kid: String,
    /// When it was created (ms since the epoch).
    pub created_at_ms: u64,
    /// When it stops being used for signing (ms), if set.
    pub expires_at_ms: Option<u64>,
    pair: KeyPair,
    components: RsaComponents,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("created_at_ms", &self.created_at_ms)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(jwk: &Json, field: &str) -> Result<Vec<u8>, AuthError> {
    let s = jwk[field]
        .as_str()
        .ok_or_else(|| AuthError::Key(format!("JWK field {field} missing")))?;
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| AuthError::Key(format!("JWK field {field} is not base64url")))
}

/// A random key id of 32 alphanumeric characters, like Better Auth's ids.
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..32)
        .map(|_| char::from(ALPHABET[usize::from(rand::random::<u8>()) % ALPHABET.len()]))
        .collect()
}

impl SigningKey {
    /// Generates an RSA-2048 key (tens of milliseconds: call off the async workers).
    pub fn generate(kid: String, created_at_ms: u64) -> Result<SigningKey, AuthError> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| AuthError::Key("RSA key generation failed".into()))?;
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
            .map_err(|_| AuthError::Key("cannot serialize the generated key".into()))?;
        let components = parse_pkcs8_rsa(der.as_ref())
            .ok_or_else(|| AuthError::Key("unexpected PKCS#8 layout".into()))?;
        Ok(SigningKey {
            kid,
            created_at_ms,
            expires_at_ms: None,
            pair,
            components,
        })
    }

    /// Builds a key from a private JWK (`kty, n, e, d, p, q, dp, dq, qi`).
    pub fn from_private_jwk(
        kid: String,
        created_at_ms: u64,
        jwk: &Json,
    ) -> Result<SigningKey, AuthError> {
        if jwk["kty"] != "RSA" {
            return Err(AuthError::Key("only RSA keys are supported".into()));
        }
        let components = RsaComponents {
            n: unb64(jwk, "n")?,
            e: unb64(jwk, "e")?,
            d: unb64(jwk, "d")?,
            p: unb64(jwk, "p")?,
            q: unb64(jwk, "q")?,
            dp: unb64(jwk, "dp")?,
            dq: unb64(jwk, "dq")?,
            qi: unb64(jwk, "qi")?,
        };
        let pair = KeyPair::from_der(&encode_pkcs1(&components))
            .map_err(|e| AuthError::Key(format!("invalid RSA private key: {e}")))?;
        Ok(SigningKey {
            kid,
            created_at_ms,
            expires_at_ms: None,
            pair,
            components,
        })
    }

    /// The public JWK as Better Auth stores it (`{"kty","n","e"}`).
    pub fn public_jwk(&self) -> Json {
        json!({ "kty": "RSA", "n": b64(&self.components.n), "e": b64(&self.components.e) })
    }

    /// The public JWK as published in a JWKS (`alg`, `kty`, `n`, `e`, `kid`).
    pub fn published_jwk(&self) -> Json {
        json!({ "alg": "RS256", "kty": "RSA", "n": b64(&self.components.n), "e": b64(&self.components.e), "kid": self.kid })
    }

    /// The private JWK.
    pub fn private_jwk(&self) -> Json {
        let c = &self.components;
        json!({
            "kty": "RSA", "n": b64(&c.n), "e": b64(&c.e), "d": b64(&c.d), "p": b64(&c.p),
            "q": b64(&c.q), "dp": b64(&c.dp), "dq": b64(&c.dq), "qi": b64(&c.qi),
        })
    }

    /// The verification half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::Rsa {
            kid: self.kid.clone(),
            n: self.components.n.clone(),
            e: self.components.e.clone(),
        }
    }

    /// An RS256 (PKCS#1 v1.5, SHA-256) signature of `message`.
    pub fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, AuthError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
            .map_err(|_| AuthError::Key("signing failed".into()))?;
        Ok(sig)
    }
}

/// A public key that verifies JWT signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// RS256.
    Rsa { kid: String, n: Vec<u8>, e: Vec<u8> },
    /// ES256 (P-256), uncompressed point.
    EcP256 { kid: String, point: Vec<u8> },
}

impl PublicKey {
    /// The key id.
    pub fn kid(&self) -> &str {
        match self {
            PublicKey::Rsa { kid, .. } | PublicKey::EcP256 { kid, .. } => kid,
        }
    }

    /// The JWT `alg` this key verifies.
    pub fn alg(&self) -> &'static str {
        match self {
            PublicKey::Rsa { .. } => "RS256",
            PublicKey::EcP256 { .. } => "ES256",
        }
    }

    /// Parses a public JWK (RSA or EC P-256); `kid` comes from the JWK.
    pub fn from_jwk(jwk: &Json) -> Result<PublicKey, AuthError> {
        let kid = jwk["kid"].as_str().unwrap_or_default().to_owned();
        match jwk["kty"].as_str() {
            Some("RSA") => Ok(PublicKey::Rsa {
                kid,
                n: unb64(jwk, "n")?,
                e: unb64(jwk, "e")?,
            }),
            Some("EC") if jwk["crv"] == "P-256" => {
                let mut point = vec![4u8];
                point.extend(unb64(jwk, "x")?);
                point.extend(unb64(jwk, "y")?);
                Ok(PublicKey::EcP256 { kid, point })
            }
            other => Err(AuthError::Key(format!(
                "unsupported JWK key type {other:?}"
            ))),
        }
    }

    /// Whether `signature` is valid for `message`.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match self {
            PublicKey::Rsa { n, e, .. } => RsaPublicKeyComponents {
                n: n.as_slice(),
                e: e.as_slice(),
            }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
            .is_ok(),
            PublicKey::EcP256 { point, .. } => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
        }
    }
}

/// Encrypts a private JWK the way Better Auth stores it: the JSON string literal of
/// `hex(nonce24 ‖ XChaCha20-Poly1305(SHA-256(secret), nonce, jwk_json) ‖ tag)`.
pub fn encrypt_private_key(secret: &str, jwk_json: &str) -> Result<String, AuthError> {
    let key = Sha256::digest(secret.as_bytes());
    let cipher = XChaCha20Poly1305::new_from_slice(key.as_slice())
        .map_err(|_| AuthError::Key("bad key length".into()))?;
    let nonce_bytes: [u8; 24] = rand::random();
    let ct = cipher
        .encrypt(XNonce::from_slice(&nonce_bytes), jwk_json.as_bytes())
        .map_err(|_| AuthError::Key("encryption failed".into()))?;
    let mut all = nonce_bytes.to_vec();
    all.extend(ct);
    Ok(Json::String(hex::encode(all)).to_string())
}

/// Decrypts [`encrypt_private_key`]'s output (also accepting the bare hex and the
/// `$ba$<version>$<hex>` envelope).
pub fn decrypt_private_key(secret: &str, stored: &str) -> Result<String, AuthError> {
    let unquoted = match serde_json::from_str::<Json>(stored) {
        Ok(Json::String(s)) => s,
        _ => stored.to_owned(),
    };
    let hex_part = match unquoted.strip_prefix("$ba$") {
        Some(rest) => rest
            .split_once('$')
            .map(|(_, h)| h.to_owned())
            .unwrap_or_default(),
        None => unquoted,
    };
    let bytes = hex::decode(hex_part.trim())
        .map_err(|_| AuthError::Key("private key is not hex".into()))?;
    if bytes.len() < 24 + 16 {
        return Err(AuthError::Key("private key is too short".into()));
    }
    let key = Sha256::digest(secret.as_bytes());
    let cipher = XChaCha20Poly1305::new_from_slice(key.as_slice())
        .map_err(|_| AuthError::Key("bad key length".into()))?;
    let (nonce, ct) = bytes.split_at(24);
    let plain = cipher
        .decrypt(XNonce::from_slice(nonce), ct)
        .map_err(|_| {
            AuthError::Key(
                "cannot decrypt the private key: set --auth-secret (or BETTER_AUTH_SECRET) to the secret of the deployment that made these keys".into(),
            )
        })?;
    String::from_utf8(plain).map_err(|_| AuthError::Key("private key is not UTF-8".into()))
}

/// One row of Better Auth's `jwks` table, and one element of the `JWKS` environment variable
/// that `getLatestJwks` prints.
#[derive(Clone, Debug, PartialEq)]
pub struct JwksRow {
    /// The key id.
    pub id: String,
    /// JSON of the public JWK.
    pub public_key: String,
    /// The encrypted private key (JSON string of hex).
    pub private_key: String,
    /// Creation time, ms since the epoch.
    pub created_at_ms: u64,
    /// Optional expiry, ms.
    pub expires_at_ms: Option<u64>,
}

impl JwksRow {
    /// Serializes a key for storage or for the `JWKS` variable.
    pub fn from_key(key: &SigningKey, secret: &str) -> Result<JwksRow, AuthError> {
        Ok(JwksRow {
            id: key.kid.clone(),
            public_key: key.public_jwk().to_string(),
            private_key: encrypt_private_key(secret, &key.private_jwk().to_string())?,
            created_at_ms: key.created_at_ms,
            expires_at_ms: key.expires_at_ms,
        })
    }

    /// Decrypts and parses the key.
    pub fn to_key(&self, secret: &str) -> Result<SigningKey, AuthError> {
        let jwk: Json = serde_json::from_str(&decrypt_private_key(secret, &self.private_key)?)
            .map_err(|_| AuthError::Key("private key is not a JWK".into()))?;
        let mut key = SigningKey::from_private_jwk(self.id.clone(), self.created_at_ms, &jwk)?;
        key.expires_at_ms = self.expires_at_ms;
        Ok(key)
    }

    /// Better Auth's JSON shape (`getLatestJwks` output element).
    pub fn to_json(&self) -> Json {
        json!({
            "id": self.id,
            "publicKey": self.public_key,
            "privateKey": self.private_key,
            "createdAt": self.created_at_ms,
            "expiresAt": self.expires_at_ms,
            "alg": "RS256",
        })
    }

    /// Parses one element of a `JWKS` value; `createdAt` may be epoch ms or an ISO string.
    pub fn from_json(v: &Json) -> Result<JwksRow, AuthError> {
        let text = |k: &str| {
            v[k].as_str()
                .map(str::to_owned)
                .ok_or_else(|| AuthError::Key(format!("JWKS entry lacks {k}")))
        };
        if let Some(alg) = v["alg"].as_str()
            && alg != "RS256"
        {
            return Err(AuthError::Key(format!(
                "JWKS entry uses {alg}; only RS256 is supported"
            )));
        }
        let time = |k: &str| -> Option<u64> {
            match &v[k] {
                Json::Number(n) => n.as_f64().map(|f| f as u64),
                Json::String(s) => crate::time::parse_iso_ms(s),
                _ => None,
            }
        };
        Ok(JwksRow {
            id: text("id")?,
            public_key: text("publicKey")?,
            private_key: text("privateKey")?,
            created_at_ms: time("createdAt").unwrap_or(0),
            expires_at_ms: time("expiresAt"),
        })
    }
}

/// Parses a whole `JWKS` value (a JSON array of rows) into keys, newest last.
pub fn parse_jwks_env(value: &str, secret: &str) -> Result<Vec<Arc<SigningKey>>, AuthError> {
    let parsed: Json = serde_json::from_str(value)
        .map_err(|e| AuthError::Key(format!("JWKS is not JSON: {e}")))?;
    let rows = parsed
        .as_array()
        .ok_or_else(|| AuthError::Key("JWKS must be a JSON array".into()))?;
    let mut keys = rows
        .iter()
        .map(|r| {
            JwksRow::from_json(r)
                .and_then(|row| row.to_key(secret))
                .map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()?;
    keys.sort_by_key(|k| k.created_at_ms);
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_through_the_better_auth_row_format() {
        let key = SigningKey::generate(new_id(), 1_795_758_323_189).unwrap();
        let row = JwksRow::from_key(&key, "s3cret").unwrap();
        assert!(
            row.private_key.starts_with('"') && row.private_key.ends_with('"'),
            "a JSON string literal"
        );
        let env = Json::Array(vec![row.to_json()]).to_string();
        let keys = parse_jwks_env(&env, "s3cret").unwrap();
        assert_eq!(keys[0].kid, key.kid);
        let sig = keys[0].sign_rs256(b"hello").unwrap();
        assert!(key.public_key().verify(b"hello", &sig));
        assert!(!key.public_key().verify(b"hellO", &sig));
        assert!(parse_jwks_env(&env, "wrong secret").is_err());
    }
}
