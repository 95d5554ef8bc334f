//! Removing a client's own secrets from what it keeps of an answer.
//!
//! A provider (or a proxy in front of it) may quote the credential it was sent: an API that echoes
//! the token it rejected, a gateway that reflects a header, an error page that shows the request
//! body. Every text the SDK keeps from a response (an error's message, details, token, link,
//! request id, a decode error's snippet and parser message) passes through a [`Redactor`] holding
//! the client's secrets, and each occurrence becomes [`REDACTED`].
//!
//! A secret is found however it is spelled: as it is, or under up to three layers of encoding,
//! each layer any mix of percent-encoding (UTF-8 bytes as `%XX`, hex in either case, a space as
//! `+` or `%20`), JSON escapes (`\"`, `\\`, `\/`, `\n`, `\u00e9`, a surrogate pair beyond the
//! BMP), escapes as Rust and JavaScript print strings (`\u{e9}`, `\0`) and HTML character
//! references (`&amp;`, `&lt;`, `&quot;`, `&#39;`, `&#x27;`, any numeric one). Servers differ in
//! which characters they encode and how (form encoders, RFC 3986 encoders, Python's and Go's
//! JSON), and quote JSON bodies inside JSON strings, so no fixed list of encoded forms would do.
//!
//! ```
//! use simcore::http::Redactor;
//! use simcore::secrecy::SecretString;
//!
//! let mut r = Redactor::new();
//! r.add(&SecretString::from("s3cr3t-token"));
//! assert_eq!(r.scrub("invalid token s3cr3t-token"), "invalid token [redacted]");
//! // The percent-encoded form of a secret (as echoed from a form body) goes too, in any style.
//! r.add(&SecretString::from("a+b/c d"));
//! assert_eq!(r.scrub("client_secret=a%2Bb%2Fc+d"), "client_secret=[redacted]");
//! assert_eq!(r.scrub("client_secret=a%2bb%2fc%20d"), "client_secret=[redacted]");
//! // And JSON- or HTML-escaped.
//! r.add(&SecretString::from("p\"w&é"));
//! assert_eq!(r.scrub(r#"{"password":"p\"w&\u00e9"}"#), r#"{"password":"[redacted]"}"#);
//! assert_eq!(r.scrub("<p>p&quot;w&amp;é</p>"), "<p>[redacted]</p>");
//! ```

use std::borrow::Cow;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::error::{ApiError, Error};

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this have no base64 forms of their own: a few base64 characters would
/// match innocent text (their exact forms are still cut out).
const MIN_BASE64_SECRET: usize = 6;

/// The parts of any base64 text that encodes `secret` somewhere inside it: for each alignment
/// (0, 1 or 2 bytes before it in its 3-byte group) and each alphabet, the characters whose six
/// bits all come from the secret. Whatever surrounds the secret, its encoding contains one of
/// them.
fn base64_cores(secret: &[u8]) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut cores = Vec::new();
    if secret.len() < MIN_BASE64_SECRET {
        return cores;
    }
    for offset in 0..3usize {
        let mut bytes = vec![0u8; offset];
        bytes.extend_from_slice(secret);
        // Character i covers bits [6i, 6i + 6); keep those inside the secret's bits.
        let start = (8 * offset).div_ceil(6);
        let end = 8 * bytes.len() / 6;
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = engine.encode(&bytes);
            if let Some(core) = encoded.get(start..end) {
                if !cores.iter().any(|c| c == core) {
                    cores.push(core.to_owned());
                }
            }
        }
    }
    cores
}

/// A set of secrets to cut out of texts. Its `Debug` shows how many it holds, never them.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Every secret, longest first (so a longer one is cut before a part of it). Each is
    /// matched in every spelling (see the module docs).
    forms: Vec<SecretString>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.forms.len())
    }
}

impl Redactor {
    /// An empty redactor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret; it is then found in every spelling it may come back in (see the module
    /// docs). Empty secrets are ignored.
    pub fn add(&mut self, secret: &SecretString) {
        self.add_str(secret.expose_secret());
    }

