//! The product's own texts in the customer's language (CONTRACT C17): the handover, no-agent
//! and closed-hours messages, with defaults in English, French, Spanish, Portuguese (Brazil),
//! German and Italian. A brand overrides any of them per language with `<NAME>_<LANG>`
//! (`HANDOVER_MESSAGE_FR`), and its default language's with `<NAME>`; an empty value sends
//! nothing (an empty `<NAME>` in no language but those given their own). A language with no
//! text gets the default language's.

use crate::config::Env;

/// The languages the product speaks out of the box.
pub const LANGUAGES: [&str; 6] = ["en", "fr", "es", "pt", "de", "it"];

/// Built-in handover messages, in [`LANGUAGES`]' order.
const HANDOVER: [&str; 6] = [
    "I am passing you to one of our agents. They will answer you here shortly.",
    "Je vous mets en relation avec l'un de nos conseillers. Il vous répondra ici dans quelques instants.",
    "Le paso con uno de nuestros agentes. Le responderá aquí en breve.",
    "Vou transferir você para um de nossos atendentes. Ele vai responder aqui em instantes.",
    "Ich verbinde Sie mit einem unserer Mitarbeiter. Sie erhalten hier in Kürze eine Antwort.",
    "La metto in contatto con uno dei nostri operatori. Le risponderà qui a breve.",
];

/// Built-in no-agent messages.
const NO_AGENT: [&str; 6] = [
    "All our agents are busy right now. I am still here: tell me more, or try again a little later.",
    "Tous nos conseillers sont occupés pour le moment. Je reste à votre disposition : dites-m'en plus, ou réessayez un peu plus tard.",
    "Todos nuestros agentes están ocupados en este momento. Sigo aquí: cuénteme más o inténtelo de nuevo un poco más tarde.",
    "Todos os nossos atendentes estão ocupados no momento. Continuo aqui: me conte mais ou tente de novo daqui a pouco.",
    "Alle unsere Mitarbeiter sind gerade im Gespräch. Ich bin weiter für Sie da: Erzählen Sie mir mehr, oder versuchen Sie es etwas später noch einmal.",
    "Tutti i nostri operatori sono occupati in questo momento. Sono sempre qui: mi dica di più, oppure riprovi tra poco.",
];

/// Built-in closed-hours messages; `{next_open}` is the next opening, rendered in the
/// customer's language.
const CLOSED: [&str; 6] = [
    "Our agents are away right now; they will be back {next_open}. I am still here if I can help.",
    "Nos conseillers sont absents pour le moment ; ils seront de retour {next_open}. Je reste à votre disposition si je peux vous aider.",
    "Nuestros agentes no están disponibles ahora; volverán {next_open}. Sigo aquí por si puedo ayudarle.",
    "Nossos atendentes não estão disponíveis agora; eles voltam {next_open}. Continuo aqui se eu puder ajudar.",
    "Unsere Mitarbeiter sind gerade nicht da; sie sind {next_open} wieder erreichbar. Ich bin weiter für Sie da, wenn ich helfen kann.",
    "I nostri operatori non sono disponibili ora; torneranno {next_open}. Sono qui se posso esserle utile.",
];

/// One of the product's texts, in every language it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Localized {
    default_language: String,
    /// (language in lower case, text), one per language.
    by_language: Vec<(String, String)>,
}

impl Localized {
    /// The texts of variable `name` (`HANDOVER_MESSAGE`, ...): the built-in ones, then the
    /// brand's (`<NAME>` for `default_language`, `<NAME>_<LANG>` for the others).
    fn from_env(env: &dyn Env, name: &str, built_in: &[&str; 6], default_language: &str) -> Self {
        let unsuffixed = env.var(name);
        // An empty `<NAME>` turns the message off in every language but those given their own.
        let off = unsuffixed.as_deref().is_some_and(|text| text.trim().is_empty());
        let built_in = built_in.iter().map(|text| if off { "" } else { *text });
        let mut texts = Self {
            default_language: default_language.to_string(),
            by_language: LANGUAGES
                .iter()
                .zip(built_in)
                .map(|(l, t)| (l.to_string(), t.to_string()))
                .collect(),
        };
        let prefix = format!("{name}_");
        for variable in env.names() {
            if let Some(language) = variable.strip_prefix(&prefix)
                && let Some(text) = env.var(&variable)
            {
                texts.set(&language.to_lowercase(), text);
            }
        }
        if let Some(text) = unsuffixed {
            texts.set(default_language, text);
        }
        texts
    }

