//! What the bot says to customers, in their language (English and Russian; English otherwise).

/// A customer's language: the primary subtag of Telegram's `language_code` (`ru` of
/// `ru-RU`), two or three letters; English when there is none. Texts an admin wrote for it
/// are used first, then the built-in ones (English and Russian; Ukrainian and Belarusian
/// readers get Russian, everyone else English).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lang {
    code: [u8; 3],
    len: u8,
}

/// The languages the bot speaks without any admin text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin {
    En,
    Ru,
}

impl Lang {
    pub const EN: Lang = Lang {
        code: *b"en\0",
        len: 2,
    };
    pub const RU: Lang = Lang {
        code: *b"ru\0",
        len: 2,
    };

    /// From Telegram's `language_code` (an IETF tag such as `ru` or `en-GB`) or a stored one.
    pub fn from_code(code: Option<&str>) -> Lang {
        let Some(primary) = code.map(|c| c.split(['-', '_']).next().unwrap_or(c)) else {
            return Lang::EN;
        };
        let bytes = primary.as_bytes();
        if !(2..=3).contains(&bytes.len()) || !bytes.iter().all(u8::is_ascii_alphabetic) {
            return Lang::EN;
        }
        let mut lang = Lang {
            code: [0; 3],
            len: bytes.len() as u8,
        };
        for (slot, b) in lang.code.iter_mut().zip(bytes) {
            *slot = b.to_ascii_lowercase();
        }
        lang
    }

    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.code[..usize::from(self.len)]).unwrap_or("en")
    }

    fn builtin(self) -> Builtin {
        match self.code() {
            "ru" | "uk" | "be" => Builtin::Ru,
            _ => Builtin::En,
        }
    }
}

/// Texts admins wrote, by (key, language); shared by the gateway and the Conversation actors.
#[derive(Default)]
pub struct Texts {
    custom: parking_lot::RwLock<std::collections::HashMap<(String, String), String>>,
}

impl Texts {
    /// What the bot says in `lang`: an admin's text if there is one (its placeholders filled
    /// in), else the built-in one.
    pub fn render(&self, say: &Say<'_>, lang: Lang) -> String {
        // The admin's text in the customer's language, else in the language the built-in
        // texts would answer them in (an English edit reaches German readers too).
        let custom = {
            let texts = self.custom.read();
            let fallback = match lang.builtin() {
                Builtin::En => "en",
                Builtin::Ru => "ru",
            };
            texts
                .get(&(say.key().to_owned(), lang.code().to_owned()))
                .or_else(|| texts.get(&(say.key().to_owned(), fallback.to_owned())))
                .cloned()
        };
        match custom {
            Some(template) => say.args().into_iter().fold(template, |t, (name, value)| {
                t.replace(&format!("{{{name}}}"), &value)
            }),
            None => say.text(lang),
        }
    }

    /// Replaces every admin text (after a change, or at start).
    pub fn replace(&self, texts: Vec<(String, String, String)>) {
        *self.custom.write() = texts
            .into_iter()
            .map(|(key, language, text)| ((key, language), text))
            .collect();
    }
}

/// Every key, its placeholders, for the admin pages (and to check what admins write).
pub const KEYS: &[(&str, &[&str])] = &[
    ("greeting", &[]),
    ("live_support_button", &[]),
    ("ticket_created", &["ticket"]),
    ("queue_position", &["position"]),
    ("already_open", &["ticket"]),
    ("status", &["ticket", "status"]),
    ("no_ticket", &[]),
    ("closed", &["ticket"]),
    ("resolved", &["ticket"]),
    ("too_many_tickets", &[]),
    ("too_many_messages", &[]),
    ("blocked", &[]),
    ("linked", &[]),
    ("link_failed", &[]),
    ("unsupported", &[]),
    ("rating_prompt", &[]),
    ("rated", &["score"]),
    ("comment_prompt", &[]),
    ("comment_thanks", &[]),
    ("comment_skipped", &[]),
    ("rating_not_yours", &[]),
    ("rating_not_resolved", &[]),
    ("rating_too_late", &[]),
    ("try_again", &[]),
];

