//! Property tests of the auth parsers that face the network: `Cookie` headers, signed cookie
//! values, percent-decoding and JWT decoding and time checks. No input may panic; what is
//! signed verifies, and anything altered does not.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::Value as Json;

use crate::cookie::{CookieSigner, find_cookie, percent_decode, session_cookie};

/// Arbitrary JSON, shallow and small, with the types claims may have.
fn arb_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<f64>().prop_map(Json::from),
        ".{0,20}".prop_map(Json::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("exp".to_owned()),
                    Just("nbf".to_owned()),
                    Just("iss".to_owned()),
                    Just("alg".to_owned()),
                    Just("kid".to_owned()),
                    ".{0,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn cookie_headers_never_panic(header in ".{0,300}", name in "[ -~]{0,40}") {
        let _ = find_cookie(&header, &name);
        let _ = session_cookie(&header, true);
        let _ = session_cookie(&header, false);
        let _ = percent_decode(&header);
    }

    #[test]
    fn signed_values_verify_and_altered_ones_do_not(
        value in ".{1,64}",
        at in any::<prop::sample::Index>(),
        with in any::<char>(),
        garbage in ".{0,120}",
    ) {
        let signer = CookieSigner::new("a secret for the property tests");
        let signed = signer.sign(&value);
        prop_assert_eq!(signer.verify(&signed), Some(value.clone()));
        let mut chars: Vec<char> = signed.chars().collect();
        let i = at.index(chars.len());
        if chars[i] != with {
            chars[i] = with;
            let altered: String = chars.into_iter().collect();
            // Percent-encoding allows two spellings of one byte; any other change fails.
            if percent_decode(&altered) != percent_decode(&signed) {
                prop_assert_eq!(signer.verify(&altered), None);
            }
        }
        let _ = signer.verify(&garbage);
        prop_assert_eq!(CookieSigner::new("another secret").verify(&signed), None);
    }

    #[test]
    fn any_string_decodes_or_is_refused_as_a_token(token in ".{0,400}", compact in "[A-Za-z0-9_=-]{0,80}\\.[A-Za-z0-9_=-]{0,200}\\.[A-Za-z0-9_=-]{0,80}") {
        let _ = crate::jwt::decode(&token);
        let _ = crate::jwt::decode(&compact);
    }

    #[test]
    fn tokens_of_arbitrary_json_parts_never_panic(header in arb_json(), claims in arb_json(), signature in prop::collection::vec(any::<u8>(), 0..300), now in any::<u64>()) {
        let part = |j: &Json| URL_SAFE_NO_PAD.encode(j.to_string());
        let token = format!("{}.{}.{}", part(&header), part(&claims), URL_SAFE_NO_PAD.encode(&signature));
        if let Ok(decoded) = crate::jwt::decode(&token) {
            let _ = crate::jwt::check_times(&decoded.claims, now);
        }
    }
}
