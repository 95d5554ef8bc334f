//! The random identifiers a sandbox hands out.

/// `n` random lowercase hex digits.
pub fn hex(n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
        .collect()
}

/// `n` random ASCII letters and digits.
pub fn alphanumeric(n: usize) -> String {
    (0..n).map(|_| fastrand::alphanumeric()).collect()
}

/// A credential or token the sandbox issues: `body` behind the SDK's sandbox mark
/// (`simsandbox_`), which a client refuses to send anywhere but to loopback.
pub fn credential(body: &str) -> String {
    simcore::http::sandbox_credential(body)
}

/// The Luhn check digit of a string of decimal digits (`None` if it is empty or has another
/// character).
///
/// ```
/// use simsandbox::engine::ids::luhn_digit;
/// assert_eq!(luhn_digit("7992739871"), Some('3'));
/// assert_eq!(luhn_digit("12a"), None);
/// ```
pub fn luhn_digit(digits: &str) -> Option<char> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match (i % 2 == 0, d * 2) {
                (true, x) if x > 9 => x - 9,
                (true, x) => x,
                (false, _) => d,
            }
        })
        .sum();
    char::from_digit((10 - sum % 10) % 10, 10)
}

/// A random ICCID of `len` digits starting with `prefix`, its last digit the Luhn check digit.
///
/// ```
/// let iccid = simsandbox::engine::ids::iccid("8988", 20);
/// assert_eq!(iccid.len(), 20);
/// assert!(iccid.starts_with("8988"));
/// ```
pub fn iccid(prefix: &str, len: usize) -> String {
    let body_len = len.saturating_sub(prefix.len() + 1);
    let body: String = (0..body_len).map(|_| fastrand::digit(10)).collect();
    let digits = format!("{prefix}{body}");
    let check = luhn_digit(&digits).unwrap_or('0');
    format!("{digits}{check}")
}
