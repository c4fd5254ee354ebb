//! The one error type of the auth crate.

/// Auth failures, each with a stable `code` matching Better Auth's where one exists.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong email or password (401).
    #[error("Invalid email or password")]
    InvalidCredentials,
    /// Sign-up with an email that exists (422).
    #[error("User already exists. Use another email.")]
    UserExists,
    /// Request body failed validation (400).
    #[error("{0}")]
    Validation(String),
    /// Password shorter than the minimum (400).
    #[error("Password too short")]
    PasswordTooShort,
    /// Password longer than the maximum (400).
    #[error("Password too long")]
    PasswordTooLong,
    /// The session is older than the fresh age a sensitive listing needs (403).
    #[error("Session is not fresh")]
    SessionNotFresh,
    /// A request Better Auth refuses with 400 and a specific code (`INVALID_PASSWORD`, ...).
    #[error("{1}")]
    BadRequest(&'static str, String),
    /// A disabled route (404), as Better Auth answers for `delete-user` when it is off.
    #[error("Not found")]
    NotFound,
    /// No valid session (401).
    #[error("Unauthorized")]
    Unauthorized,
    /// A token that must be rejected; the message says why.
    #[error("{0}")]
    InvalidToken(String),
    /// Key material could not be parsed, decrypted or generated.
    #[error("key error: {0}")]
    Key(String),
    /// Too many password checks are waiting for a core (429).
    #[error("Too many requests. Please try again later.")]
    Busy,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] ferrovex_engine::EngineError),
}

impl AuthError {
    /// Better Auth's error code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::InvalidCredentials => "INVALID_EMAIL_OR_PASSWORD",
            AuthError::UserExists => "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
            AuthError::Validation(_) => "VALIDATION_ERROR",
            AuthError::BadRequest(code, _) => code,
            AuthError::PasswordTooShort => "PASSWORD_TOO_SHORT",
            AuthError::PasswordTooLong => "PASSWORD_TOO_LONG",
            AuthError::Unauthorized => "UNAUTHORIZED",
            AuthError::NotFound => "NOT_FOUND",
            AuthError::SessionNotFresh => "SESSION_NOT_FRESH",
            AuthError::InvalidToken(_) => "INVALID_TOKEN",
            AuthError::Busy => "TOO_MANY_REQUESTS",
            AuthError::Key(_) | AuthError::Store(_) => "INTERNAL_SERVER_ERROR",
        }
    }
}
