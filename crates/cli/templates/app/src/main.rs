//! The deployment's binary: `serve`, `run`, `jwks` and `codegen`, for this app.

fn main() -> std::process::ExitCode {
    ferrovex::main({{crate}}::app())
}