    /// [`add`](Self::add) for a secret held as a plain string (an encoded form computed here).
    ///
    /// Its base64 forms go in too (standard and URL-safe alphabets, at each of the three
    /// alignments a secret can have inside a longer base64 text): a server may echo it inside
    /// an encoding this client never sends, such as `Basic base64(id:secret)` for a secret this
    /// client sends in a form body, or a JWT whose payload quotes it.
    pub fn add_str(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        self.push(secret);
        for core in base64_cores(secret.as_bytes()) {
            self.push(&core);
        }
        self.forms
            .sort_by_key(|f| std::cmp::Reverse(f.expose_secret().len()));
    }

    fn push(&mut self, form: &str) {
        if !self.forms.iter().any(|f| f.expose_secret() == form) {
            self.forms.push(SecretString::from(form.to_owned()));
        }
    }

    /// Adds every secret of another redactor.
    pub fn extend(&mut self, other: &Redactor) {
        for f in &other.forms {
            self.add_str(f.expose_secret());
        }
    }

    /// Whether any secret it holds was issued by a sandbox of this SDK
    /// ([`is_sandbox_credential`](super::is_sandbox_credential)).
    pub fn holds_sandbox_credential(&self) -> bool {
        self.forms
            .iter()
            .any(|f| super::is_sandbox_credential(f.expose_secret()))
    }

    /// Whether it holds no secret.
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// `text` with every secret, in any spelling, replaced by [`REDACTED`].
    ///
    /// The text is searched as it is and then decoded up to three times over, each pass
    /// undoing one layer of every encoding the module docs list at once (so mixed and nested
    /// encodings are undone too); an occurrence found in any of these readings replaces the part
    /// of the original text it was decoded from. Markers are never searched again.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.forms.is_empty() || text.is_empty() {
            return Cow::Borrowed(text);
        }
        let raw = text.as_bytes();
        let mut found: Vec<(usize, usize)> = Vec::new();
        for form in &self.forms {
            find(
                raw,
                form.expose_secret().as_bytes(),
                |i, n| (i, i + n),
                &mut found,
            );
        }
        // Only secrets that may be there in an encoded spelling are looked for in the decoded
        // readings: those with none of their letters and digits missing from the text (no
        // encoder in use changes ASCII letters and digits).
        let encoded: Vec<&[u8]> = self
            .forms
            .iter()
            .map(|f| f.expose_secret().as_bytes())
            .filter(|f| may_be_encoded_in(raw, f))
            .collect();
        if !encoded.is_empty()
            && u32::try_from(raw.len()).is_ok()
            && raw.iter().any(|b| matches!(b, b'%' | b'\\' | b'&'))
        {
            // Every sequence of up to three decodings, one kind per layer: decoding all kinds at
            // once would misread a `%`, `\` or `&` of the secret's own that its encoder left
            // as it was. Readings already seen are not searched again.
            let mut seen: Vec<Vec<u8>> = Vec::new();
            let mut layer = vec![View::of(raw)];
            for _ in 0..DEPTH {
                let mut next_layer = Vec::new();
                for view in &layer {
                    for kind in [Layer::Percent, Layer::Escapes, Layer::Html] {
                        if !view.bytes.contains(&kind.trigger()) {
                            continue;
                        }
                        let Some(next) = view.decoded(kind) else {
                            continue;
                        };
                        if seen.contains(&next.bytes) {
                            continue;
                        }
                        for form in &encoded {
                            let spans = &next.spans;
                            find(
                                &next.bytes,
                                form,
                                |i, n| (spans[i].0 as usize, spans[i + n - 1].1 as usize),
                                &mut found,
                            );
                        }
                        seen.push(next.bytes.clone());
                        next_layer.push(next);
                    }
                }
                layer = next_layer;
            }
        }
        if found.is_empty() {
            return Cow::Borrowed(text);
        }
        found.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut i = 0;
        while i < found.len() {
            let (mut start, mut end) = found[i];
            i += 1;
            while i < found.len() && found[i].0 < end {
                end = end.max(found[i].1);
                i += 1;
            }
            start = start.max(copied);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            while !text.is_char_boundary(end) {
                end += 1;
            }
            if start < copied {
                start = copied;
            }
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = end;
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }

    fn scrub_string(&self, s: &mut String) {
        if let Cow::Owned(clean) = self.scrub(s) {
            *s = clean;
        }
    }

    /// Scrubs every string (keys included) of a JSON value in place.
    pub fn scrub_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => self.scrub_string(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_value(v)),
            Value::Object(map) => {
                let dirty: Vec<String> = map
                    .keys()
                    .filter(|k| matches!(self.scrub(k), Cow::Owned(_)))
                    .cloned()
                    .collect();
                for k in dirty {
                    if let Some(v) = map.remove(&k) {
                        map.insert(self.scrub(&k).into_owned(), v);
                    }
                }
                map.values_mut().for_each(|v| self.scrub_value(v));
            }
            // A numeric secret quoted back as a number.
            Value::Number(n) => {
                if let Cow::Owned(clean) = self.scrub(&n.to_string()) {
                    *value = Value::String(clean);
                }
            }
            _ => {}
        }
    }

    /// Scrubs every text an [`ApiError`] keeps from the answer.
    pub fn scrub_api(&self, api: &mut ApiError) {
        if self.is_empty() {
            return;
        }
        self.scrub_string(&mut api.message);
        for s in [&mut api.token, &mut api.more_info, &mut api.request_id]
            .into_iter()
            .flatten()
        {
            self.scrub_string(s);
        }
        if let Some(d) = api.details.as_mut() {
            self.scrub_value(d);
        }
        // A numeric secret read as the provider's code.
        if api
            .code
            .is_some_and(|c| matches!(self.scrub(&c.to_string()), Cow::Owned(_)))
        {
            api.code = None;
        }
    }

    /// Scrubs every text an error keeps from an answer or a connection failure.
    pub fn scrub_error(&self, mut error: Error) -> Error {
        if self.is_empty() {
            return error;
        }
        match &mut error {
            Error::Api(api) => self.scrub_api(api),
            Error::Decode {
                message,
                snippet,
                request_id,
                ..
            } => {
                self.scrub_string(message);
                self.scrub_string(snippet);
                if let Some(r) = request_id {
                    self.scrub_string(r);
                }
            }
            Error::Transport { message, .. } => self.scrub_string(message),
            _ => {}
        }
        error
    }
}

