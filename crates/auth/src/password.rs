//! Passwords in Better Auth's format: `"<salt>:<key>"`, lowercase hex, where `salt` is 16
//! random bytes written as 32 hex characters and `key` is scrypt(NFKC(password), salt = the
//! UTF-8 bytes of the hex string, N=16384, r=16, p=1, 64 bytes). Rows written by Better Auth
//! verify here and the other way round.

use unicode_normalization::UnicodeNormalization;

use crate::error::AuthError;

/// Shortest accepted password (Better Auth's default).
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted password (Better Auth's default).
pub const MAX_PASSWORD_LEN: usize = 128;

fn derive(password: &str, salt_hex: &str) -> Result<[u8; 64], AuthError> {
    let normalized: String = password.nfkc().collect();
    // log2(16384) = 14.
    let params = scrypt::Params::new(14, 16, 1).map_err(|e| AuthError::Key(e.to_string()))?;
    let mut out = [0u8; 64];
    scrypt::scrypt(
        normalized.as_bytes(),
        salt_hex.as_bytes(),
        &params,
        &mut out,
    )
    .map_err(|e| AuthError::Key(e.to_string()))?;
    Ok(out)
}

/// Checks the length rules (in characters, as Better Auth counts them).
pub fn check_policy(password: &str) -> Result<(), AuthError> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(AuthError::PasswordTooShort);
    }
    if len > MAX_PASSWORD_LEN {
        return Err(AuthError::PasswordTooLong);
    }
    Ok(())
}

/// Hashes a password with a fresh salt. CPU-heavy (~90 ms): call off the async workers.
pub fn hash(password: &str) -> Result<String, AuthError> {
    let salt: [u8; 16] = rand::random();
    let salt_hex = hex::encode(salt);
    let key = derive(password, &salt_hex)?;
    Ok(format!("{salt_hex}:{}", hex::encode(key)))
}

/// Verifies a password against a stored hash in constant time. CPU-heavy, like [`hash`].
pub fn verify(password: &str, stored: &str) -> bool {
    let Some((salt_hex, key_hex)) = stored.split_once(':') else {
        return false;
    };
    let Ok(expected) = hex::decode(key_hex) else {
        return false;
    };
    let Ok(actual) = derive(password, salt_hex) else {
        return false;
    };
    constant_time_eq(&actual, &expected)
}

/// Equality that does not stop at the first differing byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A hash to compare against when the user does not exist, so that unknown emails cost the
/// same time as wrong passwords.
pub const DUMMY_HASH: &str = "00000000000000000000000000000000:00";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_python_hashlib_vector() {
        // hashlib.scrypt(b"password123", salt=b"0123456789abcdef0123456789abcdef",
        //                n=16384, r=16, p=1, dklen=64).hex()[:16]
        let key = derive("password123", "0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(&hex::encode(key)[..16], "e8b256b6f9f4b164");
    }

    #[test]
    fn hash_then_verify_and_reject_wrong_passwords() {
        let h = hash("correct horse battery").unwrap();
        let (salt, key) = h.split_once(':').unwrap();
        assert_eq!((salt.len(), key.len()), (32, 128));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterY", &h));
        assert!(!verify("x", "garbage"));
        assert!(!verify("x", DUMMY_HASH));
    }

    #[test]
    fn passwords_are_nfkc_normalized() {
        // U+FB01 (ﬁ ligature) normalizes to "fi" under NFKC.
        let h = hash("pass\u{FB01}word").unwrap();
        assert!(verify("passfiword", &h));
    }

    #[test]
    fn length_policy_counts_characters() {
        assert!(matches!(
            check_policy("short"),
            Err(AuthError::PasswordTooShort)
        ));
        assert!(check_policy("12345678").is_ok());
        assert!(matches!(
            check_policy(&"x".repeat(129)),
            Err(AuthError::PasswordTooLong)
        ));
    }
}