/// Everything the bot says, one variant a sentence.
pub enum Say<'a> {
    Greeting,
    LiveSupportButton,
    TicketCreated {
        ticket: &'a str,
    },
    QueuePosition {
        position: usize,
    },
    AlreadyOpen {
        ticket: &'a str,
    },
    Status {
        ticket: &'a str,
        status: &'a str,
    },
    NoTicket,
    Closed {
        ticket: &'a str,
    },
    Resolved {
        ticket: &'a str,
    },
    TooManyTickets,
    TooManyMessages,
    Blocked,
    Linked,
    LinkFailed,
    Unsupported,
    /// Under the "resolved" message, above the 1–5 buttons.
    RatingPrompt,
    /// The "resolved" message once a button was pressed.
    Rated {
        score: i16,
    },
    CommentPrompt,
    CommentThanks,
    CommentSkipped,
    /// Someone pressed a rating button of a ticket that is not theirs.
    RatingNotYours,
    /// The ticket was reopened: it is rated once it is resolved again.
    RatingNotResolved,
    /// The ticket can no longer be rated (closed, or resolved too long ago).
    RatingTooLate,
    TryAgain,
}

impl Say<'_> {
    /// What the bot says in `lang`: an admin's text if there is one, else the built-in one.
    pub fn rendered(&self, texts: &Texts, lang: Lang) -> String {
        texts.render(self, lang)
    }

    /// The built-in text in `lang` (an admin's text, if any, comes through `Texts::render`).
    pub fn text(&self, lang: Lang) -> String {
        match lang.builtin() {
            Builtin::En => self.english(),
            Builtin::Ru => self.russian(),
        }
    }

    pub fn key(&self) -> &'static str {
        match self {
            Say::Greeting => "greeting",
            Say::LiveSupportButton => "live_support_button",
            Say::TicketCreated { .. } => "ticket_created",
            Say::QueuePosition { .. } => "queue_position",
            Say::AlreadyOpen { .. } => "already_open",
            Say::Status { .. } => "status",
            Say::NoTicket => "no_ticket",
            Say::Closed { .. } => "closed",
            Say::Resolved { .. } => "resolved",
            Say::TooManyTickets => "too_many_tickets",
            Say::TooManyMessages => "too_many_messages",
            Say::Blocked => "blocked",
            Say::Linked => "linked",
            Say::LinkFailed => "link_failed",
            Say::Unsupported => "unsupported",
            Say::RatingPrompt => "rating_prompt",
            Say::Rated { .. } => "rated",
            Say::CommentPrompt => "comment_prompt",
            Say::CommentThanks => "comment_thanks",
            Say::CommentSkipped => "comment_skipped",
            Say::RatingNotYours => "rating_not_yours",
            Say::RatingNotResolved => "rating_not_resolved",
            Say::RatingTooLate => "rating_too_late",
            Say::TryAgain => "try_again",
        }
    }

    /// The values of the text's placeholders.
    fn args(&self) -> Vec<(&'static str, String)> {
        match self {
            Say::TicketCreated { ticket }
            | Say::AlreadyOpen { ticket }
            | Say::Closed { ticket }
            | Say::Resolved { ticket } => vec![("ticket", (*ticket).to_owned())],
            Say::QueuePosition { position } => vec![("position", position.to_string())],
            Say::Rated { score } => vec![("score", score.to_string())],
            Say::Status { ticket, status } => vec![
                ("ticket", (*ticket).to_owned()),
                ("status", (*status).to_owned()),
            ],
            _ => Vec::new(),
        }
    }

    /// The built-in text of `key` in `language`, for the admin pages (placeholders shown).
    pub fn default_text(key: &str, language: &str) -> Option<String> {
        let lang = Lang::from_code(Some(language));
        let say = match key {
            "greeting" => Say::Greeting,
            "live_support_button" => Say::LiveSupportButton,
            "ticket_created" => Say::TicketCreated { ticket: "{ticket}" },
            "queue_position" => {
                return Some(
                    Say::QueuePosition { position: 0 }
                        .text(lang)
                        .replace('0', "{position}"),
                )
            }
            "already_open" => Say::AlreadyOpen { ticket: "{ticket}" },
            "status" => {
                let text = Say::Status {
                    ticket: "{ticket}",
                    status: "pending",
                }
                .text(lang);
                let phrase = match lang.builtin() {
                    Builtin::En => english_status("pending"),
                    Builtin::Ru => russian_status("pending"),
                };
                return Some(text.replace(phrase, "{status}"));
            }
            "no_ticket" => Say::NoTicket,
            "closed" => Say::Closed { ticket: "{ticket}" },
            "resolved" => Say::Resolved { ticket: "{ticket}" },
            "too_many_tickets" => Say::TooManyTickets,
            "too_many_messages" => Say::TooManyMessages,
            "blocked" => Say::Blocked,
            "linked" => Say::Linked,
            "link_failed" => Say::LinkFailed,
            "unsupported" => Say::Unsupported,
            "rating_prompt" => Say::RatingPrompt,
            "rated" => {
                return Some(Say::Rated { score: 0 }.text(lang).replace('0', "{score}"));
            }
            "comment_prompt" => Say::CommentPrompt,
            "comment_thanks" => Say::CommentThanks,
            "comment_skipped" => Say::CommentSkipped,
            "rating_not_yours" => Say::RatingNotYours,
            "rating_not_resolved" => Say::RatingNotResolved,
            "rating_too_late" => Say::RatingTooLate,
            "try_again" => Say::TryAgain,
            _ => return None,
        };
        Some(say.text(lang))
    }

    fn english(&self) -> String {
        match self {
            Say::Greeting => "Hello! This is customer support. Press the button below to talk to an operator, or send /support.".into(),
            Say::LiveSupportButton => "Live Support".into(),
            Say::TicketCreated { ticket } => format!("Support ticket {ticket} created. An operator will answer shortly."),
            Say::QueuePosition { position } => format!("Your place in the queue: {position}."),
            Say::AlreadyOpen { ticket } => format!("Your ticket {ticket} is open. Just write your message here."),
            Say::Status { ticket, status } => format!("Ticket {ticket}: {}.", english_status(status)),
            Say::NoTicket => "You have no open ticket. Send /support to open one.".into(),
            Say::Closed { ticket } => format!("Ticket {ticket} is closed. Thank you! Write again any time."),
            Say::Resolved { ticket } => format!("Ticket {ticket} was resolved. If you need more help, just write here."),
            Say::TooManyTickets => "You have opened many tickets today. Please continue in your current ticket or try again tomorrow.".into(),
            Say::TooManyMessages => "You are sending messages too fast. Please wait a while before writing again.".into(),
            Say::Blocked => "Sorry, we cannot accept messages from you at the moment.".into(),
            Say::Linked => "Your Telegram account is now linked to your operator account.".into(),
            Say::LinkFailed => "This code is unknown or has expired. Create a new one in the panel.".into(),
            Say::Unsupported => "Sorry, this kind of message cannot be delivered. Please send text, a photo or a file.".into(),
            Say::RatingPrompt => "How did we do? Rate our help from 1 to 5:".into(),
            Say::Rated { score } => format!("Your rating: {score} of 5 ⭐."),
            Say::CommentPrompt => "Thank you! If you want, write a comment as your next message, or send /skip.".into(),
            Say::CommentThanks => "Thank you for your feedback!".into(),
            Say::CommentSkipped => "Thank you! No comment needed.".into(),
            Say::RatingNotYours => "Only the customer of this ticket can rate it.".into(),
            Say::RatingNotResolved => "This ticket is open again; you can rate it once it is resolved.".into(),
            Say::RatingTooLate => "Sorry, this ticket can no longer be rated.".into(),
            Say::TryAgain => "Not available right now; please try again.".into(),
        }
    }

    fn russian(&self) -> String {
        match self {
            Say::Greeting => "Здравствуйте! Это служба поддержки. Нажмите кнопку ниже, чтобы написать оператору, или отправьте /support.".into(),
            Say::LiveSupportButton => "Live Support".into(),
            Say::TicketCreated { ticket } => format!("Обращение {ticket} создано. Оператор скоро ответит."),
            Say::QueuePosition { position } => format!("Ваше место в очереди: {position}."),
            Say::AlreadyOpen { ticket } => format!("Ваше обращение {ticket} открыто. Просто напишите сообщение здесь."),
            Say::Status { ticket, status } => format!("Обращение {ticket}: {}.", russian_status(status)),
            Say::NoTicket => "У вас нет открытых обращений. Отправьте /support, чтобы создать.".into(),
            Say::Closed { ticket } => format!("Обращение {ticket} закрыто. Спасибо! Пишите в любое время."),
            Say::Resolved { ticket } => format!("Обращение {ticket} решено. Если нужна помощь, просто напишите сюда."),
            Say::TooManyTickets => "Сегодня вы создали много обращений. Продолжите в текущем или попробуйте завтра.".into(),
            Say::TooManyMessages => "Вы отправляете сообщения слишком часто. Пожалуйста, подождите немного.".into(),
            Say::Blocked => "К сожалению, сейчас мы не можем принимать от вас сообщения.".into(),
            Say::Linked => "Ваш аккаунт Telegram привязан к учётной записи оператора.".into(),
            Say::LinkFailed => "Код неизвестен или устарел. Создайте новый в панели.".into(),
            Say::Unsupported => "К сожалению, такое сообщение нельзя передать. Отправьте текст, фото или файл.".into(),
            Say::RatingPrompt => "Как мы справились? Оцените нашу помощь от 1 до 5:".into(),
            Say::Rated { score } => format!("Ваша оценка: {score} из 5 ⭐."),
            Say::CommentPrompt => "Спасибо! Если хотите, напишите комментарий следующим сообщением или отправьте /skip.".into(),
            Say::CommentThanks => "Спасибо за отзыв!".into(),
            Say::CommentSkipped => "Спасибо! Комментарий не обязателен.".into(),
            Say::RatingNotYours => "Оценить обращение может только его автор.".into(),
            Say::RatingNotResolved => "Обращение снова открыто; оценить его можно после решения.".into(),
            Say::RatingTooLate => "К сожалению, это обращение уже нельзя оценить.".into(),
            Say::TryAgain => "Сейчас недоступно; попробуйте ещё раз.".into(),
        }
    }
}

