//! The two emails Switchboard sends, rendered as plain text and simple HTML (escaped; no
//! images, no remote content). Times are shown in the site's timezone. Each email gets the key
//! that makes it one logical email whatever the retries: a transcript per close (its last seq),
//! a reply notice per agent message that triggered it.

use chrono::TimeZone;
use chrono_tz::Tz;

use super::{parse_address, MailError, OutgoingEmail};
use crate::clock::Millis;
use crate::domain::{Author, ConversationId, Message, Seq};

/// One line of a transcript, author already turned into a display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptLine {
    pub author: String,
    pub at: Millis,
    pub body: String,
}

impl TranscriptLine {
    /// Display names: "You" for the visitor, the agent's name, the site's name for the bot.
    pub fn from_messages(messages: &[Message], site_name: &str) -> Vec<TranscriptLine> {
        messages
            .iter()
            .map(|m| TranscriptLine {
                author: match &m.author {
                    Author::Visitor { .. } => "You".to_string(),
                    Author::Agent { name, .. } => name.clone(),
                    // System events ("Ann joined") read as the site speaking.
                    Author::Bot | Author::System { .. } => site_name.to_string(),
                },
                at: m.at,
                body: m.body.clone(),
            })
            .collect()
    }
}

fn local_time(at: Millis, tz: Tz) -> String {
    match chrono::Utc.timestamp_millis_opt(at).single() {
        Some(t) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        None => String::from("?"),
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

fn html_page(title: &str, inner: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:sans-serif;max-width:640px\">{inner}</body></html>",
        escape(title)
    )
}

/// The transcript sent when a conversation closes. `last_seq` makes each close its own email.
pub fn transcript(
    to: &str,
    site_name: &str,
    conversation: ConversationId,
    last_seq: Seq,
    lines: &[TranscriptLine],
    timezone: Tz,
    now: Millis,
) -> Result<OutgoingEmail, MailError> {
    parse_address(to)?;
    let subject = format!("Your conversation with {site_name}");
    let mut text = format!("Here is a copy of your conversation with {site_name}.\n\n");
    let mut rows = String::new();
    for l in lines {
        let when = local_time(l.at, timezone);
        text.push_str(&format!("[{when}] {}: {}\n", l.author, l.body));
        rows.push_str(&format!(
            "<tr><td style=\"color:#666;white-space:nowrap;vertical-align:top\">{}</td>\
             <td style=\"vertical-align:top\"><b>{}</b></td><td>{}</td></tr>",
            escape(&when),
            escape(&l.author),
            escape(&l.body)
        ));
    }
    text.push_str("\nReply in the chat on our website to continue the conversation.\n");
    let html = html_page(
        &subject,
        &format!(
            "<p>Here is a copy of your conversation with {}.</p><table cellpadding=\"4\">{rows}</table>\
             <p>Reply in the chat on our website to continue the conversation.</p>",
            escape(site_name)
        ),
    );
    Ok(OutgoingEmail {
        key: format!("transcript/{conversation}/{last_seq}"),
        to: to.trim().to_string(),
        subject,
        text,
        html,
        created_at: now,
    })
}

/// "You have a reply": sent when an agent answers a visitor who is no longer connected.
/// `seq` is the agent message that triggered it (one notice per such message at most; the
/// caller decides how often to notify, e.g. once per absence).
#[allow(clippy::too_many_arguments)]
pub fn reply_notification(
    to: &str,
    site_name: &str,
    conversation: ConversationId,
    seq: Seq,
    agent_name: &str,
    reply: &str,
    link: &str,
    now: Millis,
) -> Result<OutgoingEmail, MailError> {
    parse_address(to)?;
    let subject = format!("{agent_name} from {site_name} replied to you");
    let excerpt: String = reply.chars().take(500).collect();
    let text = format!(
        "{agent_name} from {site_name} replied:\n\n{excerpt}\n\nContinue the conversation: {link}\n"
    );
    let html = html_page(
        &subject,
        &format!(
            "<p><b>{}</b> from {} replied:</p><blockquote>{}</blockquote>\
             <p><a href=\"{}\">Continue the conversation</a></p>",
            escape(agent_name),
            escape(site_name),
            escape(&excerpt),
            escape(link)
        ),
    );
    Ok(OutgoingEmail {
        key: format!("reply/{conversation}/{seq}"),
        to: to.trim().to_string(),
        subject,
        text,
        html,
        created_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines() -> Vec<TranscriptLine> {
        vec![
            TranscriptLine {
                author: "You".into(),
                at: 1_700_000_000_000,
                body: "Is <b>decaf</b> available?".into(),
            },
            TranscriptLine {
                author: "Ana".into(),
                at: 1_700_000_060_000,
                body: "Yes & it's great".into(),
            },
        ]
    }

    #[test]
    fn a_transcript_has_every_line_in_text_and_escaped_html() {
        let c = ConversationId::new();
        let e = transcript(
            "v@example.com",
            "Acme",
            c,
            7,
            &lines(),
            chrono_tz::Europe::Madrid,
            0,
        )
        .unwrap();
        assert_eq!(e.key, format!("transcript/{c}/7"));
        assert!(e
            .text
            .contains("[2023-11-14 23:13] You: Is <b>decaf</b> available?"));
        assert!(e.text.contains("Ana: Yes & it's great"));
        assert!(e.html.contains("Is &lt;b&gt;decaf&lt;/b&gt; available?"));
        assert!(e.html.contains("Yes &amp; it&#39;s great"));
        assert!(!e.html.contains("<b>decaf"));
    }

    #[test]
    fn a_bad_address_is_a_typed_error() {
        let r = transcript(
            "not an address",
            "Acme",
            ConversationId::new(),
            1,
            &[],
            Tz::UTC,
            0,
        );
        assert!(matches!(r, Err(MailError::Address { .. })));
    }

    #[test]
    fn the_reply_notice_names_the_agent_and_links_back() {
        let c = ConversationId::new();
        let e = reply_notification(
            "v@example.com",
            "Acme",
            c,
            12,
            "Ana",
            "We ship <today>",
            "https://shop.test/?chat=1",
            0,
        )
        .unwrap();
        assert_eq!(e.subject, "Ana from Acme replied to you");
        assert_eq!(e.key, format!("reply/{c}/12"));
        assert!(e.text.contains("We ship <today>"));
        assert!(e.html.contains("We ship &lt;today&gt;"));
        assert!(e.html.contains("href=\"https://shop.test/?chat=1\""));
    }

    #[test]
    fn the_message_id_is_stable_per_key() {
        let c = ConversationId::new();
        let a = transcript("v@example.com", "Acme", c, 7, &[], Tz::UTC, 0).unwrap();
        let b = transcript("v@example.com", "Acme", c, 7, &lines(), Tz::UTC, 99).unwrap();
        let other = transcript("v@example.com", "Acme", c, 8, &[], Tz::UTC, 0).unwrap();
        assert_eq!(a.message_id("mail.test"), b.message_id("mail.test"));
        assert_ne!(a.message_id("mail.test"), other.message_id("mail.test"));
        assert!(a.message_id("mail.test").ends_with("@mail.test>"));
    }
}
