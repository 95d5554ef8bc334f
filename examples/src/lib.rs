//! Shared helpers for the runnable examples of the SIM SDK family.
//!
//! The examples live beside this crate and run from the repository root:
//! `cargo run --example quickstart`.

/// Prints a section heading the way every example does.
pub fn heading(title: &str) {
    println!("\n== {title}");
}