/// How many layers of encoding are undone: a JSON body quoted inside a JSON string and then
/// percent-encoded is three (`%5C%22` for a `"`).
const DEPTH: usize = 3;

/// Every occurrence of `needle` in `hay`, as the range `span(index, len)` gives it. A `+` in
/// `hay` also stands for a space (form encoding): a reading keeps it as it is, since it may be a
/// plus sign of the secret's own.
fn find(
    hay: &[u8],
    needle: &[u8],
    span: impl Fn(usize, usize) -> (usize, usize),
    found: &mut Vec<(usize, usize)>,
) {
    let n = needle.len();
    if n == 0 || hay.len() < n {
        return;
    }
    let same = |h: u8, n: u8| h == n || (h == b'+' && n == b' ');
    let mut i = 0;
    while i + n <= hay.len() {
        if same(hay[i], needle[0]) && hay[i..i + n].iter().zip(needle).all(|(&h, &n)| same(h, n)) {
            found.push(span(i, n));
            i += n;
        } else {
            i += 1;
        }
    }
}

/// A reading of a text: its bytes, and for each byte the range of the original text it was
/// decoded from.
struct View {
    bytes: Vec<u8>,
    spans: Vec<(u32, u32)>,
}

impl View {
    fn of(raw: &[u8]) -> Self {
        Self {
            bytes: raw.to_vec(),
            spans: (0..raw.len() as u32).map(|i| (i, i + 1)).collect(),
        }
    }