fn english_status(status: &str) -> &'static str {
    match status {
        "pending" => "waiting for an operator",
        "active" => "an operator is on it",
        "resolved" => "resolved",
        _ => "closed",
    }
}

fn russian_status(status: &str) -> &'static str {
    match status {
        "pending" => "ожидает оператора",
        "active" => "оператор работает над ним",
        "resolved" => "решено",
        _ => "закрыто",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_follows_the_code_with_english_otherwise() {
        assert_eq!(Lang::from_code(Some("ru")), Lang::RU);
        assert_eq!(Lang::from_code(Some("ru-RU")), Lang::RU);
        assert_eq!(Lang::from_code(Some("de")).code(), "de");
        assert_eq!(Lang::from_code(Some("not a code!")), Lang::EN);
        assert_eq!(Lang::from_code(None), Lang::EN);
        let t = Say::TicketCreated { ticket: "SUPP-1" };
        assert!(t
            .text(Lang::from_code(Some("de")))
            .starts_with("Support ticket SUPP-1 created"));
        assert!(t.text(Lang::RU).contains("SUPP-1"));
        assert!(t.text(Lang::from_code(Some("uk"))).contains("Обращение"));
    }

    #[test]
    fn an_admins_text_wins_with_its_placeholders_filled() {
        let texts = Texts::default();
        texts.replace(vec![(
            "ticket_created".into(),
            "ur".into(),
            "ٹکٹ {ticket} بن گیا".into(),
        )]);
        let say = Say::TicketCreated { ticket: "SUPP-9" };
        assert_eq!(
            texts.render(&say, Lang::from_code(Some("ur-PK"))),
            "ٹکٹ SUPP-9 بن گیا"
        );
        assert!(texts
            .render(&say, Lang::EN)
            .starts_with("Support ticket SUPP-9"));
        assert_eq!(
            Say::default_text("queue_position", "en").as_deref(),
            Some("Your place in the queue: {position}.")
        );
        assert_eq!(
            Say::default_text("status", "en").as_deref(),
            Some("Ticket {ticket}: {status}.")
        );
        // An English text an admin wrote reaches readers the built-in English would answer.
        texts.replace(vec![(
            "no_ticket".into(),
            "en".into(),
            "Nothing open.".into(),
        )]);
        assert_eq!(
            texts.render(&Say::NoTicket, Lang::from_code(Some("de"))),
            "Nothing open."
        );
        assert_ne!(texts.render(&Say::NoTicket, Lang::RU), "Nothing open.");
    }

    #[test]
    fn every_key_has_a_built_in_text_in_both_languages() {
        for (key, placeholders) in KEYS {
            for language in ["en", "ru"] {
                let text = Say::default_text(key, language)
                    .unwrap_or_else(|| panic!("no built-in text for {key}"));
                for name in *placeholders {
                    assert!(text.contains(&format!("{{{name}}}")), "{key}: {text}");
                }
            }
        }
        assert_eq!(
            Say::default_text("rated", "en").as_deref(),
            Some("Your rating: {score} of 5 ⭐.")
        );
        assert!(Say::CommentPrompt.text(Lang::EN).contains("/skip"));
        assert!(Say::CommentPrompt.text(Lang::RU).contains("/skip"));
    }
}
