//! What the bot says to customers, in their language (English and Russian; English otherwise).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ru,
}

impl Lang {
    /// From Telegram's `language_code` (an IETF tag such as `ru` or `en-GB`) or a stored one.
    pub fn from_code(code: Option<&str>) -> Lang {
        match code.map(|c| c.split(['-', '_']).next().unwrap_or(c).to_ascii_lowercase()) {
            Some(c) if c == "ru" || c == "uk" || c == "be" => Lang::Ru,
            _ => Lang::En,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }
}

/// Everything the bot says, one variant a sentence.
pub enum Say<'a> {
    Greeting,
    LiveSupportButton,
    TicketCreated { ticket: &'a str },
    QueuePosition { position: usize },
    AlreadyOpen { ticket: &'a str },
    Status { ticket: &'a str, status: &'a str },
    NoTicket,
    Closed { ticket: &'a str },
    Resolved { ticket: &'a str },
    TooManyTickets,
    TooManyMessages,
    Blocked,
    Linked,
    LinkFailed,
    Unsupported,
}

impl Say<'_> {
    pub fn text(&self, lang: Lang) -> String {
        match lang {
            Lang::En => self.english(),
            Lang::Ru => self.russian(),
        }
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
        assert_eq!(Lang::from_code(Some("ru")), Lang::Ru);
        assert_eq!(Lang::from_code(Some("ru-RU")), Lang::Ru);
        assert_eq!(Lang::from_code(Some("de")), Lang::En);
        assert_eq!(Lang::from_code(None), Lang::En);
        let t = Say::TicketCreated { ticket: "SUPP-1" };
        assert!(t
            .text(Lang::En)
            .starts_with("Support ticket SUPP-1 created"));
        assert!(t.text(Lang::Ru).contains("SUPP-1"));
    }
}