    /// The reading with one layer of `kind` undone; `None` when there was nothing to undo.
    fn decoded(&self, kind: Layer) -> Option<View> {
        let t = &self.bytes;
        let trigger = kind.trigger();
        let mut out = View {
            bytes: Vec::with_capacity(t.len()),
            spans: Vec::with_capacity(t.len()),
        };
        let mut changed = false;
        let mut i = 0;
        while i < t.len() {
            // Up to the next byte that may start an escape, as it is.
            let run = t[i..]
                .iter()
                .position(|&b| b == trigger)
                .unwrap_or(t.len() - i);
            out.bytes.extend_from_slice(&t[i..i + run]);
            out.spans.extend_from_slice(&self.spans[i..i + run]);
            i += run;
            if i >= t.len() {
                break;
            }
            let step = match kind {
                Layer::Percent => hex_at(t, i + 1, 2).map(|b| (Unit::Byte(b as u8), 3)),
                Layer::Escapes => escape(t, i),
                Layer::Html => html_reference(t, i + 1).map(|(c, end)| (Unit::Char(c), end - i)),
            };
            let Some((decoded, used)) = step else {
                out.bytes.push(t[i]);
                out.spans.push(self.spans[i]);
                i += 1;
                continue;
            };
            changed = true;
            let span = (self.spans[i].0, self.spans[i + used - 1].1);
            let mut buf = [0u8; 4];
            let bytes: &[u8] = match &decoded {
                Unit::Byte(b) => std::slice::from_ref(b),
                Unit::Char(c) => c.encode_utf8(&mut buf).as_bytes(),
            };
            out.bytes.extend_from_slice(bytes);
            out.spans.extend(std::iter::repeat_n(span, bytes.len()));
            i += used;
        }
        changed.then_some(out)
    }
}

/// Whether `secret` may be in `text` in an encoded spelling: every ASCII letter and digit of it
/// is in the text (encoders leave them as they are), checked cheaply on its longest run of them.
fn may_be_encoded_in(text: &[u8], secret: &[u8]) -> bool {
    let longest = secret
        .split(|b| !b.is_ascii_alphanumeric())
        .max_by_key(|run| run.len())
        .unwrap_or_default();
    // A run of one or two is too common to tell anything.
    longest.len() < 3 || text.windows(longest.len()).any(|w| w == longest)
}

/// One layer of encoding.
#[derive(Clone, Copy)]
enum Layer {
    /// `%XX` (a `+` for a space is matched in [`find`]).
    Percent,
    /// JSON escapes (`\"`, `\n`, `\u00e9`, surrogate pairs) and Rust's (`\u{e9}`, `\0`).
    Escapes,
    /// HTML character references.
    Html,
}

impl Layer {
    /// The byte every encoded character of this layer starts with.
    fn trigger(self) -> u8 {
        match self {
            Layer::Percent => b'%',
            Layer::Escapes => b'\\',
            Layer::Html => b'&',
        }
    }
}

enum Unit {
    Byte(u8),
    Char(char),
}

/// The escape at `i` (a backslash): what it stands for and how many bytes it takes.
fn escape(t: &[u8], i: usize) -> Option<(Unit, usize)> {
    let short = |b: u8| Some((Unit::Byte(b), 2));
    match *t.get(i + 1)? {
        b'"' => short(b'"'),
        b'\\' => short(b'\\'),
        b'/' => short(b'/'),
        b'\'' => short(b'\''),
        b'b' => short(0x08),
        b'f' => short(0x0c),
        b'n' => short(b'\n'),
        b'r' => short(b'\r'),
        b't' => short(b'\t'),
        b'0' => short(0),
        b'u' if t.get(i + 2) == Some(&b'{') => {
            let digits = t[i + 3..]
                .iter()
                .take(7)
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            if !(1..=6).contains(&digits) || t.get(i + 3 + digits) != Some(&b'}') {
                return None;
            }
            let c = char::from_u32(hex_at(t, i + 3, digits)?)?;
            Some((Unit::Char(c), digits + 4))
        }
        b'u' => {
            let unit = hex_at(t, i + 2, 4)?;
            if (0xd800..0xdc00).contains(&unit) {
                // A surrogate pair: `\uD83D\uDE00`.
                if t.get(i + 6) != Some(&b'\\') || t.get(i + 7) != Some(&b'u') {
                    return None;
                }
                let low = hex_at(t, i + 8, 4)?;
                if !(0xdc00..0xe000).contains(&low) {
                    return None;
                }
                let c = char::from_u32(0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00))?;
                return Some((Unit::Char(c), 12));
            }
            Some((Unit::Char(char::from_u32(unit)?), 6))
        }
        _ => None,
    }
}

