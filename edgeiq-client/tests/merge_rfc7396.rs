//! The merge algorithm this crate uses, against every example of RFC 7396, appendix A.

use edgeiq_client::{PatchField, SimId, SimRecord, UpdateSimRequest, merge_patch};
use serde_json::{Value, json};

/// (original, patch, result), in the appendix's order.
fn examples() -> Vec<(Value, Value, Value)> {
    vec![
        (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        (
            json!({"a": "b"}),
            json!({"b": "c"}),
            json!({"a": "b", "b": "c"}),
        ),
        (json!({"a": "b"}), json!({"a": null}), json!({})),
        (
            json!({"a": "b", "b": "c"}),
            json!({"a": null}),
            json!({"b": "c"}),
        ),
        (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
        (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
        (
            json!({"a": {"b": "c"}}),
            json!({"a": {"b": "d", "c": null}}),
            json!({"a": {"b": "d"}}),
        ),
        (
            json!({"a": [{"b": "c"}]}),
            json!({"a": [1]}),
            json!({"a": [1]}),
        ),
        (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
        (json!({"a": "b"}), json!(["c"]), json!(["c"])),
        (json!({"a": "foo"}), json!(null), json!(null)),
        (json!({"a": "foo"}), json!("bar"), json!("bar")),
        (
            json!({"e": null}),
            json!({"a": 1}),
            json!({"e": null, "a": 1}),
        ),
        (
            json!([1, 2]),
            json!({"a": "b", "c": null}),
            json!({"a": "b"}),
        ),
        (
            json!({}),
            json!({"a": {"bb": {"ccc": null}}}),
            json!({"a": {"bb": {}}}),
        ),
    ]
}

#[test]
fn every_appendix_example() {
    let all = examples();
    assert_eq!(all.len(), 15);
    for (original, patch, result) in all {
        let mut doc = original.clone();
        merge_patch(&mut doc, &patch);
        assert_eq!(doc, result, "{original} + {patch}");
    }
}

/// The examples whose original and patch are objects, applied as `sim_metadata` through the
/// patch type: the record's metadata after the merge is the RFC's result.
#[test]
fn object_examples_through_the_metadata_patch() {
    let mut applied = 0;
    for (original, patch, result) in examples() {
        let (Value::Object(orig), Value::Object(p), Value::Object(want)) =
            (&original, &patch, &result)
        else {
            continue;
        };
        let current: SimRecord = serde_json::from_value(
            json!({"_id": "65f1c0ffee0123456789abcd", "sim_metadata": orig}),
        )
        .unwrap();
        let request = UpdateSimRequest {
            sim_metadata: PatchField::Set(p.clone()),
            ..UpdateSimRequest::new(SimId::parse("65f1c0ffee0123456789abcd").unwrap())
        };
        let merged = request.merge_into(&current);
        assert_eq!(
            merged.sim_metadata.as_ref(),
            Some(want),
            "{original} + {patch}"
        );
        applied += 1;
    }
    assert_eq!(applied, 10);
}

#[test]
fn removing_all_metadata_drops_the_key() {
    let current: SimRecord =
        serde_json::from_value(json!({"sim_metadata": {"a": 1}, "msisdn": "+1"})).unwrap();
    let patch = UpdateSimRequest {
        sim_metadata: PatchField::Remove,
        ..UpdateSimRequest::new(SimId::parse("65f1c0ffee0123456789abcd").unwrap())
    };
    let merged = patch.merge_into(&current);
    assert_eq!(merged.sim_metadata, None);
    assert_eq!(merged.msisdn.as_deref(), Some("+1"));
}
