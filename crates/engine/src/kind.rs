//! The three kinds of functions, shared by the registry, the log and the engine.

/// The three kinds of functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FunctionKind {
    /// Read-only, reactive.
    Query,
    /// Transactional write.
    Mutation,
    /// Arbitrary async code.
    Action,
}

impl FunctionKind {
    /// `Query`, `Mutation` or `Action`, as in Convex's error messages.
    pub fn name(self) -> &'static str {
        match self {
            FunctionKind::Query => "Query",
            FunctionKind::Mutation => "Mutation",
            FunctionKind::Action => "Action",
        }
    }
}