    fn set(&mut self, language: &str, text: String) {
        match self.by_language.iter_mut().find(|(l, _)| l == language) {
            Some(entry) => entry.1 = text,
            None => self.by_language.push((language.to_string(), text)),
        }
    }

    /// The text for `language` (`fr`, `FR`, `pt-BR`), or the default language's.
    pub fn text(&self, language: Option<&str>) -> &str {
        let find = |wanted: &str| self.by_language.iter().find(|(l, _)| l.eq_ignore_ascii_case(wanted));
        let primary = language.map(|l| l.split(['-', '_']).next().unwrap_or(l));
        language
            .and_then(find)
            .or_else(|| primary.and_then(find))
            .or_else(|| find(&self.default_language))
            .map_or("", |(_, text)| text.as_str())
    }

    /// The same text in every language (tests, and brands that want one).
    pub fn everywhere(text: &str) -> Self {
        let by_language = LANGUAGES.iter().map(|l| (l.to_string(), text.to_string())).collect();
        Self { default_language: "en".into(), by_language }
    }
}

/// The product's texts, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texts {
    pub handover: Localized,
    pub no_agent: Localized,
    pub closed: Localized,
}

impl Texts {
    pub fn from_env(env: &dyn Env, default_language: &str) -> Self {
        Self {
            handover: Localized::from_env(env, "HANDOVER_MESSAGE", &HANDOVER, default_language),
            no_agent: Localized::from_env(env, "NO_AGENT_MESSAGE", &NO_AGENT, default_language),
            closed: Localized::from_env(env, "CLOSED_MESSAGE", &CLOSED, default_language),
        }
    }
}

/// The English defaults, as the contract names them.
pub const DEFAULT_HANDOVER_MESSAGE: &str = HANDOVER[0];
pub const DEFAULT_NO_AGENT_MESSAGE: &str = NO_AGENT[0];
pub const DEFAULT_CLOSED_MESSAGE: &str = CLOSED[0];

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn each_language_has_its_text_and_an_unknown_one_gets_the_default_languages() {
        let texts = Texts::from_env(&HashMap::<&str, &str>::new(), "en");
        assert!(texts.handover.text(Some("fr")).starts_with("Je vous mets en relation"));
        assert!(texts.handover.text(Some("pt-BR")).contains("você"));
        assert!(texts.no_agent.text(Some("DE")).starts_with("Alle unsere Mitarbeiter"));
        assert_eq!(texts.handover.text(Some("ja")), DEFAULT_HANDOVER_MESSAGE);
        assert_eq!(texts.handover.text(None), DEFAULT_HANDOVER_MESSAGE);
        for kind in [&texts.handover, &texts.no_agent, &texts.closed] {
            for language in LANGUAGES {
                assert!(!kind.text(Some(language)).is_empty(), "{language}");
            }
        }
        for language in LANGUAGES {
            assert!(texts.closed.text(Some(language)).contains("{next_open}"), "{language}");
        }
    }

    #[test]
    fn a_brand_overrides_per_language_and_its_default_language_unsuffixed() {
        let env: HashMap<&str, &str> = HashMap::from([
            ("HANDOVER_MESSAGE_FR", "Un conseiller arrive."),
            ("HANDOVER_MESSAGE", "Un momento, por favor."),
            ("NO_AGENT_MESSAGE_NL", "Even geduld."),
            ("NO_AGENT_MESSAGE_IT", ""),
        ]);
        let texts = Texts::from_env(&env, "es");
        assert_eq!(texts.handover.text(Some("fr")), "Un conseiller arrive.");
        assert_eq!(texts.handover.text(Some("es")), "Un momento, por favor.");
        // A language without a text of its own: the default language's.
        assert_eq!(texts.handover.text(Some("ja")), "Un momento, por favor.");
        assert_eq!(texts.no_agent.text(Some("nl")), "Even geduld.");
        assert_eq!(texts.no_agent.text(Some("it")), "", "empty: send nothing");

        let off: HashMap<&str, &str> =
            HashMap::from([("NO_AGENT_MESSAGE", " "), ("NO_AGENT_MESSAGE_FR", "Patience.")]);
        let texts = Texts::from_env(&off, "en");
        assert_eq!(texts.no_agent.text(Some("de")).trim(), "", "off in every language");
        assert_eq!(texts.no_agent.text(Some("fr")), "Patience.", "but the one given its own");
    }
}
