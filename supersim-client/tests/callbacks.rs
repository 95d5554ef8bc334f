//! Verifying Super SIM callbacks: the published test vectors of both signatures, every way a
//! callback is refused, reading the payload, and de-duplication.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use simcore::secrecy::SecretString;
use supersim_client::Status;
use supersim_client::callbacks::{
    CallbackError, Deduplicator, Delivery, KoreVerifier, SimCallback, TwilioVerifier, body_sha256,
    kore_signature, twilio_signature,
};

const FORM: &str = "application/x-www-form-urlencoded";
const KORE_URL: &str = "https://testendpoint.com";
const KORE_FORM: &[u8] = b"field1=value1&field2=value2";
const KORE_JSON: &[u8] = br#"{"field1":"value1","field2":"value2"}"#;
const TWILIO_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
const TWILIO_PARAMS: [(&str, &str); 5] = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
];

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

fn kore(secrets: &[&str]) -> KoreVerifier {
    KoreVerifier::new(secrets.iter().copied()).unwrap()
}

fn twilio(token: &str) -> TwilioVerifier {
    TwilioVerifier::new([token]).unwrap()
}

fn kore_headers(signature: &str, content_type: &str) -> HeaderMap {
    headers(&[
        ("kore-signature", signature),
        ("content-type", content_type),
        ("kore-idempotency-token", "event-1"),
    ])
}

// ---- KORE ---------------------------------------------------------------------------------------

/// KORE's published vectors: (secret, body, content type, signature).
const KORE_VECTORS: [(&str, &[u8], &str, &str); 3] = [
    (
        "12345",
        KORE_FORM,
        FORM,
        "f562d3959f68b5a30fc7a63f8bbf40987f633575f4231ffceb4f76dd154ea3ce",
    ),
    (
        "secret12345",
        KORE_FORM,
        FORM,
        "4fdba0cb1394cc8d17b8dabb04634aa9a951021a7b161f9c7a2186cd490b18b2",
    ),
    (
        "a35974bdf1c769b8bb",
        KORE_JSON,
        "application/json",
        "d21c555b37789cdb9433a85760d326f0c637d5c17676b8dc49918ec629c67d59",
    ),
];

#[test]
fn kore_s_published_vectors_verify() {
    for (secret, body, content_type, signature) in KORE_VECTORS {
        assert_eq!(
            kore_signature(&SecretString::from(secret), "POST", KORE_URL, body),
            signature,
            "{secret}"
        );
        let cb = kore(&[secret])
            .verify(
                "POST",
                KORE_URL,
                &kore_headers(signature, content_type),
                body,
            )
            .unwrap_or_else(|e| panic!("{secret}: {e}"));
        assert_eq!(
            cb.pairs(),
            [
                ("field1".to_owned(), "value1".to_owned()),
                ("field2".to_owned(), "value2".to_owned())
            ]
        );
        assert_eq!(cb.idempotency_token(), Some("event-1"));
        assert_eq!((cb.method(), cb.url()), ("POST", KORE_URL));
        assert_eq!(cb.body().as_ref(), body);
    }
}

#[test]
fn kore_signs_the_url_without_its_query_or_fragment_and_either_way_of_writing_no_path() {
    let (secret, body, ct, signature) = KORE_VECTORS[0];
    let v = kore(&[secret]);
    for url in [
        "https://testendpoint.com?source=sandbox",
        "https://testendpoint.com#top",
        "https://testendpoint.com/",
        "https://testendpoint.com/?a=1",
    ] {
        assert!(
            v.verify("POST", url, &kore_headers(signature, ct), body)
                .is_ok(),
            "{url}"
        );
    }
    // A lowercase method is the same method; upper-case hex digits are the same digits.
    assert!(
        v.verify("post", KORE_URL, &kore_headers(signature, ct), body)
            .is_ok()
    );
    let upper = signature.to_ascii_uppercase();
    assert!(
        v.verify("POST", KORE_URL, &kore_headers(&upper, ct), body)
            .is_ok()
    );
}

