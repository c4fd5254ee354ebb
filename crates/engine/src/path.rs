//! Function paths and their canonical form (`module:function`).
//!
//! Clients send `messages:list`, `messages` (default export), `messages.js:list` (the Rust
//! client after a reconnect) and `dir/file:fn`. All of them map to one canonical string: split
//! at the last `:` (no `:` means function `default`) and strip a trailing `.js` from the module.

use crate::error::EngineError;

/// Longest accepted function path.
pub const MAX_PATH_LEN: usize = 256;

/// A canonical function path such as `messages:list`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FunctionPath(String);

impl FunctionPath {
    /// Canonicalizes and validates a path as sent by a client.
    pub fn parse(raw: &str) -> Result<FunctionPath, EngineError> {
        let bad = |why: &str| EngineError::InvalidPath(format!("{raw:?}: {why}"));
        if raw.len() > MAX_PATH_LEN {
            return Err(bad("too long"));
        }
        let (module, function) = match raw.rsplit_once(':') {
            Some((m, f)) => (m, f),
            None => (raw, "default"),
        };
        // Every trailing `.js`, so the canonical form parses to itself (`a.js.js` is `a`;
        // stripping one left `.js`, which a second parse emptied: found by a property test).
        let mut module = module;
        while let Some(stripped) = module.strip_suffix(".js") {
            module = stripped;
        }
        if module.is_empty() {
            return Err(bad("empty module"));
        }
        if module.starts_with('/') || module.ends_with('/') {
            return Err(bad("module must be a relative path"));
        }
        for segment in module.split('/') {
            let ok = !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !ok {
                return Err(bad("invalid module path"));
            }
        }
        let fn_ok = function
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && function
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !fn_ok {
            return Err(bad("invalid function name"));
        }
        Ok(FunctionPath(format!("{module}:{function}")))
    }

    /// Converts the `/api/run/{module}/{fn}` form (`dir/file/fn`) to a path.
    pub fn from_url_path(raw: &str) -> Result<FunctionPath, EngineError> {
        match raw.rsplit_once('/') {
            Some((module, function)) => FunctionPath::parse(&format!("{module}:{function}")),
            None => FunctionPath::parse(raw),
        }
    }

    /// The canonical string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for FunctionPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any client string is refused or canonicalized, and the canonical form is a fixed
        /// point: parsing it again gives itself (one cache key, one log label per function).
        #[test]
        fn paths_parse_or_are_refused_and_canonical_forms_are_fixed_points(
            raw in proptest::prop_oneof![
                ".{0,300}",
                "[a-z0-9_./-]{0,30}(\\.js)*(:[A-Za-z0-9_]{0,12})?",
                "[a-z]{1,8}(/[a-z.]{1,8}){0,3}(\\.js){0,3}:[a-z_][a-z0-9_]{0,8}",
            ],
        ) {
            if let Ok(path) = FunctionPath::parse(&raw) {
                let again = FunctionPath::parse(path.as_str());
                proptest::prop_assert_eq!(again.ok(), Some(path.clone()), "{:?}", raw);
            }
            let _ = FunctionPath::from_url_path(&raw);
        }
    }

    #[test]
    fn the_property_tests_findings_stay_fixed() {
        assert!(FunctionPath::parse(".js.js").is_err());
        assert_eq!(FunctionPath::parse("a.js.js:f").unwrap().as_str(), "a:f");
    }

    #[test]
    fn client_path_forms_canonicalize_to_one_string() {
        let cases = [
            ("messages:list", "messages:list"),
            ("messages", "messages:default"),
            ("messages:default", "messages:default"),
            ("messages.js:list", "messages:list"),
            ("messages.js:default", "messages:default"),
            ("dir/file:fn", "dir/file:fn"),
            ("dir/file.js:fn", "dir/file:fn"),
        ];
        for (raw, canonical) in cases {
            assert_eq!(
                FunctionPath::parse(raw).map(|p| p.0).ok().as_deref(),
                Some(canonical),
                "{raw}"
            );
        }
    }

    #[test]
    fn malformed_paths_are_rejected() {
        for raw in [
            "", ":list", "../x:y", "/abs:y", "a:b c", "a:1x", "a//b:c", "a:",
        ] {
            assert!(FunctionPath::parse(raw).is_err(), "{raw:?}");
        }
        assert!(FunctionPath::parse(&"a".repeat(300)).is_err());
    }

    #[test]
    fn run_url_paths_use_the_last_segment_as_function() {
        assert_eq!(
            FunctionPath::from_url_path("messages/list")
                .map(|p| p.0)
                .ok()
                .as_deref(),
            Some("messages:list")
        );
        assert_eq!(
            FunctionPath::from_url_path("dir/file/fn")
                .map(|p| p.0)
                .ok()
                .as_deref(),
            Some("dir/file:fn")
        );
    }
}
