//! Shared helpers for the runnable examples of the SIM SDK family.
//!
//! The examples live in `examples/examples/` and run from the repository root:
//! `cargo run --example quickstart`.

/// Prints a section heading the way every example does.
pub fn heading(title: &str) {
    println!("\n== {title}");
}

/// Whether an environment variable is set to something other than the empty string.
pub fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// Text indented by two spaces on every line, for a preview printed under a heading.
pub fn indented(text: &impl std::fmt::Display) -> String {
    text.to_string()
        .lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The README's examples, compiled as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// OPERATING.md's examples, compiled as doctests.
#[doc = include_str!("../../OPERATING.md")]
#[cfg(doctest)]
pub struct OperatingDoctests;
