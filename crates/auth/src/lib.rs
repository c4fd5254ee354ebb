//! Ferrovex's built-in auth, compatible with the official `better-auth` client:
//! email/password users (Better Auth's scrypt format), sessions in signed cookies, and
//! short-lived Convex JWTs signed from a key ring held in memory, so that issuing or
//! verifying a token reads no key from the database.

pub mod cookie;
mod der;
pub mod error;
#[cfg(test)]
mod fuzz;
pub mod hashing;
pub mod jwt;
pub mod keyring;
pub mod keys;
pub mod password;
pub mod service;
pub mod stats;
pub mod store;
pub mod time;
pub mod verify;
