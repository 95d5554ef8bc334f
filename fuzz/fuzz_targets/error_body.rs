//! Any bytes as an error answer: a status and a content type picked by the first two bytes, the
//! rest as the body, through `parse_error_body` and the redactor. Nothing panics, and a fixed
//! secret never survives `Redactor::scrub`, nor an error scrubbed with it (Display and Debug),
//! whatever the body does to spell it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use simcore::Error;
use simcore::http::{Redactor, parse_error_body};

const SECRET: &str = "SENTINEL-fuzz-7f3a";
const STATUSES: [u16; 10] = [200, 204, 400, 401, 403, 404, 422, 429, 500, 503];
const TYPES: [Option<&str>; 5] = [
    None,
    Some("application/json"),
    Some("text/html; charset=utf-8"),
    Some("text/plain"),
    Some("application/problem+json"),
];

fuzz_target!(|data: &[u8]| {
    let (status, content_type, body) = match data {
        [s, t, body @ ..] => (
            STATUSES[usize::from(*s) % STATUSES.len()],
            TYPES[usize::from(*t) % TYPES.len()],
            body,
        ),
        _ => (500, None, data),
    };
    let mut redactor = Redactor::new();
    redactor.add(&SecretString::from(SECRET));

    let text = String::from_utf8_lossy(body);
    let clean = redactor.scrub(&text);
    assert!(!clean.contains(SECRET), "{text:?} -> {clean:?}");

    let api = parse_error_body("fuzz", status, content_type, body);
    assert_eq!(api.status, status);
    let scrubbed = redactor.scrub_error(Error::from(api));
    let shown = format!("{scrubbed}\n{scrubbed:?}");
    assert!(!shown.contains(SECRET), "{shown}");

    let decode = redactor.scrub_error(Error::decode("fuzz", status, text.as_ref(), body));
    let shown = format!("{decode}\n{decode:?}");
    assert!(!shown.contains(SECRET), "{shown}");
});
