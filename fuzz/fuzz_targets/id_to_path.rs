//! Any bytes, read as an id (UTF-8, lossy), through `join_segments`: refused as `Invalid` by the
//! id rule, or exactly one more path segment that decodes back to the id, with no query or
//! fragment, also once the URL is printed and parsed again (as a server and a proxy see it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use simcore::Error;
use simcore::http::join_segments;
use simcore::validate::check_id;
use url::Url;

const BASE: &str = "https://api.example.com/v1/sims";

fuzz_target!(|data: &[u8]| {
    let id = String::from_utf8_lossy(data);
    let base = Url::parse(BASE).unwrap();
    match join_segments(&base, &[&id]) {
        Err(Error::Invalid(_)) => assert!(check_id("id", &id).is_err(), "refused {id:?}"),
        Err(other) => panic!("{id:?}: {other:?}"),
        Ok(url) => {
            assert!(check_id("id", &id).is_ok(), "sent {id:?}");
            for url in [url.clone(), Url::parse(url.as_str()).unwrap()] {
                assert_eq!(url.query(), None, "{id:?}");
                assert_eq!(url.fragment(), None, "{id:?}");
                assert_eq!(url.host_str(), Some("api.example.com"), "{id:?}");
                let segment = url
                    .path()
                    .strip_prefix("/v1/sims/")
                    .unwrap_or_else(|| panic!("{id:?}: {}", url.path()));
                assert!(!segment.contains('/'), "{id:?}: {segment}");
                assert!(
                    segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
                    "{id:?}: {segment}"
                );
                let decoded = percent_decode_str(segment).collect::<Vec<u8>>();
                assert_eq!(decoded, id.as_bytes(), "{segment}");
            }
        }
    }
});