#[test]
fn kore_refusals() {
    let (secret, body, ct, signature) = KORE_VECTORS[0];
    let v = kore(&[secret]);
    let bad = CallbackError::BadSignature {
        header: "kore-signature",
    };
    let h = kore_headers(signature, ct);

    // Tampered body, URL, method; wrong secret.
    assert_eq!(
        v.verify("POST", KORE_URL, &h, b"field1=value1&field2=value3"),
        Err(bad.clone())
    );
    assert_eq!(
        v.verify("POST", "https://testendpoint.com/other", &h, body),
        Err(bad.clone())
    );
    assert_eq!(
        v.verify("POST", "https://otherendpoint.com", &h, body),
        Err(bad.clone())
    );
    assert_eq!(v.verify("PUT", KORE_URL, &h, body), Err(bad.clone()));
    assert_eq!(
        kore(&["54321"]).verify("POST", KORE_URL, &h, body),
        Err(bad.clone())
    );
    assert_eq!(
        bad.to_string(),
        "the kore-signature header does not match the callback as received with any of the secrets given (check the method, the URL, the body and the secret)"
    );

    // Empty and missing headers are two different things, and neither passes.
    let empty = kore_headers("", ct);
    let err = v.verify("POST", KORE_URL, &empty, body).unwrap_err();
    assert_eq!(err, CallbackError::NoWebhookSecret);
    assert_eq!(
        err.to_string(),
        "the kore-signature header is empty: no webhook secret is configured for this account"
    );
    let err = v
        .verify("POST", KORE_URL, &kore_headers("   ", ct), body)
        .unwrap_err();
    assert_eq!(err, CallbackError::NoWebhookSecret);
    let missing = headers(&[("content-type", ct)]);
    let err = v.verify("POST", KORE_URL, &missing, body).unwrap_err();
    assert_eq!(
        err,
        CallbackError::MissingSignature {
            header: "kore-signature"
        }
    );
    assert_eq!(
        err.to_string(),
        "the callback has no kore-signature header: it is not signed"
    );

    // Malformed and repeated headers.
    for malformed in ["xyz", &signature[..62], &format!("{signature}00")] {
        let err = v
            .verify("POST", KORE_URL, &kore_headers(malformed, ct), body)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the kore-signature header is not 64 hex digits (a SHA-256)",
            "{malformed}"
        );
    }
    let twice = headers(&[("kore-signature", signature), ("kore-signature", signature)]);
    let err = v.verify("POST", KORE_URL, &twice, body).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the callback has more than one kore-signature header"
    );

    // A URL that is not one.
    let err = v.verify("POST", "/relative", &h, body).unwrap_err();
    assert_eq!(err, CallbackError::InvalidUrl);
    assert_eq!(
        err.to_string(),
        "the callback URL is not an absolute http or https URL"
    );
}

#[test]
fn rotation_accepts_the_current_and_the_previous_secret() {
    let (old, body, ct, old_signature) = KORE_VECTORS[0];
    let (new, _, _, new_signature) = KORE_VECTORS[1];
    let during = kore(&[new, old]);
    for signature in [old_signature, new_signature] {
        assert!(
            during
                .verify("POST", KORE_URL, &kore_headers(signature, ct), body)
                .is_ok()
        );
    }
    assert_eq!(during.sign("POST", KORE_URL, body), new_signature);
    // After the rotation, the old secret no longer passes.
    let after = kore(&[new]);
    assert!(
        after
            .verify("POST", KORE_URL, &kore_headers(old_signature, ct), body)
            .is_err()
    );
}

