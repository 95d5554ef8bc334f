//! Pseudonyms under a key the user gives agree across processes: each is the HMAC-SHA-256 of the
//! id under the key, cut to 8 bytes, whatever process computes it. (Its own test binary: the key
//! is set once per process.)

use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha2::Sha256;

const KEY: &[u8] = b"fleet-a pseudonym key, shared by every replica";

/// The same computation, written out: what any other process holding the key gets.
fn elsewhere(id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY).unwrap();
    mac.update(id.as_bytes());
    mac.finalize().into_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_given_key_makes_pseudonyms_every_replica_agrees_on() {
    assert!(simcore::trace::set_pseudonym_key(b"too short").is_err());
    simcore::trace::set_pseudonym_key(KEY).unwrap();
    assert!(simcore::trace::set_pseudonym_key(KEY).is_err(), "set once");
    proptest!(|(id in ".{0,40}")| {
        let p = simcore::trace::pseudonym(&id);
        prop_assert_eq!(&p, &elsewhere(&id));
        prop_assert_eq!(p.len(), 16);
        if id.len() >= 4 {
            prop_assert!(!p.contains(id.as_str()));
        }
    });
}
