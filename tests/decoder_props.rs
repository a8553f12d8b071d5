//! Property tests of the frame decoder: whatever text arrives, `decode` returns a frame or a
//! typed error, never panics, and what it accepts respects the protocol's limits.

use proptest::prelude::*;
use serde_json::{json, Value};
use switchboard::error::ErrorCode;
use switchboard::protocol::{decode, ClientFrame, MAX_BODY_BYTES, MAX_COMMAND_ID_BYTES};

const CONV: &str = "0193a6b2-7c1e-7d2a-9f3b-0123456789ab";

/// One valid frame of every client type.
fn valid_frames() -> Vec<Value> {
    vec![
        json!({"type":"hello","id":"1","v":1,"role":"visitor","site":"pk_demo"}),
        json!({"type":"hello","id":"1","v":1,"role":"visitor","site":"pk_demo",
               "identity":{"user_id":"u","name":"A","email":"a@b.c","signature":"ab"}}),
        json!({"type":"hello","id":"1","v":1,"role":"agent","token":"at1.x"}),
        json!({"type":"start","id":"2"}),
        json!({"type":"subscribe","id":"3","conversation_id":CONV,"after_seq":0}),
        json!({"type":"unsubscribe","id":"3","conversation_id":CONV}),
        json!({"type":"send","id":"4","conversation_id":CONV,"client_msg_id":"c","body":"hi"}),
        json!({"type":"typing","id":"5","conversation_id":CONV,"typing":true}),
        json!({"type":"read","id":"6","conversation_id":CONV,"seq":8}),
        json!({"type":"history","id":"7","conversation_id":CONV,"before_seq":200,"limit":50}),
        json!({"type":"page_view","id":"8","url":"https://x.example/","title":"X"}),
        json!({"type":"leave_email","id":"9","email":"ada@example.com","name":"Ada"}),
        json!({"type":"presence","id":"10","status":"online"}),
        json!({"type":"take","id":"11","conversation_id":CONV}),
        json!({"type":"transfer","id":"12","conversation_id":CONV,"agent_id":CONV}),
        json!({"type":"snooze","id":"13","conversation_id":CONV,"until":1732260000000i64}),
        json!({"type":"wake","id":"14","conversation_id":CONV}),
        json!({"type":"close","id":"15","conversation_id":CONV}),
        json!({"type":"ping","id":"16"}),
    ]
}

/// The invariants of one decode, whatever the input.
fn check(text: &str) {
    match decode(text) {
        Ok(frame) => {
            let id = frame.id();
            assert!(
                !id.is_empty() && id.len() <= MAX_COMMAND_ID_BYTES,
                "accepted id {id:?}"
            );
            if let ClientFrame::Send {
                body,
                client_msg_id,
                attachments,
                ..
            } = &frame
            {
                // A bare attachment may have no caption.
                assert!(body.len() <= MAX_BODY_BYTES);
                assert!(!body.trim().is_empty() || (body.is_empty() && !attachments.is_empty()));
                assert!(!client_msg_id.is_empty() && client_msg_id.len() <= MAX_COMMAND_ID_BYTES);
            }
        }
        Err(e) => {
            assert!(!e.error.message.is_empty(), "error without a message");
            let parsed: Result<Value, _> = serde_json::from_str(text);
            match parsed {
                Err(_) => {
                    assert_eq!(e.error.code, ErrorCode::InvalidJson, "{text:?}");
                    assert!(e.id.is_none());
                }
                Ok(v) => {
                    assert!(
                        matches!(
                            e.error.code,
                            ErrorCode::InvalidFrame
                                | ErrorCode::UnknownType
                                | ErrorCode::BodyTooLarge
                        ),
                        "{text:?} -> {:?}",
                        e.error.code
                    );
                    if !v.get("type").is_some_and(Value::is_string) {
                        assert_eq!(e.error.code, ErrorCode::InvalidFrame, "{text:?}");
                    }
                    // An id is echoed only if the frame carried that very string.
                    if let Some(id) = &e.id {
                        assert_eq!(v.get("id").and_then(Value::as_str), Some(id.as_str()));
                    }
                }
            }
        }
    }
}

#[test]
fn every_valid_sample_decodes() {
    for f in valid_frames() {
        let text = f.to_string();
        assert!(decode(&text).is_ok(), "{text}: {:?}", decode(&text).err());
    }
}

/// Arbitrary JSON values, to splice into valid frames.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::from),
        Just(json!("x".repeat(MAX_BODY_BYTES + 1))),
        Just(json!(CONV)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::hash_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(text in ".{0,200}") {
        check(&text);
    }

    #[test]
    fn arbitrary_bytes_as_lossy_text_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn json_shaped_noise_never_panics(text in r#"[\[\]{}":,0-9a-z\\ .eE+-]{0,120}"#) {
        check(&text);
    }

    /// Valid frames with a field replaced, removed or added.
    #[test]
    fn mutated_fields_never_panic(
        which in 0usize..19,
        key in prop_oneof![
            Just("type".to_owned()), Just("id".to_owned()), Just("conversation_id".to_owned()),
            Just("body".to_owned()), Just("seq".to_owned()), Just("v".to_owned()),
            Just("role".to_owned()), Just("identity".to_owned()), "[a-z_]{1,10}"
        ],
        value in any_json(),
        remove in any::<bool>(),
    ) {
        let mut frame = valid_frames()[which].clone();
        let obj = frame.as_object_mut().unwrap();
        if remove { obj.remove(&key); } else { obj.insert(key, value); }
        check(&frame.to_string());
    }

    /// Valid frames with their text cut, spliced and byte-flipped.
    #[test]
    fn mutated_text_never_panics(
        which in 0usize..19,
        cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut bytes = valid_frames()[which].to_string().into_bytes();
        for (at, byte, op) in cuts {
            if bytes.is_empty() { break; }
            let i = at.index(bytes.len());
            match op {
                0 => { bytes.remove(i); }
                1 => bytes.insert(i, byte),
                _ => bytes[i] = byte,
            }
        }
        check(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    for depth in [100, 1_000, 100_000] {
        let text = format!(
            r#"{{"type":"ping","id":"1","x":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        check(&text);
    }
}

#[test]
fn huge_and_odd_values_are_typed() {
    let cases = [
        format!(
            r#"{{"type":"send","id":"1","conversation_id":"{CONV}","client_msg_id":"c","body":"{}"}}"#,
            "é".repeat(5000)
        ),
        format!(r#"{{"type":"read","id":"1","conversation_id":"{CONV}","seq":1e400}}"#),
        format!(
            r#"{{"type":"read","id":"1","conversation_id":"{CONV}","seq":18446744073709551616}}"#
        ),
        r#"{"type":"ping","id":"1","id":"2"}"#.to_owned(),
        r#"{"type":"ping","type":"start","id":"1"}"#.to_owned(),
        "\u{feff}{\"type\":\"ping\",\"id\":\"1\"}".to_owned(),
        format!(r#"{{"type":"ping","id":"{}"}}"#, "\\ud800"),
    ];
    for text in &cases {
        check(text);
    }
}