/// The value of the `n` hex digits at `at`, if they are hex digits.
fn hex_at(t: &[u8], at: usize, n: usize) -> Option<u32> {
    let digits = t.get(at..at.checked_add(n)?)?;
    let mut v: u32 = 0;
    for &d in digits {
        v = v
            .checked_mul(16)?
            .checked_add(char::from(d).to_digit(16)?)?;
    }
    Some(v)
}

/// An HTML character reference whose `&` is just before `p` (`amp;`, `#39;`, `#x27;`, …): its
/// character and where it ends.
fn html_reference(t: &[u8], p: usize) -> Option<(char, usize)> {
    let rest = t.get(p..)?;
    let semi = rest.iter().take(10).position(|&b| b == b';')?;
    let name = &rest[..semi];
    let end = p + semi + 1;
    let c = match name {
        b"amp" => '&',
        b"lt" => '<',
        b"gt" => '>',
        b"quot" => '"',
        b"apos" => '\'',
        b"nbsp" => '\u{a0}',
        [b'#', b'x' | b'X', hex @ ..] if !hex.is_empty() => {
            char::from_u32(hex_at(hex, 0, hex.len())?)?
        }
        [b'#', dec @ ..] if !dec.is_empty() && dec.iter().all(u8::is_ascii_digit) => {
            char::from_u32(std::str::from_utf8(dec).ok()?.parse().ok()?)?
        }
        _ => return None,
    };
    Some((c, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn with(secrets: &[&str]) -> Redactor {
        let mut r = Redactor::new();
        for s in secrets {
            r.add(&SecretString::from(*s));
        }
        r
    }

    #[test]
    fn every_form_goes() {
        let r = with(&["p@ss w\"rd"]);
        assert_eq!(r.scrub("x p@ss w\"rd y"), "x [redacted] y");
        assert_eq!(r.scrub("x p%40ss+w%22rd y"), "x [redacted] y");
        assert_eq!(r.scrub(r#"{"t":"p@ss w\"rd"}"#), r#"{"t":"[redacted]"}"#);
        assert_eq!(r.scrub("nothing here"), "nothing here");
        assert!(matches!(r.scrub("nothing here"), Cow::Borrowed(_)));
        assert!(!format!("{r:?}").contains("p@ss"));
        assert!(with(&[""]).is_empty());
    }

    #[test]
    fn longer_forms_go_first() {
        let r = with(&["abc", "abcdef"]);
        assert_eq!(r.scrub("abcdef abc"), "[redacted] [redacted]");
    }

    #[test]
    fn json_details_keys_and_values() {
        let r = with(&["TOKEN-1"]);
        let mut v = json!({"TOKEN-1": ["x TOKEN-1", {"k": "TOKEN-1"}], "n": 1});
        r.scrub_value(&mut v);
        assert_eq!(
            v,
            json!({"[redacted]": ["x [redacted]", {"k": "[redacted]"}], "n": 1})
        );
    }

    #[test]
    fn api_errors_and_decode_errors() {
        let r = with(&["SENTINEL"]);
        let mut api = ApiError::new("p", 401).with_message("bad SENTINEL");
        api.token = Some("SENTINEL".into());
        api.more_info = Some("https://x/?t=SENTINEL".into());
        api.request_id = Some("rq-SENTINEL".into());
        api.details = Some(json!(["SENTINEL"]));
        let e = r.scrub_error(Error::from(api));
        assert!(!format!("{e} {e:?}").contains("SENTINEL"), "{e:?}");
        let e = r.scrub_error(Error::decode("p", 200, "bad SENTINEL", b"{SENTINEL}"));
        assert!(!format!("{e} {e:?}").contains("SENTINEL"), "{e:?}");
    }

    proptest! {
        // Secrets of nine characters or more without brackets cannot be formed across the
        // marker's edges, nor lie inside it.
        #[test]
        fn a_secret_never_survives(
            before in "\\PC{0,20}",
            after in "\\PC{0,20}",
            secret in "[a-zA-Z0-9+/=@:._~-]{9,24}",
        ) {
            let r = with(&[&secret]);
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            for text in [
                format!("{before}{secret}{after}"),
                format!("{before}{encoded}{after}"),
                format!("{secret}{secret}"),
            ] {
                let clean = r.scrub(&text);
                prop_assert!(!clean.contains(&secret), "{clean}");
            }
        }
    }
}
