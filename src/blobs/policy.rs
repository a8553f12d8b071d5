//! What may be attached. The type is decided by the bytes (magic numbers, via the `infer`
//! crate), so a script renamed `cat.png` is not an image, and the stored content type is always
//! the sniffed one. Text without magic bytes is accepted only as UTF-8 plain text. SVG and HTML
//! are refused: a browser would run their scripts.

use serde::{Deserialize, Serialize};

use super::BlobError;

/// Site-level attachment limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttachmentPolicy {
    pub max_bytes: u64,
    /// Sniffed content types accepted (plus `text/plain` when `allow_text`).
    pub allowed: Vec<String>,
    pub allow_text: bool,
}

impl Default for AttachmentPolicy {
    fn default() -> Self {
        AttachmentPolicy {
            max_bytes: 10 * 1024 * 1024,
            allowed: [
                "image/png",
                "image/jpeg",
                "image/gif",
                "image/webp",
                "application/pdf",
            ]
            .map(String::from)
            .to_vec(),
            allow_text: true,
        }
    }
}

/// An upload that passed the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub content_type: String,
    pub filename: String,
    pub is_image: bool,
}

impl AttachmentPolicy {
    pub fn check(&self, bytes: &[u8], filename: &str) -> Result<Accepted, BlobError> {
        let size = bytes.len() as u64;
        if size == 0 {
            return Err(BlobError::Empty);
        }
        if size > self.max_bytes {
            return Err(BlobError::TooLarge {
                size,
                limit: self.max_bytes,
            });
        }
        let content_type = match infer::get(bytes) {
            Some(kind) => kind.mime_type().to_string(),
            None if self.allow_text && is_plain_text(bytes) => "text/plain".to_string(),
            None => return Err(BlobError::TypeNotAllowed("unknown".into())),
        };
        let allowed = content_type == "text/plain" || self.allowed.contains(&content_type);
        if !allowed {
            return Err(BlobError::TypeNotAllowed(content_type));
        }
        Ok(Accepted {
            is_image: content_type.starts_with("image/"),
            filename: clean_filename(filename),
            content_type,
        })
    }
}

/// UTF-8 without NULs, and not markup a browser would render as a page.
fn is_plain_text(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let head = text.trim_start().get(..64).unwrap_or(text.trim_start());
    let head = head.to_ascii_lowercase();
    !text.contains('\0')
        && !["<svg", "<?xml", "<!doctype", "<html", "<script"]
            .iter()
            .any(|m| head.starts_with(m))
}

/// A display name: the last path component, control and quote characters dropped, at most 120
/// characters; "attachment" when nothing is left.
pub fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\'' | '<' | '>' | ';'))
        .take(120)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "attachment".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
    ];

    #[test]
    fn the_type_comes_from_the_bytes_not_the_name() {
        let p = AttachmentPolicy::default();
        let a = p.check(PNG, "holiday.txt").unwrap();
        assert_eq!(a.content_type, "image/png");
        assert!(a.is_image);
        let a = p.check(b"just some notes\n", "notes.png").unwrap();
        assert_eq!(a.content_type, "text/plain");
        assert!(!a.is_image);
    }

    #[test]
    fn markup_and_binaries_outside_the_allowlist_are_refused() {
        let p = AttachmentPolicy::default();
        for (bytes, name) in [
            (&b"<svg onload=alert(1)></svg>"[..], "cat.png"),
            (&b"  <!DOCTYPE html><script>x</script>"[..], "page.txt"),
            (&b"MZ\x90\x00\x03\x00\x00\x00\x04\x00"[..], "setup.pdf"),
            (&[0xff, 0xfe, 0x00, 0x01][..], "blob.bin"),
        ] {
            assert!(
                matches!(p.check(bytes, name), Err(BlobError::TypeNotAllowed(_))),
                "{name}"
            );
        }
    }

    #[test]
    fn size_limits_are_enforced_and_empty_files_refused() {
        let p = AttachmentPolicy {
            max_bytes: 10,
            ..AttachmentPolicy::default()
        };
        assert!(matches!(
            p.check(PNG, "a.png"),
            Err(BlobError::TooLarge {
                size: 16,
                limit: 10
            })
        ));
        assert!(matches!(p.check(b"", "a.txt"), Err(BlobError::Empty)));
    }

    #[test]
    fn file_names_lose_their_paths_and_dangerous_characters() {
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("C:\\Users\\me\\photo.jpg"), "photo.jpg");
        assert_eq!(clean_filename("a\"b;\n.png"), "ab.png");
        assert_eq!(clean_filename(".."), "attachment");
        assert_eq!(clean_filename(".htaccess"), "htaccess");
    }
}
