//! Who may read an attachment, and how it is served. An attachment belongs to one conversation:
//! its visitor and the agents of its site may read it, nobody else (not another visitor, not
//! another site's agents, not a guessed URL). Served with headers that stop a browser from
//! running or sniffing it.

use serde::{Deserialize, Serialize};

use super::{BlobId, BlobMeta};
use crate::domain::{ConversationId, SiteId, VisitorId};

/// An attachment as a conversation message refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    pub blob: BlobId,
    pub conversation_id: ConversationId,
    pub site_id: SiteId,
    /// The conversation's visitor.
    pub visitor_id: VisitorId,
}

/// The authenticated caller (from a visitor token or an agent bearer token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Visitor { id: VisitorId, site: SiteId },
    Agent { site: SiteId },
}

pub fn may_read(viewer: Viewer, attachment: &AttachmentRef) -> bool {
    match viewer {
        Viewer::Visitor { id, site } => id == attachment.visitor_id && site == attachment.site_id,
        Viewer::Agent { site } => site == attachment.site_id,
    }
}

/// Response headers for serving a blob: images inline (the chat shows them), everything else
/// as a download; never sniffed, never cached by shared caches, never allowed to run anything.
pub fn serve_headers(meta: &BlobMeta) -> Vec<(&'static str, String)> {
    let disposition = if meta.content_type.starts_with("image/") {
        "inline"
    } else {
        "attachment"
    };
    let ascii: String = meta
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = meta
        .filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    vec![
        ("Content-Type", meta.content_type.clone()),
        ("Content-Length", meta.size.to_string()),
        (
            "Content-Disposition",
            format!("{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"),
        ),
        ("X-Content-Type-Options", "nosniff".into()),
        (
            "Content-Security-Policy",
            "default-src 'none'; sandbox".into(),
        ),
        ("Cache-Control", "private, max-age=3600".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attachment() -> AttachmentRef {
        AttachmentRef {
            blob: BlobId::new(),
            conversation_id: ConversationId::new(),
            site_id: SiteId::new(),
            visitor_id: VisitorId::new(),
        }
    }

    #[test]
    fn only_the_conversations_visitor_and_its_sites_agents_may_read() {
        let a = attachment();
        assert!(may_read(
            Viewer::Visitor {
                id: a.visitor_id,
                site: a.site_id
            },
            &a
        ));
        assert!(may_read(Viewer::Agent { site: a.site_id }, &a));
        assert!(!may_read(
            Viewer::Visitor {
                id: VisitorId::new(),
                site: a.site_id
            },
            &a
        ));
        assert!(!may_read(
            Viewer::Agent {
                site: SiteId::new()
            },
            &a
        ));
        assert!(!may_read(
            Viewer::Visitor {
                id: a.visitor_id,
                site: SiteId::new()
            },
            &a
        ));
    }

    #[test]
    fn files_download_and_images_show_inline_never_sniffed() {
        let mut meta = BlobMeta {
            id: BlobId::new(),
            content_type: "application/pdf".into(),
            size: 3,
            sha256: String::new(),
            filename: "factura año.pdf".into(),
            created_at: 0,
        };
        let h = serve_headers(&meta);
        let get =
            |h: &[(&str, String)], k: &str| h.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        assert_eq!(
            get(&h, "Content-Disposition"),
            "attachment; filename=\"factura a_o.pdf\"; filename*=UTF-8''factura%20a%C3%B1o.pdf"
        );
        assert_eq!(get(&h, "X-Content-Type-Options"), "nosniff");
        meta.content_type = "image/png".into();
        assert!(get(&serve_headers(&meta), "Content-Disposition").starts_with("inline;"));
    }
}
