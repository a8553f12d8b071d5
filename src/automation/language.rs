//! Automatic texts in the visitor's language (issue 12): the welcome from
//! `SiteSettings.welcome_messages`, the first-message replies from `SiteSettings.replies`, each
//! falling back to the site's default text when the language has none.

use crate::domain::{Replies, SiteSettings};

/// Who the first automatic reply is for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audience {
    /// Two-letter language code from the widget's `start`.
    pub lang: Option<String>,
    /// The visitor's email is already known (verified identity, or left with `leave_email`):
    /// the nobody-online reply must not ask for it again.
    pub email_known: bool,
}

/// The welcome message in `lang`, or the default one.
pub fn welcome_in<'a>(settings: &'a SiteSettings, lang: Option<&str>) -> &'a str {
    lang.and_then(|l| settings.welcome_messages.get(l))
        .filter(|text| !text.trim().is_empty())
        .unwrap_or(&settings.welcome_message)
}

/// The automatic replies in `lang`, each empty text replaced by the default language's.
pub fn replies_in(settings: &SiteSettings, lang: Option<&str>) -> Replies {
    let variant = lang.and_then(|l| settings.replies.get(l));
    let pick = |own: Option<&String>, default: &String| -> String {
        own.filter(|t| !t.trim().is_empty())
            .unwrap_or(default)
            .clone()
    };
    Replies {
        reply_inside_hours: pick(
            variant.map(|v| &v.reply_inside_hours),
            &settings.reply_inside_hours,
        ),
        reply_outside_hours: pick(
            variant.map(|v| &v.reply_outside_hours),
            &settings.reply_outside_hours,
        ),
        offline_message: pick(
            variant.map(|v| &v.offline_message),
            &settings.offline_message,
        ),
        offline_reply_known_email: pick(
            variant.map(|v| &v.offline_reply_known_email),
            &settings.offline_reply_known_email,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_language_falls_back_text_by_text() {
        let mut s = SiteSettings::default();
        s.welcome_messages.insert("es".into(), "¡Hola!".into());
        s.replies.insert(
            "es".into(),
            Replies {
                offline_message: "No hay nadie.".into(),
                ..Replies::default()
            },
        );
        assert_eq!(welcome_in(&s, Some("es")), "¡Hola!");
        assert_eq!(welcome_in(&s, Some("fr")), s.welcome_message);
        assert_eq!(welcome_in(&s, None), s.welcome_message);
        let es = replies_in(&s, Some("es"));
        assert_eq!(es.offline_message, "No hay nadie.");
        assert_eq!(es.reply_inside_hours, s.reply_inside_hours);
    }
}
