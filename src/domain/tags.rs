//! Conversation tags (issue 12): short lowercase labels agents put on conversations and filter
//! the inbox by. The rules live here so the WebSocket frame, the HTTP API and the conversation
//! actor refuse the same things.

use crate::error::{ApiError, ApiResult};

/// Most tags on one conversation.
pub const MAX_TAGS: usize = 10;
/// Longest tag, in characters (all ASCII).
pub const MAX_TAG_LEN: usize = 32;

/// Check and normalise a conversation's new tag list: trimmed, lower-cased, duplicates dropped
/// (first one kept), at most [`MAX_TAGS`] of 1 to [`MAX_TAG_LEN`] characters of `[a-z0-9-]`.
pub fn normalise_tags(tags: &[String]) -> ApiResult<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = tag.trim().to_ascii_lowercase();
        let valid = !tag.is_empty()
            && tag.len() <= MAX_TAG_LEN
            && tag
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(ApiError::invalid(format!(
                "a tag has 1 to {MAX_TAG_LEN} characters of a-z, 0-9 and '-': {tag:?}"
            )));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(ApiError::invalid(format!(
            "a conversation has at most {MAX_TAGS} tags"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tags_are_normalised_and_checked() {
        assert_eq!(
            normalise_tags(&tags(&[" Refund ", "refund", "vip-2"])).unwrap(),
            tags(&["refund", "vip-2"])
        );
        assert!(normalise_tags(&tags(&["two words"])).is_err());
        assert!(normalise_tags(&tags(&[""])).is_err());
        assert!(normalise_tags(&tags(&[&"x".repeat(33)])).is_err());
        let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert!(normalise_tags(&eleven).is_err());
        assert!(normalise_tags(&[]).unwrap().is_empty());
    }
}