#[test]
fn verifiers_refuse_no_secret_or_an_empty_one_and_never_print_them() {
    assert_eq!(
        KoreVerifier::new(Vec::<String>::new()).unwrap_err(),
        CallbackError::NoSecret
    );
    assert_eq!(
        KoreVerifier::new(["current", ""]).unwrap_err(),
        CallbackError::EmptySecret
    );
    assert_eq!(
        TwilioVerifier::new([""]).unwrap_err().to_string(),
        "a webhook secret or Auth Token must not be empty"
    );
    let sentinel = "SENTINEL-SECRET-5b1d";
    let k = kore(&[sentinel]);
    let t = twilio(sentinel);
    let err = k
        .verify("POST", KORE_URL, &kore_headers(&"0".repeat(64), FORM), b"")
        .unwrap_err();
    let printed = format!("{k:?} {t:?} {err} {err:?}");
    assert!(!printed.contains(sentinel), "{printed}");
    assert_eq!(
        printed.split(" the ").next(),
        Some("KoreVerifier { secrets: 1 } TwilioVerifier { auth_tokens: 1 }")
    );
}

// ---- Twilio -------------------------------------------------------------------------------------

fn twilio_form_headers(signature: &str) -> HeaderMap {
    headers(&[("x-twilio-signature", signature), ("content-type", FORM)])
}

