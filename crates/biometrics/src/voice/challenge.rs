//! The digit challenge the citizen reads aloud. A fresh one per enrollment
//! makes a replayed recording of an earlier session detectable.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Shortest and longest challenge, in digits.
pub const DIGITS: std::ops::RangeInclusive<usize> = 6..=8;

/// Six to eight decimal digits, stored with the enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DigitChallenge(String);

impl DigitChallenge {
    /// A random challenge. No digit appears three times in a row, so the
    /// citizen never has to count repetitions aloud.
    pub fn random(rng: &mut impl Rng) -> Self {
        let len = rng.gen_range(DIGITS);
        let mut digits = String::with_capacity(len);
        while digits.len() < len {
            let d = char::from(b'0' + rng.gen_range(0..10u8));
            let tail = digits.as_bytes();
            if tail.len() >= 2 && tail[tail.len() - 2..].iter().all(|&b| char::from(b) == d) {
                continue;
            }
            digits.push(d);
        }
        Self(digits)
    }

    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The challenge as it is read aloud, one word per digit.
    pub fn spoken(&self, language: Language) -> String {
        const ZH: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
        const EN: [&str; 10] = [
            "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
        ];
        let words = match language {
            Language::Chinese => &ZH,
            Language::English => &EN,
        };
        let sep = match language {
            Language::Chinese => "",
            Language::English => " ",
        };
        self.0
            .bytes()
            .map(|b| words[usize::from(b - b'0')])
            .collect::<Vec<_>>()
            .join(sep)
    }
}

/// The language the challenge is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Language {
    Chinese,
    English,
}

impl TryFrom<String> for DigitChallenge {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if DIGITS.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s))
        } else {
            Err(format!(
                "a challenge is {}-{} decimal digits, not {s:?}",
                DIGITS.start(),
                DIGITS.end()
            ))
        }
    }
}

impl From<DigitChallenge> for String {
    fn from(c: DigitChallenge) -> String {
        c.0
    }
}

impl std::fmt::Display for DigitChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn random_challenges_are_six_to_eight_digits_and_vary() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let all: Vec<DigitChallenge> = (0..500).map(|_| DigitChallenge::random(&mut rng)).collect();
        for c in &all {
            assert!(DIGITS.contains(&c.digits().len()), "{c}");
            assert!(c.digits().bytes().all(|b| b.is_ascii_digit()));
            assert!(
                !c.digits()
                    .as_bytes()
                    .windows(3)
                    .any(|w| w[0] == w[1] && w[1] == w[2]),
                "{c}"
            );
        }
        for len in DIGITS {
            assert!(all.iter().any(|c| c.digits().len() == len));
        }
        let distinct: std::collections::HashSet<_> = all.iter().map(|c| c.digits()).collect();
        assert!(distinct.len() > 490);
    }

    #[test]
    fn spoken_forms() {
        let c = DigitChallenge::try_from("4071958".to_owned()).unwrap();
        assert_eq!(c.spoken(Language::Chinese), "四零七一九五八");
        assert_eq!(
            c.spoken(Language::English),
            "four zero seven one nine five eight"
        );
        assert!(DigitChallenge::try_from("12345".to_owned()).is_err());
        assert!(DigitChallenge::try_from("12345a7".to_owned()).is_err());
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, "\"4071958\"");
        assert!(serde_json::from_str::<DigitChallenge>("\"99\"").is_err());
    }
}