#[test]
fn twilio_s_published_form_vectors_verify() {
    let token = SecretString::from("12345");
    let v = twilio("12345");
    let body = form(&TWILIO_PARAMS);

    assert_eq!(
        twilio_signature(&token, TWILIO_URL, TWILIO_PARAMS),
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    );
    let cb = v
        .verify(
            "POST",
            TWILIO_URL,
            &twilio_form_headers("RSOYDt4T1cUTdK1PDd93/VVr8B8="),
            &body,
        )
        .unwrap();
    assert_eq!(cb.param("Caller"), Some("+14158675309"));
    assert_eq!(cb.pairs().len(), 5);
    assert_eq!(cb.idempotency_token(), None);

    // The :443 vector: signed over the URL with the port. Accepted when the receiver sees the
    // URL with it, or without it; and the portless signature is accepted on the :443 URL.
    let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
    assert_eq!(
        twilio_signature(&token, with_port, TWILIO_PARAMS),
        "kvajT1Ptam85bY51eRf/AJRuM3w="
    );
    for (url, signature) in [
        (with_port, "kvajT1Ptam85bY51eRf/AJRuM3w="),
        (TWILIO_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
        (with_port, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    ] {
        assert!(
            v.verify("POST", url, &twilio_form_headers(signature), &body)
                .is_ok(),
            "{url} {signature}"
        );
    }

    // A repeated name: names sorted, then that name's values.
    let repeated = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
    ];
    let cb = v
        .verify(
            "POST",
            TWILIO_URL,
            &twilio_form_headers("IK+Dwps556ElfBT0I3Rgjkr1wJU="),
            &form(&repeated),
        )
        .unwrap();
    // Kept as received, in order.
    assert_eq!(
        cb.pairs()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        repeated
    );
    assert_eq!(cb.param("Digits"), Some("5678"));
}

#[test]
fn twilio_s_published_json_vector_verifies() {
    let body = br#"{"property": "value", "boolean": true}"#;
    let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    assert_eq!(body_sha256(body), hash);
    let url = format!("{TWILIO_URL}&bodySHA256={hash}");
    let h = headers(&[
        ("x-twilio-signature", "a9nBmqA0ju/hNViExpshrM61xv4="),
        ("content-type", "application/json"),
    ]);
    let v = twilio("12345");
    let cb = v.verify("POST", &url, &h, body).unwrap();
    assert_eq!(cb.param("property"), Some("value"));
    assert_eq!(cb.param("boolean"), Some("true"));

    // A changed body is caught by its hash.
    let err = v
        .verify(
            "POST",
            &url,
            &h,
            br#"{"property": "other", "boolean": true}"#,
        )
        .unwrap_err();
    assert_eq!(err, CallbackError::BodyHashMismatch);
    assert_eq!(
        err.to_string(),
        "the body's SHA-256 does not match the bodySHA256 in the URL: the body was changed"
    );
    // A changed hash is caught by the URL's signature.
    let forged = format!("{TWILIO_URL}&bodySHA256={}", body_sha256(b"{}"));
    assert_eq!(
        v.verify("POST", &forged, &h, b"{}").unwrap_err(),
        CallbackError::BadSignature {
            header: "x-twilio-signature"
        }
    );
}

#[test]
fn twilio_refusals() {
    let v = twilio("12345");
    let body = form(&TWILIO_PARAMS);
    let h = twilio_form_headers("RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    let bad = Err(CallbackError::BadSignature {
        header: "x-twilio-signature",
    });

    // Tampered body, URL (query included), wrong token.
    let mut tampered = TWILIO_PARAMS;
    tampered[2] = ("Digits", "1235");
    assert_eq!(v.verify("POST", TWILIO_URL, &h, &form(&tampered)), bad);
    assert_eq!(
        v.verify(
            "POST",
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &h,
            &body
        ),
        bad
    );
    assert_eq!(
        v.verify(
            "POST",
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            &h,
            &body
        ),
        bad
    );
    assert_eq!(twilio("54321").verify("POST", TWILIO_URL, &h, &body), bad);
    // A second token (a rotation) makes the same signature pass.
    assert!(
        TwilioVerifier::new(["54321", "12345"])
            .unwrap()
            .verify("POST", TWILIO_URL, &h, &body)
            .is_ok()
    );

    // No header, an empty one, a malformed one, two.
    let form_only = headers(&[("content-type", FORM)]);
    let missing = Err(CallbackError::MissingSignature {
        header: "x-twilio-signature",
    });
    assert_eq!(v.verify("POST", TWILIO_URL, &form_only, &body), missing);
    assert_eq!(
        v.verify("POST", TWILIO_URL, &twilio_form_headers(""), &body),
        missing
    );
    let err = v
        .verify("POST", TWILIO_URL, &twilio_form_headers("bm9wZQ=="), &body)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the x-twilio-signature header is not the base64 of 20 bytes (an HMAC-SHA1)"
    );
    let mut twice = h.clone();
    twice.append(
        "X-Twilio-Signature",
        HeaderValue::from_static("RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    );
    assert_eq!(
        v.verify("POST", TWILIO_URL, &twice, &body).unwrap_err(),
        CallbackError::RepeatedSignature {
            header: "x-twilio-signature"
        }
    );

    // A body the signature would not cover: not a form, no bodySHA256. The URL-only signature
    // must not vouch for it, even with a form-looking body sent without its content type.
    let url_only = twilio_signature(&SecretString::from("12345"), TWILIO_URL, [("", ""); 0]);
    for content_type in [None, Some("application/json"), Some("text/plain")] {
        let mut h = headers(&[("x-twilio-signature", &url_only)]);
        if let Some(ct) = content_type {
            h.insert("content-type", HeaderValue::from_str(ct).unwrap());
        }
        let err = v.verify("POST", TWILIO_URL, &h, &body).unwrap_err();
        assert_eq!(
            err,
            CallbackError::UnsignedBody {
                content_type: content_type.map(str::to_owned)
            }
        );
    }
    assert_eq!(
        CallbackError::UnsignedBody { content_type: None }.to_string(),
        "the body (content type none) is neither a form nor covered by bodySHA256, so the signature does not cover it"
    );
}

// ---- GET callbacks, http::Request, reading ------------------------------------------------------

const SID: &str = "HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const FLEET: &str = "HFbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const ACCOUNT: &str = "ACcccccccccccccccccccccccccccccccc";

#[test]
fn get_callbacks_carry_their_pairs_in_the_query() {
    let url = format!(
        "https://hooks.example.com/off?site=north&SimSid={SID}&Status=inactive&FleetSid={FLEET}&AccountSid={ACCOUNT}&SimUniqueName=pump+7"
    );
    // Twilio: the URL alone is signed, query and all.
    let token = SecretString::from("twilio token");
    let signature = twilio_signature(&token, &url, [("", ""); 0]);
    let v = TwilioVerifier::new([token]).unwrap();
    let h = headers(&[("x-twilio-signature", &signature)]);
    let cb = v.verify("GET", &url, &h, b"").unwrap();
    assert_eq!(cb.pairs().len(), 6);
    assert_eq!(cb.pairs()[0], ("site".to_owned(), "north".to_owned()));
    assert_eq!(cb.sim_sid(), Some(SID));
    assert_eq!(cb.status(), Some(Status::Inactive));
    assert_eq!(cb.fleet(), Some(FLEET));
    assert_eq!(cb.account_sid(), Some(ACCOUNT));
    assert_eq!(cb.unique_name(), Some("pump 7"));
    // Another query is another URL.
    let changed = url.replace("inactive", "active");
    assert!(v.verify("GET", &changed, &h, b"").is_err());

    // KORE: the query is not signed, the (empty) body is.
    let secret = SecretString::from("kore secret");
    let signature = kore_signature(&secret, "GET", &url, b"");
    let v = KoreVerifier::new([secret]).unwrap();
    let h = headers(&[
        ("kore-signature", &signature),
        ("kore-idempotency-token", "e-7"),
    ]);
    let cb = v.verify("GET", &url, &h, b"").unwrap();
    assert_eq!(cb.status(), Some(Status::Inactive));
    assert_eq!(cb.idempotency_token(), Some("e-7"));
    assert!(
        v.verify("POST", &url, &h, b"").is_err(),
        "the method is signed"
    );
}

#[test]
fn an_http_request_verifies_with_the_public_origin() {
    let body = form(&[("SimSid", SID), ("Status", "active")]);
    let public = "https://hooks.example.com/sim-done?site=north";
    let kore_secret = SecretString::from("kore secret");
    let request = http::Request::builder()
        .method("POST")
        .uri("/sim-done?site=north")
        .header("content-type", FORM)
        .header(
            "kore-signature",
            kore_signature(&kore_secret, "POST", public, &body),
        )
        .header("kore-idempotency-token", "e-1")
        .body(Bytes::from(body.clone()))
        .unwrap();
    let v = KoreVerifier::new([kore_secret]).unwrap();
    for origin in ["https://hooks.example.com", "https://hooks.example.com/"] {
        let cb = v.verify_request(origin, &request).unwrap();
        assert_eq!(cb.url(), public);
        assert_eq!(cb.status(), Some(Status::Active));
    }
    assert!(
        v.verify_request("https://elsewhere.example.com", &request)
            .is_err()
    );

    let token = SecretString::from("twilio token");
    let signature = twilio_signature(&token, public, [("SimSid", SID), ("Status", "active")]);
    let request = http::Request::builder()
        .method("POST")
        .uri("https://internal:8443/sim-done?site=north")
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .header("X-Twilio-Signature", signature)
        .body(Bytes::from(body))
        .unwrap();
    let cb = TwilioVerifier::new([token])
        .unwrap()
        .verify_request("https://hooks.example.com", &request)
        .unwrap();
    assert_eq!(cb.sim_sid(), Some(SID));
}

#[test]
fn the_payload_is_read_whole_and_leniently() {
    let body = form(&[
        ("Sid", SID),
        ("SimStatus", "Active"),
        ("Fleet", "Field units"),
        ("UniqueName", "pump 7"),
        ("Extra", "kept"),
        ("Extra", "twice"),
    ]);
    let cb = SimCallback::read_unverified(
        "POST",
        "https://h.example/x?Status=ignored",
        &headers(&[("content-type", FORM)]),
        &body,
    );
    assert_eq!(cb.sim_sid(), Some(SID));
    assert_eq!(
        cb.status(),
        Some(Status::Active),
        "the query of a POST is not the payload"
    );
    assert_eq!(cb.fleet(), Some("Field units"));
    assert_eq!(cb.unique_name(), Some("pump 7"));
    assert_eq!(cb.account_sid(), None);
    assert_eq!(cb.iccid(), None);
    assert_eq!(cb.pairs().len(), 6);
    assert_eq!(cb.lenient(&["extra"]), Some("kept"));

    // A body of another kind keeps no pairs, but keeps the body.
    let cb = SimCallback::read_unverified(
        "POST",
        "https://h.example/",
        &headers(&[("content-type", "text/plain")]),
        b"SimSid=HS1",
    );
    assert!(cb.pairs().is_empty());
    assert_eq!(cb.body().as_ref(), b"SimSid=HS1");
}

// ---- de-duplication -----------------------------------------------------------------------------

#[test]
fn a_replayed_token_is_told_apart_from_a_new_one() {
    let secret = SecretString::from("kore secret");
    let v = KoreVerifier::new([secret.clone()]).unwrap();
    let seen = Deduplicator::new(100, Duration::from_secs(3600));
    let deliver = |token: &str| {
        let body = form(&[("SimSid", SID), ("Status", "active")]);
        let h = headers(&[
            ("content-type", FORM),
            (
                "kore-signature",
                &kore_signature(&secret, "POST", KORE_URL, &body),
            ),
            ("kore-idempotency-token", token),
        ]);
        seen.check(&v.verify("POST", KORE_URL, &h, &body).unwrap())
    };
    assert_eq!(deliver("event-1"), Delivery::First);
    assert_eq!(deliver("event-1"), Delivery::Replay);
    assert_eq!(deliver("event-2"), Delivery::First);
    assert_eq!(deliver("event-1"), Delivery::Replay);
    assert_eq!(seen.len(), 2);
    // Handling failed: forget it, and the next delivery is taken as new.
    assert!(seen.forget("event-2"));
    assert_eq!(deliver("event-2"), Delivery::First);

    // No token (Twilio) is said so.
    let cb = SimCallback::read_unverified("GET", "https://h.example/", &HeaderMap::new(), b"");
    assert_eq!(seen.check(&cb), Delivery::NoToken);

    // The time-to-live.
    let short = Deduplicator::new(10, Duration::from_secs(10));
    let t0 = Instant::now();
    assert!(!short.is_replay_at("x", t0));
    assert!(short.is_replay_at("x", t0 + Duration::from_secs(10)));
    assert!(!short.is_replay_at("x", t0 + Duration::from_secs(11)));
    assert!(!short.is_empty());
}

// ---- properties ---------------------------------------------------------------------------------

fn url_strategy() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("https"), Just("http")],
        "[a-z]{1,10}\\.example",
        prop::option::of(1u16..),
        "(/[a-zA-Z0-9._~-]{0,8}){0,3}",
        prop::option::of("[a-z]{1,5}=[a-z0-9]{0,5}"),
    )
        .prop_map(|(scheme, host, port, path, query)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            format!("{scheme}://{host}{port}{path}{query}")
        })
}

proptest! {
    #[test]
    fn what_kore_s_signer_signs_verifies_and_no_byte_of_the_body_can_change(
        secret in "[ -~]{1,40}",
        url in url_strategy(),
        method in prop_oneof![Just("POST"), Just("GET")],
        body in prop::collection::vec(any::<u8>(), 1..200),
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let v = KoreVerifier::new([secret.as_str()]).unwrap();
        let signature = v.sign(method, &url, &body);
        let h = headers(&[("kore-signature", &signature)]);
        prop_assert!(v.verify(method, &url, &h, &body).is_ok());
        let mut changed = body.clone();
        changed[at.index(body.len())] ^= flip;
        prop_assert_eq!(
            v.verify(method, &url, &h, &changed).unwrap_err(),
            CallbackError::BadSignature { header: "kore-signature" }
        );
    }

    #[test]
    fn what_twilio_s_signer_signs_verifies_and_no_byte_of_the_body_can_change(
        token in "[ -~]{1,40}",
        url in url_strategy(),
        params in prop::collection::vec(("[A-Za-z]{1,8}", "[ -~\u{80}-\u{10FFFF}]{0,12}"), 1..8),
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let v = TwilioVerifier::new([token.as_str()]).unwrap();
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let body = form(&pairs);
        let h = twilio_form_headers(&v.sign(&url, pairs.iter().copied()));
        prop_assert!(v.verify("POST", &url, &h, &body).is_ok());
        let mut changed = body.clone();
        changed[at.index(body.len())] ^= flip;
        // A changed byte may still decode to the same pairs (`+` and `%20` are both a space):
        // then the callback says the same thing, and passing is right. Decoded exactly: a
        // byte that makes a value invalid UTF-8 is never read as U+FFFD.
        let same = exact_pairs(&changed).is_some_and(|p| Some(p) == exact_pairs(&body));
        prop_assert_eq!(v.verify("POST", &url, &h, &changed).is_ok(), same);
    }

    /// Regression: two bodies whose bytes differ only where they are not UTF-8 once decoded
    /// (`%FF` and `%FE`) read alike leniently; neither verifies, whatever was signed.
    #[test]
    fn a_form_that_does_not_decode_exactly_never_verifies(
        token in "[ -~]{1,40}",
        url in url_strategy(),
        name in "[A-Za-z]{1,8}",
        bad in prop_oneof![
            (0x80u8..=0xFF).prop_map(|b| format!("%{b:02X}")),
            Just("%C3%28".to_owned()),
            Just("%ED%A0%80".to_owned()),
        ],
        other in (0x80u8..=0xFF),
    ) {
        let v = TwilioVerifier::new([token.as_str()]).unwrap();
        let body = format!("{name}=x{bad}y").into_bytes();
        let lenient: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
        let h = twilio_form_headers(&v.sign(&url, lenient.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
        prop_assert_eq!(
            v.verify("POST", &url, &h, &body).unwrap_err(),
            CallbackError::UndecodableForm
        );
        let mut raw = format!("{name}=x").into_bytes();
        raw.push(other);
        prop_assert_eq!(
            v.verify("POST", &url, &h, &raw).unwrap_err(),
            CallbackError::UndecodableForm
        );
    }

    #[test]
    fn twilio_json_bodies_are_bound_by_their_hash(
        token in "[ -~]{1,40}",
        url in url_strategy(),
        body in prop::collection::vec(any::<u8>(), 1..200),
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let v = TwilioVerifier::new([token.as_str()]).unwrap();
        let sep = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{sep}bodySHA256={}", body_sha256(&body));
        let h = headers(&[
            ("x-twilio-signature", &v.sign(&url, [("", ""); 0])),
            ("content-type", "application/json"),
        ]);
        prop_assert!(v.verify("POST", &url, &h, &body).is_ok());
        let mut changed = body.clone();
        changed[at.index(body.len())] ^= flip;
        prop_assert_eq!(
            v.verify("POST", &url, &h, &changed).unwrap_err(),
            CallbackError::BodyHashMismatch
        );
    }

    #[test]
    fn no_input_makes_a_verifier_panic(
        method in "[ -~]{0,8}",
        url in "[ -~]{0,60}",
        signature in "[ -~]{0,70}",
        content_type in "[ -~]{0,40}",
        body in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&signature) {
            h.insert("kore-signature", v.clone());
            h.insert("x-twilio-signature", v);
        }
        if let Ok(v) = HeaderValue::from_str(&content_type) {
            h.insert("content-type", v);
        }
        let _ = kore(&["s"]).verify(&method, &url, &h, &body);
        let _ = twilio("s").verify(&method, &url, &h, &body);
        let _ = SimCallback::read_unverified(&method, &url, &h, &body);
    }
}

/// A form's pairs decoded exactly (`+` a space, `%XX` a byte), `None` when a name or value is not
/// UTF-8 then: the reading a signature over decoded parameters can stand for.
fn exact_pairs(body: &[u8]) -> Option<Vec<(String, String)>> {
    let decode = |part: &[u8]| {
        let spaced: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        String::from_utf8(percent_encoding::percent_decode(&spaced).collect()).ok()
    };
    body.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = match p.iter().position(|&b| b == b'=') {
                Some(i) => (&p[..i], &p[i + 1..]),
                None => (p, &[][..]),
            };
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}
